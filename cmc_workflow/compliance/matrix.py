"""The compliance matrix: every requirement, how it is carried out, and the proof.

Per id: its level (from the requirements file), its declared enforcement kind
(:mod:`cmc_workflow.compliance.kinds`), the elements citing it (``implements:`` of
workflows, policies, schedules; the engine's guarantees), the tests marked with it, and
the tests that prove it (``pytest.mark.enforces``) with, when the knockout check ran,
what it showed (:mod:`cmc_workflow.compliance.knockout`).

The status of an id (:attr:`Row.status`) is its kind once checked: ``enforced`` (declared
and proven by a marked test — every knockout run passed intact and failed without its
element; an engine module counts as shown), ``host`` (declared, its docs anchor
found), ``reported``, ``recorded``; ``partial`` when a part of a must is missing;
``unproven`` (declared enforced with no proof, or host with no docs); ``cited`` (not
declared, but elements or tests cite it); ``none``.

A *must* is met when its status is ``enforced`` or ``host``; ``reported`` meets it only when
the clause itself asks for the figure and the declaration quotes those words
(:attr:`~cmc_workflow.compliance.kinds.Carried.asks_report`, checked against the clause's
text: CMT-7 "time-to-first-reply is reported", TRN-5, RPT-1); no blanket pass. A *should*
or *may* is met by any status but ``unproven``, ``cited`` and ``none``. The matrix
is :attr:`Matrix.ok` when every must is met and no citation, element or proof is broken.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cmc_workflow.compliance import kinds
from cmc_workflow.compliance.citations import definition_citations
from cmc_workflow.compliance.elements import ElementError, exists, parse_element
from cmc_workflow.compliance.guarantees import ENGINE_GUARANTEES, Guarantee, guarantee_citations
from cmc_workflow.compliance.kinds import Carried
from cmc_workflow.compliance.knockout import CODE_PREFIX, Result
from cmc_workflow.compliance.markers import Proof, marked_proofs, marker_citations, scan_tests
from cmc_workflow.compliance.model import DEFINITION_SOURCES, Citation, Issue, Source
from cmc_workflow.compliance.requirements import Requirement
from cmc_workflow.definition.loader import LoadedSet
from cmc_workflow.reports.model import SECTIONS

Status = Literal["enforced", "host", "reported", "recorded", "partial", "unproven", "cited", "none"]

MET_MUST: frozenset[str] = frozenset({"enforced", "host"})
"""The statuses that meet a must whatever the clause says (``reported`` meets one only
when the clause asks for the report: :attr:`Row.reported_as_asked`)."""
UNMET: frozenset[str] = frozenset({"unproven", "cited", "none"})


@dataclass(frozen=True, slots=True)
class Row:
    """One requirement, how it is declared carried out, its citations and its proofs."""

    requirement: Requirement
    citations: tuple[Citation, ...]
    carried: Carried | None = None
    proofs: tuple[Proof, ...] = ()
    results: tuple[Result, ...] = ()
    """The knockout results of the proofs (empty when the check did not run)."""
    host_documented: bool = False

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
    def kind(self) -> str:
        """The declared kind, or ``-`` when none is declared."""
        return self.carried.kind if self.carried is not None else "-"

    @property
    def knocked_out(self) -> bool:
        """Whether the knockout check ran for this id's proofs."""
        return bool(self.results)

    @property
    def proven(self) -> list[Proof]:
        """The proofs that hold: all of them before the knockout check runs (claimed);
        after it, those that failed without their element, and engine modules."""
        if not self.results:
            return list(self.proofs)
        return [r.proof for r in self.results if r.outcome in ("proven", "code")]

    @property
    def status(self) -> Status:
        carried = self.carried
        if carried is None:
            return "cited" if self.citations else "none"
        if carried.kind == "enforced" and not self.proven:
            return "unproven"
        if carried.kind == "host" and not self.host_documented:
            return "unproven"
        if carried.missing:
            return "partial"
        return carried.kind

    @property
    def reported_as_asked(self) -> bool:
        """Whether the id is reported and its clause asks for exactly that (the
        declaration quotes the clause's words)."""
        return self.status == "reported" and bool(self.carried and self.carried.asks_report)

    @property
    def met(self) -> bool:
        """Whether the id is carried out at its level (see the module's docstring)."""
        if self.requirement.level == "must":
            return self.status in MET_MUST or self.reported_as_asked
        return self.status not in UNMET


