"""Where each shape goes: a layered layout, left to right, lanes as horizontal bands.

1. Cycles are broken by a depth-first walk from the start event (flows in their order):
   a flow back to a node on the walk's path is a back edge.
2. Each node's layer (column) is its longest path from the start over the other flows.
3. Each lane is a band of rows; nodes of one lane in one column stack in rows, in the
   order of the process. Every node sits centred in its own cell, so no two shapes
   overlap; a task's timers sit on its lower edge, inside the cell.
4. Flows are routed orthogonally: forward flows leave a task on the right and turn in the
   margin just before the target's column; a gateway's branches leave by its top, right
   or bottom corner; back edges run along the top margin of the higher cell's row and
   enter the target from above; a timer's flow runs along the bottom margin and enters
   from below.
"""

from __future__ import annotations

from dataclasses import dataclass

from cmc_workflow.bpmn.mapping import Flow, Node, Process

SIZES = {
    "startEvent": (36, 36),
    "endEvent": (36, 36),
    "exclusiveGateway": (50, 50),
    "userTask": (100, 80),
    "serviceTask": (100, 80),
}
TIMER = 36
COL_W = 200
ROW_H = 150
CENTRE_Y = 65
"""Where a node's centre sits below its cell's top: room above for back edges, below for
timers, their labels and timer flows."""
POOL_LABEL = 30
ORIGIN = (160, 80)


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle, as ``dc:Bounds`` gives it."""

    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def overlaps(self, other: Box) -> bool:
        """Whether the two rectangles share any area (touching edges do not count)."""
        return (
            self.x < other.right
            and other.x < self.right
            and self.y < other.bottom
            and other.y < self.bottom
        )


@dataclass(frozen=True, slots=True)
class Layout:
    """Every shape's bounds and every flow's waypoints."""

    shapes: dict[str, Box]
    """Nodes and timers by id."""
    lanes: dict[str, Box]
    pool: Box
    edges: dict[str, list[tuple[float, float]]]
    layers: dict[str, int]


def _back_edges(process: Process, flows: list[Flow]) -> set[str]:
    out: dict[str, list[Flow]] = {n.id: [] for n in process.nodes}
    for f in flows:
        out[f.source].append(f)
    back: set[str] = set()
    done: set[str] = set()
    for root in [n.id for n in process.nodes]:
        if root in done:
            continue
        on_path: set[str] = {root}
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack[-1]
            if i < len(out[node]):
                stack[-1] = (node, i + 1)
                f = out[node][i]
                if f.target in on_path:
                    back.add(f.id)
                elif f.target not in done:
                    on_path.add(f.target)
                    stack.append((f.target, 0))
            else:
                stack.pop()
                on_path.discard(node)
                done.add(node)
    return back


def _layers(process: Process, flows: list[Flow], back: set[str]) -> dict[str, int]:
    forward = [f for f in flows if f.id not in back]
    preds: dict[str, list[str]] = {n.id: [] for n in process.nodes}
    for f in forward:
        preds[f.target].append(f.source)
    layer: dict[str, int] = {}

    def depth(node: str) -> int:  # iterative: a long chain must not hit the recursion limit
        todo = [node]
        while todo:
            current = todo[-1]
            missing = [p for p in preds[current] if p not in layer]
            if missing:
                todo += missing
                continue
            todo.pop()
            layer[current] = max((layer[p] + 1 for p in preds[current]), default=0)
        return layer[node]

    for n in process.nodes:
        depth(n.id)
    return layer


def _flows_for_layering(process: Process) -> list[Flow]:
    """The sequence flows, and each timer's flow counted as leaving its host task."""
    flows = [f for f in process.flows if f.source != f.target]
    for timer in process.timers:
        if timer.flow is not None and timer.flow.target != timer.host:
            flows.append(Flow(timer.flow.id, timer.host, timer.flow.target))
    return flows


def _task_width(process: Process, node: Node) -> float:
    timers = sum(1 for t in process.timers if t.host == node.id)
    return max(SIZES[node.kind][0], 40 * timers + 20)


