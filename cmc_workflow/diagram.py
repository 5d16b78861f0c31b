"""Pictures and tables of a workflow, as text: Mermaid, Graphviz DOT and a plain table.

Pure functions of a checked :class:`~cmc_workflow.definition.models.Workflow`, so the CLI
(``cmc-workflow graph`` / ``explain``) and docs generators share them. Labels are Chinese
by default (``lang="zh"``), English on request; an edge without a label shows its trigger.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Literal

from cmc_workflow.definition.models import (
    Deadline,
    DeadlineStep,
    FieldSpec,
    Label,
    State,
    Transition,
    Workflow,
)
from cmc_workflow.i18n import N_, heading, pick, tr, zh

Lang = Literal["zh", "en"]

_MERMAID_RESERVED = frozenset({"state", "note", "end", "direction", "class", "classdef", "style"})
_MERMAID_ESCAPES = str.maketrans({'"': "#quot;", ";": "#59;", ":": "#58;"})


def _text(label: Label | None, lang: Lang, fallback: str) -> str:
    if label is None:
        return fallback
    return label.zh if lang == "zh" else label.en


def edge_label(state: State, transition: Transition, lang: Lang = "zh") -> str:
    """What an arrow says: the transition's label, else its trigger (gateways: the guard)."""
    if state.type == "exclusiveGateway":
        if transition.label is not None:
            return _text(transition.label, lang, "")
        if transition.default:
            return zh("default") if lang == "zh" else N_("default")
        return transition.guard or ""
    text = _text(transition.label, lang, transition.trigger or "")
    if transition.guard:
        text += f" [{transition.guard}]"
    return text


# --- Mermaid -----------------------------------------------------------------------------


def _mermaid_id(name: str) -> str:
    return f"s_{name}" if name.lower() in _MERMAID_RESERVED else name


def _mermaid_text(text: str) -> str:
    """Escape what would end a Mermaid label early (quotes, semicolons, line breaks)."""
    return " ".join(text.split()).translate(_MERMAID_ESCAPES)


def to_mermaid(wf: Workflow, lang: Lang = "zh") -> str:
    """A Mermaid ``stateDiagram-v2`` of ``wf``, ending with a newline.

    States are declared with their label (``state "初审" as first_review``), gateways as
    ``<<choice>>``; ``[*]`` marks the start and the end states.
    """
    lines = ["stateDiagram-v2", f"    %% {wf.id}: {_mermaid_text(_text(wf.label, lang, wf.id))}"]
    services: list[str] = []
    ends: list[str] = []
    for name, state in wf.states.items():
        sid = _mermaid_id(name)
        if state.type == "exclusiveGateway":
            lines.append(f"    state {sid} <<choice>>")
        else:
            lines.append(f'    state "{_mermaid_text(_text(state.label, lang, name))}" as {sid}')
        if state.type == "serviceTask":
            services.append(sid)
        elif state.type == "endEvent":
            ends.append(sid)
    lines.append(f"    [*] --> {_mermaid_id(wf.start.state)}")
    for name, state in wf.states.items():
        for t in state.transitions:
            label = _mermaid_text(edge_label(state, t, lang))
            arrow = f"    {_mermaid_id(name)} --> {_mermaid_id(t.target)}"
            lines.append(f"{arrow} : {label}" if label else arrow)
    lines += [f"    {sid} --> [*]" for sid in ends]
    if services:
        lines.append("    classDef service font-style:italic,stroke-dasharray:4 2")
        lines.append(f"    class {','.join(services)} service")
    if ends:
        lines.append("    classDef closed stroke-width:3px")
        lines.append(f"    class {','.join(ends)} closed")
    return "\n".join(lines) + "\n"


# --- Graphviz DOT ------------------------------------------------------------------------


def _dot_text(text: str) -> str:
    return '"' + " ".join(text.split()).replace("\\", "\\\\").replace('"', '\\"') + '"'


_DOT_SHAPES = {
    "userTask": 'shape=box, style="rounded"',
    "serviceTask": 'shape=box, style="rounded,dashed"',
    "exclusiveGateway": "shape=diamond",
    "endEvent": 'shape=box, style="rounded,bold", peripheries=2',
}


def to_dot(wf: Workflow, lang: Lang = "zh") -> str:
    """A Graphviz ``digraph`` of ``wf`` (the same picture as :func:`to_mermaid`)."""
    lines = [
        f"digraph {_dot_text(wf.id)} {{",
        f"  label={_dot_text(_text(wf.label, lang, wf.id))};",
        "  labelloc=t;",
        "  rankdir=LR;",
        '  node [fontname="Noto Sans CJK SC"];',
        '  edge [fontname="Noto Sans CJK SC", fontsize=10];',
        '  "[start]" [shape=circle, style=filled, fillcolor=black, label="", width=0.2];',
        '  "[end]" [shape=doublecircle, style=filled, fillcolor=black, label="", width=0.15];',
    ]
    for name, state in wf.states.items():
        label = _text(state.label, lang, name)
        lines.append(f"  {_dot_text(name)} [{_DOT_SHAPES[state.type]}, label={_dot_text(label)}];")
    lines.append(f'  "[start]" -> {_dot_text(wf.start.state)};')
    for name, state in wf.states.items():
        for t in state.transitions:
            label = edge_label(state, t, lang)
            attrs = f" [label={_dot_text(label)}]" if label else ""
            if t.default and state.type != "userTask":
                attrs = attrs[:-1] + ", style=bold]" if attrs else " [style=bold]"
            lines.append(f"  {_dot_text(name)} -> {_dot_text(t.target)}{attrs};")
    for name, state in wf.states.items():
        if state.type == "endEvent":
            lines.append(f'  {_dot_text(name)} -> "[end]";')
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- explain: a plain-text table ---------------------------------------------------------

