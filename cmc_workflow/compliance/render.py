"""The compliance matrix as text: a terminal table, a Markdown page, a JSON document.

Every rendering is a pure function of a :class:`~cmc_workflow.compliance.matrix.Matrix`
and is stable: requirements in the file's order, citations in collection order, no
timestamps, no line numbers of definition files (JSON gives test lines), relative paths.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cmc_workflow.compliance.markers import Proof
from cmc_workflow.compliance.matrix import Matrix, Row
from cmc_workflow.compliance.model import SOURCES, Citation, Source
from cmc_workflow.diagram import width

MARKDOWN_COMMAND = "cmc-workflow compliance --format markdown --output docs/compliance.md"
"""The command that regenerates ``docs/compliance.md``."""

_COLUMNS: dict[Source, str] = {
    "element": "elements",
    "policy": "policies",
    "schedule": "schedules",
    "engine": "engine",
    "test": "tests",
}

STATUSES: tuple[str, ...] = (
    "enforced",
    "host",
    "reported",
    "recorded",
    "partial",
    "unproven",
    "cited",
    "none",
)
"""Every status, in the order the summary counts them."""

LEVEL_NOTE = (
    "Each id has the level the requirements file gives it: a **must** unless its title is "
    "marked `(should)` or `(may)` (or its text says `Level: should` / `Level: may`). An id "
    "that mixes levels in its text counts as a must; its should part is shown apart."
)

_COLUMN_MEANINGS: tuple[tuple[str, str], ...] = (
    ("level", "must (应/不得), should (宜) or may (可), from the requirements file"),
    (
        "kind",
        "how the project declares the id carried out (`cmc_workflow/compliance/kinds.py`): "
        "**enforced** (a state, transition, guard, policy rule, clock or schedule refuses "
        "the violation or forces the step), **recorded** (a form or record holds it; "
        "nothing refuses a violation), **reported** (a figure of `cmc-workflow report`), "
        "**host** (the embedding system must do it; the docs say what); `-`: none declared",
    ),
    (
        "status",
        "the kind once checked: **enforced** only when a test marked "
        '`@pytest.mark.enforces("ID", element="file#yaml.path")` proves it (the knockout '
        "check, `cmc-workflow compliance --knockout`, runs that test without its element: "
        "it must fail, and pass with it); **host** only when its docs anchor exists; "
        "**partial**: a part of the clause is carried out by nothing yet; **unproven**: "
        "declared enforced with no proof, or host with no docs; **cited**: elements or "
        "tests name the id, but no kind is declared; **none**: nothing names it",
    ),
    (
        "proofs",
        "tests marked `enforces` for the id (after a knockout run: how many failed without "
        "their element / how many there are)",
    ),
    (
        "elements",
        "`implements:` citations in workflows, policies, schedules and the engine's guarantees",
    ),
    ("tests", 'tests marked `@pytest.mark.req("ID")` (or `enforces`)'),
)

COLUMNS_NOTE = "\n".join(
    [
        "| column | meaning |",
        "|---|---|",
        *(f"| {name} | {meaning} |" for name, meaning in _COLUMN_MEANINGS),
        "",
        "A **must** is met when its status is enforced or host; reported meets a must only "
        "when the clause itself asks for the figure (the declaration quotes the clause's "
        'words, shown as *asks*, e.g. CMT-7 "time-to-first-reply is reported"). A **should** '
        "or **may** is met by any status but unproven, cited and none. Anything else is a "
        "gap; the command exits non-zero while a must is a gap or something is broken.",
    ]
)


def _proofs_cell(row: Row) -> str:
    if not row.proofs:
        return "0"
    if not row.knocked_out:
        return str(len(row.proofs))
    return f"{len(row.proven)}/{len(row.proofs)}"


def _missing(row: Row) -> str:
    """What a gap lacks, in words."""
    status = row.status
    if status == "none":
        return "nothing carries it out and no test names it"
    if status == "cited":
        return "cited by elements or tests, but no enforcement kind is declared"
    if status == "unproven" and row.kind == "enforced":
        if row.knocked_out:
            return "declared enforced, but no marked test failed without its element"
        return 'declared enforced, but no test is marked enforces("ID", element=...)'
    if status == "unproven":
        return "a host duty whose docs anchor does not exist"
    if status == "partial" and row.carried is not None:
        return f"missing: {row.carried.missing}"
    if status == "recorded":
        return "only recorded: a form or record holds it, nothing refuses a violation"
    if status == "reported":
        return "only reported: the clause asks for more than a figure, nothing refuses"
    return status


def counts_text(matrix: Matrix) -> str:
    """Per level, how many ids have each status: ``must: 30 enforced, 5 recorded``."""
    parts = []
    for level, counts in matrix.counts().items():
        listed = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts.get(s))
        parts.append(f"{level}: {listed}")
    return "; ".join(parts)


def summary(matrix: Matrix) -> str:
    """One sentence: how many requirements, met, gaps, problems."""
    total = len(matrix.rows)
    met = total - len(matrix.gaps)
    text = (
        f"{total} requirements: {met} met, {len(matrix.gaps)} "
        f"{'gap' if len(matrix.gaps) == 1 else 'gaps'} ({len(matrix.must_gaps)} must)"
    )
    issues = len(matrix.issues)
    text += f", {issues} {'problem' if issues == 1 else 'problems'}"
    knocked = "knockout run" if matrix.knockout else "knockout not run"
    return f"{text} ({knocked}). {counts_text(matrix)}."


# -- table ---------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    sizes = [width(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            sizes[i] = max(sizes[i], width(cell))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c + " " * (sizes[i] - width(c)) for i, c in enumerate(cells)).rstrip()

    return [line(headers), "  ".join("-" * s for s in sizes), *(line(r) for r in rows)]


def render_table(matrix: Matrix) -> str:
    """One line per requirement: level, kind, status, proofs, elements, tests; then the
    gaps and the problems."""
    headers = ["id", "level", "kind", "status", "proofs", "elements", "tests", "title"]
    rows = [
        [
            row.requirement.id,
            row.requirement.level,
            row.kind,
            row.status,
            _proofs_cell(row),
            str(sum(len(row.by(s)) for s in SOURCES if s != "test")),
            str(len(row.by("test"))),
            row.requirement.title,
        ]
        for row in matrix.rows
    ]
    out = [f"requirements: {matrix.requirements_file}", "", *_table(headers, rows), ""]
    if matrix.gaps:
        out.append("gaps:")
        out += [
            f"  {row.requirement.id} ({row.requirement.level}) {row.requirement.title}: "
            f"{_missing(row)}"
            for row in matrix.gaps
        ]
        out.append("")
    if matrix.issues:
        out.append("problems:")
        out += [f"  {issue}" for issue in matrix.issues]
        out.append("")
    out.append(summary(matrix))
    return "\n".join(out) + "\n"


# -- Markdown ------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _anchor(requirement_id: str) -> str:
    return requirement_id.lower()


def _citation_line(citation: Citation) -> str:
    if citation.source == "test":
        return f"- `{citation.name}`"
    if citation.source == "engine":
        modules, _, how = citation.name.partition(": ")
        names = ", ".join(f"`{m}`" for m in modules.split(", "))
        return f"- {names}: {how}"
    return f"- `{citation.name}` ({citation.file})"


def _proof_line(row: Row, proof: Proof) -> str:
    outcome = ""
    for result in row.results:
        if result.proof == proof:
            outcome = f" — knockout: {result.outcome}"
    return f"- `{proof.node_id}` without `{proof.element}`{outcome}"


def render_markdown(matrix: Matrix, command: str = MARKDOWN_COMMAND) -> str:
    """The matrix as a Markdown page (``docs/compliance.md``), naming ``command`` as the
    way to regenerate it."""
    out = [
        f"<!-- Generated by `{command}`. Do not edit by hand: change the definitions, tests, "
        "cmc_workflow/compliance/kinds.py or the requirements and run the command again. -->",
        "",
        "# Compliance matrix",
        "",
        f"Every requirement id of `{matrix.requirements_file}`, how it is carried out, and "
        "the proof. " + LEVEL_NOTE,
        "",
        COLUMNS_NOTE,
        "",
        f"Regenerate with `{command}` (it exits non-zero while a must is a gap, which is "
        "expected while ids have no element yet); `cmc-workflow compliance --knockout` "
        "also runs every marked test without its element (a few seconds each).",
        "",
        f"**{summary(matrix)}**",
        "",
        "## Counts per level and status",
        "",
        "| level | " + " | ".join(STATUSES) + " | total |",
        "|---|" + "---:|" * (len(STATUSES) + 1),
    ]
    for level, counts in matrix.counts().items():
        cells = " | ".join(str(counts.get(s, 0)) for s in STATUSES)
        out.append(f"| {level} | {cells} | {sum(counts.values())} |")
    out += [
        "",
        "## Matrix",
        "",
        "| id | requirement | level | kind | status | proofs | elements | tests |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    for row in matrix.rows:
        req = row.requirement
        elements = sum(len(row.by(s)) for s in SOURCES if s != "test")
        out.append(
            f"| [{req.id}](#{_anchor(req.id)}) | {_cell(req.title)} | {req.level} | "
            f"{row.kind} | {row.status} | {_proofs_cell(row)} | {elements} | "
            f"{len(row.by('test'))} |"
        )
    out.append("")
    out += ["## Gaps", ""]
    if matrix.gaps:
        out += [
            f"- [{row.requirement.id}](#{_anchor(row.requirement.id)}) "
            f"({row.requirement.level}) {row.requirement.title}: {_cell(_missing(row))}"
            for row in matrix.gaps
        ]
    else:
        out.append("None: every requirement is carried out at its level.")
    out.append("")
    if matrix.issues:
        out += ["## Problems", ""]
        out += [f"- {_cell(str(issue))}" for issue in matrix.issues]
        out.append("")
    out += ["## Requirements", ""]
    section = None
    for row in matrix.rows:
        req = row.requirement
        if req.section != section:
            section = req.section
            out += [f"### {section}", ""]
        out += [
            f'<a id="{_anchor(req.id)}"></a>',
            "",
            f"#### {req.id} {req.title}",
            "",
            f"> {req.text}",
            "",
            f"Level: {req.level}. Kind: {row.kind}. Status: {row.status}.",
            "",
        ]
        carried = row.carried
        if carried is not None:
            out += [f"How: {carried.how}.", ""]
            if carried.elements:
                out += ["Held by: " + ", ".join(f"`{e}`" for e in carried.elements) + ".", ""]
            if carried.sections:
                sections = ", ".join(f"`{s}`" for s in carried.sections)
                out += [f"Computed by `cmc-workflow report`: {sections}.", ""]
            if carried.asks_report:
                out += [f"The clause asks for the report: *{carried.asks_report}*.", ""]
            if carried.duty:
                page = carried.docs.removeprefix("docs/")  # the page is written into docs/
                out += [f"Host duty: {carried.duty} ([{carried.docs}]({page})).", ""]
            if carried.missing:
                out += [f"**Missing:** {carried.missing}.", ""]
            if carried.should_missing:
                out += [f"Should part not carried out: {carried.should_missing}.", ""]
        if row.proofs:
            out += ["Proven by (fails without the element):", ""]
            out += [_proof_line(row, p) for p in row.proofs]
            out.append("")
        cited = [c for c in row.citations if c.source != "test"]
        if cited:
            out += ["Cited by:", ""]
            out += [_citation_line(c) for c in cited]
            out.append("")
        tests = row.by("test")
        if tests:
            out += ["Tested by:", ""]
            out += [_citation_line(c) for c in tests]
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


# -- JSON ----------------------------------------------------------------------------------


def _citation_json(citation: Citation) -> dict[str, Any]:
    out: dict[str, Any] = {"name": citation.name, "file": citation.file}
    if citation.line is not None:
        out["line"] = citation.line
    if citation.workflow is not None:
        out["workflow"] = citation.workflow
    return out


def matrix_json(matrix: Matrix) -> dict[str, Any]:
    """The matrix as plain JSON values."""
    requirements = []
    for row in matrix.rows:
        carried = row.carried
        outcomes = {(r.proof.element, r.proof.node_id): r for r in row.results}
        requirements.append(
            {
                "id": row.requirement.id,
                "title": row.requirement.title,
                "section": row.requirement.section,
                "level": row.requirement.level,
                "kind": carried.kind if carried is not None else None,
                "status": row.status,
                "met": row.met,
                "text": row.requirement.text,
                "how": carried.how if carried is not None else None,
                "held_by": list(carried.elements) if carried is not None else [],
                "report_sections": list(carried.sections) if carried is not None else [],
                "clause_asks_report": (
                    carried.asks_report or None if carried is not None else None
                ),
                "host_duty": carried.duty or None if carried is not None else None,
                "host_docs": carried.docs or None if carried is not None else None,
                "missing": carried.missing or None if carried is not None else None,
                "should_missing": carried.should_missing or None if carried is not None else None,
                "proofs": [
                    {
                        "test": p.node_id,
                        "line": p.line,
                        "element": p.element,
                        "knockout": (
                            outcomes[(p.element, p.node_id)].outcome
                            if (p.element, p.node_id) in outcomes
                            else None
                        ),
                    }
                    for p in row.proofs
                ],
                "counts": {_COLUMNS[s]: len(row.by(s)) for s in SOURCES},
                "citations": {_COLUMNS[s]: [_citation_json(c) for c in row.by(s)] for s in SOURCES},
            }
        )
    return {
        "requirements_file": matrix.requirements_file,
        "ok": matrix.ok,
        "knockout": matrix.knockout,
        "summary": {
            "requirements": len(matrix.rows),
            "met": len(matrix.rows) - len(matrix.gaps),
            "gaps": len(matrix.gaps),
            "must_gaps": len(matrix.must_gaps),
            "problems": len(matrix.issues),
            "by_level": matrix.counts(),
        },
        "requirements": requirements,
        "gaps": [row.requirement.id for row in matrix.gaps],
        "problems": [
            {"message": issue.message, "file": issue.file, "line": issue.line}
            for issue in matrix.issues
        ],
    }


def render_json(matrix: Matrix) -> str:
    """:func:`matrix_json` as indented UTF-8 JSON, ending with a newline."""
    return json.dumps(matrix_json(matrix), ensure_ascii=False, indent=2) + "\n"
