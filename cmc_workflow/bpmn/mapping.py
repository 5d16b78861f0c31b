"""A checked workflow as a BPMN process graph: nodes, sequence flows, timers and lanes.

What maps to what (``docs/how-to-bpmn.md`` shows the same table to administrators):

- the start (``start:``) -> a ``startEvent`` in the lane of the first starting role, with
  a flow to the first state;
- a ``userTask`` state -> a ``userTask`` in the lane of the role that fires most of its
  transitions, every firing role in ``camunda:candidateGroups``; a ``serviceTask`` ->
  a ``serviceTask`` in the engine's lane (系统); an ``endEvent`` state -> an ``endEvent``;
- a task's way out: one unguarded transition is a plain flow; several (or a guarded one)
  go through an ``exclusiveGateway`` of the task's own (``choice-<state>``, 办理结果) whose flows
  carry ``trigger == '<trigger>'`` (and the guard) as their condition, since BPMN lets a
  task leave by one unconditional flow only;
- an ``exclusiveGateway`` state -> an ``exclusiveGateway``; its default route is the
  gateway's ``default`` flow, the others carry the guard text as their condition;
- a deadline step -> a timer ``boundaryEvent`` on the task, named by when it fires: a
  ``fire`` step moves the item, so it interrupts (``cancelActivity="true"``) and flows to
  the fired transition's target; every other step (warn, notify, escalate, breach) leaves
  the item where it is, does not interrupt, and flows to an ``endEvent`` of its own named
  by what it does (BPMN wants every boundary event to be the source of a flow);
- descriptions, requirement ids (``implements``), forms, notifications and clock rules go
  into ``documentation``.

Every id is a valid NCName and cannot collide: state ids (``[a-z][a-z0-9_]*``) get a prefix
with a hyphen, which no state, trigger or role id contains.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from cmc_workflow.bpmn.timers import (
    Lang,
    Timing,
    deadline_words,
    step_timing,
    step_what,
    step_when,
    step_words,
    working_time_note,
)
from cmc_workflow.definition.models import FieldSpec, Label, State, Transition, Workflow
from cmc_workflow.i18n import N_, tr

NodeKind = Literal["startEvent", "userTask", "serviceTask", "exclusiveGateway", "endEvent"]

ENGINE_LANE = "lane-engine"
"""The lane of what the engine does by itself: service tasks (roles cannot be named
``engine`` with a hyphen, so it never collides with ``lane-<role>``)."""
_ENGINE_LABEL = N_("System")
"""The name of the engine's lane."""
_CHOICE = N_("Outcome")
"""The name of a task's own gateway, which picks the way out by the command given."""
_START = N_("Started")
"""The name of the start event (BPMN names an event by what has happened)."""


START_ID = "start-event"
"""The start event's id (with a hyphen: a workflow, the process, may be called ``start``)."""


def state_node_id(state: str) -> str:
    """The BPMN id of the node of ``state``."""
    return f"state-{state}"


def choice_node_id(state: str) -> str:
    """The BPMN id of the gateway that picks a task's way out."""
    return f"choice-{state}"


def lane_id(role: str) -> str:
    """The BPMN id of ``role``'s lane."""
    return f"lane-{role}"


@dataclass(slots=True)
class Node:
    """A flow node: an event, a task or a gateway."""

    id: str
    kind: NodeKind
    name: str
    lane: str
    state: str | None = None
    """The workflow state it stands for (None: the start event, a task's choice gateway)."""
    documentation: str = ""
    candidate_groups: tuple[str, ...] = ()
    default: str | None = None
    """The id of a gateway's default flow."""


@dataclass(frozen=True, slots=True)
class Flow:
    """A sequence flow."""

    id: str
    source: str
    target: str
    name: str = ""
    condition: str | None = None
    documentation: str = ""


@dataclass(frozen=True, slots=True)
class Timer:
    """A timer boundary event on a task (one deadline step), named by when it fires.

    BPMN wants a boundary event to be the source of a flow: a ``fire`` step flows to
    where its trigger leads; any other step flows to an end event of its own, named by
    what the step does (提醒, 上报 频道负责人), while the task goes on waiting."""

    id: str
    host: str
    name: str
    interrupting: bool
    timing: Timing
    documentation: str
    flow: Flow
    end: Node | None = None
    """The end event of a step that does not move the item."""