_HEADERS = (
    N_("state"),
    N_("type"),
    N_("label zh / en"),
    N_("requirements"),
    N_("trigger -> target"),
    N_("roles"),
    N_("guard"),
    N_("form fields"),
    N_("deadline"),
)
"""The columns of ``explain`` (msgids: in Chinese with ``--lang zh``, else English)."""


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def _pad(text: str, size: int) -> str:
    return text + " " * (size - width(text))


def _field_lines(name: str, spec: FieldSpec) -> list[str]:
    need = "required" if spec.required else "optional"
    lines = [f"{name} ({spec.type}, {need})"]
    if spec.choices:
        lines += ["  " + part for part in _wrap(spec.choices, 30, sep="|")]
    return lines


def step_text(step: DeadlineStep, *, markdown: bool = False) -> str:
    """One deadline step in words: ``at 50%: warn``, ``4 working hours before: notify ->
    ops_manager`` (``markdown``: ``50%: warn``, ``→`` and the fired trigger as code)."""
    if step.at is not None:
        when = step.at if markdown else f"at {step.at}"
    elif step.after is not None:
        when = f"after {step.after}"
    elif step.before is not None:
        when = f"{step.before} before"
    else:
        when = "?"
    what: str = step.action
    if step.to:
        what += f" {'→' if markdown else '->'} {step.to}"
    if step.trigger:
        what += f" (fires `{step.trigger}`)" if markdown else f" ({step.trigger})"
    return f"{when}: {what}"


def _deadline_lines(deadline: Deadline | None) -> list[str]:
    if deadline is None:
        return []
    lines = [deadline.span]
    lines += [step_text(s) for s in deadline.steps]
    if deadline.pause_in:
        lines.append("paused in " + ", ".join(deadline.pause_in))
    return lines


def _wrap(items: Sequence[str], limit: int = 24, sep: str = ", ") -> list[str]:
    """Join ``items`` with ``sep`` into lines no wider than ``limit`` (when possible)."""
    lines: list[str] = []
    for item in items:
        if lines and width(lines[-1]) + width(sep) + width(item) <= limit:
            lines[-1] += sep + item
        else:
            if lines:
                lines[-1] += sep.rstrip()
            lines.append(item)
    return lines


def _rows(wf: Workflow) -> list[list[list[str]]]:
    """One row per transition (or one per state without any); each cell a list of lines."""
    rows: list[list[list[str]]] = []
    for name, state in wf.states.items():
        head: list[list[str]] = [
            [name + (" (start)" if name == wf.start.state else "")],
            [state.type] + (["handler:", f"  {state.handler}"] if state.handler else []),
            [state.label.zh, state.label.en],
            _wrap(state.implements, 14),
        ]
        deadline = _deadline_lines(state.deadline)
        if not state.transitions:
            rows.append([*head, ["(end)" if state.type == "endEvent" else "(none)"], [], [], []])
            rows[-1].append(deadline)
            continue
        for i, t in enumerate(state.transitions):
            if state.type == "exclusiveGateway":
                trigger = "(route)"
                roles = ["(engine)"]
                guard = [t.guard] if t.guard else []
                if t.default:
                    guard.append("default")
            else:
                trigger = t.trigger or "?"
                roles = (
                    ["(engine)"] if state.type == "serviceTask" else _wrap(list(t.roles or []), 24)
                )
                guard = [t.guard] if t.guard else []
                if t.default:
                    guard.append("default")
            move = [f"{trigger} -> {t.target}"]
            if t.label is not None:
                move.append(f"  {t.label.zh} / {t.label.en}")
            if t.notify:
                move.append("  notify " + ", ".join(t.notify))
            form = [line for f, spec in t.form.items() for line in _field_lines(f, spec)]
            first = i == 0
            cells = head if first else [[], [], [], []]
            rows.append([*cells, move, roles, guard, form, deadline if first else []])
    return rows


def explain_table(wf: Workflow) -> str:
    """A readable plain-text table of ``wf``: who may do what in each state, and deadlines."""
    rows = _rows(wf)
    headers = [heading(h, both="en") for h in _HEADERS]
    sizes = [width(h) for h in headers]
    for row in rows:
        for col, cell in enumerate(row):
            for text in cell:
                sizes[col] = max(sizes[col], width(text))
    version = f" v{wf.version}" if wf.version is not None else ""
    out = [f"{wf.id}{version}: {wf.label.zh} / {wf.label.en}"]
    if wf.implements:
        out.append(pick(*tr("implements: {ids}", ids=", ".join(wf.implements)), both="en"))
    roles = "; ".join(f"{r} {lab.zh} / {lab.en}" for r, lab in wf.roles.items())
    out.append(pick(*tr("roles: {roles}", roles=roles), both="en"))
    started = tr(
        "start: {state}, started by {roles}",
        state=wf.start.state,
        roles=", ".join(wf.start.roles),
    )
    out.append(pick(*started, both="en"))
    for name, handler in wf.handlers.items():
        out.append(f"handler {name}: {handler.description.strip()}")
    out.append("")

    def join(cells: Sequence[str]) -> str:
        return "  ".join(_pad(c, sizes[i]) for i, c in enumerate(cells)).rstrip()

    rule = "  ".join("-" * s for s in sizes)
    out += [join(headers), rule]
    for index, row in enumerate(rows):
        if index and row[0]:
            out.append("")
        for k in range(max(len(cell) for cell in row)):
            out.append(join([cell[k] if k < len(cell) else "" for cell in row]))
    return "\n".join(out) + "\n"
