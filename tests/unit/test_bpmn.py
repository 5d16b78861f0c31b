"""The BPMN 2.0 export of every bundled workflow, checked by real consumers.

- the BPMN 2.0 XML Schema (the OMG XSDs that SpiffWorkflow ships, through lxml) accepts
  each export, diagram interchange included;
- SpiffWorkflow's ``BpmnParser`` parses it, and the graph of its task specs is exactly the
  workflow's: every state, every transition, every deadline step, nothing else (a flow or
  a state taken out of the XML makes the comparison fail, see the mutation tests);
- the diagram: every node and flow drawn once, no two shapes overlapping, each node inside
  its lane, each timer on its task's edge, each flow starting and ending on its shapes'
  borders, in straight horizontal and vertical segments that run through no other shape;
- the mapping (lanes, candidate groups, gateways' default flows and conditions, timers'
  ISO 8601 durations and interruption, documentation) and the export's determinism.

Skips, with the reason, where SpiffWorkflow or lxml is not installed.
"""

from __future__ import annotations

import itertools
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmc_workflow.bpmn import to_bpmn
from cmc_workflow.bpmn.mapping import choice_node_id, state_node_id
from cmc_workflow.bpmn.timers import iso_duration
from cmc_workflow.definition import load_workflow_text
from cmc_workflow.definition.models import Workflow
from cmc_workflow.language import load_paths

etree: Any = pytest.importorskip("lxml.etree", reason="lxml is not installed (the test extra)")
spiff_parser: Any = pytest.importorskip(
    "SpiffWorkflow.bpmn.parser.BpmnParser",
    reason="SpiffWorkflow is not installed (the test extra)",
)

ROOT = Path(__file__).resolve().parents[2]
LOADED = load_paths([ROOT / "workflows", ROOT / "policies"])
assert LOADED.problems == [], LOADED.problems
WORKFLOWS: dict[str, Workflow] = {k: v.definition for k, v in sorted(LOADED.workflows.items())}

TRICKY = """\
id: tricky
label: {zh: "特殊 <字符> & \\"引号\\"", en: "Tricky <chars> & \\"quotes\\""}
roles:
  editor: {zh: 编辑, en: Editor}
  lead: {zh: "负责人 <A&B>", en: Lead}
handlers: {send: {description: Sends it.}}
data:
  urgent: {type: boolean, required: false}
start: {state: end, roles: [editor]}
states:
  end:
    type: userTask
    label: {zh: "收到 \\"留言\\" <急>", en: "Received & <urgent>"}
    deadline:
      within: 2 working days
      pause_in: [waiting]
      steps:
        - {at: 50%, action: warn}
        - {before: 4 working hours, action: notify, to: lead}
        - {after: 3 days, action: fire, trigger: route}
    transitions:
      - {trigger: route, target: check, roles: [editor], guard: "data.urgent == true"}
      - {trigger: route, target: waiting, roles: [editor], guard: "data.urgent != true"}
      - {trigger: wait, target: waiting, roles: [lead]}
  waiting:
    type: userTask
    label: {zh: 等待, en: Waiting}
    transitions:
      - trigger: resume
        target: end
        roles: [lead]
        label: {zh: "恢复 & 继续", en: "Resume & go on"}
  check:
    type: exclusiveGateway
    label: {zh: "紧急?", en: "Urgent?"}
    transitions:
      - {guard: "data.urgent == true and 1 < 2", target: send_it}
      - {default: true, target: done}
  send_it:
    type: serviceTask
    label: {zh: 发送, en: Send}
    handler: send
    deadline:
      within: 30 minutes
      steps:
        - {at: 100%, action: breach}
    transitions:
      - {trigger: sent, target: done, default: true}
      - {trigger: failed, target: end}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
"""
"""What the bundle lacks: markup characters in every label, a state named ``end``, a
``fire`` step whose trigger has two guarded transitions, a timer on a service task, a
service task with two ways out, a way back into the first state."""
WORKFLOWS["tricky"] = load_workflow_text(TRICKY, "tricky.yaml").definition

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
}
NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
FLOW_NODES = ("startEvent", "userTask", "serviceTask", "exclusiveGateway", "endEvent")


