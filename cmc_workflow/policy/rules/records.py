"""Rules that ask for records of another workflow: a person's training record, the record
of the post they act through, records that cover every value of a list, and the one item
that may hold a value at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cmc_workflow.definition.guards import Guard
from cmc_workflow.definition.models import Label
from cmc_workflow.policy.rules.base import (
    Denial,
    Facts,
    Request,
    Rule,
    StepKey,
    StepRule,
    as_list,
    record_counts,
)


class RequiresRecordRule(StepRule):
    """A person must have a completed item of another workflow (e.g. passed training)."""

    kind = "requires_record"

    def __init__(
        self,
        rule_id: str,
        steps: Sequence[StepKey],
        subject: str,
        workflow: str,
        workflow_label: Label,
        states: Sequence[str],
        record_field: str,
        where: Guard | None,
        valid_until: str | None,
        reason: Label | None,
    ) -> None:
        super().__init__(rule_id, reason)
        self.steps = tuple(steps)
        self.subject = subject
        self.workflow = workflow
        self.workflow_label = workflow_label
        self.states = tuple(states)
        self.record_field = record_field
        self.where = where
        self.valid_until = valid_until

    def applies(self, request: Request) -> bool:
        if not self.at_step(request):
            return False
        if request.probe and self.subject.startswith("data."):
            # the people may come with the form, which allowed() does not have yet
            return self.subject[5:] not in request.form_spec
        return True

    def _subjects(self, request: Request) -> list[str]:
        if self.subject == "actor":
            return [request.actor]
        return as_list(request.data.get(self.subject[5:]))

    def _counts(self, record: Mapping[str, Any], request: Request) -> bool:
        return record_counts(record, self.where, self.valid_until, request)

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        people = self._subjects(request)
        if not people:
            return self.deny(
                f"nobody is named in {self.subject} to check for a {self.workflow_label.en} record",
                f"{self.subject} 未指定人员，无法核对{self.workflow_label.zh}记录",
            )
        missing = [
            person
            for person in people
            if not any(
                self._counts(record, request)
                for record in facts.records(self.workflow, self.states, self.record_field, person)
            )
        ]
        if not missing:
            return None
        en_what, zh_what = self.describe()
        who = ", ".join(missing)
        return self.deny(f"{who}: no record found; {en_what}", f"{who}：无相应记录；{zh_what}")

    def describe(self) -> tuple[str, str]:
        cond = f" where {self.where.source}" if self.where is not None else ""
        states = "/".join(self.states)
        who_en = "the actor" if self.subject == "actor" else f"everyone in {self.subject}"
        who_zh = "操作人" if self.subject == "actor" else f"{self.subject} 中每人"
        return (
            f"{who_en} needs a {self.workflow_label.en} item in {states}{cond}",
            f"{who_zh}须有处于 {states} 的{self.workflow_label.zh}记录{cond}",
        )


class PostRecordRule(RequiresRecordRule):
    """TRN-3 for every post: whoever acts only through posts of ``posts`` needs a record of
    one of the posts they act through (top-level ``requires_record`` with ``roles:``).

    The actor acts through the roles they hold that may fire the transition (or start the
    item). When every such role is a tracked post, the actor needs a record whose
    ``post_field`` names one of them, or a post they hold that inherits one (an operations
    manager's own training covers the assistant's work their post includes). An actor who
    may also act through an untracked role (the authority, the system) is not asked.
    """

    def __init__(
        self,
        rule_id: str,
        posts: Mapping[str, Label],
        closure: Mapping[str, frozenset[str]],
        post_field: str,
        workflow: str,
        workflow_label: Label,
        states: Sequence[str],
        record_field: str,
        where: Guard | None,
        valid_until: str | None,
        reason: Label | None,
    ) -> None:
        super().__init__(
            rule_id,
            (),
            "actor",
            workflow,
            workflow_label,
            states,
            record_field,
            where,
            valid_until,
            reason,
        )
        self.posts = dict(posts)
        self.closure = dict(closure)
        self.post_field = post_field

    def acting_posts(self, request: Request) -> frozenset[str]:
        """The tracked posts ``request``'s actor acts through (empty: the rule has no say)."""
        acting = request.roles & request.edge_roles
        if not acting or not acting <= set(self.posts):
            return frozenset()
        return acting

    def applies(self, request: Request) -> bool:
        return bool(self.acting_posts(request))

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        acting = self.acting_posts(request)
        covering = {
            held
            for held in request.roles
            if held in acting or self.closure.get(held, frozenset({held})) & acting
        }
        for record in facts.records(self.workflow, self.states, self.record_field, request.actor):
            if str(record.get(self.post_field)) in covering and self._counts(record, request):
                return None
        en_posts = " or ".join(sorted(self.posts[p].en for p in acting))
        zh_posts = "或".join(sorted(self.posts[p].zh for p in acting))
        states = "/".join(self.states)
        cond_en = f" where {self.where.source}" if self.where is not None else ""
        cond_zh = f"，且 {self.where.source}" if self.where is not None else ""
        return self.deny(
            f"{request.actor} acts as {en_posts} without a record for that post: no valid "
            f"{self.workflow_label.en} item in {states} naming the post{cond_en} (nobody "
            "takes up a post without it)",
            f"{request.actor} 以{zh_posts}身份办理，但无该岗位有效的{self.workflow_label.zh}"
            f"（处于 {states}{cond_zh}）；未取得该记录者不得上岗",
        )

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return bool(roles & set(self.posts))

    def describe(self) -> tuple[str, str]:
        cond = f" where {self.where.source}" if self.where is not None else ""
        states = "/".join(self.states)
        posts = ", ".join(sorted(self.posts))
        return (
            f"an actor acting as {posts} needs a {self.workflow_label.en} item in {states} "
            f"for that post ({self.post_field}){cond}",
            f"以 {posts} 身份办理者须有该岗位（{self.post_field}）处于 {states} 的"
            f"{self.workflow_label.zh}记录{cond}",
        )