def layout(process: Process) -> Layout:
    """Lay ``process`` out; deterministic."""
    flows = _flows_for_layering(process)
    back = _back_edges(process, flows)
    layers = _layers(process, flows, back)

    rows: dict[tuple[str, int], int] = {}
    row_of: dict[str, int] = {}
    for node in process.nodes:
        key = (node.lane, layers[node.id])
        row_of[node.id] = rows.get(key, 0)
        rows[key] = row_of[node.id] + 1
    lane_rows = {
        lane: max([c for (ln, _), c in rows.items() if ln == lane], default=1)
        for lane in process.lanes
    }
    columns = max(layers.values(), default=0) + 1
    x0, y0 = ORIGIN
    lanes_x = x0 + POOL_LABEL
    width = columns * COL_W
    lane_boxes: dict[str, Box] = {}
    top = float(y0)
    for lane_name in process.lanes:
        height = lane_rows[lane_name] * ROW_H
        lane_boxes[lane_name] = Box(lanes_x, top, width, height)
        top += height
    pool = Box(x0, y0, POOL_LABEL + width, top - y0)

    shapes: dict[str, Box] = {}
    cells: dict[str, Box] = {}
    for node in process.nodes:
        lane = lane_boxes[node.lane]
        cell = Box(
            lanes_x + layers[node.id] * COL_W, lane.y + row_of[node.id] * ROW_H, COL_W, ROW_H
        )
        cells[node.id] = cell
        w: float = SIZES[node.kind][0]
        h = SIZES[node.kind][1]
        if node.kind in ("userTask", "serviceTask"):
            w = _task_width(process, node)
        shapes[node.id] = Box(cell.cx - w / 2, cell.y + CENTRE_Y - h / 2, w, h)
    placed: dict[str, int] = {}
    for timer in process.timers:
        host = shapes[timer.host]
        k = placed.get(timer.host, 0)
        placed[timer.host] = k + 1
        shapes[timer.id] = Box(
            host.right - 10 - TIMER - 40 * k, host.bottom - TIMER / 2, TIMER, TIMER
        )

    edges: dict[str, list[tuple[float, float]]] = {}
    for f in process.flows:
        edges[f.id] = _route(f, shapes, cells, layers, f.id in back, process)
    for timer in process.timers:
        if timer.flow is not None:
            edges[timer.flow.id] = _route_timer(timer.flow, shapes, cells, timer.host)
    return Layout(shapes, lane_boxes, pool, edges, layers)


def _route(
    f: Flow,
    shapes: dict[str, Box],
    cells: dict[str, Box],
    layers: dict[str, int],
    is_back: bool,
    process: Process,
) -> list[tuple[float, float]]:
    s, t = shapes[f.source], shapes[f.target]
    if f.source == f.target:  # a loop on one task: out of its top and back in
        return [
            (s.x + s.w * 0.75, s.y),
            (s.x + s.w * 0.75, cells[f.source].y + 10),
            (s.x + s.w * 0.25, cells[f.source].y + 10),
            (s.x + s.w * 0.25, s.y),
        ]
    if is_back or layers[f.target] <= layers[f.source]:
        if layers[f.target] == layers[f.source]:  # one column: along its right margin
            side = cells[f.source].right - 20
            return [(s.right, s.cy), (side, s.cy), (side, t.cy), (t.right, t.cy)]
        channel = min(cells[f.source].y, cells[f.target].y) + 8
        return [(s.cx, s.y), (s.cx, channel), (t.cx, channel), (t.cx, t.y)]
    if process.node(f.source).kind == "exclusiveGateway" and s.cy != t.cy:
        corner = (s.cx, s.y) if t.cy < s.cy else (s.cx, s.bottom)
        return [corner, (s.cx, t.cy), (t.x, t.cy)]
    if s.cy == t.cy:
        return [(s.right, s.cy), (t.x, t.cy)]
    turn = cells[f.target].x + 15
    return [(s.right, s.cy), (turn, s.cy), (turn, t.cy), (t.x, t.cy)]


def _route_timer(
    f: Flow, shapes: dict[str, Box], cells: dict[str, Box], host: str
) -> list[tuple[float, float]]:
    s, t = shapes[f.source], shapes[f.target]
    channel = max(cells[host].bottom, cells[f.target].bottom) - 6
    return [(s.cx, s.bottom), (s.cx, channel), (t.cx, channel), (t.cx, t.bottom)]