@dataclass(frozen=True, slots=True)
class Matrix:
    """Every requirement in the file's order, with its citations, and the issues found."""

    requirements_file: str
    rows: tuple[Row, ...]
    issues: tuple[Issue, ...] = ()
    knockout: bool = field(default=False)
    """Whether the knockout check ran."""

    @property
    def gaps(self) -> list[Row]:
        """Requirements not carried out at their level."""
        return [row for row in self.rows if not row.met]

    @property
    def must_gaps(self) -> list[Row]:
        """``must`` requirements not carried out: each one fails the matrix."""
        return [row for row in self.gaps if row.requirement.level == "must"]

    @property
    def ok(self) -> bool:
        """Every must carried out and nothing broken."""
        return not self.must_gaps and not self.issues

    def row(self, requirement_id: str) -> Row:
        """The row of one requirement id (``KeyError`` when the list has no such id)."""
        for row in self.rows:
            if row.requirement.id == requirement_id:
                return row
        raise KeyError(requirement_id)

    def counts(self) -> dict[str, dict[str, int]]:
        """How many ids of each level have each status (levels and statuses in order)."""
        out: dict[str, dict[str, int]] = {}
        for row in self.rows:
            level = out.setdefault(row.requirement.level, {})
            level[row.status] = level.get(row.status, 0) + 1
        return out


def build_matrix(
    requirements: Sequence[Requirement],
    citations: Iterable[Citation],
    issues: Iterable[Issue] = (),
    requirements_file: str = "",
    *,
    carried: Iterable[Carried] = (),
    proofs: Iterable[Proof] = (),
    results: Iterable[Result] | None = None,
    documented: Iterable[str] = (),
) -> Matrix:
    """Put ``citations``, the declared kinds (``carried``), the ``proofs`` and their
    knockout ``results`` (None: the check did not run) against ``requirements``;
    ``documented`` are the host ids whose docs anchor was found. A citation or proof of an
    id the list does not have becomes an issue."""
    known = {r.id: r for r in requirements}
    by_id: dict[str, list[Citation]] = {r.id: [] for r in requirements}
    found = list(issues)
    where = requirements_file or "the requirements"
    for citation in citations:
        if citation.requirement in by_id:
            by_id[citation.requirement].append(citation)
        else:
            found.append(
                Issue(
                    f"{citation.name} cites {citation.requirement!r}, which is not a "
                    f"requirement id of {where}",
                    citation.file,
                    citation.line,
                )
            )
    declared: dict[str, Carried] = {}
    for entry in carried:
        if entry.requirement in known:
            declared[entry.requirement] = entry
    proofs_of: dict[str, list[Proof]] = {}
    for proof in proofs:
        proofs_of.setdefault(proof.requirement, []).append(proof)
    results_of: dict[str, list[Result]] = {}
    for result in results or ():
        results_of.setdefault(result.proof.requirement, []).append(result)
    hosts = set(documented)
    rows = tuple(
        Row(
            known[i],
            tuple(cs),
            declared.get(i),
            tuple(proofs_of.get(i, ())),
            tuple(results_of.get(i, ())),
            i in hosts,
        )
        for i, cs in by_id.items()
    )
    return Matrix(requirements_file, rows, tuple(found), results is not None)