XSD = Path(spiff_parser.__file__).parent / "schema" / "BPMN20.xsd"


@pytest.fixture(scope="module")
def schema() -> Any:
    assert XSD.is_file(), f"SpiffWorkflow no longer ships {XSD}"
    return etree.XMLSchema(etree.parse(str(XSD)))


@pytest.fixture(scope="module")
def exports() -> dict[str, str]:
    return {ident: to_bpmn(wf) for ident, wf in WORKFLOWS.items()}


def _doc(xml: str) -> Any:
    return etree.fromstring(xml.encode("utf-8"))


def _base(name: str) -> str:
    return name.removesuffix(".BoundaryEventSplit")


def spiff_edges(xml: str, process_id: str) -> set[tuple[str, str]]:
    """The graph SpiffWorkflow builds from ``xml``: (from, to) between our own nodes (the
    parser's own Start/End/joins left out; a task's boundary split stands for the task)."""
    parser = spiff_parser.BpmnParser(validator=spiff_parser.BpmnValidator())
    parser.add_bpmn_xml(_doc(xml), filename=f"{process_id}.bpmn")
    spec = parser.get_spec(process_id)
    ours = re.compile(r"^(start-event|state-[a-z0-9_]+|choice-[a-z0-9_]+|timer-[a-z0-9_-]+)$")
    edges = set()
    for name, task in spec.task_specs.items():
        if not ours.match(_base(name)):
            continue
        for out in task.outputs:
            if ours.match(_base(out.name)) and _base(out.name) != _base(name):
                edges.add((_base(name), _base(out.name)))
    return edges


def expected_edges(wf: Workflow) -> set[tuple[str, str]]:
    """The workflow's graph in the export's ids: start, states, transitions (through a
    task's choice gateway when it has one), and each deadline step's timer."""
    edges = {("start-event", state_node_id(wf.start.state))}
    for name, state in wf.states.items():
        sid = state_node_id(name)
        choice = len(state.transitions) > 1 or any(t.guard for t in state.transitions)
        choice = choice and state.type in ("userTask", "serviceTask")
        source = choice_node_id(name) if choice else sid
        if choice:
            edges.add((sid, source))
        for t in state.transitions:
            if state_node_id(t.target) != source:
                edges.add((source, state_node_id(t.target)))
        if state.deadline is not None:
            for i, step in enumerate(state.deadline.steps):
                timer = f"timer-{name}-{i}"
                edges.add((sid, timer))
                if step.action == "fire":  # to the fired transition's target, or choose
                    fired = [t for t in state.transitions if t.trigger == step.trigger]
                    if len(fired) == 1:
                        edges.add((timer, state_node_id(fired[0].target)))
                    else:
                        edges.add((timer, f"{timer}-choice"))
                        edges |= {(f"{timer}-choice", state_node_id(t.target)) for t in fired}
                else:  # the item stays: the timer's branch ends
                    edges.add((timer, f"{timer}-end"))
    return edges


# -- consumers: the XML Schema and SpiffWorkflow --------------------------------------------
@pytest.mark.parametrize("ident", list(WORKFLOWS))
def test_every_export_is_valid_bpmn_20(ident: str, exports: dict[str, str], schema: Any) -> None:
    doc = _doc(exports[ident])
    if not schema.validate(doc):
        pytest.fail("\n".join(str(e) for e in schema.error_log))


@pytest.mark.parametrize("ident", list(WORKFLOWS))
def test_spiffworkflow_parses_every_export_into_the_same_graph(
    ident: str, exports: dict[str, str]
) -> None:
    wf = WORKFLOWS[ident]
    got = spiff_edges(exports[ident], ident)
    want = expected_edges(wf)
    assert got == want, f"missing {sorted(want - got)}; extra {sorted(got - want)}"
    states = {n.removeprefix("state-") for edge in got for n in edge if n.startswith("state-")}
    assert states == set(wf.states)


