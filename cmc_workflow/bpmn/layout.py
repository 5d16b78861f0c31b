"""Where each shape goes: a layered layout, left to right, lanes as horizontal bands.

1. Cycles are broken by a depth-first walk from the start event (flows in their order):
   a flow back to a node on the walk's path is a back edge.
2. Each node's layer (column) is its longest path from the start over the other flows.
3. Each lane is a band of rows; nodes of one lane in one column stack in rows, in the
   order of the process. Every node sits centred in its own cell, so no two shapes
   overlap; a task's timers sit on its lower edge, each with a strip of its own (the
   task widens), the end event of a step that does not move the item right below it.
4. Flows are routed orthogonally: forward flows leave a task on the right and turn in the
   margin just before the target's column; a gateway's branches leave by its top, right
   or bottom corner; back edges run along the top margin of the higher cell's row and
   enter the target from above; a timer's flow runs along the bottom margin and enters
   from below.
"""

from __future__ import annotations

from dataclasses import dataclass

from cmc_workflow.bpmn.mapping import Flow, Process

SIZES: dict[str, tuple[float, float]] = {
    "startEvent": (36, 36),
    "endEvent": (36, 36),
    "exclusiveGateway": (50, 50),
    "userTask": (100, 80),
    "serviceTask": (100, 80),
}
TIMER = 36
STRIP = 120
"""Width under a task per timer: the timer and its end event on the left of the strip,
their labels to their right. bpmn.io centres an outside label on its bounds and wraps it
at 90 px, so a label needs some 90 px beside its event."""
END_DROP = 52
"""How far below its task's lower edge a timer's end event sits."""
COL_W = 200
COL_MARGIN = 50
ROW_H = 150
ROW_H_TIMERS = 215
EMPTY_LANE_H = 90
"""A role that has no task of its own (it starts items, is notified, is escalated to)."""
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
    labels: dict[str, Box]
    """The label of each timer and of each timer's end event, beside it."""


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
    """The sequence flows, and each ``fire`` timer's flow counted as leaving its task."""
    flows = [f for f in process.flows if f.source != f.target]
    for timer in process.timers:
        if timer.end is None and timer.flow.target != timer.host:
            flows.append(Flow(timer.flow.id, timer.host, timer.flow.target))
    return flows


def _timer_count(process: Process) -> dict[str, int]:
    counts: dict[str, int] = {}
    for timer in process.timers:
        counts[timer.host] = counts.get(timer.host, 0) + 1
    return counts


def layout(process: Process) -> Layout:
    """Lay ``process`` out; deterministic."""
    flows = _flows_for_layering(process)
    back = _back_edges(process, flows)
    layers = _layers(process, flows, back)
    timers = _timer_count(process)

    sizes: dict[str, tuple[float, float]] = {}
    for node in process.nodes:
        w, h = SIZES[node.kind]
        if node.id in timers:  # one strip under the task per timer
            w = max(w, STRIP * timers[node.id] + 10)
        sizes[node.id] = (w, h)

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
    row_h = {
        lane: ROW_H_TIMERS
        if any(n.lane == lane and n.id in timers for n in process.nodes)
        else ROW_H
        for lane in process.lanes
    }
    columns = max(layers.values(), default=0) + 1
    col_w = [float(COL_W)] * columns
    for node in process.nodes:
        col = layers[node.id]
        col_w[col] = max(col_w[col], sizes[node.id][0] + 2 * COL_MARGIN)
    col_x = [sum(col_w[:c]) for c in range(columns)]

    x0, y0 = ORIGIN
    lanes_x = x0 + POOL_LABEL
    width = sum(col_w)
    lane_boxes: dict[str, Box] = {}
    top = float(y0)
    for lane_name in process.lanes:
        height = lane_rows[lane_name] * row_h[lane_name]
        if not any(n.lane == lane_name for n in process.nodes):
            height = EMPTY_LANE_H
        lane_boxes[lane_name] = Box(lanes_x, top, width, height)
        top += height
    pool = Box(x0, y0, POOL_LABEL + width, top - y0)

    shapes: dict[str, Box] = {}
    cells: dict[str, Box] = {}
    for node in process.nodes:
        lane = lane_boxes[node.lane]
        col, height = layers[node.id], row_h[node.lane]
        cell = Box(lanes_x + col_x[col], lane.y + row_of[node.id] * height, col_w[col], height)
        cells[node.id] = cell
        w, h = sizes[node.id]
        shapes[node.id] = Box(cell.cx - w / 2, cell.y + CENTRE_Y - h / 2, w, h)

    labels: dict[str, Box] = {}
    placed: dict[str, int] = {}
    side = STRIP - TIMER - 4
    for timer in process.timers:
        host = shapes[timer.host]
        k = placed.get(timer.host, 0)
        placed[timer.host] = k + 1
        box = Box(host.x + 9 + STRIP * k, host.bottom - TIMER / 2, TIMER, TIMER)
        shapes[timer.id] = box
        labels[timer.id] = Box(box.right + 4, box.bottom + 2, side, 27)
        if timer.end is not None:
            end = Box(box.x, host.bottom + END_DROP, TIMER, TIMER)
            shapes[timer.end.id] = end
            labels[timer.end.id] = Box(end.right + 4, end.cy - 13, side, 27)

    router = _Router(shapes, cells)
    edges: dict[str, list[tuple[float, float]]] = {}
    for f in process.flows:
        if f.source == f.target:
            edges[f.id] = router.loop(f)
        elif layers[f.target] > layers[f.source] and f.id not in back:
            edges[f.id] = router.forward(f)
        else:
            edges[f.id] = router.back(f)
    for timer in process.timers:
        if timer.end is not None:  # straight down to its own end event
            box, end = shapes[timer.id], shapes[timer.end.id]
            edges[timer.flow.id] = [(box.cx, box.bottom), (end.cx, end.y)]
        else:
            edges[timer.flow.id] = router.timer(timer.flow, timer.host)
    return Layout(shapes, lane_boxes, pool, edges, layers, labels)


