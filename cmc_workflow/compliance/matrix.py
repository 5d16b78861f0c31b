"""The compliance matrix: every requirement against what carries it out and what tests it.

A requirement is **covered** when at least one element carries it out — a workflow
element, a policy, a schedule or an engine guarantee — and at least one test exercises
it. Otherwise it is a gap: ``no test``, ``no element`` or ``uncovered`` (neither). The
matrix is :attr:`Matrix.ok` when no ``must`` requirement is a gap and no citation is
broken (an unknown id, a marker that cannot be read, a guarantee naming no module).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cmc_workflow.compliance.citations import definition_citations
from cmc_workflow.compliance.guarantees import ENGINE_GUARANTEES, Guarantee, guarantee_citations
from cmc_workflow.compliance.markers import marker_citations, scan_tests
from cmc_workflow.compliance.model import DEFINITION_SOURCES, Citation, Issue, Source
from cmc_workflow.compliance.requirements import Requirement
from cmc_workflow.definition.loader import LoadedSet

Status = Literal["covered", "no test", "no element", "uncovered"]


@dataclass(frozen=True, slots=True)
class Row:
    """One requirement and every citation of it."""

    requirement: Requirement
    citations: tuple[Citation, ...]

    def by(self, source: Source) -> list[Citation]:
        """The citations from one source, in collection order."""
        return [c for c in self.citations if c.source == source]

    @property
    def carried_out(self) -> bool:
        """Whether any element, policy, schedule or engine guarantee cites it."""
        return any(c.source in DEFINITION_SOURCES for c in self.citations)

    @property
    def tested(self) -> bool:
        """Whether any test's marker names it."""
        return any(c.source == "test" for c in self.citations)

    @property
    def status(self) -> Status:
        if self.carried_out and self.tested:
            return "covered"
        if self.carried_out:
            return "no test"
        if self.tested:
            return "no element"
        return "uncovered"


@dataclass(frozen=True, slots=True)
class Matrix:
    """Every requirement in the file's order, with its citations, and the issues found."""

    requirements_file: str
    rows: tuple[Row, ...]
    issues: tuple[Issue, ...] = ()

    @property
    def gaps(self) -> list[Row]:
        """Requirements not covered, whatever their level."""
        return [row for row in self.rows if row.status != "covered"]

    @property
    def must_gaps(self) -> list[Row]:
        """``must`` requirements not covered: each one fails the matrix."""
        return [row for row in self.gaps if row.requirement.level == "must"]

    @property
    def ok(self) -> bool:
        """No ``must`` requirement uncovered and no broken citation."""
        return not self.must_gaps and not self.issues

    def row(self, requirement_id: str) -> Row:
        """The row of one requirement id (``KeyError`` when the list has no such id)."""
        for row in self.rows:
            if row.requirement.id == requirement_id:
                return row
        raise KeyError(requirement_id)


def build_matrix(
    requirements: Sequence[Requirement],
    citations: Iterable[Citation],
    issues: Iterable[Issue] = (),
    requirements_file: str = "",
) -> Matrix:
    """Put ``citations`` against ``requirements``; a citation of an id the list does not
    have becomes an issue."""
    known = {r.id: r for r in requirements}
    by_id: dict[str, list[Citation]] = {r.id: [] for r in requirements}
    found = list(issues)
    for citation in citations:
        if citation.requirement in by_id:
            by_id[citation.requirement].append(citation)
        else:
            found.append(
                Issue(
                    f"{citation.name} cites {citation.requirement!r}, which is not a "
                    f"requirement id of {requirements_file or 'the requirements'}",
                    citation.file,
                    citation.line,
                )
            )
    rows = tuple(Row(known[i], tuple(cs)) for i, cs in by_id.items())
    return Matrix(requirements_file, rows, tuple(found))


def compliance_matrix(
    requirements: Sequence[Requirement],
    definitions: LoadedSet,
    tests: Path | None,
    *,
    requirements_file: str = "",
    base: Path | None = None,
    guarantees: tuple[Guarantee, ...] = ENGINE_GUARANTEES,
) -> Matrix:
    """The matrix of loaded definitions, the engine's guarantees and the tests under
    ``tests`` (none when ``None``); files are shown relative to ``base``.

    The guarantees are written for the bundled requirements: against another list, those
    naming an id it does not have are left out rather than reported."""
    known = {r.id for r in requirements}
    citations = definition_citations(definitions, base)
    engine, issues = guarantee_citations(guarantees)
    citations += [c for c in engine if c.requirement in known]
    if tests is not None:
        marked, problems = scan_tests(tests, base)
        citations += marker_citations(marked)
        issues += problems
    return build_matrix(requirements, citations, issues, requirements_file)
