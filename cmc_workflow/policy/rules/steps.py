"""Rules about an item's own steps: review attestations, separation of duties, and the
approvals that must come, in order, before a state is entered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cmc_workflow.definition.models import Label
from cmc_workflow.i18n import Text, joined, tr
from cmc_workflow.model import normal_id
from cmc_workflow.policy.rules.base import (
    NO_TEXT,
    Denial,
    Request,
    Rounds,
    StepKey,
    StepRule,
    in_turn,
    listed,
    text_of,
)
from cmc_workflow.policy.rules.facts import Facts, Step
from cmc_workflow.policy.rules.history import HistoryRule


class AttestationRule(StepRule):
    """Review attestations: boolean form fields that must all be true to fire a step."""

    kind = "attestations"

    def __init__(
        self, rule_id: str, steps: Sequence[StepKey], fields: Sequence[str], reason: Label | None
    ) -> None:
        super().__init__(rule_id, reason)
        self.steps = tuple(steps)
        self.fields = tuple(fields)

    def applies(self, request: Request) -> bool:
        return not request.probe and self.at_step(request)

    def may_apply(self, state: str | None, trigger: str, entered: tuple[str, ...]) -> bool:
        return self.at(state, trigger)

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        missing = [f for f in self.fields if request.form.get(f) is not True]
        if not missing:
            return None
        labels = [
            spec.label
            for name in missing
            if (spec := request.form_spec.get(name)) is not None and spec.label is not None
        ]
        return self.deny(
            tr(
                "every item of the review checklist must be confirmed; not confirmed: {fields}",
                fields=joined(missing) if len(labels) != len(missing) else listed(labels),
            )
        )

    def describe(self) -> Text:
        return tr("attest {fields} all true", fields=joined(self.fields))


class DistinctActorsRule(StepRule, HistoryRule):
    """Separation of duties between the actors of named steps.

    Its state is, per named step, who took it within the window (the whole item, or the
    round since the item last entered a rework state): each actor's id as recorded and
    as a person reads it, so a request's actor is found among them exactly when
    :func:`~cmc_workflow.policy.rules.base.same_person` would find a step of theirs.
    It grows with the people who took the steps, not with the history.
    """

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
        # the steps a history step may match, found by its kind, state and trigger
        # instead of asking each (StepKey.matches_step), in the same order
        self._starting = tuple(k for k in self.steps if k.state is None)
        firing: dict[tuple[str, str], list[StepKey]] = {}
        for key in self.steps:
            if key.state is not None:
                firing.setdefault((key.state, key.trigger), []).append(key)
        self._firing = {at: tuple(keys) for at, keys in firing.items()}

    def initial(self) -> dict[str, list[str]]:
        return {}

    def matching(self, step: Step) -> tuple[StepKey, ...]:
        """The steps of the rule that ``step`` is an accepted firing of, in their order
        (those whose :meth:`~StepKey.matches_step` is true)."""
        if step.kind == "start":
            return self._starting
        if step.kind != "fire" or step.source is None or step.trigger is None:
            return ()
        return self._firing.get((step.source, step.trigger), ())

    def fold(self, state: dict[str, list[str]], step: Step) -> dict[str, list[str]]:
        if self.within != "item" and self.rounds.enters_rework(step):
            return {}  # the round begins after the step that entered rework
        changed: dict[str, list[str]] | None = None
        for key in self.matching(step):
            seen = state.get(key.name, [])
            new = [a for a in dict.fromkeys((step.actor, normal_id(step.actor))) if a not in seen]
            if new:
                changed = dict(state) if changed is None else changed
                changed[key.name] = [*seen, *new]
        return state if changed is None else changed

    def verdict(self, request: Request, state: Any, seen: int) -> Denial | None:
        for this, other in self._partners(request):
            if request.actor in state.get(other.name, ()):
                if this == other:
                    return self.deny(
                        tr(
                            "{actor} already acted as the {other} of this item; another {this} "
                            "must be someone else",
                            actor=request.actor,
                            other=text_of(other.label),
                            this=text_of(this.label),
                        )
                    )
                return self.deny(
                    tr(
                        "{actor} already acted as the {other} of this item; the {this} must be "
                        "someone else",
                        actor=request.actor,
                        other=text_of(other.label),
                        this=text_of(this.label),
                    )
                )
        return None

    def signature(self) -> object:
        rework = sorted(self.rounds.rework) if self.within != "item" else []
        keys = [[k.name, k.state, k.trigger] for k in self.steps]
        return [self.kind, self.within, rework, keys]

    def _partners(self, request: Request) -> list[tuple[StepKey, StepKey]]:
        found = []
        for a, b in self.pairs:
            if a.matches(request):
                found.append((a, b))
            if b.matches(request) and a != b:
                found.append((b, a))
        return found

    def describe(self) -> Text:
        pairs = in_turn(
            Text(f"{a.label.en} != {b.label.en}", f"{a.label.zh}\u2260{b.label.zh}")
            for a, b in self.pairs
        )
        return tr("different people: {pairs}", pairs=pairs)


class RequiredStagesRule(HistoryRule):
    """Entering a state needs approvals of named steps, in order, since the last rework.

    Its state is how many stages are done in order in the current round, and the edit
    that last invalidated approvals (its step number, actor and trigger), if one did.
    """

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

    def may_apply(self, state: str | None, trigger: str, entered: tuple[str, ...]) -> bool:
        return self.enter in entered

    def initial(self) -> dict[str, Any]:
        return {"done": 0, "edit": None}

    def fold(self, state: dict[str, Any], step: Step) -> dict[str, Any]:
        done, edit = state["done"], state["edit"]
        if self.rounds.enters_rework(step):
            done, edit = 0, None
        if self.rounds.is_edit(step.kind, step.form) and done > 0:
            done, edit = 0, [step.seq, step.actor, step.trigger]
        if done < len(self.stages) and self.stages[done].matches_step(step):
            done += 1
        if done == state["done"] and edit is state["edit"]:
            return state
        return {"done": done, "edit": edit}

    def pending(self, request: Request, seen: int) -> Step:
        """The step ``request`` would be, after ``seen`` steps."""
        return Step(
            seq=seen + 1,
            kind="start" if request.is_start else request.kind,
            trigger=None if request.is_start else request.trigger,
            source=request.state,
            target=request.entered[0] if request.entered else request.state or "",
            actor=request.actor,
            form=request.form,
        )

    def progress(self, history: Sequence[Step], request: Request) -> tuple[int, Step | None]:
        """How many stages are done in order (request included), and the edit that last
        invalidated approvals (if one did)."""
        pending = self.pending(request, len(history))
        done, edit = 0, None
        for step in [*history, pending]:  # the fold, keeping the edit as its step
            state = self.fold({"done": done, "edit": None}, step)
            if self.rounds.enters_rework(step):
                edit = None
            if state["edit"] is not None:
                edit = step
            done = state["done"]
        return done, edit

    def verdict(self, request: Request, state: Any, seen: int) -> Denial | None:
        state = self.fold(state, self.pending(request, seen))
        done, edit = state["done"], state["edit"]
        if done == len(self.stages):
            return None
        again = NO_TEXT
        if edit is not None:
            seq, actor, trigger = edit
            again = tr(
                " (the edit {trigger} by {actor} at step {seq} invalidated earlier approvals: "
                "review again)",
                trigger=Text(repr(trigger), str(trigger)),
                actor=actor,
                seq=seq,
            )
        return self.deny(
            tr(
                "entering {state} needs, in order since the last rework: {stages}; missing: "
                "{missing}{again}",
                state=Text(repr(self.enter), self.enter),
                stages=listed(s.label for s in self.stages),
                missing=listed(s.label for s in self.stages[done:]),
                again=again,
            )
        )

    def signature(self) -> object:
        stages = [[k.state, k.trigger] for k in self.stages]
        rounds = [sorted(self.rounds.rework), sorted(self.rounds.edit_fields)]
        return [self.kind, stages, rounds]

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return self.enter in entered and state != self.enter

    def describe(self) -> Text:
        return tr(
            "entering {state} needs {stages}, in order",
            state=self.enter,
            stages=listed(s.label for s in self.stages),
        )