def _drop(xml: str, element_id: str) -> str:
    """``xml`` without the element ``element_id``, its diagram element and every mention."""
    doc = _doc(xml)
    for el in doc.xpath(f"//*[@id='{element_id}' or @bpmnElement='{element_id}']"):
        el.getparent().remove(el)
    for ref in doc.xpath("//bpmn:incoming|//bpmn:outgoing|//bpmn:flowNodeRef", namespaces=NS):
        if ref.text == element_id:
            ref.getparent().remove(ref)
    return str(etree.tostring(doc, encoding="unicode"))


def test_a_transition_dropped_from_the_export_is_caught(exports: dict[str, str]) -> None:
    want = expected_edges(WORKFLOWS["publishing"])
    # edit: proposed -> proposed, the first way out of 'proposed'
    got = spiff_edges(_drop(exports["publishing"], "flow-proposed-0"), "publishing")
    assert (want - got, got - want) == ({("choice-proposed", "state-proposed")}, set())
    # approve: proposed -> selected; the parser then never reaches what follows
    got = spiff_edges(_drop(exports["publishing"], "flow-proposed-1"), "publishing")
    assert ("choice-proposed", "state-selected") in want - got


def test_a_state_dropped_from_the_export_is_caught(exports: dict[str, str]) -> None:
    wf = WORKFLOWS["publishing"]
    xml = exports["publishing"]
    for flow in _doc(xml).xpath("//bpmn:sequenceFlow[@targetRef='state-retracted']", namespaces=NS):
        xml = _drop(xml, flow.get("id"))
    got = spiff_edges(_drop(xml, "state-retracted"), "publishing")
    assert got != expected_edges(wf)
    assert not any("state-retracted" in edge for edge in got)


# -- the diagram -----------------------------------------------------------------------------
def _bounds(el: Any) -> tuple[float, float, float, float]:
    b = el.find("dc:Bounds", NS)
    return (float(b.get("x")), float(b.get("y")), float(b.get("width")), float(b.get("height")))


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _inside(inner: tuple[float, ...], outer: tuple[float, ...]) -> bool:
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and inner[0] + inner[2] <= outer[0] + outer[2]
        and inner[1] + inner[3] <= outer[1] + outer[3]
    )


def _on_border(point: tuple[float, float], box: tuple[float, ...]) -> bool:
    x, y = point
    bx, by, w, h = box
    within = bx - 0.5 <= x <= bx + w + 0.5 and by - 0.5 <= y <= by + h + 0.5
    edge = min(abs(x - bx), abs(x - bx - w), abs(y - by), abs(y - by - h)) <= 0.5
    return within and edge


@pytest.mark.parametrize("ident", list(WORKFLOWS))
def test_the_diagram_draws_everything_once_without_overlaps(
    ident: str, exports: dict[str, str]
) -> None:
    check_diagram(exports[ident], ident)


