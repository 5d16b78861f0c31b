"""Judging one command against policy rules: pure functions over plain values.

Nothing here touches the database, the clock or the engine. A rule sees a
:class:`Request` (who wants to do what to which data, at what time) and asks
:class:`Facts` for what it cannot see in the request: the item's history and, for
``requires_record``, completed items of another workflow. The engine side
(:mod:`cmc_workflow.policy.extension`) answers those questions from the store; tests can
answer them from lists.

A rule either lets the request pass (``None``) or refuses it with a :class:`Denial` that
names the rule and explains itself in English and Chinese.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cmc_workflow.definition.forms import read_moment
from cmc_workflow.definition.guards import Guard
from cmc_workflow.definition.models import FieldSpec, Label
from cmc_workflow.model import normal_id
from cmc_workflow.policy.models import START_TRIGGER

PERMISSIONS_RULE = "permissions"
"""The rule id of refusals by a policy's ``permissions:``/``start:`` tables."""


@dataclass(frozen=True, slots=True)
class Step:
    """One accepted step of an item's history, as rules see it."""

    seq: int
    kind: str
    trigger: str | None
    source: str | None
    target: str
    actor: str
    form: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Entry:
    """An item's data and the last time it entered some states (from :meth:`Facts.entered`)."""

    data: Mapping[str, Any]
    at: dt.datetime


class Facts(Protocol):
    """What a rule may ask beyond the request: answered from the store by the engine."""

    def history(self) -> Sequence[Step]:
        """The accepted steps of the request's item, in order (empty at start)."""
        ...

    def records(
        self, workflow: str, states: Sequence[str], field: str, value: str
    ) -> Sequence[Mapping[str, Any]]:
        """The data of items of ``workflow`` resting in one of ``states`` whose data
        ``field`` names ``value`` as a person reads it (Unicode NFKC, case-folded, trimmed
        on both sides: the ids of people and accounts typed into records)."""
        ...

    def entered(
        self,
        workflow: str,
        states: Sequence[str],
        *,
        source: Sequence[str] | None = None,
        resting_in: Sequence[str] | None = None,
    ) -> Sequence[Entry]:
        """For each item of ``workflow`` (resting in one of ``resting_in``, when given) that
        entered one of ``states`` from outside them (from one of ``source``, when given):
        its data and the last time it did so, as the engine recorded it."""
        ...


@dataclass(frozen=True, slots=True)
class Request:
    """A command to judge. ``trigger`` is ``"start"`` and ``state`` None when starting.

    ``roles`` are the actor's effective roles (inheritance applied); ``edge_roles`` the
    roles the workflow lets fire this transition; ``entered`` the states the command
    would enter, gateways followed (empty for a self-loop). ``probe`` is true when
    ``Engine.allowed`` asks ahead of a form: rules that read the form then stay silent.
    ``kind`` is how the step will be recorded: ``start`` and ``fire`` are a person's
    commands; ``timer``, ``handler`` and ``collect`` are steps the engine takes itself
    (a deadline step, a serviceTask outcome, a gathered item), which never count as a
    person's approval.
    """

    workflow: str
    state: str | None
    trigger: str
    entered: tuple[str, ...]
    actor: str
    roles: frozenset[str]
    attributes: Mapping[str, str]
    data: Mapping[str, Any]
    form: Mapping[str, Any]
    form_spec: Mapping[str, FieldSpec]
    edge_roles: frozenset[str]
    now: dt.datetime
    today: dt.date
    probe: bool = False
    kind: str = "fire"

    @property
    def is_start(self) -> bool:
        """True when the request starts an item."""
        return self.state is None

    def scope(self) -> dict[str, Any]:
        """The guard-language scope of the request: data (form merged), form, actor."""
        return {
            "data": dict(self.data),
            "form": dict(self.form),
            "actor": {"id": self.actor, "roles": sorted(self.roles), **self.attributes},
        }


