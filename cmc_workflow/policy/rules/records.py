"""Rules that ask for records of another workflow: a person's training record, the record
of the post they act through, records that cover every value of a list, and the one item
that may hold a value at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cmc_workflow.definition.guards import Guard
from cmc_workflow.definition.models import Label
from cmc_workflow.policy.rules.base import (
    Denial,
    Request,
    Rule,
    StepKey,
    StepRule,
    as_list,
    record_counts,
)
from cmc_workflow.policy.rules.facts import Facts


@dataclass(frozen=True, slots=True)
class Records:
    """Which records of another workflow count: items of ``workflow`` (named ``label``)
    resting in one of ``states`` whose data ``field`` names a person or account, that meet
    ``where`` and whose ``valid_until`` date has not passed on the request's day."""

    workflow: str
    label: Label
    states: tuple[str, ...]
    field: str
    where: Guard | None = None
    valid_until: str | None = None

    def of(self, facts: Facts, value: str, request: Request) -> list[Mapping[str, Any]]:
        """The records naming ``value`` that count for ``request``."""
        found = facts.records(self.workflow, self.states, self.field, value)
        return [r for r in found if record_counts(r, self.where, self.valid_until, request)]

    def held(self) -> str:
        """``/``-joined states, for messages."""
        return "/".join(self.states)

    def condition(self, zh: bool = False) -> str:
        """The ``where:`` condition, for messages (empty when there is none)."""
        if self.where is None:
            return ""
        return f"，且 {self.where.source}" if zh else f" where {self.where.source}"