def check_diagram(xml: str, ident: str) -> None:
    """Every element drawn once, shapes apart and inside their lanes, timers on their
    task's edge, flows orthogonal from border to border through no other shape."""
    doc = _doc(xml)
    process = doc.find("bpmn:process", NS)
    shapes = {s.get("bpmnElement"): _bounds(s) for s in doc.iterfind(".//bpmndi:BPMNShape", NS)}
    nodes = [el for tag in FLOW_NODES for el in process.iterfind(f"bpmn:{tag}", NS)]
    timers = list(process.iterfind("bpmn:boundaryEvent", NS))
    flows = list(process.iterfind("bpmn:sequenceFlow", NS))
    lanes = list(process.iterfind("bpmn:laneSet/bpmn:lane", NS))
    drawn = [s.get("bpmnElement") for s in doc.iterfind(".//bpmndi:BPMNShape", NS)]
    drawn += [e.get("bpmnElement") for e in doc.iterfind(".//bpmndi:BPMNEdge", NS)]
    every = [el.get("id") for el in [*nodes, *timers, *flows, *lanes]] + [f"pool-{ident}"]
    assert sorted(drawn) == sorted(every)

    lane_ids = {lane.get("id") for lane in lanes} | {f"pool-{ident}"}
    pool = shapes[f"pool-{ident}"]
    for i, lane in enumerate(lanes):
        box = shapes[lane.get("id")]
        assert _inside(box, pool)
        assert not any(_overlap(box, shapes[o.get("id")]) for o in lanes[i + 1 :])
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            assert _inside(shapes[ref.text], box), (ref.text, lane.get("id"))
    in_lanes = [r.text for lane in lanes for r in lane.iterfind("bpmn:flowNodeRef", NS)]
    assert sorted(in_lanes) == sorted(el.get("id") for el in [*nodes, *timers])

    boxes = [(el.get("id"), shapes[el.get("id")]) for el in nodes]
    for i, (a, box) in enumerate(boxes):
        for b, other in boxes[i + 1 :]:
            assert not _overlap(box, other), (a, b)
    for timer in timers:
        box, host = shapes[timer.get("id")], timer.get("attachedToRef")
        assert _on_border((box[0] + box[2] / 2, box[1] + box[3] / 2), shapes[host])
        for other, obox in [*boxes, *((t.get("id"), shapes[t.get("id")]) for t in timers)]:
            if other not in (host, timer.get("id")):
                assert not _overlap(box, obox), (timer.get("id"), other)

    for edge in doc.iterfind(".//bpmndi:BPMNEdge", NS):
        (flow,) = (f for f in flows if f.get("id") == edge.get("bpmnElement"))
        points = [(float(p.get("x")), float(p.get("y"))) for p in edge.iterfind("di:waypoint", NS)]
        assert len(points) >= 2
        assert _on_border(points[0], shapes[flow.get("sourceRef")]), flow.get("id")
        assert _on_border(points[-1], shapes[flow.get("targetRef")]), flow.get("id")
        ends = (flow.get("sourceRef"), flow.get("targetRef"))
        for (x1, y1), (x2, y2) in itertools.pairwise(points):
            assert x1 == x2 or y1 == y2, (flow.get("id"), points)
            line = (min(x1, x2) - 0.5, min(y1, y2) - 0.5, abs(x2 - x1) + 1, abs(y2 - y1) + 1)
            for other, box in shapes.items():  # no flow runs through a shape
                if other not in ends and other in every and other not in lane_ids:
                    assert not _overlap(line, box), (flow.get("id"), other)


# -- the mapping -----------------------------------------------------------------------------
def _process(ident: str, exports: dict[str, str]) -> Any:
    return _doc(exports[ident]).find("bpmn:process", NS)


def _by_id(process: Any, ident: str) -> Any:
    (el,) = process.xpath(f"*[@id='{ident}']")
    return el


def test_every_id_is_an_ncname_and_unique(exports: dict[str, str]) -> None:
    for ident, xml in exports.items():
        ids = [el.get("id") for el in _doc(xml).iter() if el.get("id") is not None]
        assert len(ids) == len(set(ids)), ident
        assert all(NCNAME.match(i) for i in ids), ident


def test_user_tasks_carry_their_roles_as_lanes_and_candidate_groups(
    exports: dict[str, str],
) -> None:
    process = _process("publishing", exports)
    task = _by_id(process, "state-proposed")
    assert task.tag == f"{{{NS['bpmn']}}}userTask"
    assert task.get("name") == "已报题"
    assert task.get(f"{{{NS['camunda']}}}candidateGroups") == "channel_lead"
    (lane,) = process.xpath(
        "bpmn:laneSet/bpmn:lane[bpmn:flowNodeRef='state-proposed']", namespaces=NS
    )
    assert (lane.get("id"), lane.get("name")) == ("lane-channel_lead", "频道负责人")
    archive = _by_id(process, "state-published")
    assert archive.get(f"{{{NS['camunda']}}}candidateGroups").split(",")[:2] == [
        "editor",
        "ops_manager",
    ]
    service = _by_id(process, "state-publishing")
    assert service.tag == f"{{{NS['bpmn']}}}serviceTask"
    assert process.xpath(
        "bpmn:laneSet/bpmn:lane[bpmn:flowNodeRef='state-publishing']/@id", namespaces=NS
    ) == ["lane-engine"]


