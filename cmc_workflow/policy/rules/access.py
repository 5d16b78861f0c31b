"""Rules about who may act at all: the policy's tightened role lists and the scoping of
roles to the items that match an attribute of the actor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cmc_workflow.definition.models import Label
from cmc_workflow.policy.rules.base import PERMISSIONS_RULE, Denial, Request, Rule
from cmc_workflow.policy.rules.facts import Facts


class PermissionRule(Rule):
    """The policy's tightened role lists: ``(state, trigger)`` -> roles allowed."""

    kind = "permissions"

    def __init__(self, table: Mapping[tuple[str | None, str], frozenset[str]]) -> None:
        super().__init__(PERMISSIONS_RULE)
        self.table = dict(table)

    def applies(self, request: Request) -> bool:
        return (request.state, request.trigger) in self.table

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        allowed = self.table[(request.state, request.trigger)]
        if request.roles & allowed:
            return None
        where = "start an item" if request.is_start else f"fire {request.trigger!r} in "
        where += "" if request.is_start else repr(request.state)
        roles = ", ".join(sorted(allowed)) or "nobody"
        return self.deny(
            f"{request.actor} may not {where}: the policy allows only {roles}",
            f"{request.actor} 无权执行此操作：策略仅允许 {roles}",
        )

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return (state, trigger) in self.table

    def describe(self) -> tuple[str, str]:
        return "roles tightened by policy", "策略收紧的角色"


class ScopingRule(Rule):
    """Actors who act only through scoped roles reach only items matching their attribute."""

    kind = "scoping"

    def __init__(
        self,
        rule_id: str,
        roles: frozenset[str],
        attribute: str,
        data_field: str,
        lanes: frozenset[str],
        reason: Label | None,
    ) -> None:
        super().__init__(rule_id, reason)
        self.roles = roles
        self.attribute = attribute
        self.field = data_field
        self.lanes = lanes

    def scoped(self, roles: frozenset[str], acting: frozenset[str]) -> bool:
        """True when every role ``roles`` act through (of ``acting``) is a scoped role."""
        through = roles & acting
        return bool(through) and through <= self.roles

    def matches(self, attributes: Mapping[str, str], data: Mapping[str, Any]) -> bool:
        """True when the item's field equals the actor's attribute (both present)."""
        mine = attributes.get(self.attribute)
        theirs = data.get(self.field)
        return mine is not None and theirs is not None and str(theirs) == str(mine)

    def applies(self, request: Request) -> bool:
        return self.scoped(request.roles, request.edge_roles)

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        if self.matches(request.attributes, request.data):
            return None
        mine = request.attributes.get(self.attribute)
        roles = ", ".join(sorted(self.roles & request.roles))
        if mine is None:
            return self.deny(
                f"{request.actor} acts as {roles} and has no {self.attribute!r} attribute "
                "to be scoped by",
                f"{request.actor} 以 {roles} 身份操作，但未登记 {self.attribute}，无法确定其范围",
            )
        return self.deny(
            f"{request.actor} acts as {roles} for {self.attribute} {mine!r} only; this item's "
            f"{self.field} is another",
            f"{request.actor} 以 {roles} 身份仅能处理本方的 {self.attribute}（{mine}），"
            f"本事项的 {self.field} 不属于其范围",
        )

    def visible(self, roles: frozenset[str], attributes: Mapping[str, str], data: Any) -> bool:
        """Whether an actor with ``roles`` may see an item with ``data`` at all."""
        return not self.scoped(roles, self.lanes) or self.matches(attributes, data)

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return bool(self.roles & roles)

    def describe(self) -> tuple[str, str]:
        roles = ", ".join(sorted(self.roles))
        return (
            f"{roles} act only where data.{self.field} equals their {self.attribute}",
            f"{roles} 仅能处理 data.{self.field} 与本人 {self.attribute} 相同的事项",
        )