Point = tuple[float, float]
_MARGIN = 12
_SPREAD = 5
_LANES_PER_CHANNEL = 4


class _Router:
    """Orthogonal routes through the margins of the cells, which no shape enters: a
    flow leaves its source in the source's own cell, runs along column margins (left and
    right of the shapes) and row margins (above them; timers' flows below), and enters its
    target from within the target's cell. Flows sharing a margin are spread a few pixels
    apart."""

    def __init__(self, shapes: dict[str, Box], cells: dict[str, Box]) -> None:
        self.shapes = shapes
        self.cells = cells
        self.used: dict[tuple[str, float], int] = {}
        self.taken: dict[tuple[str, str], float] = {}

    def _offset(self, kind: str, at: float, node: str) -> float:
        """The spread of ``node``'s flows in the margin ``kind`` at ``at``: the flows of
        one node share it (a fork, a merge), those of different nodes are apart."""
        if (kind, node) not in self.taken:
            k = self.used.get((kind, at), 0)
            self.used[(kind, at)] = k + 1
            self.taken[(kind, node)] = _SPREAD * (k % _LANES_PER_CHANNEL)
        return self.taken[(kind, node)]

    def _right(self, node: str) -> float:
        cell = self.cells[node]
        return cell.right - _MARGIN - self._offset("right", cell.right, node)

    def _left(self, node: str) -> float:
        cell = self.cells[node]
        return cell.x + _MARGIN + self._offset("left", cell.x, node)

    def _above(self, node: str, kind: str = "above") -> float:
        cell = self.cells[node]
        return cell.y + 6 + self._offset("above", cell.y, f"{kind}:{node}")

    def _clear(self, y: float, x1: float, x2: float, ends: tuple[str, ...]) -> bool:
        """Whether a horizontal line at ``y`` from ``x1`` to ``x2`` misses every shape but
        ``ends``."""
        line = Box(min(x1, x2), y - 0.5, abs(x2 - x1), 1)
        return not any(b.overlaps(line) for k, b in self.shapes.items() if k not in ends)

    def forward(self, f: Flow) -> list[Point]:
        """To a later column: out on the right, in on the left."""
        s, t = self.shapes[f.source], self.shapes[f.target]
        if s.cy == t.cy and self._clear(s.cy, s.right, t.x, (f.source, f.target)):
            return [(s.right, s.cy), (t.x, t.cy)]
        x_out = self._right(f.source)
        if self.cells[f.target].x == self.cells[f.source].right:  # the next column
            return [(s.right, s.cy), (x_out, s.cy), (x_out, t.cy), (t.x, t.cy)]
        y = self._above(f.target)
        x_in = self._left(f.target)
        return [(s.right, s.cy), (x_out, s.cy), (x_out, y), (x_in, y), (x_in, t.cy), (t.x, t.cy)]

    def back(self, f: Flow) -> list[Point]:
        """To an earlier column (a way back): out at the top, along the source's row
        margin, the target's column margin and row margin, in at the top."""
        s, t = self.shapes[f.source], self.shapes[f.target]
        y_out = self._above(f.source, "out")
        if self.cells[f.source].y == self.cells[f.target].y:
            return [(s.cx, s.y), (s.cx, y_out), (t.cx, y_out), (t.cx, t.y)]
        x = self._left(f.target)
        y_in = self._above(f.target)
        return [(s.cx, s.y), (s.cx, y_out), (x, y_out), (x, y_in), (t.cx, y_in), (t.cx, t.y)]

    def loop(self, f: Flow) -> list[Point]:
        """Back into the same shape, over its top."""
        s = self.shapes[f.source]
        y = self._above(f.source)
        return [
            (s.x + s.w * 0.75, s.y),
            (s.x + s.w * 0.75, y),
            (s.x + s.w * 0.25, y),
            (s.x + s.w * 0.25, s.y),
        ]

    def timer(self, f: Flow, host: str) -> list[Point]:
        """From a timer on the lower edge of its task: down into the bottom margin of the
        task's cell, along it to the target's column margin, in on the left."""
        s, t = self.shapes[f.source], self.shapes[f.target]
        y = self.cells[host].bottom - 6 - self._offset("below", self.cells[host].bottom, f.id)
        x = self._left(f.target)
        return [(s.cx, s.bottom), (s.cx, y), (x, y), (x, t.cy), (t.x, t.cy)]
