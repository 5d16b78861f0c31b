"""Server-rendered SVG: the workflow diagram with the current state marked, and the
dashboard's bar charts. Pure functions returning markup (every text escaped); no script,
no asset from anywhere.

The diagram reuses the BPMN export's graph and layout (:func:`cmc_workflow.bpmn.mapping.
build_process`, :func:`cmc_workflow.bpmn.layout.layout`), so that the console shows the
same picture as ``cmc-workflow bpmn`` and the labels of :mod:`cmc_workflow.diagram`.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from cmc_workflow.bpmn.layout import layout
from cmc_workflow.bpmn.mapping import build_process, state_node_id
from cmc_workflow.definition.models import Workflow

__all__ = ["bar_chart", "workflow_svg"]

_PALETTE = ("#2f6f9f", "#c0392b", "#7f8c8d", "#27ae60", "#8e44ad", "#d68910", "#16a085")


def _t(text: str) -> str:
    return escape(text, quote=True)


def workflow_svg(wf: Workflow, current: str | None, lang: str = "zh") -> str:
    """The diagram of ``wf`` as inline SVG, the node of state ``current`` marked (a thick
    outline, class ``current``, ``data-state`` naming it)."""
    process = build_process(wf, "zh" if lang == "zh" else "en")
    placed = layout(process)
    marked = state_node_id(current) if current else None
    pool = placed.pool
    left, top = pool.x - 10, pool.y - 10
    width, height = pool.w + 20, pool.h + 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram" role="img" '
        f'viewBox="{left:.0f} {top:.0f} {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}">',
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' "
        "markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' "
        "fill='#555'/></marker></defs>",
        f'<rect x="{pool.x}" y="{pool.y}" width="{pool.w}" height="{pool.h}" '
        'fill="#fff" stroke="#999"/>',
    ]
    for lane_id, box in placed.lanes.items():
        name = process.lanes.get(lane_id, lane_id)
        out.append(
            f'<rect x="{box.x}" y="{box.y}" width="{box.w}" height="{box.h}" '
            'fill="#fafafa" stroke="#ccc"/>'
            f'<text x="{box.x + 8}" y="{box.y + 18}" class="lane">{_t(name)}</text>'
        )
    for flow in [*process.flows, *(t.flow for t in process.timers)]:
        points = placed.edges.get(flow.id)
        if not points:
            continue
        path = " ".join(f"{x:.0f},{y:.0f}" for x, y in points)
        out.append(
            f'<polyline points="{path}" fill="none" stroke="#555" marker-end="url(#arrow)"/>'
        )
        if flow.name:
            (x0, y0), (x1, y1) = points[0], points[1]
            out.append(
                f'<text x="{(x0 + x1) / 2 + 4:.0f}" y="{(y0 + y1) / 2 - 4:.0f}" '
                f'class="flow">{_t(flow.name[:24])}</text>'
            )
    nodes = {n.id: n for n in process.nodes}
    for node_id, box in placed.shapes.items():
        node = nodes.get(node_id)
        if node is None:  # a timer on a task's edge
            out.append(
                f'<circle cx="{box.cx}" cy="{box.cy}" r="{box.w / 2}" fill="#fff" '
                'stroke="#d68910"/>'
            )
            continue
        is_current = node_id == marked
        stroke = ' stroke="#c0392b" stroke-width="4"' if is_current else ' stroke="#333"'
        fill = "#fdecea" if is_current else "#fff"
        state = f' data-state="{_t(node.state)}"' if node.state else ""
        cls = ' class="node current"' if is_current else ' class="node"'
        out.append(f"<g{cls}{state}>")
        if node.kind in ("startEvent", "endEvent"):
            width_ = 3 if node.kind == "endEvent" and not is_current else None
            extra = f' stroke-width="{width_}"' if width_ else ""
            out.append(
                f'<circle cx="{box.cx}" cy="{box.cy}" r="{box.w / 2}" fill="{fill}"'
                f"{stroke}{extra}/>"
            )
            out.append(
                f'<text x="{box.cx}" y="{box.bottom + 14}" class="node-label" '
                f'text-anchor="middle">{_t(node.name[:16])}</text>'
            )
        elif node.kind == "exclusiveGateway":
            corners = (
                f"{box.cx},{box.y} {box.right},{box.cy} {box.cx},{box.bottom} {box.x},{box.cy}"
            )
            out.append(f'<polygon points="{corners}" fill="{fill}"{stroke}/>')
        else:
            out.append(
                f'<rect x="{box.x}" y="{box.y}" width="{box.w}" height="{box.h}" rx="10" '
                f'fill="{fill}"{stroke}/>'
            )
            for i, line in enumerate(_lines(node.name, 7 if lang == "zh" else 13)[:3]):
                out.append(
                    f'<text x="{box.cx}" y="{box.y + 30 + i * 16}" class="node-label" '
                    f'text-anchor="middle">{_t(line)}</text>'
                )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _lines(text: str, size: int) -> list[str]:
    words = text.split() if " " in text else [text[i : i + size] for i in range(0, len(text), size)]
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= size:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    empty: str = "—",
) -> str:
    """A grouped bar chart: one group per category, one bar per series (name, values),
    a legend; an accessible ``<title>``. A category's label may hold one line break."""
    count = len(categories)
    if count == 0 or not series:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 400 60" '
            f'width="400" height="60" role="img"><title>{_t(title)}</title>'
            f'<text x="10" y="35" class="empty">{_t(empty)}</text></svg>'
        )
    top = max((max(values, default=0) for _, values in series), default=0) or 1
    bar, gap = 18, 14
    group = max(bar * len(series) + gap, 120)
    left, bottom, plot_h = 40, 56, 180
    width = max(400, left + group * count + 20)
    height = plot_h + bottom + 40 + 18 * ((len(series) + 3) // 4)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
        f"<title>{_t(title)}</title>",
        f'<line x1="{left}" y1="{plot_h + 10}" x2="{width - 10}" y2="{plot_h + 10}" '
        'stroke="#999"/>',
        f'<text x="{left - 6}" y="18" text-anchor="end" class="axis">{_fmt(top)}</text>',
        f'<text x="{left - 6}" y="{plot_h + 10}" text-anchor="end" class="axis">0</text>',
    ]
    for c, category in enumerate(categories):
        x0 = left + c * group + (group - bar * len(series)) / 2
        for s, (name, values) in enumerate(series):
            value = values[c] if c < len(values) else 0
            h = plot_h * value / top
            x = x0 + s * bar
            color = _PALETTE[s % len(_PALETTE)]
            out.append(
                f'<rect x="{x:.0f}" y="{plot_h + 10 - h:.1f}" width="{bar - 2}" '
                f'height="{h:.1f}" fill="{color}"><title>{_t(name)} · {_t(category)}: '
                f"{_fmt(value)}</title></rect>"
            )
            if value:
                out.append(
                    f'<text x="{x + (bar - 2) / 2:.0f}" y="{max(9.0, plot_h + 6 - h):.0f}" '
                    f'text-anchor="middle" class="value">{_fmt(value)}</text>'
                )
        middle = left + c * group + group / 2
        for i, line in enumerate(category.split("\n")[:2]):
            out.append(
                f'<text x="{middle:.0f}" y="{plot_h + 26 + i * 14}" text-anchor="middle" '
                f'class="axis">{_t(line[:20])}</text>'
            )
    for s, (name, _) in enumerate(series):
        lx = left + (s % 4) * 150
        ly = plot_h + bottom + 10 + (s // 4) * 18
        out.append(
            f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" '
            f'fill="{_PALETTE[s % len(_PALETTE)]}"/>'
            f'<text x="{lx + 16}" y="{ly}" class="legend">{_t(name[:20])}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