class RequiresRecordRule(StepRule):
    """A person must have a completed item of another workflow (e.g. passed training)."""

    kind = "requires_record"

    def __init__(
        self,
        rule_id: str,
        steps: Sequence[StepKey],
        subject: str,
        records: Records,
        reason: Label | None,
        *,
        when: Guard | None = None,
        covers: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(rule_id, reason)
        self.steps = tuple(steps)
        self.subject = subject
        self.records = records
        self.when = when
        self.covers = covers
        """(the record's list field, the judged item's list field): a record counts only
        when each entry of the first is in the second."""

    def applies(self, request: Request) -> bool:
        if not self.at_step(request):
            return False
        if request.probe:
            # the people, or what when: reads, may come with the form, which allowed()
            # does not have yet: the rule is judged with the form
            read = set(self.when.fields) if self.when is not None else set()
            if self.subject.startswith("data."):
                read.add(self.subject[5:])
            if self.covers is not None:
                read.add(self.covers[1])
            if read & set(request.form_spec):
                return False
        return self.when is None or bool(self.when.evaluate(request.scope()))

    def _subjects(self, request: Request) -> list[str]:
        if self.subject == "actor":
            return [request.actor]
        return as_list(request.data.get(self.subject[5:]))

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        people = self._subjects(request)
        label = self.records.label
        if not people:
            return self.deny(
                f"nobody is named in {self.subject} to check for a {label.en} record",
                f"{self.subject} 未指定人员，无法核对{label.zh}记录",
            )
        missing: list[str] = []
        uncovered: list[str] = []
        for person in people:
            found = self.records.of(facts, person, request)
            if found and self.covers is not None:
                left = [self._uncovered(r, request) for r in found]
                if all(left):
                    uncovered.extend(e for e in left[0] if e not in uncovered)
                    found = []
            if not found and not uncovered:
                missing.append(person)
        en_what, zh_what = self.describe()
        if uncovered:
            assert self.covers is not None
            entries = ", ".join(uncovered)
            return self.deny(
                f"data.{self.covers[1]} leaves out {entries}, asked for by the record's "
                f"{self.covers[0]}; {en_what}",
                f"data.{self.covers[1]} 缺少记录的 {self.covers[0]} 所列：{'、'.join(uncovered)}；"
                f"{zh_what}",
            )
        if not missing:
            return None
        who = ", ".join(missing)
        return self.deny(f"{who}: no record found; {en_what}", f"{who}：无相应记录；{zh_what}")

    def _uncovered(self, record: Mapping[str, Any], request: Request) -> list[str]:
        """The entries of the record's list (``covers``) the judged item's list lacks."""
        assert self.covers is not None
        have = set(as_list(request.data.get(self.covers[1])))
        return [e for e in dict.fromkeys(as_list(record.get(self.covers[0]))) if e not in have]

    def describe(self) -> tuple[str, str]:
        cond, states, label = self.records.condition(), self.records.held(), self.records.label
        who_en = "the actor" if self.subject == "actor" else f"everyone in {self.subject}"
        who_zh = "操作人" if self.subject == "actor" else f"{self.subject} 中每人"
        if_en = f" when {self.when.source}" if self.when is not None else ""
        if_zh = f"{self.when.source} 时，" if self.when is not None else ""
        cover_en = cover_zh = ""
        if self.covers is not None:
            cover_en = f", each of its {self.covers[0]} in data.{self.covers[1]}"
            cover_zh = f"，且其 {self.covers[0]} 每项均在 data.{self.covers[1]} 中"
        return (
            f"{who_en} needs a {label.en} item in {states}{cond}{cover_en}{if_en}",
            f"{if_zh}{who_zh}须有处于 {states} 的{label.zh}记录{cond}{cover_zh}",
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
        records: Records,
        reason: Label | None,
    ) -> None:
        super().__init__(rule_id, (), "actor", records, reason)
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
        for record in self.records.of(facts, request.actor, request):
            if str(record.get(self.post_field)) in covering:
                return None
        en_posts = " or ".join(sorted(self.posts[p].en for p in acting))
        zh_posts = "或".join(sorted(self.posts[p].zh for p in acting))
        states, label = self.records.held(), self.records.label
        return self.deny(
            f"{request.actor} acts as {en_posts} without a record for that post: no valid "
            f"{label.en} item in {states} naming the post{self.records.condition()} (nobody "
            "takes up a post without it)",
            f"{request.actor} 以{zh_posts}身份办理，但无该岗位有效的{label.zh}"
            f"（处于 {states}{self.records.condition(zh=True)}）；未取得该记录者不得上岗",
        )

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return bool(roles & set(self.posts))

    def describe(self) -> tuple[str, str]:
        cond, states, label = self.records.condition(), self.records.held(), self.records.label
        posts = ", ".join(sorted(self.posts))
        return (
            f"an actor acting as {posts} needs a {label.en} item in {states} "
            f"for that post ({self.post_field}){cond}",
            f"以 {posts} 身份办理者须有该岗位（{self.post_field}）处于 {states} 的"
            f"{label.zh}记录{cond}",
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
        records: Records,
        match: str,
        reason: Label | None,
    ) -> None:
        super().__init__(rule_id, reason)
        self.enter = enter
        self.values = values[5:]
        self.only = only
        self.named_in = named_in[5:]
        self.records = records
        self.match = match

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
            carried.update(str(r.get(self.match)) for r in self.records.of(facts, name, request))
        missing = [v for v in wanted if v not in carried]
        if not missing:
            return None
        en_list, zh_list = ", ".join(missing), "、".join(missing)
        en_named = ", ".join(named) or "none"
        zh_named = "、".join(named) or "无"
        en_what, zh_what = self.describe()
        label = self.records.label
        return self.deny(
            f"{en_list}: no {label.en} record named in data.{self.named_in} "
            f"({en_named}) carries it; {en_what}",
            f"{zh_list}：data.{self.named_in}（{zh_named}）中没有可承载它的"
            f"{label.zh}记录；{zh_what}",
        )

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return bool(self.enter & entered) and state not in self.enter

    def describe(self) -> tuple[str, str]:
        cond, states, label = self.records.condition(), self.records.held(), self.records.label
        valid_until = self.records.valid_until
        until = f", {valid_until} not passed" if valid_until else ""
        until_zh = f"，{valid_until} 未过期" if valid_until else ""
        values = ", ".join(sorted(self.only)) if self.only is not None else "every value"
        return (
            f"entering {', '.join(sorted(self.enter))}: each of data.{self.values} "
            f"({values}) needs a {label.en} item named in data.{self.named_in} "
            f"whose {self.match} is that value, in {states}{until}{cond}",
            f"进入 {'、'.join(sorted(self.enter))} 时，data.{self.values} 中每一项须有 "
            f"data.{self.named_in} 所列、{self.match} 与之相同、处于 {states} 的"
            f"{label.zh}记录{until_zh}{cond}",
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
