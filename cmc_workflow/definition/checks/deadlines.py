"""Deadlines and clocks: their steps, spans and the states a clock runs in."""

from __future__ import annotations

from cmc_workflow.definition.models import Workflow
from cmc_workflow.errors import Problem
from cmc_workflow.i18n import tr
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
                    tr(
                        "{type} {name} cannot have a deadline: items do not wait there",
                        type=state.type,
                        name=repr(name),
                    ),
                    tr("move the deadline to the state where the work waits"),
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
                    tr(
                        "counts_from: {since} must be a datetime field declared under data:",
                        since=repr(since),
                    ),
                    tr(
                        "declare {since}: {{type: datetime, required: false}} under data:",
                        since=since,
                    ),
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
                        tr("a deadline step needs exactly one of at:, after:, before:"),
                        tr("e.g. at: '50%', or before: 4 working hours"),
                    )
                )
            if step.action in ("escalate", "notify", "reassign") and step.to is None:
                out.append(
                    doc.problem(
                        spath,
                        "E-DEADLINE-STEP",
                        tr("a {action} step needs to: <role>", action=step.action),
                    )
                )
            acting = {r for t in state.transitions for r in t.roles or ()}
            if step.action == "reassign" and step.to is not None and step.to not in acting:
                out.append(
                    doc.problem(
                        (*spath, "to"),
                        "E-DEADLINE-STEP",
                        tr(
                            "a reassign step gives the task to a holder of {to}, who cannot act "
                            "in {name}",
                            to=repr(step.to),
                            name=repr(name),
                        ),
                        tr(
                            "name a role that acts here: {acting}; or escalate to it",
                            acting=sorted(acting),
                        ),
                    )
                )
            if step.action == "fire" and step.trigger not in triggers:
                out.append(
                    doc.problem(
                        spath,
                        "E-DEADLINE-STEP",
                        tr(
                            "a fire step needs trigger: naming a transition of {name}",
                            name=repr(name),
                        ),
                        tr(
                            "triggers here: {triggers}",
                            triggers=sorted(t for t in triggers if t),
                        ),
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
                            tr(
                                "the clock also runs in {names}, which has no transition "
                                "{trigger} to fire",
                                names=", ".join(map(repr, lacking)),
                                trigger=repr(step.trigger),
                            ),
                            tr("give every state in runs_in that trigger, or use escalate"),
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
                tr("a deadline needs within:, until: or both"),
                tr("e.g. within: 2 working days, or until: due_date (a date field of data:)"),
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
                tr(
                    "until: {until} must be a date or datetime field declared under data:",
                    until=repr(deadline.until),
                ),
                tr("declare {until}: {{type: date}} under data:", until=deadline.until),
            )
        )
    for key in ("pause_in", "counts_from"):
        if getattr(deadline, key):
            out.append(
                doc.problem(
                    (*base, key),
                    "E-DEADLINE-CLOCK",
                    tr(
                        "{key}: does not apply to a deadline until a date: the date does not move",
                        key=key,
                    ),
                    tr("remove {key}:, or count the time with within:", key=key),
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
                        tr(
                            "the clock of {name} runs there already: {key} lists its own state",
                            name=repr(name),
                            key=key,
                        ),
                        tr("remove {other} from {key}", other=repr(other), key=key),
                    )
                )
            elif other in seen:
                out.append(
                    doc.problem(
                        path,
                        "E-DEADLINE-CLOCK",
                        tr(
                            "state {other} is listed in {seen} and again in {key}",
                            other=repr(other),
                            seen=seen[other],
                            key=key,
                        ),
                        tr(
                            "a clock either pauses in a state (pause_in) or keeps running there "
                            "(runs_in), once"
                        ),
                    )
                )
            elif other in wf.states and wf.states[other].type in ("endEvent", "exclusiveGateway"):
                out.append(
                    doc.problem(
                        path,
                        "E-DEADLINE-CLOCK",
                        tr(
                            "{type} {other} is no place to wait: the clock stops when the item "
                            "closes and passes through gateways",
                            type=wf.states[other].type,
                            other=repr(other),
                        ),
                        tr("remove {other} from {key}", other=repr(other), key=key),
                    )
                )
            else:
                seen[other] = key
    return out