def test_a_task_with_several_ways_out_chooses_by_trigger(exports: dict[str, str]) -> None:
    process = _process("publishing", exports)
    (flow,) = process.xpath("bpmn:sequenceFlow[@id='flow-proposed-1']", namespaces=NS)
    assert flow.get("sourceRef") == "choice-proposed"
    assert flow.get("targetRef") == "state-selected"
    assert flow.get("name") == "入选题库"
    condition = flow.find("bpmn:conditionExpression", NS)
    assert condition.text == "trigger == 'approve'"
    assert "PUB-2" in flow.find("bpmn:documentation", NS).text


def test_exclusive_gateways_have_a_default_flow_and_guard_conditions(
    exports: dict[str, str],
) -> None:
    process = _process("faults", exports)
    gateway = _by_id(process, "state-acknowledged")
    assert gateway.tag == f"{{{NS['bpmn']}}}exclusiveGateway"
    default = _by_id(process, gateway.get("default"))
    assert default.get("targetRef") == "state-fixing"
    assert default.find("bpmn:conditionExpression", NS) is None
    (guarded,) = process.xpath(
        "bpmn:sequenceFlow[@sourceRef='state-acknowledged'][bpmn:conditionExpression]",
        namespaces=NS,
    )
    assert guarded.get("targetRef") == "state-suspended"
    assert guarded.find("bpmn:conditionExpression", NS).text == "data.suspend_now == true"


def _timer(process: Any, ident: str) -> tuple[Any, str, str]:
    timer = _by_id(process, ident)
    (expr,) = timer.find("bpmn:timerEventDefinition", NS)
    return timer, etree.QName(expr).localname, expr.text


def test_deadline_steps_are_timer_boundary_events(exports: dict[str, str]) -> None:
    plans = _process("emergency_plans", exports)
    fire, kind, text = _timer(plans, "timer-in_force-0")
    assert (fire.get("attachedToRef"), fire.get("cancelActivity"), kind, text) == (
        "state-in_force",
        "true",
        "timeDuration",
        "P6M",
    )
    (out,) = plans.xpath("bpmn:sequenceFlow[@sourceRef='timer-in_force-0']", namespaces=NS)
    assert out.get("name") == "组织演练"  # the fired transition's label
    escalate, kind, text = _timer(plans, "timer-in_force-1")
    assert (escalate.get("cancelActivity"), kind, text) == ("false", "timeDuration", "P7M")

    publishing = _process("publishing", exports)
    warn, kind, text = _timer(publishing, "timer-first_review-0")
    assert (warn.get("cancelActivity"), kind, text) == ("false", "timeDuration", "P1D")
    assert warn.get("name") == "时限50%"
    (to_end,) = publishing.xpath(
        "bpmn:sequenceFlow[@sourceRef='timer-first_review-0']", namespaces=NS
    )
    end = _by_id(publishing, to_end.get("targetRef"))
    assert (end.tag, end.get("name")) == (f"{{{NS['bpmn']}}}endEvent", "提醒")
    escalate = _by_id(publishing, "timer-first_review-1-end")
    assert escalate.get("name") == "上报 频道负责人"
    note = warn.find("bpmn:documentation", NS).text
    assert "时限：2个工作日" in note
    assert "调休" in note
    _, kind, text = _timer(publishing, "timer-drafting-1")
    assert (kind, text) == ("timeDate", "data.due_date")

    training = _process("training", exports)
    _, _, text = _timer(training, "timer-passed-0")  # 1 month before 12 months
    assert text == "P11M"


def test_documentation_cites_requirements_and_forms(exports: dict[str, str]) -> None:
    process = _process("publishing", exports)
    assert "PUB-1, PUB-2" in _by_id(process, "state-proposed").find("bpmn:documentation", NS).text
    (ret,) = process.xpath("bpmn:sequenceFlow[@id='flow-proposed-2']", namespaces=NS)
    text = ret.find("bpmn:documentation", NS).text
    assert "表单：reason 退回原因 (text, 必填)" in text
    assert "角色：channel_lead 频道负责人" in text
    assert "PUB-11" in process.find("bpmn:documentation", NS).text