@dataclass(frozen=True, slots=True)
class Denial:
    """A refusal: the rule's id and readable reasons in English and Chinese."""

    rule: str
    reason_en: str
    reason_zh: str


@dataclass(frozen=True, slots=True)
class StepKey:
    """A named step: firing ``trigger`` in ``state``, or starting an item (state None)."""

    name: str
    state: str | None
    trigger: str
    label: Label

    def matches(self, request: Request) -> bool:
        """True when ``request`` is this step."""
        if self.state is None:
            return request.is_start
        return request.state == self.state and request.trigger == self.trigger

    def matches_step(self, step: Step) -> bool:
        """True when the history ``step`` is an accepted firing of this step by a person."""
        if self.state is None:
            return step.kind == "start"
        return step.kind == "fire" and step.source == self.state and step.trigger == self.trigger

    def describe(self) -> str:
        """``state.trigger`` (or ``start``), for messages."""
        return START_TRIGGER if self.state is None else f"{self.state}.{self.trigger}"


@dataclass(frozen=True, slots=True)
class Rounds:
    """Where rounds of work begin: entering a rework state, and (for approvals) edits."""

    rework: frozenset[str] = frozenset()
    edit_fields: frozenset[str] = frozenset()

    def enters_rework(self, step: Step) -> bool:
        """True when ``step`` enters a rework state (a self-loop does not enter)."""
        return step.target in self.rework and step.source != step.target

    def is_edit(self, kind: str, form: Mapping[str, Any]) -> bool:
        """True when a person's step submitted a value for an edit field."""
        return kind == "fire" and any(
            form.get(name) not in (None, "", []) for name in self.edit_fields
        )

    def current(self, history: Sequence[Step]) -> Sequence[Step]:
        """The steps since the item last entered a rework state."""
        start = 0
        for i, step in enumerate(history):
            if self.enters_rework(step):
                start = i + 1
        return history[start:]


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _is_step(step: StepKey, state: str | None, trigger: str) -> bool:
    if step.state is None:
        return state is None
    return step.state == state and step.trigger == trigger


def _names(labels: Iterable[Label], lang: str) -> str:
    parts = [label.zh if lang == "zh" else label.en for label in labels]
    return ("、" if lang == "zh" else ", ").join(parts)


class Rule:
    """A compiled rule of one workflow. Subclasses implement :meth:`applies`/:meth:`judge`."""

    kind = "rule"

    def __init__(self, rule_id: str, reason: Label | None = None) -> None:
        self.id = rule_id
        self.reason = reason

    def applies(self, request: Request) -> bool:
        """Whether the rule has anything to say about ``request``."""
        raise NotImplementedError

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        """None when ``request`` passes, else the refusal (only called when it applies)."""
        raise NotImplementedError

    def describe(self) -> tuple[str, str]:
        """What the rule demands, in English and Chinese (for ``who-can``)."""
        raise NotImplementedError

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        """Whether the rule may judge firing ``trigger`` in ``state`` (for ``who-can``):
        ``entered`` are the states the transition may enter, ``roles`` who may fire it."""
        raise NotImplementedError

    def deny(self, en: str, zh: str) -> Denial:
        """A refusal by this rule; the policy's own ``reason:`` wins over the generated one."""
        if self.reason is not None:
            return Denial(self.id, self.reason.en, self.reason.zh)
        return Denial(self.id, en, zh)


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


class AttestationRule(Rule):
    """Review attestations: boolean form fields that must all be true to fire a step."""

    kind = "attestations"

    def __init__(
        self, rule_id: str, steps: Sequence[StepKey], fields: Sequence[str], reason: Label | None
    ) -> None:
        super().__init__(rule_id, reason)
        self.steps = tuple(steps)
        self.fields = tuple(fields)

    def applies(self, request: Request) -> bool:
        return not request.probe and any(s.matches(request) for s in self.steps)

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        missing = [f for f in self.fields if request.form.get(f) is not True]
        if not missing:
            return None
        labels = [
            spec.label
            for name in missing
            if (spec := request.form_spec.get(name)) is not None and spec.label is not None
        ]
        en_list = ", ".join(missing) if len(labels) != len(missing) else _names(labels, "en")
        zh_list = "、".join(missing) if len(labels) != len(missing) else _names(labels, "zh")
        return self.deny(
            f"every item of the review checklist must be confirmed; not confirmed: {en_list}",
            f"审核清单须逐项确认，未确认：{zh_list}",
        )

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return any(_is_step(s, state, trigger) for s in self.steps)

    def describe(self) -> tuple[str, str]:
        return (
            f"attest {', '.join(self.fields)} all true",
            f"须确认 {'、'.join(self.fields)} 均为真",
        )


