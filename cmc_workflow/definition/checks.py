"""Stage 3 of loading: the static checks a well-typed workflow must still pass.

Each check has its own stable code, documented in ``docs/workflow-language.md``. The
checks only read the model and the located document (for places); they never raise.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterator

from cmc_workflow.definition.guards import GuardSyntaxError, compile_guard
from cmc_workflow.definition.links import check_links
from cmc_workflow.definition.models import FieldSpec, State, Workflow
from cmc_workflow.errors import Problem
from cmc_workflow.located import Located, Path


def check_workflow(wf: Workflow, doc: Located) -> list[Problem]:
    """Every problem of ``wf``, placed with ``doc``."""
    problems: list[Problem] = []
    problems += _references(wf, doc)
    problems += _state_shapes(wf, doc)
    problems += _guards(wf, doc)
    problems += _forms(wf, doc)
    problems += _deadlines(wf, doc)
    problems += _graph(wf, doc)
    problems += check_links(wf, doc)
    return problems


def _transition_paths(wf: Workflow) -> Iterator[tuple[str, State, int, Path]]:
    for name, state in wf.states.items():
        for i, _ in enumerate(state.transitions):
            yield name, state, i, ("states", name, "transitions", i)


def _references(wf: Workflow, doc: Located) -> list[Problem]:
    out: list[Problem] = []
    states, roles = set(wf.states), set(wf.roles)

    def unknown_role(role: str, path: Path) -> None:
        if role not in roles:
            out.append(
                doc.problem(
                    path,
                    "E-UNKNOWN-ROLE",
                    f"role {role!r} is not declared in this workflow's roles",
                    f"declare it under roles:, or use one of {sorted(roles)}",
                )
            )

    def unknown_state(target: str, path: Path) -> None:
        if target not in states:
            out.append(
                doc.problem(
                    path,
                    "E-UNKNOWN-STATE",
                    f"state {target!r} does not exist",
                    f"known states: {', '.join(sorted(states))}",
                )
            )

    unknown_state(wf.start.state, ("start", "state"))
    for i, role in enumerate(wf.start.roles):
        unknown_role(role, ("start", "roles", i))
    for _name, state, i, path in _transition_paths(wf):
        t = state.transitions[i]
        unknown_state(t.target, (*path, "target"))
        for j, role in enumerate(t.roles or []):
            unknown_role(role, (*path, "roles", j))
        for j, role in enumerate(t.notify):
            unknown_role(role, (*path, "notify", j))
    for name, state in wf.states.items():
        if state.handler is not None and state.handler not in wf.handlers:
            out.append(
                doc.problem(
                    ("states", name, "handler"),
                    "E-UNKNOWN-HANDLER",
                    f"handler {state.handler!r} is not declared under handlers:",
                    "declare every handler the workflow needs, with a description",
                )
            )
        if state.deadline is not None:
            for j, paused in enumerate(state.deadline.pause_in):
                unknown_state(paused, ("states", name, "deadline", "pause_in", j))
            for j, running in enumerate(state.deadline.runs_in):
                unknown_state(running, ("states", name, "deadline", "runs_in", j))
            for j, step in enumerate(state.deadline.steps):
                if step.to is not None:
                    unknown_role(step.to, ("states", name, "deadline", "steps", j, "to"))
    return out


def _state_shapes(wf: Workflow, doc: Located) -> list[Problem]:
    out: list[Problem] = []
    for name, state in wf.states.items():
        base: Path = ("states", name)
        if state.type == "serviceTask" and state.handler is None:
            out.append(
                doc.problem(
                    base,
                    "E-MISSING-HANDLER",
                    f"serviceTask {name!r} names no handler",
                    "add handler: <name> and declare it under handlers:",
                    key=True,
                )
            )
        if state.type != "serviceTask" and state.handler is not None:
            out.append(
                doc.problem(
                    (*base, "handler"),
                    "E-MISPLACED-KEY",
                    f"only a serviceTask has a handler; {name!r} is a {state.type}",
                    "remove handler:, or make the state a serviceTask",
                    key=True,
                )
            )
        if state.type == "endEvent":
            if state.transitions:
                out.append(
                    doc.problem(
                        (*base, "transitions"),
                        "E-END-HAS-TRANSITIONS",
                        f"end state {name!r} has outgoing transitions",
                        "an endEvent closes the item: make it a userTask, or drop the transitions",
                        key=True,
                    )
                )
            continue
        if state.type == "exclusiveGateway":
            out += _gateway(name, state, doc)
            continue
        triggers: dict[str, list[int]] = defaultdict(list)
        for i, t in enumerate(state.transitions):
            path: Path = (*base, "transitions", i)
            if t.trigger is None:
                out.append(
                    doc.problem(
                        path,
                        "E-MISSING-TRIGGER",
                        f"a transition of {state.type} {name!r} needs a trigger name",
                    )
                )
            else:
                triggers[t.trigger].append(i)
            if state.type == "userTask" and not t.roles:
                out.append(
                    doc.problem(
                        path,
                        "E-NO-ROLE-CAN-FIRE",
                        f"no role may fire {t.trigger!r} from {name!r}",
                        "list the roles allowed to fire it under roles:",
                    )
                )
            if state.type == "serviceTask" and t.roles:
                out.append(
                    doc.problem(
                        (*path, "roles"),
                        "E-MISPLACED-KEY",
                        "serviceTask transitions are taken by the engine, not by people",
                        "remove roles:",
                        key=True,
                    )
                )
            if state.type == "userTask" and t.default:
                out.append(
                    doc.problem(
                        (*path, "default"),
                        "E-MISPLACED-KEY",
                        "default: applies to gateway routes and serviceTask outcomes only",
                        "remove default:; people choose a userTask's transition by its trigger",
                        key=True,
                    )
                )
        for trigger, indexes in triggers.items():
            guards = [state.transitions[i].guard for i in indexes]
            if len(indexes) > 1 and (None in guards or len(set(guards)) < len(guards)):
                out.append(
                    doc.problem(
                        (*base, "transitions", indexes[1]),
                        "E-AMBIGUOUS-TRIGGER",
                        f"trigger {trigger!r} is defined {len(indexes)} times from {name!r} "
                        "without guards that tell them apart",
                        "give each a different guard, or rename one trigger",
                    )
                )
        if state.type == "serviceTask" and len(state.transitions) > 1:
            defaults = [t for t in state.transitions if t.default]
            if len(defaults) != 1:
                out.append(
                    doc.problem(
                        (*base, "transitions"),
                        "E-SERVICE-NO-DEFAULT",
                        f"serviceTask {name!r} has several outcomes and "
                        f"{len(defaults)} marked default: true",
                        "mark one outcome default: true (taken when the handler names none)",
                        key=True,
                    )
                )
    return out


def _gateway(name: str, state: State, doc: Located) -> list[Problem]:
    out: list[Problem] = []
    base: Path = ("states", name)
    defaults = [i for i, t in enumerate(state.transitions) if t.default]
    if not defaults:
        out.append(
            doc.problem(
                base,
                "E-GATEWAY-NO-DEFAULT",
                f"gateway {name!r} has no default route",
                "add a route with default: true, taken when no guard holds",
                key=True,
            )
        )
    elif len(defaults) > 1:
        out.append(
            doc.problem(
                (*base, "transitions", defaults[1]),
                "E-GATEWAY-MANY-DEFAULTS",
                f"gateway {name!r} has {len(defaults)} default routes",
                "keep one default: true route",
            )
        )
    for i, t in enumerate(state.transitions):
        path: Path = (*base, "transitions", i)
        if not t.default and t.guard is None:
            out.append(
                doc.problem(
                    path,
                    "E-GATEWAY-ROUTE-GUARD",
                    f"route {i + 1} of gateway {name!r} has no guard and is not the default",
                    "add guard: <condition>, or mark it default: true",
                )
            )
        for key in ("trigger", "roles", "form"):
            if getattr(t, key):
                out.append(
                    doc.problem(
                        (*path, key),
                        "E-MISPLACED-KEY",
                        f"gateway routes are taken by the engine: {key}: does not apply",
                        f"remove {key}:",
                        key=True,
                    )
                )
    return out


def _guards(wf: Workflow, doc: Located) -> list[Problem]:
    out: list[Problem] = []
    declared = set(wf.data)
    for state in wf.states.values():
        for t in state.transitions:
            declared |= set(t.form)
    for _name, state, i, path in _transition_paths(wf):
        t = state.transitions[i]
        if t.guard is None:
            continue
        gpath: Path = (*path, "guard")
        try:
            guard = compile_guard(t.guard)
        except GuardSyntaxError as exc:
            hint = "guards use data.<field>, form.<field>, ==, !=, <, in, and, or, not"
            out.append(doc.expression_problem(gpath, "guard", t.guard, exc, hint))
            continue
        unknown = sorted(guard.fields - declared) if declared else []
        if unknown:
            out.append(
                doc.problem(
                    gpath,
                    "E-GUARD-FIELD",
                    f"guard reads {', '.join(unknown)}, declared neither under data: "
                    "nor in any form",
                    "declare the field, or fix its spelling",
                )
            )
    return out


def _field_problems(spec: FieldSpec, path: Path, doc: Located) -> list[Problem]:
    if spec.type == "choice" and not spec.choices:
        return [
            doc.problem(
                path,
                "E-FIELD-CHOICES",
                "a choice field needs choices:",
                "list the allowed values",
                key=True,
            )
        ]
    if spec.choices is not None and spec.type not in ("choice", "list"):
        return [
            doc.problem(
                (*path, "choices"),
                "E-FIELD-CHOICES",
                f"choices: applies to choice and list fields, not {spec.type}",
                "remove choices:, or make the field a choice or a list",
                key=True,
            )
        ]
    return []


_SAME_KIND = {"text": "string"}


def _fits(form: FieldSpec, data: FieldSpec) -> bool:
    """Whether every value the form field accepts is also valid for the data field."""
    if _SAME_KIND.get(form.type, form.type) != _SAME_KIND.get(data.type, data.type):
        return False
    return data.choices is None or set(form.choices or ()) <= set(data.choices)


def _forms(wf: Workflow, doc: Located) -> list[Problem]:
    out: list[Problem] = []
    for field, spec in wf.data.items():
        out += _field_problems(spec, ("data", field), doc)
    for _name, state, i, path in _transition_paths(wf):
        for field, spec in state.transitions[i].form.items():
            out += _field_problems(spec, (*path, "form", field), doc)
            kept = wf.data.get(field)
            if kept is not None and not _fits(spec, kept):
                out.append(
                    doc.problem(
                        (*path, "form", field),
                        "E-FORM-DATA-CLASH",
                        f"form field {field!r} is also a data field, of another type or "
                        f"choices ({spec.type} here, {kept.type} under data:): a submitted "
                        "value is merged into the data and would never be valid for both",
                        f"rename the form field (e.g. {field}_note), or give it the data "
                        "field's type and choices",
                        key=True,
                    )
                )
    return out


def _deadlines(wf: Workflow, doc: Located) -> list[Problem]:
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
            if step.action in ("escalate", "notify") and step.to is None:
                out.append(
                    doc.problem(spath, "E-DEADLINE-STEP", f"a {step.action} step needs to: <role>")
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
    """A deadline says how long (within:) or until when (until: a date of the data)."""
    deadline = wf.states[name].deadline
    assert deadline is not None
    base: Path = ("states", name, "deadline")
    if (deadline.within is None) == (deadline.until is None):
        return [
            doc.problem(
                base,
                "E-DEADLINE-CLOCK",
                "a deadline needs exactly one of within: and until:",
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


def _graph(wf: Workflow, doc: Located) -> list[Problem]:
    out: list[Problem] = []
    edges = {
        name: {t.target for t in s.transitions if t.target in wf.states}
        for name, s in wf.states.items()
    }
    ends = {name for name, s in wf.states.items() if s.type == "endEvent"}
    if wf.start.state in wf.states and wf.states[wf.start.state].type == "endEvent":
        out.append(
            doc.problem(
                ("start", "state"),
                "E-START-IS-END",
                "the start state is an endEvent: items would be closed at birth",
            )
        )
    if not ends:
        out.append(
            doc.problem(
                ("states",),
                "E-NO-END-STATE",
                "the workflow has no endEvent, so no item can ever close",
                "add a state of type endEvent",
                key=True,
            )
        )
        return out
    dangling = wf.start.state not in wf.states or any(
        t.target not in wf.states for s in wf.states.values() for t in s.transitions
    )
    if dangling:
        # an unknown target (E-UNKNOWN-STATE) hides where its edge leads: reachability and
        # trap verdicts would be guesses, so they wait until the reference is fixed
        return out
    reachable = _closure({wf.start.state}, edges)
    reverse: dict[str, set[str]] = defaultdict(set)
    for src, targets in edges.items():
        for dst in targets:
            reverse[dst].add(src)
    can_end = _closure(ends, reverse)
    for name in wf.states:
        if name not in reachable:
            out.append(
                doc.problem(
                    ("states", name),
                    "E-UNREACHABLE-STATE",
                    f"state {name!r} cannot be reached from the start state {wf.start.state!r}",
                    "add a transition into it, or remove it",
                    key=True,
                )
            )
        elif name not in can_end:
            out.append(
                doc.problem(
                    ("states", name),
                    "E-TRAP-STATE",
                    f"from state {name!r} no end state can be reached: items would be stuck",
                    "add a transition that leads towards an endEvent",
                    key=True,
                )
            )
    return out


def _closure(seeds: set[str], edges: dict[str, set[str]]) -> set[str]:
    seen = set(seeds)
    queue = deque(seeds)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
