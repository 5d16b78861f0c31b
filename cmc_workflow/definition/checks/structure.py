"""Names that point nowhere (states, roles), the shape each kind of state must have, and
guards that do not compile."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from cmc_workflow.definition.guards import GuardSyntaxError, compile_guard
from cmc_workflow.definition.models import State, Workflow
from cmc_workflow.errors import Problem
from cmc_workflow.i18n import tr
from cmc_workflow.located import Located, Path


def transition_paths(wf: Workflow) -> Iterator[tuple[str, State, int, Path]]:
    for name, state in wf.states.items():
        for i, _ in enumerate(state.transitions):
            yield name, state, i, ("states", name, "transitions", i)


def reference_problems(wf: Workflow, doc: Located) -> list[Problem]:
    out: list[Problem] = []
    states, roles = set(wf.states), set(wf.roles)

    def unknown_role(role: str, path: Path) -> None:
        if role not in roles:
            out.append(
                doc.problem(
                    path,
                    "E-UNKNOWN-ROLE",
                    tr("role {role} is not declared in this workflow's roles", role=repr(role)),
                    tr("declare it under roles:, or use one of {roles}", roles=sorted(roles)),
                )
            )

    def unknown_state(target: str, path: Path) -> None:
        if target not in states:
            out.append(
                doc.problem(
                    path,
                    "E-UNKNOWN-STATE",
                    tr("state {target} does not exist", target=repr(target)),
                    tr("known states: {names}", names=", ".join(sorted(states))),
                )
            )

    unknown_state(wf.start.state, ("start", "state"))
    for i, role in enumerate(wf.start.roles):
        unknown_role(role, ("start", "roles", i))
    for _name, state, i, path in transition_paths(wf):
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
                    tr(
                        "handler {handler} is not declared under handlers:",
                        handler=repr(state.handler),
                    ),
                    tr("declare every handler the workflow needs, with a description"),
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


def state_shape_problems(wf: Workflow, doc: Located) -> list[Problem]:
    out: list[Problem] = []
    for name, state in wf.states.items():
        base: Path = ("states", name)
        if state.type == "serviceTask" and state.handler is None:
            out.append(
                doc.problem(
                    base,
                    "E-MISSING-HANDLER",
                    tr("serviceTask {name} names no handler", name=repr(name)),
                    tr("add handler: <name> and declare it under handlers:"),
                    key=True,
                )
            )
        if state.type != "serviceTask" and state.handler is not None:
            out.append(
                doc.problem(
                    (*base, "handler"),
                    "E-MISPLACED-KEY",
                    tr(
                        "only a serviceTask has a handler; {name} is a {type}",
                        name=repr(name),
                        type=state.type,
                    ),
                    tr("remove handler:, or make the state a serviceTask"),
                    key=True,
                )
            )
        if state.type == "endEvent":
            if state.transitions:
                out.append(
                    doc.problem(
                        (*base, "transitions"),
                        "E-END-HAS-TRANSITIONS",
                        tr("end state {name} has outgoing transitions", name=repr(name)),
                        tr(
                            "an endEvent closes the item: make it a userTask, or drop the "
                            "transitions"
                        ),
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
                        tr(
                            "a transition of {type} {name} needs a trigger name",
                            type=state.type,
                            name=repr(name),
                        ),
                    )
                )
            else:
                triggers[t.trigger].append(i)
            if state.type == "userTask" and not t.roles:
                out.append(
                    doc.problem(
                        path,
                        "E-NO-ROLE-CAN-FIRE",
                        tr(
                            "no role may fire {trigger} from {name}",
                            trigger=repr(t.trigger),
                            name=repr(name),
                        ),
                        tr("list the roles allowed to fire it under roles:"),
                    )
                )
            if state.type == "serviceTask" and t.roles:
                out.append(
                    doc.problem(
                        (*path, "roles"),
                        "E-MISPLACED-KEY",
                        tr("serviceTask transitions are taken by the engine, not by people"),
                        tr("remove roles:"),
                        key=True,
                    )
                )
            if state.type == "userTask" and t.default:
                out.append(
                    doc.problem(
                        (*path, "default"),
                        "E-MISPLACED-KEY",
                        tr("default: applies to gateway routes and serviceTask outcomes only"),
                        tr("remove default:; people choose a userTask's transition by its trigger"),
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
                        tr(
                            "trigger {trigger} is defined {count} times from {name} without "
                            "guards that tell them apart",
                            trigger=repr(trigger),
                            count=len(indexes),
                            name=repr(name),
                        ),
                        tr("give each a different guard, or rename one trigger"),
                    )
                )
        if state.type == "serviceTask" and len(state.transitions) > 1:
            defaults = [t for t in state.transitions if t.default]
            if len(defaults) != 1:
                out.append(
                    doc.problem(
                        (*base, "transitions"),
                        "E-SERVICE-NO-DEFAULT",
                        tr(
                            "serviceTask {name} has several outcomes and {count} marked default: "
                            "true",
                            name=repr(name),
                            count=len(defaults),
                        ),
                        tr("mark one outcome default: true (taken when the handler names none)"),
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
                tr("gateway {name} has no default route", name=repr(name)),
                tr("add a route with default: true, taken when no guard holds"),
                key=True,
            )
        )
    elif len(defaults) > 1:
        out.append(
            doc.problem(
                (*base, "transitions", defaults[1]),
                "E-GATEWAY-MANY-DEFAULTS",
                tr(
                    "gateway {name} has {count} default routes",
                    name=repr(name),
                    count=len(defaults),
                ),
                tr("keep one default: true route"),
            )
        )
    for i, t in enumerate(state.transitions):
        path: Path = (*base, "transitions", i)
        if not t.default and t.guard is None:
            out.append(
                doc.problem(
                    path,
                    "E-GATEWAY-ROUTE-GUARD",
                    tr(
                        "route {number} of gateway {name} has no guard and is not the default",
                        number=i + 1,
                        name=repr(name),
                    ),
                    tr("add guard: <condition>, or mark it default: true"),
                )
            )
        for key in ("trigger", "roles", "form"):
            if getattr(t, key):
                out.append(
                    doc.problem(
                        (*path, key),
                        "E-MISPLACED-KEY",
                        tr(
                            "gateway routes are taken by the engine: {key}: does not apply", key=key
                        ),
                        tr("remove {key}:", key=key),
                        key=True,
                    )
                )
    return out


def guard_problems(wf: Workflow, doc: Located) -> list[Problem]:
    out: list[Problem] = []
    declared = set(wf.data)
    for state in wf.states.values():
        for t in state.transitions:
            declared |= set(t.form)
    for _name, state, i, path in transition_paths(wf):
        t = state.transitions[i]
        if t.guard is None:
            continue
        gpath: Path = (*path, "guard")
        try:
            guard = compile_guard(t.guard)
        except GuardSyntaxError as exc:
            hint = tr("guards use data.<field>, form.<field>, ==, !=, <, in, and, or, not")
            out.append(doc.expression_problem(gpath, tr("guard"), t.guard, exc, hint))
            continue
        unknown = sorted(guard.fields - declared) if declared else []
        if unknown:
            out.append(
                doc.problem(
                    gpath,
                    "E-GUARD-FIELD",
                    tr(
                        "guard reads {names}, declared neither under data: nor in any form",
                        names=", ".join(unknown),
                    ),
                    tr("declare the field, or fix its spelling"),
                )
            )
    return out