def _same_person(stored: str, actor: str) -> bool:
    """Whether a history row's actor is ``actor`` (normalised), also for rows written
    before the engine stored ids normalised."""
    return stored == actor or normal_id(stored) == actor


class DistinctActorsRule(Rule):
    """Separation of duties between the actors of named steps."""

    kind = "distinct_actors"

    def __init__(
        self,
        rule_id: str,
        pairs: Sequence[tuple[StepKey, StepKey]],
        within: str,
        rounds: Rounds,
        reason: Label | None,
    ) -> None:
        super().__init__(rule_id, reason)
        self.pairs = tuple(pairs)
        self.within = within
        self.rounds = rounds
        self.steps = tuple(dict.fromkeys(s for pair in self.pairs for s in pair))

    def applies(self, request: Request) -> bool:
        return any(s.matches(request) for s in self.steps)

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        history = facts.history()
        window = history if self.within == "item" else self.rounds.current(history)
        for this, other in self._partners(request):
            if any(other.matches_step(s) and _same_person(s.actor, request.actor) for s in window):
                if this == other:
                    return self.deny(
                        f"{request.actor} already acted as the {other.label.en} of this item; "
                        f"another {this.label.en} must be someone else",
                        f"{request.actor} 已担任本事项的{other.label.zh}，"
                        f"再次{this.label.zh}须由他人担任",
                    )
                return self.deny(
                    f"{request.actor} already acted as the {other.label.en} of this item; "
                    f"the {this.label.en} must be someone else",
                    f"{request.actor} 已担任本事项的{other.label.zh}，{this.label.zh}须由他人担任",
                )
        return None

    def _partners(self, request: Request) -> list[tuple[StepKey, StepKey]]:
        found = []
        for a, b in self.pairs:
            if a.matches(request):
                found.append((a, b))
            if b.matches(request) and a != b:
                found.append((b, a))
        return found

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return any(_is_step(s, state, trigger) for s in self.steps)

    def describe(self) -> tuple[str, str]:
        en = "; ".join(f"{a.label.en} != {b.label.en}" for a, b in self.pairs)
        zh = "；".join(f"{a.label.zh}≠{b.label.zh}" for a, b in self.pairs)
        return f"different people: {en}", f"须由不同的人担任：{zh}"


