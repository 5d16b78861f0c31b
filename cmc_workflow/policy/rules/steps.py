"""Rules about an item's own steps: review attestations, separation of duties, and the
approvals that must come, in order, before a state is entered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cmc_workflow.definition.models import Label
from cmc_workflow.model import normal_id
from cmc_workflow.policy.rules.base import (
    Denial,
    Request,
    Rounds,
    StepKey,
    StepRule,
    names,
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

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        missing = [f for f in self.fields if request.form.get(f) is not True]
        if not missing:
            return None
        labels = [
            spec.label
            for name in missing
            if (spec := request.form_spec.get(name)) is not None and spec.label is not None
        ]
        en_list = ", ".join(missing) if len(labels) != len(missing) else names(labels, "en")
        zh_list = "、".join(missing) if len(labels) != len(missing) else names(labels, "zh")
        return self.deny(
            f"every item of the review checklist must be confirmed; not confirmed: {en_list}",
            f"审核清单须逐项确认，未确认：{zh_list}",
        )

    def describe(self) -> tuple[str, str]:
        return (
            f"attest {', '.join(self.fields)} all true",
            f"须确认 {'、'.join(self.fields)} 均为真",
        )


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

    def initial(self) -> dict[str, list[str]]:
        return {}

    def fold(self, state: dict[str, list[str]], step: Step) -> dict[str, list[str]]:
        if self.within != "item" and self.rounds.enters_rework(step):
            return {}  # the round begins after the step that entered rework
        changed: dict[str, list[str]] | None = None
        for key in self.steps:
            if not key.matches_step(step):
                continue
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

    def describe(self) -> tuple[str, str]:
        en = "; ".join(f"{a.label.en} != {b.label.en}" for a, b in self.pairs)
        zh = "；".join(f"{a.label.zh}≠{b.label.zh}" for a, b in self.pairs)
        return f"different people: {en}", f"须由不同的人担任：{zh}"


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
        missing = self.stages[done:]
        en = (
            f"entering {self.enter!r} needs, in order since the last rework: "
            f"{names((s.label for s in self.stages), 'en')}; missing: "
            f"{names((s.label for s in missing), 'en')}"
        )
        zh = (
            f"进入“{self.enter}”前须依次完成{names((s.label for s in self.stages), 'zh')}，"
            f"尚缺：{names((s.label for s in missing), 'zh')}"
        )
        if edit is not None:
            seq, actor, trigger = edit
            en += (
                f" (the edit {trigger!r} by {actor} at step {seq} invalidated "
                "earlier approvals: review again)"
            )
            zh += f"（第 {seq} 步 {actor} 的修改（{trigger}）使此前的审核失效，须重新审核）"
        return self.deny(en, zh)

    def signature(self) -> object:
        stages = [[k.state, k.trigger] for k in self.stages]
        rounds = [sorted(self.rounds.rework), sorted(self.rounds.edit_fields)]
        return [self.kind, stages, rounds]

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return self.enter in entered and state != self.enter

    def describe(self) -> tuple[str, str]:
        return (
            f"entering {self.enter} needs {names((s.label for s in self.stages), 'en')}, in order",
            f"进入 {self.enter} 须依次经过{names((s.label for s in self.stages), 'zh')}",
        )
