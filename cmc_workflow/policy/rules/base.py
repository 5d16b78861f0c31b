"""The shared vocabulary of the rules: the request, the facts, the denial, the base class.

Nothing here touches the database, the clock or the engine. A rule sees a
:class:`Request` (who wants to do what to which data, at what time) and asks
:class:`Facts` for what it cannot see in the request: the item's history and, for
``requires_record``, completed items of another workflow. The engine side
(:mod:`cmc_workflow.policy.extension`) answers those questions from the store; tests can
answer them from lists (:class:`~cmc_workflow.policy.rules.facts.ListFacts`).

A rule either lets the request pass (``None``) or refuses it with a :class:`Denial` that
names the rule and explains itself in English and Chinese.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cmc_workflow.definition.forms import read_moment
from cmc_workflow.definition.guards import Guard
from cmc_workflow.definition.models import FieldSpec, Label
from cmc_workflow.i18n import Text
from cmc_workflow.model import normal_id
from cmc_workflow.policy.models import START_TRIGGER
from cmc_workflow.policy.rules.facts import Facts, Step

PERMISSIONS_RULE = "permissions"
"""The rule id of refusals by a policy's ``permissions:``/``start:`` tables."""


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
    before: Mapping[str, Any] | None = None
    """The item's data before the command (None when starting): ``before`` in conditions."""

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
            "before": dict(self.before or {}),
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
        """True when a person's step submitted a value for an edit field (an empty
        sequence is no value, whether a list or, before it is stored, a tuple)."""
        return kind == "fire" and any(
            form.get(name) not in (None, "", [], ()) for name in self.edit_fields
        )

    def current(self, history: Sequence[Step]) -> Sequence[Step]:
        """The steps since the item last entered a rework state."""
        start = 0
        for i, step in enumerate(history):
            if self.enters_rework(step):
                start = i + 1
        return history[start:]


def as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def is_step(step: StepKey, state: str | None, trigger: str) -> bool:
    if step.state is None:
        return state is None
    return step.state == state and step.trigger == trigger


def names(labels: Iterable[Label], lang: str) -> str:
    parts = [label.zh if lang == "zh" else label.en for label in labels]
    return ("、" if lang == "zh" else ", ").join(parts)


NO_TEXT = Text("", "")
"""An optional part of a message that is not there (a ``{placeholder}`` left empty)."""


def text_of(label: Label) -> Text:
    """A label (written in both languages) as a message parameter."""
    return Text(label.en, label.zh)


def listed(labels: Iterable[Label]) -> Text:
    """Labels listed in both languages: ``a, b`` and ``a、b``."""
    found = list(labels)
    return Text(names(found, "en"), names(found, "zh"))


def in_turn(texts: Iterable[Text]) -> Text:
    """Messages one after another: ``a; b`` in English, ``a\uff1bb`` in Chinese."""
    found = list(texts)
    return Text("; ".join(t.en for t in found), "\uff1b".join(t.zh for t in found))