@dataclass(slots=True)
class Process:
    """The whole graph of one workflow, ready to lay out and write."""

    id: str
    name: str
    documentation: str
    nodes: list[Node] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    lanes: dict[str, str] = field(default_factory=dict)
    """Lane id -> name, in the order they are drawn (top to bottom)."""

    def node(self, node_id: str) -> Node:
        """The node called ``node_id``."""
        (found,) = (n for n in self.nodes if n.id == node_id)
        return found


def _text(label: Label | None, lang: Lang, fallback: str = "") -> str:
    if label is None:
        return fallback
    return label.zh if lang == "zh" else label.en


def _implements(ids: list[str], lang: Lang) -> list[str]:
    if not ids:
        return []
    return [tr("Implements: {ids}", ids=", ".join(ids)).shown(lang)]


def _form_lines(form: dict[str, FieldSpec], lang: Lang) -> list[str]:
    if not form:
        return []
    parts = []
    for name, spec in form.items():
        need = tr("required").shown(lang) if spec.required else tr("optional").shown(lang)
        label = f" {_text(spec.label, lang)}" if spec.label is not None else ""
        parts.append(f"{name}{label} ({spec.type}, {need})")
    return [tr("Form: {fields}", fields="; ".join(parts)).shown(lang)]


def _guard(text: str) -> str:
    return " ".join(text.split())


def _roles_text(roles: list[str], wf: Workflow, lang: Lang) -> str:
    return ", ".join(f"{r} {_text(wf.roles[r], lang)}" if r in wf.roles else r for r in roles)


def _transition_doc(t: Transition, wf: Workflow, lang: Lang) -> str:
    lines: list[str] = []
    if t.trigger:
        lines.append(tr("Trigger: {trigger}", trigger=t.trigger).shown(lang))
    if t.roles:
        lines.append(tr("Roles: {roles}", roles=_roles_text(t.roles, wf, lang)).shown(lang))
    if t.guard:
        lines.append(tr("Guard: {guard}", guard=_guard(t.guard)).shown(lang))
    lines += _form_lines(t.form, lang)
    if t.notify:
        lines.append(tr("Notifies: {names}", names=", ".join(t.notify)).shown(lang))
    for s in t.starts:
        lines.append(tr("Starts: {workflow}", workflow=s.workflow).shown(lang))
    if t.collects is not None:
        lines.append(tr("Collects: {workflow}", workflow=t.collects.workflow).shown(lang))
    if t.description:
        lines.append(" ".join(t.description.split()))
    lines += _implements(t.implements, lang)
    return "\n".join(lines)


def _state_doc(state: State, lang: Lang) -> str:
    lines: list[str] = []
    if state.description:
        lines.append(" ".join(state.description.split()))
    if state.handler:
        lines.append(tr("Handler: {handler}", handler=state.handler).shown(lang))
    if state.assignee:
        lines.append(tr("Assignee field: {field}", field=state.assignee).shown(lang))
    if state.effects:
        lines.append(tr("Guarded effects: {effects}", effects=", ".join(state.effects)).shown(lang))
    if state.deadline is not None:
        d = state.deadline
        lines.append(deadline_words(d, lang))
        if d.pause_in:
            lines.append(tr("Paused in: {states}", states=", ".join(d.pause_in)).shown(lang))
        if d.runs_in:
            lines.append(tr("Keeps running in: {states}", states=", ".join(d.runs_in)).shown(lang))
        if d.counts_from:
            lines.append(tr("Counts from: {field}", field=d.counts_from).shown(lang))
        lines += _implements(d.implements, lang)
    lines += _implements(state.implements, lang)
    return "\n".join(lines)


def _workflow_doc(wf: Workflow, lang: Lang) -> str:
    lines = [f"{wf.id}" + (f" v{wf.version}" if wf.version is not None else "")]
    if wf.description:
        lines.append(" ".join(wf.description.split()))
    lines += _implements(wf.implements, lang)
    lines.append(_started_by(wf, lang))
    return "\n".join(lines)