class CoveredByRecordsRule(Rule):
    """Entering a state needs, for each value of a list (a self-media channel), a record the
    item names (an account) that carries that value (is of that platform) and counts."""

    kind = "covered_by_records"

    def __init__(
        self,
        rule_id: str,
        enter: frozenset[str],
        values: str,
        only: frozenset[str] | None,
        named_in: str,
        workflow: str,
        workflow_label: Label,
        states: Sequence[str],
        record_field: str,
        match: str,
        where: Guard | None,
        valid_until: str | None,
        reason: Label | None,
    ) -> None:
        super().__init__(rule_id, reason)
        self.enter = enter
        self.values = values[5:]
        self.only = only
        self.named_in = named_in[5:]
        self.workflow = workflow
        self.workflow_label = workflow_label
        self.states = tuple(states)
        self.record_field = record_field
        self.match = match
        self.where = where
        self.valid_until = valid_until

    def applies(self, request: Request) -> bool:
        if not self.enter & set(request.entered):
            return False
        if request.probe:
            # the lists may come with the form, which allowed() does not have yet
            return not {self.values, self.named_in} & set(request.form_spec)
        return True

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        wanted = [
            v
            for v in dict.fromkeys(as_list(request.data.get(self.values)))
            if self.only is None or v in self.only
        ]
        if not wanted:
            return None
        named = list(dict.fromkeys(as_list(request.data.get(self.named_in))))
        carried: set[str] = set()
        for name in named:
            for record in facts.records(self.workflow, self.states, self.record_field, name):
                if record_counts(record, self.where, self.valid_until, request):
                    carried.add(str(record.get(self.match)))
        missing = [v for v in wanted if v not in carried]
        if not missing:
            return None
        en_list, zh_list = ", ".join(missing), "、".join(missing)
        en_named = ", ".join(named) or "none"
        zh_named = "、".join(named) or "无"
        en_what, zh_what = self.describe()
        return self.deny(
            f"{en_list}: no {self.workflow_label.en} record named in data.{self.named_in} "
            f"({en_named}) carries it; {en_what}",
            f"{zh_list}：data.{self.named_in}（{zh_named}）中没有可承载它的"
            f"{self.workflow_label.zh}记录；{zh_what}",
        )

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return bool(self.enter & entered) and state not in self.enter

    def describe(self) -> tuple[str, str]:
        states = "/".join(self.states)
        cond = f" where {self.where.source}" if self.where is not None else ""
        until = f", {self.valid_until} not passed" if self.valid_until else ""
        until_zh = f"，{self.valid_until} 未过期" if self.valid_until else ""
        values = ", ".join(sorted(self.only)) if self.only is not None else "every value"
        return (
            f"entering {', '.join(sorted(self.enter))}: each of data.{self.values} "
            f"({values}) needs a {self.workflow_label.en} item named in data.{self.named_in} "
            f"whose {self.match} is that value, in {states}{until}{cond}",
            f"进入 {'、'.join(sorted(self.enter))} 时，data.{self.values} 中每一项须有 "
            f"data.{self.named_in} 所列、{self.match} 与之相同、处于 {states} 的"
            f"{self.workflow_label.zh}记录{until_zh}{cond}",
        )


class UniqueStartRule(Rule):
    """Starting an item is refused while another item resting in ``states`` holds the
    same value of ``field`` (e.g. one account register entry per account id)."""

    kind = "unique_start"

    def __init__(
        self,
        rule_id: str,
        data_field: str,
        states: Sequence[str],
        workflow_label: Label,
        reason: Label | None,
    ) -> None:
        super().__init__(rule_id, reason)
        self.field = data_field
        self.states = tuple(states)
        self.workflow_label = workflow_label

    def applies(self, request: Request) -> bool:
        return request.is_start and not request.probe

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        value = request.data.get(self.field)
        if value is None or value == "":
            return None
        if not facts.records(request.workflow, self.states, self.field, str(value)):
            return None
        return self.deny(
            f"{self.field} {value!r} is already held by a {self.workflow_label.en} item "
            f"in {'/'.join(self.states)}; each may be registered once",
            f"{self.field}“{value}”已由处于 {'/'.join(self.states)} 的"
            f"{self.workflow_label.zh}事项使用，不得重复登记",
        )

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return state is None

    def describe(self) -> tuple[str, str]:
        states = "/".join(self.states)
        return (
            f"no other item in {states} may hold the same {self.field}",
            f"不得与处于 {states} 的其他事项的 {self.field} 相同",
        )
