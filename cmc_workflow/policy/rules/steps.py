"""Rules about an item's own steps: review attestations, separation of duties, and the
approvals that must come, in order, before a state is entered."""

from __future__ import annotations

from collections.abc import Sequence

from cmc_workflow.definition.models import Label
from cmc_workflow.policy.rules.base import (
    Denial,
    Request,
    Rounds,
    Rule,
    StepKey,
    StepRule,
    names,
    same_person,
)
from cmc_workflow.policy.rules.facts import Facts, Step


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


class DistinctActorsRule(StepRule):
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

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        history = facts.history()
        window = history if self.within == "item" else self.rounds.current(history)
        for this, other in self._partners(request):
            if any(other.matches_step(s) and same_person(s.actor, request.actor) for s in window):
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
            f"{names((s.label for s in self.stages), 'en')}; missing: "
            f"{names((s.label for s in missing), 'en')}"
        )
        zh = (
            f"进入“{self.enter}”前须依次完成{names((s.label for s in self.stages), 'zh')}，"
            f"尚缺：{names((s.label for s in missing), 'zh')}"
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
            f"entering {self.enter} needs {names((s.label for s in self.stages), 'en')}, in order",
            f"进入 {self.enter} 须依次经过{names((s.label for s in self.stages), 'zh')}",
        )
