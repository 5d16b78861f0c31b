"""What the engine itself carries out: requirements that no YAML element can carry.

Auditing every command, chaining the audit log, masking personal data, committing every
accepted transition durably and reckoning working days on the official calendar happen
for every workflow, whatever its YAML says. This table names, per requirement, the
modules that carry it out, so the compliance matrix can count them as elements; a test
(``tests/unit/test_compliance.py``) checks that every module named here exists.

Keep it small and honest: a requirement belongs here only when code — not a workflow,
policy or schedule — is what carries it out.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from cmc_workflow.compliance.model import Citation, Issue


@dataclass(frozen=True, slots=True)
class Guarantee:
    """A requirement the engine carries out, the modules that do it, and how."""

    requirement: str
    modules: tuple[str, ...]
    how: str


ENGINE_GUARANTEES: tuple[Guarantee, ...] = (
    Guarantee(
        "CMT-2",
        ("cmc_workflow.calendar.official", "cmc_workflow.calendar.working", "cmc_workflow.clocks"),
        "working days follow the official mainland-China calendar (holidays and adjusted "
        "working days); SLA clocks warn before and record a breach",
    ),
    Guarantee(
        "CMT-7",
        ("cmc_workflow.reports", "cmc_workflow.store.reports", "cmc_workflow.cli.report"),
        "the history records who replied and when; `cmc-workflow report` gives the time "
        "from receipt to the first reply",
    ),
    Guarantee(
        "TRN-5",
        ("cmc_workflow.reports", "cmc_workflow.store.reports", "cmc_workflow.cli.report"),
        "`cmc-workflow report` gives the share of staff holding a valid certificate against "
        "the 50% floor; the staff are everybody holding a post in the staff register when "
        "it holds anybody (else the trainees of the training records)",
    ),
    Guarantee(
        "STF-1",
        ("cmc_workflow.staff.register", "cmc_workflow.store.staff", "cmc_workflow.cli.staff"),
        "the staff register keeps each person (contact addresses checked and masked), their "
        "posts (a role in a scope, with start and end days); `cmc-workflow staff` and the "
        "API change it, an HR roster (CSV, XLSX) imports all or nothing, every change is "
        "audited on the hash-chained log",
    ),
    Guarantee(
        "STF-2",
        ("cmc_workflow.staff.catalogue", "cmc_workflow.staff.register"),
        "putting someone on a post checks the qualification its level asks for "
        "(cmc_workflow/staff/posts.yaml: managers a bachelor's degree and 3 years, staff an "
        "associate degree and 1 year) and refuses, in both languages, when it is not met",
    ),
    Guarantee(
        "STF-5",
        ("cmc_workflow.engine.tasks", "cmc_workflow.staff.register", "cmc_workflow.cli.task"),
        "a leave is recorded with its dates and substitute (`cmc-workflow staff leave`); once "
        "it starts, and after a post's last day, the runner's pass moves the person's open "
        "tasks to the substitute when they hold the post, else to the holder with the least "
        "open work, each move a task event in the item's history and an audit record",
    ),
    Guarantee(
        "SEC-1",
        ("cmc_workflow.steps", "cmc_workflow.store.audit", "cmc_workflow.engine"),
        "every start and fire, allowed or refused, writes an audit record in the command's "
        "transaction: who, what, when, on which item, the outcome",
    ),
    Guarantee(
        "SEC-2",
        ("cmc_workflow.store.audit", "cmc_workflow.store.verification", "cmc_workflow.cli.audit"),
        "the audit log and each item's history are hash-chained, each chain's end anchored "
        "outside it; `cmc-workflow audit verify` names every edited, deleted and inserted "
        "row with its table; `cmc-workflow audit export` writes the log as JSON lines",
    ),
    Guarantee(
        "SEC-3",
        ("cmc_workflow.policy.masking", "cmc_workflow.definition.models"),
        "fields declared `personal: true` are masked in audit exports and in logs",
    ),
    Guarantee(
        "SEC-4",
        (
            "cmc_workflow.store.database",
            "cmc_workflow.store.repository",
            "cmc_workflow.backup",
            "cmc_workflow.cli.backup",
        ),
        "every accepted transition commits in one transaction with its history, timers, "
        "audit and outbox rows; SQLite runs with synchronous=FULL; `cmc-workflow backup` "
        "(or the daemon's --backup-dir) writes consistent copies with a manifest into a "
        "folder the administrator keeps off-site, `backup verify` restores one into a "
        "scratch database and checks its audit chains and counts, `restore` restores it",
    ),
    Guarantee(
        "SEC-6",
        ("cmc_workflow.staff.identity", "cmc_workflow.engine.context", "cmc_workflow.inputs"),
        "no caller may use the reserved id or role `system`; when the staff register holds "
        "anybody (or a host's identity source is configured), every command's actor is "
        "resolved from it and a claimed role or scope it does not give is refused and "
        "audited. With no source configured (`identity=None`, or an empty register) the "
        "host system carries identity: the engine takes the roles it is given",
    ),
    Guarantee(
        "RPT-1",
        ("cmc_workflow.reports", "cmc_workflow.store.reports", "cmc_workflow.cli.report"),
        "`cmc-workflow report` exports items per state, SLA met and breached per workflow "
        "and month, overdue work per person and publications per channel, as tables, CSV "
        "or JSON",
    ),
)
"""The engine's guarantees, in requirement order of the requirements file."""


def missing_modules(guarantees: tuple[Guarantee, ...] = ENGINE_GUARANTEES) -> list[str]:
    """The modules named by ``guarantees`` that cannot be found (none, when all is well)."""
    missing: list[str] = []
    for guarantee in guarantees:
        for module in guarantee.modules:
            if importlib.util.find_spec(module) is None and module not in missing:
                missing.append(module)
    return missing


def guarantee_citations(
    guarantees: tuple[Guarantee, ...] = ENGINE_GUARANTEES,
) -> tuple[list[Citation], list[Issue]]:
    """One citation per guarantee, and an issue per module that does not exist."""
    missing = set(missing_modules(guarantees))
    citations: list[Citation] = []
    issues: list[Issue] = []
    for guarantee in guarantees:
        for module in guarantee.modules:
            if module in missing:
                issues.append(
                    Issue(
                        f"engine guarantee of {guarantee.requirement} names {module}, "
                        "which does not exist"
                    )
                )
        name = f"{', '.join(guarantee.modules)}: {guarantee.how}"
        citations.append(Citation(guarantee.requirement, "engine", name, ""))
    return citations, issues