class RequiredStagesRule(Rule):
    """Entering a state needs approvals of named steps, in order, since the last rework."""

    kind = "required_stages"

    def __init__(
        self,
        rule_id: str,
        enter: str,
        stages: Sequence[StepKey],
        rounds: Rounds,
        reason: Label | None,
    ) -> None:
        super().__init__(rule_id, reason)
        self.enter = enter
        self.stages = tuple(stages)
        self.rounds = rounds

    def applies(self, request: Request) -> bool:
        return self.enter in request.entered

    def progress(self, history: Sequence[Step], request: Request) -> tuple[int, Step | None]:
        """How many stages are done in order (request included), and the edit that last
        invalidated approvals (if one did)."""
        done = 0
        edit: Step | None = None
        pending = Step(
            seq=len(history) + 1,
            kind="start" if request.is_start else request.kind,
            trigger=None if request.is_start else request.trigger,
            source=request.state,
            target=request.entered[0] if request.entered else request.state or "",
            actor=request.actor,
            form=request.form,
        )
        for step in [*history, pending]:
            if self.rounds.enters_rework(step):
                done, edit = 0, None
            if self.rounds.is_edit(step.kind, step.form) and done > 0:
                done, edit = 0, step
            if done < len(self.stages) and self.stages[done].matches_step(step):
                done += 1
        return done, edit

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        done, edit = self.progress(facts.history(), request)
        if done == len(self.stages):
            return None
        missing = self.stages[done:]
        en = (
            f"entering {self.enter!r} needs, in order since the last rework: "
            f"{_names((s.label for s in self.stages), 'en')}; missing: "
            f"{_names((s.label for s in missing), 'en')}"
        )
        zh = (
            f"进入“{self.enter}”前须依次完成{_names((s.label for s in self.stages), 'zh')}，"
            f"尚缺：{_names((s.label for s in missing), 'zh')}"
        )
        if edit is not None:
            en += (
                f" (the edit {edit.trigger!r} by {edit.actor} at step {edit.seq} invalidated "
                "earlier approvals: review again)"
            )
            zh += (
                f"（第 {edit.seq} 步 {edit.actor} 的修改（{edit.trigger}）"
                "使此前的审核失效，须重新审核）"
            )
        return self.deny(en, zh)

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return self.enter in entered and state != self.enter

    def describe(self) -> tuple[str, str]:
        return (
            f"entering {self.enter} needs {_names((s.label for s in self.stages), 'en')}, in order",
            f"进入 {self.enter} 须依次经过{_names((s.label for s in self.stages), 'zh')}",
        )


class RequiresRecordRule(Rule):
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
        if not any(s.matches(request) for s in self.steps):
            return False
        if request.probe and self.subject.startswith("data."):
            # the people may come with the form, which allowed() does not have yet
            return self.subject[5:] not in request.form_spec
        return True

    def _subjects(self, request: Request) -> list[str]:
        if self.subject == "actor":
            return [request.actor]
        return _as_list(request.data.get(self.subject[5:]))

    def _counts(self, record: Mapping[str, Any], request: Request) -> bool:
        scope = {"data": dict(record), "form": {}, "actor": {"id": request.actor}}
        if self.where is not None and not self.where.evaluate(scope):
            return False
        if self.valid_until is not None:
            return not _past(record.get(self.valid_until), request)
        return True

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

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return any(_is_step(s, state, trigger) for s in self.steps)

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


def _past(value: Any, request: Request) -> bool:
    """True when the date (or datetime) ``value`` lies before the request's day (or time).
    A missing or unreadable value counts as past: a rule never passes on what it cannot read."""
    moment = read_moment(value)
    if moment is None:
        return True
    if isinstance(moment, dt.datetime):
        return moment < request.now
    return moment < request.today


class ForbidDataRule(Rule):
    """Refuse commands on items whose data matches a condition, or whose date has passed."""

    kind = "forbid_data"

    def __init__(
        self,
        rule_id: str,
        steps: Sequence[StepKey],
        when: Guard | None,
        expired: str | None,
        reason: Label | None,
    ) -> None:
        super().__init__(rule_id, reason)
        self.steps = tuple(steps)
        self.when = when
        self.expired = expired

    def applies(self, request: Request) -> bool:
        if self.steps and not any(s.matches(request) for s in self.steps):
            return False
        if request.probe:
            read = set(self.when.fields if self.when is not None else ())
            read |= {self.expired} if self.expired else set()
            return not read & set(request.form_spec)
        return True

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        if self.when is not None and self.when.evaluate(request.scope()):
            return self.deny(
                f"refused because {self.when.source}",
                f"因 {self.when.source} 不予办理",
            )
        if self.expired is not None:
            value = request.data.get(self.expired)
            if value is not None and _past(value, request):
                return self.deny(
                    f"{self.expired} ({value}) has passed",
                    f"{self.expired}（{value}）已过期",
                )
        return None

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return not self.steps or any(_is_step(s, state, trigger) for s in self.steps)

    def describe(self) -> tuple[str, str]:
        parts_en, parts_zh = [], []
        if self.when is not None:
            parts_en.append(f"refused when {self.when.source}")
            parts_zh.append(f"{self.when.source} 时拒绝")
        if self.expired is not None:
            parts_en.append(f"refused once {self.expired} has passed")
            parts_zh.append(f"{self.expired} 过期后拒绝")
        return "; ".join(parts_en), "；".join(parts_zh)


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