class Rule:
    """A compiled rule of one workflow. Subclasses implement :meth:`applies`/:meth:`judge`."""

    kind = "rule"

    level: str = "must"
    """``must`` or ``should`` (:func:`~cmc_workflow.requirements.rule_level` of the ids it
    implements, unless the policy says ``level:``)."""
    enforce: str | None = None
    """The administrator's choice: ``refuse`` (a should-rule raised to a refusal) or
    ``warn``; None: by the level."""
    implements: tuple[str, ...] = ()

    def __init__(self, rule_id: str, reason: Label | None = None) -> None:
        self.id = rule_id
        self.reason = reason

    def leveled(
        self, level: str, enforce: str | None = None, implements: Sequence[str] = ()
    ) -> Rule:
        """This rule with its level, the administrator's ``enforce:`` and its ids set."""
        self.level = level
        self.enforce = enforce
        self.implements = tuple(implements)
        return self

    @property
    def refuses(self) -> bool:
        """Whether an unmet rule refuses the command (a *must*, or a *should* raised with
        ``enforce: refuse``) or lets it through with a warning recorded."""
        if self.enforce is not None:
            return self.enforce == "refuse"
        return self.level == "must"

    def applies(self, request: Request) -> bool:
        """Whether the rule has anything to say about ``request``."""
        raise NotImplementedError

    def may_apply(self, state: str | None, trigger: str, entered: tuple[str, ...]) -> bool:
        """Whether :meth:`applies` can be true for a request firing ``trigger`` in
        ``state`` (None: starting) that enters ``entered``, whatever else it carries: a
        command is asked only of the rules that may apply (:func:`asked_rules`). False
        only when :meth:`applies` is false for every such request; a class that overrides
        :meth:`applies` without overriding this is asked every time."""
        return True

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        """None when ``request`` passes, else the refusal (only called when it applies)."""
        raise NotImplementedError

    def describe(self) -> Text:
        """What the rule demands, in English and Chinese (for ``who-can``)."""
        raise NotImplementedError

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        """Whether the rule may judge firing ``trigger`` in ``state`` (for ``who-can``):
        ``entered`` are the states the transition may enter, ``roles`` who may fire it."""
        raise NotImplementedError

    def deny(self, reason: Text) -> Denial:
        """A refusal by this rule (``reason``: a :func:`~cmc_workflow.i18n.tr` text, made
        only when the rule refuses); the policy's own ``reason:`` wins over it."""
        if self.reason is not None:
            return Denial(self.id, self.reason.en, self.reason.zh)
        return Denial(self.id, reason.en, reason.zh)


class StepRule(Rule):
    """A rule that speaks about named steps: firing one of ``steps`` (or starting)."""

    steps: tuple[StepKey, ...]

    def at_step(self, request: Request) -> bool:
        """True when ``request`` is one of the rule's steps."""
        return any(s.matches(request) for s in self.steps)

    def at(self, state: str | None, trigger: str) -> bool:
        """True when firing ``trigger`` in ``state`` (None: starting) is one of the steps."""
        return any(is_step(s, state, trigger) for s in self.steps)

    def applies(self, request: Request) -> bool:
        return self.at_step(request)

    def may_apply(self, state: str | None, trigger: str, entered: tuple[str, ...]) -> bool:
        return self.at(state, trigger)

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return self.at(state, trigger)


def same_person(stored: str, actor: str) -> bool:
    """Whether a history row's actor is ``actor`` (normalised), also for rows written
    before the engine stored ids normalised."""
    return stored == actor or normal_id(stored) == actor


def past(value: Any, request: Request) -> bool:
    """True when the date (or datetime) ``value`` lies before the request's day (or time).
    A missing or unreadable value counts as past: a rule never passes on what it cannot read."""
    moment = read_moment(value)
    if moment is None:
        return True
    if isinstance(moment, dt.datetime):
        return moment < request.now
    return moment < request.today


def record_counts(
    record: Mapping[str, Any], where: Guard | None, valid_until: str | None, request: Request
) -> bool:
    """Whether a record meets the rule's condition and has not expired on the request's day."""
    # the record as it is, not a copy: guards only read their scope
    if where is not None and not where.evaluate(
        {"data": record, "form": {}, "actor": {"id": request.actor}}
    ):
        return False
    return valid_until is None or not past(record.get(valid_until), request)


def asked_rules(
    rules: Sequence[Rule], state: str | None, trigger: str, entered: tuple[str, ...]
) -> tuple[Rule, ...]:
    """The ``rules`` that may apply to firing ``trigger`` in ``state`` into ``entered``, in
    their order: the others' :meth:`~Rule.applies` is false for every such request. A
    rule whose class overrides ``applies`` below the class that says ``may_apply`` is
    kept (its ``may_apply`` does not speak for that ``applies``)."""
    return tuple(
        rule
        for rule in rules
        if _owner(type(rule), "may_apply") is not _owner(type(rule), "applies")
        or rule.may_apply(state, trigger, entered)
    )


def _owner(cls: type, name: str) -> type | None:
    """The class of ``cls``'s method resolution order that defines ``name``."""
    return next((k for k in cls.__mro__ if name in k.__dict__), None)


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