def _started_by(wf: Workflow, lang: Lang) -> str:
    return tr("Started by: {roles}", roles=_roles_text(wf.start.roles, wf, lang)).shown(lang)


def _task_lane(state: State) -> tuple[str, tuple[str, ...]]:
    """The lane of a task and its candidate groups: every role that fires a way out, the
    lane being the one firing most of them (the first such role on a tie)."""
    if state.type != "userTask":
        return ENGINE_LANE, ()
    counts: Counter[str] = Counter()
    order: list[str] = []
    for t in state.transitions:
        for role in t.roles or []:
            counts[role] += 1
            if role not in order:
                order.append(role)
    if not order:
        return ENGINE_LANE, ()
    top = max(order, key=lambda r: (counts[r], -order.index(r)))
    return lane_id(top), tuple(order)


def _needs_choice(state: State) -> bool:
    """Whether a task's ways out go through a gateway of its own."""
    if state.type not in ("userTask", "serviceTask"):
        return False
    return len(state.transitions) > 1 or any(t.guard for t in state.transitions)


def _choice_condition(t: Transition) -> str:
    condition = f"trigger == '{t.trigger}'"
    if t.guard:
        condition += f" and ({_guard(t.guard)})"
    return condition


def _flow_name(state: State, t: Transition, lang: Lang) -> str:
    if state.type == "exclusiveGateway":
        if t.label is not None:
            return _text(t.label, lang)
        return tr("default").shown(lang) if t.default else _guard(t.guard or "")
    return _text(t.label, lang, t.trigger or "")


def build_process(wf: Workflow, lang: Lang = "zh") -> Process:
    """The BPMN graph of ``wf``, labels in ``lang``; deterministic (YAML order)."""
    process = Process(
        id=wf.id, name=_text(wf.label, lang, wf.id), documentation=_workflow_doc(wf, lang)
    )
    start_lane = lane_id(wf.start.roles[0]) if wf.start.roles else ENGINE_LANE
    process.nodes.append(
        Node(
            START_ID,
            "startEvent",
            tr(_START).shown(lang),
            start_lane,
            documentation="\n".join(
                [
                    _started_by(wf, lang),
                    *_implements(wf.start.implements, lang),
                ]
            ),
        )
    )
    process.flows.append(Flow("flow-start", START_ID, state_node_id(wf.start.state)))

    for name, state in wf.states.items():
        sid = state_node_id(name)
        lane, groups = _task_lane(state)
        node = Node(
            sid,
            state.type,
            _text(state.label, lang, name),
            lane,
            state=name,
            documentation=_state_doc(state, lang),
            candidate_groups=groups,
        )
        process.nodes.append(node)
        source = sid
        if _needs_choice(state):
            choice = Node(choice_node_id(name), "exclusiveGateway", tr(_CHOICE).shown(lang), lane)
            process.nodes.append(choice)
            process.flows.append(Flow(f"flow-{name}-choice", sid, choice.id))
            source = choice.id
        for index, t in enumerate(state.transitions):
            flow_id = f"flow-{name}-{index}"
            condition: str | None = None
            if source != sid:
                condition = _choice_condition(t)
            elif state.type == "exclusiveGateway":
                if t.default:
                    node.default = flow_id
                elif t.guard:
                    condition = _guard(t.guard)
            process.flows.append(
                Flow(
                    flow_id,
                    source,
                    state_node_id(t.target),
                    _flow_name(state, t, lang),
                    condition,
                    _transition_doc(t, wf, lang),
                )
            )
        _add_timers(process, wf, name, state, lang)

    _place_lanes(process)
    used = set(dict.fromkeys(n.lane for n in process.nodes))
    ordered = [lane_id(r) for r in wf.roles]  # one lane per role, empty or not
    ordered += sorted(used - {*ordered, ENGINE_LANE})  # roles the workflow does not list
    if ENGINE_LANE in used:
        ordered.append(ENGINE_LANE)
    names = {lane_id(r): _text(label, lang, r) for r, label in wf.roles.items()}
    names[ENGINE_LANE] = tr(_ENGINE_LABEL).shown(lang)
    process.lanes = {lane: names.get(lane, lane.removeprefix("lane-")) for lane in ordered}
    return process