def check_declarations(
    requirements: Sequence[Requirement],
    carried: Iterable[Carried],
    proofs: Iterable[Proof],
    root: Path,
) -> tuple[list[str], list[Issue]]:
    """The host ids whose docs anchor exists under ``root``, and the issues of the
    declarations and proofs: an unknown id, an element, section or docs anchor that does
    not exist, an element that cannot be read."""
    known = {r.id for r in requirements}
    texts = {r.id: " ".join(r.text.split()) for r in requirements}
    documented: list[str] = []
    issues: list[Issue] = []
    where = "cmc_workflow/compliance/kinds.py"
    for entry in carried:
        if entry.requirement not in known:
            issues.append(
                Issue(f"{entry.requirement} is declared but is not a requirement id", where)
            )
            continue
        for text in entry.elements:
            problem = _element_problem(text, root)
            if problem:
                issues.append(Issue(f"{entry.requirement}: {problem}", where))
        if entry.asks_report and entry.kind != "reported":
            issues.append(
                Issue(f"{entry.requirement}: asks_report on a {entry.kind} declaration", where)
            )
        elif entry.asks_report and " ".join(entry.asks_report.split()) not in texts.get(
            entry.requirement, ""
        ):
            issues.append(
                Issue(
                    f"{entry.requirement}: the clause does not say {entry.asks_report!r}; "
                    "asks_report quotes the clause's own words asking for the report",
                    where,
                )
            )
        for section in entry.sections:
            if section not in SECTIONS:
                issues.append(
                    Issue(f"{entry.requirement}: the report has no section {section!r}", where)
                )
        if entry.kind == "host":
            if anchor_exists(root, entry.docs):
                documented.append(entry.requirement)
            else:
                issues.append(
                    Issue(
                        f"{entry.requirement}: host duty documented at {entry.docs!r}, "
                        "which does not exist",
                        where,
                    )
                )
    for proof in proofs:
        if proof.requirement not in known:
            issues.append(
                Issue(
                    f"enforces({proof.requirement!r}): not a requirement id", proof.file, proof.line
                )
            )
        problem = _element_problem(proof.element, root, code=True)
        if problem:
            issues.append(
                Issue(f"enforces({proof.requirement!r}): {problem}", proof.file, proof.line)
            )
    return documented, issues


def _element_problem(text: str, root: Path, *, code: bool = False) -> str:
    if code and text.startswith(CODE_PREFIX) and text.endswith(".py"):
        return "" if (root / text).is_file() else f"no module {text}"
    try:
        element = parse_element(text)
    except ElementError as exc:
        return str(exc)
    return "" if exists(root, element) else f"element {text} is not in its file"


def anchor_exists(root: Path, docs: str) -> bool:
    """Whether ``page.md#anchor`` names a heading (GitHub's slug) or an ``id=`` of the page."""
    page, _, anchor = docs.partition("#")
    path = root / page
    if not page.endswith(".md") or not anchor or not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    if f'id="{anchor}"' in text:
        return True
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip().lower()
            slug = "".join(c for c in heading if c.isalnum() or c in " -_").replace(" ", "-")
            if slug == anchor:
                return True
    return False


def compliance_matrix(
    requirements: Sequence[Requirement],
    definitions: LoadedSet,
    tests: Path | None,
    *,
    requirements_file: str = "",
    base: Path | None = None,
    guarantees: tuple[Guarantee, ...] = ENGINE_GUARANTEES,
    carried: Sequence[Carried] | None = None,
    results: Sequence[Result] | None = None,
    root: Path | None = None,
) -> Matrix:
    """The matrix of loaded definitions, the engine's guarantees, the declared kinds and
    the tests under ``tests`` (none when ``None``); files are shown relative to ``base``,
    elements and docs are looked up under ``root`` (default ``base``, else the current
    folder). ``results`` are the knockout check's, if it ran.

    The guarantees and declarations are written for the bundled requirements: against
    another list, those naming an id it does not have are left out rather than reported."""
    known = {r.id for r in requirements}
    folder = root or base or Path.cwd()
    citations = definition_citations(definitions, base)
    engine, issues = guarantee_citations(guarantees)
    citations += [c for c in engine if c.requirement in known]
    proofs: list[Proof] = []
    if tests is not None:
        marked, problems = scan_tests(tests, base)
        citations += marker_citations(marked)
        issues += problems
        proofs = marked_proofs(marked)
    declared = [
        c for c in (kinds.CARRIED if carried is None else carried) if c.requirement in known
    ]
    documented, problems = check_declarations(requirements, declared, proofs, folder)
    issues += problems
    return build_matrix(
        requirements,
        citations,
        issues,
        requirements_file,
        carried=declared,
        proofs=proofs,
        results=results,
        documented=documented,
    )


def proofs_under(tests: Path, base: Path | None = None) -> list[Proof]:
    """The proofs the tests under ``tests`` claim (for the knockout check)."""
    marked, _ = scan_tests(tests, base)
    return marked_proofs(marked)


def result_map(results: Iterable[Result]) -> Mapping[tuple[str, str, str], Result]:
    """Results by (requirement, element, test)."""
    return {(r.proof.requirement, r.proof.element, r.proof.node_id): r for r in results}
