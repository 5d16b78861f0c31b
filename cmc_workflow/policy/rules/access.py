"""Rules about who may act at all: the policy's tightened role lists and the scoping of
roles to the items that match an attribute of the actor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cmc_workflow.definition.models import Label
from cmc_workflow.i18n import Text, joined, tr
from cmc_workflow.model import attribute_values
from cmc_workflow.policy.rules.base import NO_TEXT, PERMISSIONS_RULE, Denial, Request, Rule
from cmc_workflow.policy.rules.facts import Facts


class PermissionRule(Rule):
    """The policy's tightened role lists: ``(state, trigger)`` -> roles allowed."""

    kind = "permissions"

    def __init__(self, table: Mapping[tuple[str | None, str], frozenset[str]]) -> None:
        super().__init__(PERMISSIONS_RULE)
        self.table = dict(table)

    def applies(self, request: Request) -> bool:
        return (request.state, request.trigger) in self.table

    def may_apply(self, state: str | None, trigger: str, entered: tuple[str, ...]) -> bool:
        return (state, trigger) in self.table

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        allowed = self.table[(request.state, request.trigger)]
        if request.roles & allowed:
            return None
        if request.is_start:
            command = tr("start an item")
        else:
            command = tr(
                "fire {trigger} in {state}",
                trigger=repr(request.trigger),
                state=repr(request.state),
            )
        return self.deny(
            tr(
                "{actor} may not {command}: the policy allows only {roles}",
                actor=request.actor,
                command=command,
                roles=", ".join(sorted(allowed)) or tr("nobody"),
            )
        )

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return (state, trigger) in self.table

    def describe(self) -> Text:
        return tr("roles tightened by policy")


class ScopingRule(Rule):
    """Actors who act only through scoped roles reach only items matching their attribute.

    The actor's attribute may hold several values (comma-separated); the item's field may
    be one value or a list (a piece's ``channels``): they match when they share a value.
    ``states`` (None: every state, a start included) limits the rule to the commands
    fired in those states and to the inbox of items resting there (review authority at
    a stage, PUB-5). ``unset_reaches_all``: an actor without the attribute reaches every
    item (a lead whose post names no channel leads them all) instead of none."""

    kind = "scoping"

    def __init__(
        self,
        rule_id: str,
        roles: frozenset[str],
        attribute: str,
        data_field: str,
        lanes: frozenset[str],
        reason: Label | None,
        states: frozenset[str] | None = None,
        unset_reaches_all: bool = False,
        match_state: bool = False,
    ) -> None:
        super().__init__(rule_id, reason)
        self.roles = roles
        self.attribute = attribute
        self.field = data_field
        self.lanes = lanes
        self.states = states
        self.unset_reaches_all = unset_reaches_all
        self.match_state = match_state

    def scoped(self, roles: frozenset[str], acting: frozenset[str]) -> bool:
        """True when every role ``roles`` act through (of ``acting``) is a scoped role."""
        through = roles & acting
        return bool(through) and through <= self.roles

    def in_states(self, state: str | None) -> bool:
        """Whether the rule scopes what happens in ``state`` (None: starting an item)."""
        return self.states is None or state in self.states

    def matches(
        self, attributes: Mapping[str, str], data: Mapping[str, Any], state: str | None = None
    ) -> bool:
        """True when the item's field (or, with ``match_state``, its ``state``) holds one
        of the actor's attribute values."""
        mine = attribute_values(attributes.get(self.attribute))
        if not mine and self.unset_reaches_all:
            return True
        theirs = state if self.match_state else data.get(self.field)
        if not mine or theirs is None:
            return False
        if isinstance(theirs, list | tuple):
            return any(str(v) in mine for v in theirs)
        return str(theirs) in mine

    def applies(self, request: Request) -> bool:
        return self.in_states(request.state) and self.scoped(request.roles, request.edge_roles)

    def may_apply(self, state: str | None, trigger: str, entered: tuple[str, ...]) -> bool:
        return self.in_states(state)

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        if self.matches(request.attributes, request.data, request.state):
            return None
        mine = request.attributes.get(self.attribute)
        roles = ", ".join(sorted(self.roles & request.roles))
        if mine is None:
            return self.deny(
                tr(
                    "{actor} acts as {roles} and has no {attribute} attribute to be scoped by",
                    actor=request.actor,
                    roles=roles,
                    attribute=Text(repr(self.attribute), self.attribute),
                )
            )
        return self.deny(
            tr(
                "{actor} acts as {roles} for {attribute} {value} only; this item's {field} is "
                "another",
                actor=request.actor,
                roles=roles,
                attribute=self.attribute,
                value=Text(repr(mine), mine),
                field="state" if self.match_state else self.field,
            )
        )

    def visible(
        self,
        roles: frozenset[str],
        attributes: Mapping[str, str],
        data: Any,
        state: str | None = None,
    ) -> bool:
        """Whether an actor with ``roles`` may see an item with ``data`` (resting in
        ``state``) at all."""
        if state is not None and not self.in_states(state):
            return True
        return not self.scoped(roles, self.lanes) or self.matches(attributes, data, state)

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return self.in_states(state) and bool(self.roles & roles)

    def describe(self) -> Text:
        where = NO_TEXT
        if self.states is not None:
            where = tr(" in {states}", states=joined(sorted(self.states)))
        return tr(
            "{roles} act{where} only where {what} holds their {attribute}",
            roles=", ".join(sorted(self.roles)),
            where=where,
            what=tr("the state") if self.match_state else f"data.{self.field}",
            attribute=self.attribute,
        )