def test_the_export_is_deterministic_and_speaks_english_on_request() -> None:
    wf = WORKFLOWS["comments"]
    assert to_bpmn(wf) == to_bpmn(wf)
    english = _doc(to_bpmn(wf, "en")).find("bpmn:process", NS)
    assert english.get("name") == wf.label.en
    first = _by_id(english, state_node_id(wf.start.state))
    assert first.get("name") == wf.states[wf.start.state].label.en


def test_the_camunda_namespace_is_declared_only_when_used(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(
        "id: job\nlabel: {zh: 任务, en: Job}\nroles: {admin: {zh: 管理员, en: Admin}}\n"
        "handlers: {work: {description: Does the work.}}\n"
        "start: {state: working, roles: [admin]}\n"
        "states:\n"
        "  working:\n"
        "    type: serviceTask\n"
        "    label: {zh: 处理中, en: Working}\n"
        "    handler: work\n"
        "    transitions: [{trigger: done, target: done, default: true}]\n"
        "  done: {type: endEvent, label: {zh: 完成, en: Done}}\n",
        encoding="utf-8",
    )
    loaded = load_paths([tmp_path], across=False)
    assert loaded.problems == []
    xml = to_bpmn(loaded.workflows["job"].definition)
    assert "camunda" not in xml
    assert spiff_edges(xml, "job") == {
        ("start-event", "state-working"),
        ("state-working", "state-done"),
    }
    assert "camunda" in to_bpmn(WORKFLOWS["publishing"])


@pytest.mark.parametrize(
    ("amount", "unit", "iso", "exact"),
    [
        (Fraction(3), "days", "P3D", True),
        (Fraction(3), "working_days", "P3D", False),
        (Fraction(3, 2), "working_days", "P1DT12H", False),
        (Fraction(1, 2), "hours", "PT30M", True),
        (Fraction(30), "minutes", "PT30M", True),
        (Fraction(6), "months", "P6M", True),
        (Fraction(1, 2), "months", "P15D", False),
        (Fraction(2), "weeks", "P2W", True),
        (Fraction(1, 3), "minutes", "PT20S", True),
        (Fraction(1, 7), "minutes", "PT8S", False),
        (Fraction(0), "days", "PT0S", True),
    ],
)
def test_iso_durations(amount: Fraction, unit: str, iso: str, exact: bool) -> None:
    assert iso_duration(amount, unit) == (iso, exact)


def test_markup_in_labels_survives_the_round_trip(exports: dict[str, str]) -> None:
    process = _process("tricky", exports)
    wf = WORKFLOWS["tricky"]
    assert process.get("name") == wf.label.zh
    assert _by_id(process, "state-end").get("name") == wf.states["end"].label.zh
    (lane,) = process.xpath("bpmn:laneSet/bpmn:lane[@id='lane-lead']", namespaces=NS)
    assert lane.get("name") == "负责人 <A&B>"
    # the fire step's trigger has two guarded ways out: its timer has a gateway of its own
    (out,) = process.xpath("bpmn:sequenceFlow[@sourceRef='timer-end-2']", namespaces=NS)
    assert out.get("targetRef") == "timer-end-2-choice"
    routes = process.xpath(
        "bpmn:sequenceFlow[@sourceRef='timer-end-2-choice']/bpmn:conditionExpression",
        namespaces=NS,
    )
    assert [r.text for r in routes] == ["data.urgent == true", "data.urgent != true"]
    timer, kind, text = _timer(process, "timer-end-2")
    assert (timer.get("cancelActivity"), kind, text) == ("true", "timeDuration", "P3D")
    _, _, text = _timer(process, "timer-end-1")  # 4 working hours before 2 working days
    assert text == "P1DT20H"
    breach, _, text = _timer(process, "timer-send_it-0")
    assert (breach.get("cancelActivity"), text) == ("false", "PT30M")
    assert "调休" not in breach.find("bpmn:documentation", NS).text  # exact: no note


@pytest.mark.parametrize("ident", list(WORKFLOWS))
def test_one_lane_per_role_and_one_for_the_engine_if_it_acts(
    ident: str, exports: dict[str, str]
) -> None:
    wf = WORKFLOWS[ident]
    process = _process(ident, exports)
    lanes = [(lane.get("id"), lane.get("name")) for lane in process.iterfind(".//bpmn:lane", NS)]
    roles = [(f"lane-{r}", label.zh) for r, label in wf.roles.items()]
    service = any(s.type == "serviceTask" for s in wf.states.values())
    assert lanes == roles + ([("lane-engine", "系统")] if service else [])


def test_ids_do_not_collide_whatever_the_workflow_is_called(schema: Any) -> None:
    """The process takes the workflow's id; every other id has a hyphen, which no id of
    the workflow language has."""
    for ident in ("start", "state", "lane", "flow", "choice", "timer", "pool"):
        wf = load_workflow_text(TRICKY.replace("id: tricky", f"id: {ident}", 1)).definition
        xml = to_bpmn(wf)
        ids = [el.get("id") for el in _doc(xml).iter() if el.get("id") is not None]
        assert len(ids) == len(set(ids)), ident
        assert schema.validate(_doc(xml)), schema.error_log
        assert spiff_edges(xml, ident) == expected_edges(wf)


@st.composite
def workflows(draw: st.DrawFn) -> str:
    """A random well-formed workflow: a chain of tasks (so every state is reachable and
    can end) with jumps forward and back, deadlines, roles and a gateway or two."""
    n = draw(st.integers(2, 9))
    roles = ["a", "b", "c"][: draw(st.integers(1, 3))]
    lines = [
        "id: random",
        "label: {zh: 随机, en: Random}",
        "roles: {" + ", ".join(f"{r}: {{zh: 角色{r}, en: Role {r}}}" for r in roles) + "}",
        "data: {x: {type: integer, required: false}}",
        "start: {state: s0, roles: [a]}",
        "states:",
    ]
    for i in range(n):
        after = f"s{i + 1}" if i + 1 < n else "done"
        if i > 0 and draw(st.booleans()) and draw(st.booleans()):
            lines += [
                f"  s{i}:",
                "    type: exclusiveGateway",
                f"    label: {{zh: 判断{i}, en: Check {i}}}",
                "    transitions:",
                f"      - {{guard: 'data.x == {i}', target: s{draw(st.integers(0, i - 1))}}}",
                f"      - {{default: true, target: {after}}}",
            ]
            continue
        lines += [f"  s{i}:", "    type: userTask", f"    label: {{zh: 步骤{i}, en: Step {i}}}"]
        steps = draw(st.lists(st.sampled_from(["warn", "escalate", "breach"]), max_size=3))
        if steps:
            lines += ["    deadline:", "      within: 2 working days", "      steps:"]
            lines += [
                f"        - {{at: {40 + 20 * k}%, action: {a}"
                + (", to: a}" if a == "escalate" else "}")
                for k, a in enumerate(steps)
            ]
        lines.append("    transitions:")
        role = draw(st.sampled_from(roles))
        lines.append(f"      - {{trigger: next, target: {after}, roles: [{role}]}}")
        for j in draw(st.lists(st.integers(0, n), max_size=3, unique=True)):
            target = f"s{j}" if j < n else "done"
            lines.append(f"      - {{trigger: jump_{j}, target: {target}, roles: [{role}]}}")
    lines += ["  done: {type: endEvent, label: {zh: 完成, en: Done}}"]
    return "\n".join(lines) + "\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=workflows())
def test_any_workflow_exports_valid_parseable_and_drawn_apart(text: str, schema: Any) -> None:
    wf = load_workflow_text(text, "random.yaml").definition
    xml = to_bpmn(wf)
    assert schema.validate(_doc(xml)), schema.error_log
    assert spiff_edges(xml, "random") == expected_edges(wf)
    check_diagram(xml, "random")
