"""Live items follow their workflow: what changed between two versions, and moving items
from one stored version onto another (issue 16; ``docs/how-to-migrate.md``).

- :mod:`.plan` — the ``kind: migration`` file (pure: pydantic and the located reader);
- :mod:`.diff` — what changed between two versions, with the live items in each state;
- :mod:`.checks` — the policies' checks and proof against one version;
- :mod:`.judge` — judging a plan against the database (what refuses it, what it covers);
- :mod:`.run` — the dry run and the batched run.

Only the plan's module is pure: the language (``kind: migration`` in
:data:`cmc_workflow.language.KINDS`) imports it, so this ``__init__`` imports nothing and
the other modules load on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cmc_workflow._exports import lazy

if TYPE_CHECKING:  # for type checkers; loaded on first use below
    from cmc_workflow.migration.diff import Change as Change
    from cmc_workflow.migration.diff import VersionDiff as VersionDiff
    from cmc_workflow.migration.diff import diff_versions as diff_versions
    from cmc_workflow.migration.diff import diff_workflows as diff_workflows
    from cmc_workflow.migration.judge import Left as Left
    from cmc_workflow.migration.judge import Prepared as Prepared
    from cmc_workflow.migration.judge import prepare as prepare
    from cmc_workflow.migration.plan import MigrationPlan as MigrationPlan
    from cmc_workflow.migration.plan import load_plan as load_plan
    from cmc_workflow.migration.run import MigrationReport as MigrationReport
    from cmc_workflow.migration.run import Move as Move
    from cmc_workflow.migration.run import dry_run as dry_run
    from cmc_workflow.migration.run import migrate_engine as migrate_engine
    from cmc_workflow.migration.run import plan_for as plan_for

_HOMES = {
    "Change": "cmc_workflow.migration.diff",
    "VersionDiff": "cmc_workflow.migration.diff",
    "diff_versions": "cmc_workflow.migration.diff",
    "diff_workflows": "cmc_workflow.migration.diff",
    "MigrationPlan": "cmc_workflow.migration.plan",
    "load_plan": "cmc_workflow.migration.plan",
    "Left": "cmc_workflow.migration.judge",
    "prepare": "cmc_workflow.migration.judge",
    "MigrationReport": "cmc_workflow.migration.run",
    "Move": "cmc_workflow.migration.run",
    "Prepared": "cmc_workflow.migration.judge",
    "dry_run": "cmc_workflow.migration.run",
    "migrate_engine": "cmc_workflow.migration.run",
    "plan_for": "cmc_workflow.migration.run",
}

__getattr__ = lazy(globals(), _HOMES)

__all__: Sequence[str] = sorted(_HOMES)