def _add_timers(process: Process, wf: Workflow, name: str, state: State, lang: Lang) -> None:
    deadline = state.deadline
    if deadline is None:
        return
    for index, step in enumerate(deadline.steps):
        role = _text(wf.roles[step.to], lang, step.to) if step.to in wf.roles else step.to
        timing = step_timing(deadline, step)
        words = step_words(step, role, lang)
        doc = [deadline_words(deadline, lang), words, f"{timing.kind}: {timing.text}"]
        if not timing.exact:
            doc.append(working_time_note(lang))
        doc += _implements(deadline.implements, lang)
        timer_id = f"timer-{name}-{index}"
        host = state_node_id(name)
        end = None
        lane = next(n.lane for n in process.nodes if n.id == host)
        if step.action == "fire":
            fired = [t for t in state.transitions if t.trigger == step.trigger]
            if len(fired) == 1:
                target = state_node_id(fired[0].target)
                flow_name = _text(fired[0].label, lang, step.trigger or "")
            else:  # guarded ways out of one trigger: a gateway of the timer's own
                target = _timer_choice(process, wf, state, timer_id, fired, lane, lang)
                flow_name = step.trigger or ""
            flow = Flow(f"flow-{timer_id}", timer_id, target, flow_name)
        else:
            what = step_what(step, role, lang)
            end = Node(f"{timer_id}-end", "endEvent", what, lane, documentation=words)
            flow = Flow(f"flow-{timer_id}", timer_id, end.id)
        process.timers.append(
            Timer(
                timer_id,
                host,
                step_when(step, lang),
                interrupting=step.action == "fire",
                timing=timing,
                documentation="\n".join(doc),
                flow=flow,
                end=end,
            )
        )


def _timer_choice(
    process: Process,
    wf: Workflow,
    state: State,
    timer_id: str,
    fired: list[Transition],
    lane: str,
    lang: Lang,
) -> str:
    """The gateway that picks among a fired trigger's guarded transitions (the task's own
    gateway would then both join and fork, which BPMN linters refuse); its id."""
    choice = Node(f"{timer_id}-choice", "exclusiveGateway", tr(_CHOICE).shown(lang), lane)
    process.nodes.append(choice)
    for j, t in enumerate(fired):
        flow_id = f"flow-{timer_id}-{j}"
        if t.guard is None:
            choice.default = flow_id
        process.flows.append(
            Flow(
                flow_id,
                choice.id,
                state_node_id(t.target),
                _flow_name(state, t, lang),
                _guard(t.guard) if t.guard else None,
                _transition_doc(t, wf, lang),
            )
        )
    return choice.id


def _unsettled(node: Node, placed: set[str]) -> bool:
    """A gateway or end event of the workflow whose lane is not decided yet."""
    return (
        node.state is not None
        and node.kind in ("exclusiveGateway", "endEvent")
        and node.id not in placed
    )


def _place_lanes(process: Process) -> None:
    """Gateways of the workflow and end events join the lane of the first node that leads
    to them (in YAML order), so that a branch stays in its lane; the rest stays put."""
    by_id = {n.id: n for n in process.nodes}
    changed = True
    placed: set[str] = set()
    while changed:  # a gateway may lead to a gateway: settle in a few passes
        changed = False
        for node in process.nodes:
            if node.state is None or node.id in placed:
                continue
            if node.kind not in ("exclusiveGateway", "endEvent"):
                continue
            for f in process.flows:
                if f.target != node.id or f.source == node.id:
                    continue
                source = by_id[f.source]
                if _unsettled(source, placed):
                    continue
                node.lane = source.lane
                placed.add(node.id)
                changed = True
                break
    for node in process.nodes:
        if node.kind in ("exclusiveGateway", "endEvent") and node.state and node.id not in placed:
            node.lane = ENGINE_LANE
