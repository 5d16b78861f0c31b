"""The BPMN 2.0 XML document: the semantic model and its diagram interchange (BPMNDI).

Written with the standard library's ElementTree, children in the order the BPMN 2.0 XML
Schema asks for. One pool (a participant of a collaboration) holds the process, its lanes
as horizontal bands: bpmn.io and Camunda Modeler draw lanes inside a pool. Namespaces are
declared where used only (``camunda`` appears with candidate groups).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from cmc_workflow.bpmn.layout import Box, Layout, layout
from cmc_workflow.bpmn.mapping import Flow, Node, Process, build_process
from cmc_workflow.bpmn.timers import Lang
from cmc_workflow.definition.models import Workflow

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"

NAMESPACES = {"bpmn": BPMN, "bpmndi": BPMNDI, "dc": DC, "di": DI, "xsi": XSI, "camunda": CAMUNDA}
"""Prefix -> namespace of every element and attribute written."""

TARGET_NAMESPACE = "https://cmc-workflow.invalid/bpmn"
_LABEL = (90, 27)


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """A ``bpmn:`` child of ``parent`` (attributes given are never empty)."""
    child = ET.SubElement(parent, _q(BPMN, tag), {k: v for k, v in attrs.items() if v})
    if text is not None:
        child.text = text
    return child


def _doc(parent: ET.Element, text: str) -> None:
    if text:
        _el(parent, "documentation", text)


def _expression(parent: ET.Element, tag: str, text: str) -> None:
    expr = _el(parent, tag, text)
    expr.set(_q(XSI, "type"), "bpmn:tFormalExpression")


def _node(process_el: ET.Element, process: Process, node: Node) -> None:
    el = _el(process_el, node.kind, id=node.id, name=node.name)
    if node.default:
        el.set("default", node.default)
    if node.candidate_groups:
        el.set(_q(CAMUNDA, "candidateGroups"), ",".join(node.candidate_groups))
    _doc(el, node.documentation)
    flows = _all_flows(process)
    for f in flows:
        if f.target == node.id:
            _el(el, "incoming", f.id)
    for f in flows:
        if f.source == node.id:
            _el(el, "outgoing", f.id)


def _all_flows(process: Process) -> list[Flow]:
    return process.flows + [t.flow for t in process.timers]


def _timer_ends(process: Process) -> list[Node]:
    return [t.end for t in process.timers if t.end is not None]


def _flow(process_el: ET.Element, f: Flow) -> None:
    el = _el(process_el, "sequenceFlow", id=f.id, name=f.name, sourceRef=f.source)
    el.set("targetRef", f.target)
    _doc(el, f.documentation)
    if f.condition is not None:
        _expression(el, "conditionExpression", f.condition)


def _semantic(root: ET.Element, process: Process) -> None:
    collaboration = _el(root, "collaboration", id=f"collaboration-{process.id}")
    participant = _el(collaboration, "participant", id=f"pool-{process.id}", name=process.name)
    participant.set("processRef", process.id)

    process_el = _el(root, "process", id=process.id, name=process.name)
    process_el.set("isExecutable", "true")  # SpiffWorkflow parses executable processes only
    _doc(process_el, process.documentation)
    lane_set = _el(process_el, "laneSet", id=f"lanes-{process.id}")
    for lane, name in process.lanes.items():
        lane_el = _el(lane_set, "lane", id=lane, name=name)
        for node in process.nodes:
            if node.lane == lane:
                _el(lane_el, "flowNodeRef", node.id)
        for timer in process.timers:
            if process.node(timer.host).lane == lane:
                _el(lane_el, "flowNodeRef", timer.id)
        for end in _timer_ends(process):
            if end.lane == lane:
                _el(lane_el, "flowNodeRef", end.id)
    for node in process.nodes:
        _node(process_el, process, node)
    for end in _timer_ends(process):
        _node(process_el, process, end)
    for timer in process.timers:
        el = _el(process_el, "boundaryEvent", id=timer.id, name=timer.name)
        el.set("cancelActivity", "true" if timer.interrupting else "false")
        el.set("attachedToRef", timer.host)
        _doc(el, timer.documentation)
        _el(el, "outgoing", timer.flow.id)
        definition = _el(el, "timerEventDefinition", id=f"{timer.id}-definition")
        _expression(definition, timer.timing.kind, timer.timing.text)
    for f in _all_flows(process):
        _flow(process_el, f)


def _bounds(parent: ET.Element, box: Box) -> None:
    ET.SubElement(
        parent,
        _q(DC, "Bounds"),
        {"x": _n(box.x), "y": _n(box.y), "width": _n(box.w), "height": _n(box.h)},
    )


def _n(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def _shape(plane: ET.Element, element: str, box: Box, **attrs: str) -> ET.Element:
    shape = ET.SubElement(
        plane, _q(BPMNDI, "BPMNShape"), {"id": f"{element}-di", "bpmnElement": element, **attrs}
    )
    _bounds(shape, box)
    return shape


def _external_label(shape: ET.Element, box: Box) -> None:
    label = ET.SubElement(shape, _q(BPMNDI, "BPMNLabel"))
    w, h = _LABEL
    _bounds(label, Box(box.cx - w / 2, box.bottom + 5, w, h))


def _side_label(shape: ET.Element, box: Box) -> None:
    _bounds(ET.SubElement(shape, _q(BPMNDI, "BPMNLabel")), box)


def _diagram(root: ET.Element, process: Process, placed: Layout) -> None:
    diagram = ET.SubElement(root, _q(BPMNDI, "BPMNDiagram"), {"id": f"diagram-{process.id}"})
    plane = ET.SubElement(
        diagram,
        _q(BPMNDI, "BPMNPlane"),
        {"id": f"plane-{process.id}", "bpmnElement": f"collaboration-{process.id}"},
    )
    _shape(plane, f"pool-{process.id}", placed.pool, isHorizontal="true")
    for lane, box in placed.lanes.items():
        _shape(plane, lane, box, isHorizontal="true")
    for node in process.nodes:
        box = placed.shapes[node.id]
        shape = _shape(plane, node.id, box)
        if node.kind != "userTask" and node.kind != "serviceTask" and node.name:
            _external_label(shape, box)
    for timer in process.timers:
        _side_label(_shape(plane, timer.id, placed.shapes[timer.id]), placed.labels[timer.id])
        if timer.end is not None:
            end = timer.end.id
            _side_label(_shape(plane, end, placed.shapes[end]), placed.labels[end])
    for f in _all_flows(process):
        edge = ET.SubElement(
            plane, _q(BPMNDI, "BPMNEdge"), {"id": f"{f.id}-di", "bpmnElement": f.id}
        )
        for x, y in placed.edges[f.id]:
            ET.SubElement(edge, _q(DI, "waypoint"), {"x": _n(x), "y": _n(y)})


def process_xml(process: Process) -> str:
    """The BPMN 2.0 XML document of a built ``process``, UTF-8 text ending in a newline."""
    for prefix, ns in NAMESPACES.items():
        ET.register_namespace(prefix, ns)
    root = ET.Element(
        _q(BPMN, "definitions"),
        {
            "id": f"definitions-{process.id}",
            "targetNamespace": f"{TARGET_NAMESPACE}/{process.id}",
            "exporter": "cmc-workflow",
        },
    )
    _semantic(root, process)
    _diagram(root, process, layout(process))
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def to_bpmn(workflow: Workflow, lang: Lang = "zh") -> str:
    """BPMN 2.0 XML, with diagram interchange, of a checked ``workflow``; labels in
    ``lang`` (Chinese by default). The same workflow always gives the same text."""
    return process_xml(build_process(workflow, lang))
