"""Rules that ask for records of another workflow: a person's training record, the record
of the post they act through, records that cover every value of a list, and the one item
that may hold a value at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cmc_workflow.definition.guards import Guard
from cmc_workflow.definition.models import Label
from cmc_workflow.i18n import Text, joined, tr
from cmc_workflow.policy.rules.base import (
    NO_TEXT,
    Denial,
    Request,
    Rule,
    StepKey,
    StepRule,
    as_list,
    record_counts,
    text_of,
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

    def condition(self) -> Text:
        """The ``where:`` condition, for messages (empty when there is none)."""
        if self.where is None:
            return NO_TEXT
        return tr(" where {condition}", condition=self.where.source)


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

    def may_apply(self, state: str | None, trigger: str, entered: tuple[str, ...]) -> bool:
        return self.at(state, trigger)

    def _subjects(self, request: Request) -> list[str]:
        if self.subject == "actor":
            return [request.actor]
        return as_list(request.data.get(self.subject[5:]))

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        people = self._subjects(request)
        label = self.records.label
        if not people:
            return self.deny(
                tr(
                    "nobody is named in {subject} to check for a {label} record",
                    subject=self.subject,
                    label=text_of(label),
                )
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
        if uncovered:
            assert self.covers is not None
            return self.deny(
                tr(
                    "data.{field} leaves out {entries}, asked for by the record's {list}; {demand}",
                    field=self.covers[1],
                    entries=joined(uncovered),
                    list=self.covers[0],
                    demand=self.describe(),
                )
            )
        if not missing:
            return None
        return self.deny(
            tr(
                "{people}: no record found; {demand}",
                people=", ".join(missing),
                demand=self.describe(),
            )
        )

    def _uncovered(self, record: Mapping[str, Any], request: Request) -> list[str]:
        """The entries of the record's list (``covers``) the judged item's list lacks."""
        assert self.covers is not None
        have = set(as_list(request.data.get(self.covers[1])))
        return [e for e in dict.fromkeys(as_list(record.get(self.covers[0]))) if e not in have]

    def describe(self) -> Text:
        if self.subject == "actor":
            who = tr("the actor")
        else:
            who = tr("everyone in {subject}", subject=self.subject)
        cover = NO_TEXT
        if self.covers is not None:
            cover = tr(
                ", each of its {list} in data.{field}", list=self.covers[0], field=self.covers[1]
            )
        return tr(
            "{who} needs a {label} item in {states}{condition}{cover}{when}",
            who=who,
            label=text_of(self.records.label),
            states=self.records.held(),
            condition=self.records.condition(),
            cover=cover,
            when=NO_TEXT
            if self.when is None
            else tr(" when {condition}", condition=self.when.source),
        )


_Acting = tuple[frozenset[str], frozenset[str]]
"""The posts an actor acts through, and the posts of theirs whose record covers them."""

_MAX_ACTING = 4096
"""How many (roles, edge roles) pairs a :class:`PostRecordRule` keeps (then it starts over)."""


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
        self._tracked = frozenset(self.posts)
        # (roles, edge roles) -> (acting posts, posts covering them): what a command's
        # actor acts through depends on these two sets alone, asked by every command
        self._acting: dict[tuple[frozenset[str], frozenset[str]], _Acting] = {}

    def acting_posts(self, request: Request) -> frozenset[str]:
        """The tracked posts ``request``'s actor acts through (empty: the rule has no say)."""
        return self._acting_of(request.roles, request.edge_roles)[0]

    def _acting_of(self, roles: frozenset[str], edge_roles: frozenset[str]) -> _Acting:
        """The posts an actor holding ``roles`` acts through when ``edge_roles`` may act,
        and the posts of theirs whose record covers them (kept per pair of sets)."""
        key = (roles, edge_roles)
        found = self._acting.get(key)
        if found is None:
            acting = roles & edge_roles
            if not acting or not acting <= self._tracked:
                acting = frozenset()
            covering = frozenset(
                held
                for held in roles
                if held in acting or self.closure.get(held, frozenset({held})) & acting
            )
            if len(self._acting) >= _MAX_ACTING:
                self._acting.clear()
            found = self._acting[key] = (acting, covering)
        return found

    def applies(self, request: Request) -> bool:
        return bool(self._acting_of(request.roles, request.edge_roles)[0])

    def may_apply(self, state: str | None, trigger: str, entered: tuple[str, ...]) -> bool:
        return True  # it applies by the roles the actor acts through

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        acting, covering = self._acting_of(request.roles, request.edge_roles)
        for record in self.records.of(facts, request.actor, request):
            if str(record.get(self.post_field)) in covering:
                return None
        either = tr(" or ")
        posts = Text(
            either.en.join(sorted(self.posts[p].en for p in acting)),
            either.zh.join(sorted(self.posts[p].zh for p in acting)),
        )
        return self.deny(
            tr(
                "{actor} acts as {posts} without a record for that post: no valid {label} "
                "item in {states} naming the post{condition} (nobody takes up a post "
                "without it)",
                actor=request.actor,
                posts=posts,
                label=text_of(self.records.label),
                states=self.records.held(),
                condition=self.records.condition(),
            )
        )

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return bool(roles & set(self.posts))

    def describe(self) -> Text:
        return tr(
            "an actor acting as {posts} needs a {label} item in {states} for that post "
            "({field}){condition}",
            posts=", ".join(sorted(self.posts)),
            label=text_of(self.records.label),
            states=self.records.held(),
            field=self.post_field,
            condition=self.records.condition(),
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

    def may_apply(self, state: str | None, trigger: str, entered: tuple[str, ...]) -> bool:
        return bool(self.enter & set(entered))

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
        return self.deny(
            tr(
                "{values}: no {label} record named in data.{field} ({named}) carries it; {demand}",
                values=joined(missing),
                label=text_of(self.records.label),
                field=self.named_in,
                named=joined(named) if named else tr("none"),
                demand=self.describe(),
            )
        )

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return bool(self.enter & entered) and state not in self.enter

    def describe(self) -> Text:
        valid_until = self.records.valid_until
        return tr(
            "entering {states}: each of data.{field} ({values}) needs a {label} item named "
            "in data.{named} whose {match} is that value, in {held}{until}{condition}",
            states=joined(sorted(self.enter)),
            field=self.values,
            values=tr("every value") if self.only is None else joined(sorted(self.only)),
            label=text_of(self.records.label),
            named=self.named_in,
            match=self.match,
            held=self.records.held(),
            until=tr(", {field} not passed", field=valid_until) if valid_until else NO_TEXT,
            condition=self.records.condition(),
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

    def may_apply(self, state: str | None, trigger: str, entered: tuple[str, ...]) -> bool:
        return state is None

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        value = request.data.get(self.field)
        if value is None or value == "":
            return None
        if not facts.records(request.workflow, self.states, self.field, str(value)):
            return None
        return self.deny(
            tr(
                "{field} {value} is already held by a {label} item in {states}; each may be "
                "registered once",
                field=self.field,
                value=Text(repr(value), str(value)),
                label=text_of(self.workflow_label),
                states="/".join(self.states),
            )
        )

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return state is None

    def describe(self) -> Text:
        return tr(
            "no other item in {states} may hold the same {field}",
            states="/".join(self.states),
            field=self.field,
        )