def _record_counts(
    record: Mapping[str, Any], where: Guard | None, valid_until: str | None, request: Request
) -> bool:
    """Whether a record meets the rule's condition and has not expired on the request's day."""
    scope = {"data": dict(record), "form": {}, "actor": {"id": request.actor}}
    if where is not None and not where.evaluate(scope):
        return False
    return valid_until is None or not _past(record.get(valid_until), request)


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
            for v in dict.fromkeys(_as_list(request.data.get(self.values)))
            if self.only is None or v in self.only
        ]
        if not wanted:
            return None
        named = list(dict.fromkeys(_as_list(request.data.get(self.named_in))))
        carried: set[str] = set()
        for name in named:
            for record in facts.records(self.workflow, self.states, self.record_field, name):
                if _record_counts(record, self.where, self.valid_until, request):
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


@dataclass(frozen=True, slots=True)
class Silent:
    """A subject found silent: its id, since when, and for how many whole days."""

    subject: str
    since: dt.datetime
    days: int
    allowed: int


class SilenceRule(Rule):
    """Named steps are refused while a subject (an operating account) has not been heard
    from (no publication entered ``published`` naming it) for longer than an interval."""

    kind = "silence"

    def __init__(
        self,
        rule_id: str,
        steps: Sequence[StepKey],
        subjects: tuple[str, Sequence[str], str, str | None],
        publications: tuple[str, str, Sequence[str] | None, str],
        interval: str,
        reason: Label | None,
    ) -> None:
        super().__init__(rule_id, reason)
        self.steps = tuple(steps)
        self.subject_workflow, states, self.subject_field, self.own_interval = subjects
        self.subject_states = tuple(states)
        self.pub_workflow, self.pub_state, source, self.pub_field = publications
        self.pub_source = tuple(source) if source is not None else None
        self.interval = interval

    def applies(self, request: Request) -> bool:
        if not any(s.matches(request) for s in self.steps):
            return False
        return not (request.probe and self.interval in request.form_spec)

    def silent(self, request: Request, facts: Facts, days: int) -> list[Silent]:
        """The subjects silent for longer than their interval at the request's time (their
        own configured number of days, else ``days``), longest first.

        A subject is heard from when a publication naming it entered the state; one never
        heard from (or not since it last started) counts from when it started resting in
        the subject states (e.g. since it was certified)."""
        heard: dict[str, dt.datetime] = {}
        for entry in facts.entered(self.pub_workflow, [self.pub_state], source=self.pub_source):
            for name in _as_list(entry.data.get(self.pub_field)):
                if name not in heard or heard[name] < entry.at:
                    heard[name] = entry.at
        found = []
        subjects = facts.entered(
            self.subject_workflow, self.subject_states, resting_in=self.subject_states
        )
        for entry in subjects:
            name = str(entry.data.get(self.subject_field))
            since = max(entry.at, heard.get(name, entry.at))
            own = entry.data.get(self.own_interval) if self.own_interval else None
            allowed = own if isinstance(own, int) and not isinstance(own, bool) else days
            if request.now - since > dt.timedelta(days=allowed):
                found.append(Silent(name, since, (request.now - since).days, allowed))
        return sorted(found, key=lambda s: (s.since, s.subject))

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        days = request.data.get(self.interval)
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            return self.deny(
                f"the interval {self.interval} ({days!r}) is not a number of days: "
                "the silence cannot be judged",
                f"间隔 {self.interval}（{days!r}）不是天数，无法判断是否断更",
            )
        silent = self.silent(request, facts, days)
        if not silent:
            return None
        en = "; ".join(
            f"{x.subject} silent {x.days} days (since {x.since:%Y-%m-%d}, {x.allowed} allowed)"
            for x in silent
        )
        zh = "；".join(
            f"{x.subject} 已 {x.days} 天未发布（自 {x.since:%Y-%m-%d} 起，允许 {x.allowed} 天）"
            for x in silent
        )
        return self.deny(
            f"{en}: silent longer than allowed, by the publications the engine recorded; "
            "raise the alert instead",
            f"{zh}：断更超过允许天数（按系统记录的发布计算），应发出断更告警",
        )

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return any(_is_step(s, state, trigger) for s in self.steps)

    def describe(self) -> tuple[str, str]:
        return (
            f"refused while an item of {self.subject_workflow} in "
            f"{'/'.join(self.subject_states)} has no item of {self.pub_workflow} entering "
            f"{self.pub_state} naming it (data."
            f"{self.pub_field}) for longer than its own {self.own_interval or 'interval'} "
            f"or data.{self.interval} days",
            f"若有处于 {'/'.join(self.subject_states)} 的 {self.subject_workflow} 事项超过"
            f"其自身的 {self.own_interval or '间隔'} 或 data.{self.interval} 天"
            f"没有列明它（data.{self.pub_field}）的 {self.pub_workflow} "
            f"事项进入 {self.pub_state}，则拒绝",
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


@dataclass(slots=True)
class WorkflowRules:
    """Every compiled rule of one workflow, in the order they are judged."""

    workflow: str
    rounds: Rounds = field(default_factory=Rounds)
    rules: list[Rule] = field(default_factory=list)

    def judge_all(self, request: Request, facts: Facts) -> list[Denial]:
        """Every refusal of ``request`` (empty when it passes)."""
        found = []
        for rule in self.rules:
            if rule.applies(request):
                denial = rule.judge(request, facts)
                if denial is not None:
                    found.append(denial)
        return found


class ListFacts:
    """:class:`Facts` from plain lists, for tools that hold the data already and for tests
    of the rules alone. A record's state is its ``_state`` key."""

    def __init__(
        self,
        history: Sequence[Step] = (),
        records: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        moves: Mapping[str, Sequence[Move]] | None = None,
    ) -> None:
        self._history = list(history)
        self._records = {k: list(v) for k, v in (records or {}).items()}
        self._moves = {k: list(v) for k, v in (moves or {}).items()}

    def history(self) -> Sequence[Step]:
        """The steps given."""
        return self._history

    def records(
        self, workflow: str, states: Sequence[str], field: str, value: str
    ) -> Sequence[Mapping[str, Any]]:
        """The given records of ``workflow`` in one of ``states`` whose ``field`` names
        ``value`` as a person reads it."""
        return [
            r
            for r in self._records.get(workflow, [])
            if r.get("_state") in states and normal_id(str(r.get(field))) == normal_id(value)
        ]

    def entered(
        self,
        workflow: str,
        states: Sequence[str],
        *,
        source: Sequence[str] | None = None,
        resting_in: Sequence[str] | None = None,
    ) -> Sequence[Entry]:
        """The last qualifying move of each given item of ``workflow`` (see :class:`Move`)."""
        last: dict[int, Move] = {}
        for move in self._moves.get(workflow, []):
            if resting_in is not None and move.state not in resting_in:
                continue
            if move.target not in states or move.source in states:
                continue
            if source is not None and move.source not in source:
                continue
            if move.item not in last or last[move.item].at <= move.at:
                last[move.item] = move
        return [Entry(m.data, m.at) for m in last.values()]


@dataclass(frozen=True, slots=True)
class Move:
    """For :class:`ListFacts`: item ``item`` (now resting in ``state``, its data ``data``)
    went from ``source`` to ``target`` at ``at``."""

    item: int
    source: str | None
    target: str
    at: dt.datetime
    state: str
    data: Mapping[str, Any] = field(default_factory=dict)
