"""Deadlines and clocks: their steps, spans and the states a clock runs in."""

from __future__ import annotations

from cmc_workflow.definition.models import Workflow
from cmc_workflow.errors import Problem
from cmc_workflow.located import Located, Path


def deadline_problems(wf: Workflow, doc: Located) -> list[Problem]:
    out: list[Problem] = []
    for name, state in wf.states.items():
        if state.deadline is None:
            continue
        base: Path = ("states", name, "deadline")
        if state.type in ("endEvent", "exclusiveGateway"):
            out.append(
                doc.problem(
                    base,
                    "E-DEADLINE-ON-END",
                    f"{state.type} {name!r} cannot have a deadline: items do not wait there",
                    "move the deadline to the state where the work waits",
                    key=True,
                )
            )
        out += _clock_states(wf, name, doc)
        out += _span_problems(wf, name, doc)
        since = state.deadline.counts_from
        if since is not None and (since not in wf.data or wf.data[since].type != "datetime"):
            out.append(
                doc.problem(
                    (*base, "counts_from"),
                    "E-DEADLINE-CLOCK",
                    f"counts_from: {since!r} must be a datetime field declared under data:",
                    f"declare {since}: {{type: datetime, required: false}} under data:",
                )
            )
        triggers = {t.trigger for t in state.transitions}
        for j, step in enumerate(state.deadline.steps):
            spath: Path = (*base, "steps", j)
            given = [k for k in ("at", "after", "before") if getattr(step, k) is not None]
            if len(given) != 1:
                out.append(
                    doc.problem(
                        spath,
                        "E-DEADLINE-STEP",
                        "a deadline step needs exactly one of at:, after:, before:",
                        "e.g. at: '50%', or before: 4 working hours",
                    )
                )
            if step.action in ("escalate", "notify", "reassign") and step.to is None:
                out.append(
                    doc.problem(spath, "E-DEADLINE-STEP", f"a {step.action} step needs to: <role>")
                )
            acting = {r for t in state.transitions for r in t.roles or ()}
            if step.action == "reassign" and step.to is not None and step.to not in acting:
                out.append(
                    doc.problem(
                        (*spath, "to"),
                        "E-DEADLINE-STEP",
                        f"a reassign step gives the task to a holder of {step.to!r}, who "
                        f"cannot act in {name!r}",
                        f"name a role that acts here: {sorted(acting)}; or escalate to it",
                    )
                )
            if step.action == "fire" and step.trigger not in triggers:
                out.append(
                    doc.problem(
                        spath,
                        "E-DEADLINE-STEP",
                        f"a fire step needs trigger: naming a transition of {name!r}",
                        f"triggers here: {sorted(t for t in triggers if t)}",
                    )
                )
            elif step.action == "fire":
                lacking = [
                    other
                    for other in state.deadline.runs_in
                    if other in wf.states
                    and wf.states[other].type in ("userTask", "serviceTask")
                    and step.trigger not in {t.trigger for t in wf.states[other].transitions}
                ]
                if lacking:
                    out.append(
                        doc.problem(
                            spath,
                            "E-DEADLINE-STEP",
                            f"the clock also runs in {', '.join(map(repr, lacking))}, which "
                            f"has no transition {step.trigger!r} to fire",
                            "give every state in runs_in that trigger, or use escalate",
                        )
                    )
    return out


def _span_problems(wf: Workflow, name: str, doc: Located) -> list[Problem]:
    """A deadline says how long (within:), until when (until: a date of the data), or both
    (due at the earlier of the two)."""
    deadline = wf.states[name].deadline
    assert deadline is not None
    base: Path = ("states", name, "deadline")
    if deadline.within is None and deadline.until is None:
        return [
            doc.problem(
                base,
                "E-DEADLINE-CLOCK",
                "a deadline needs within:, until: or both",
                "e.g. within: 2 working days, or until: due_date (a date field of data:)",
                key=True,
            )
        ]
    if deadline.until is None:
        return []
    out: list[Problem] = []
    field = wf.data.get(deadline.until)
    if field is None or field.type not in ("date", "datetime"):
        out.append(
            doc.problem(
                (*base, "until"),
                "E-DEADLINE-CLOCK",
                f"until: {deadline.until!r} must be a date or datetime field declared under data:",
                f"declare {deadline.until}: {{type: date}} under data:",
            )
        )
    for key in ("pause_in", "counts_from"):
        if getattr(deadline, key):
            out.append(
                doc.problem(
                    (*base, key),
                    "E-DEADLINE-CLOCK",
                    f"{key}: does not apply to a deadline until a date: the date does not move",
                    f"remove {key}:, or count the time with within:",
                    key=True,
                )
            )
    return out


def _clock_states(wf: Workflow, name: str, doc: Located) -> list[Problem]:
    """The states a clock pauses or keeps running in: distinct, and places an item waits."""
    deadline = wf.states[name].deadline
    assert deadline is not None
    out: list[Problem] = []
    base: Path = ("states", name, "deadline")
    seen: dict[str, str] = {}
    for key in ("pause_in", "runs_in"):
        for j, other in enumerate(getattr(deadline, key)):
            path: Path = (*base, key, j)
            if other == name:
                out.append(
                    doc.problem(
                        path,
                        "E-DEADLINE-CLOCK",
                        f"the clock of {name!r} runs there already: {key} lists its own state",
                        f"remove {other!r} from {key}",
                    )
                )
            elif other in seen:
                out.append(
                    doc.problem(
                        path,
                        "E-DEADLINE-CLOCK",
                        f"state {other!r} is listed in {seen[other]} and again in {key}",
                        "a clock either pauses in a state (pause_in) or keeps running there "
                        "(runs_in), once",
                    )
                )
            elif other in wf.states and wf.states[other].type in ("endEvent", "exclusiveGateway"):
                out.append(
                    doc.problem(
                        path,
                        "E-DEADLINE-CLOCK",
                        f"{wf.states[other].type} {other!r} is no place to wait: the clock "
                        "stops when the item closes and passes through gateways",
                        f"remove {other!r} from {key}",
                    )
                )
            else:
                seen[other] = key
    return out
