"""The ``cmc-workflow`` command line: one click group, one module per group of commands.

Environment variables are read here (and only here, never by the library), all under
the ``CMC_`` prefix: ``CMC_DB`` (database URL), ``CMC_WORKFLOWS``, ``CMC_POLICIES``.
"""

from __future__ import annotations

import click

from cmc_workflow.cli import compliance as compliance_cli
from cmc_workflow.cli import db, definitions, items, policy, time
from cmc_workflow.cli import report as report_cli


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "CMC"})
@click.version_option(package_name="cmc-workflow")
def main() -> None:
    """Run and administer cmc-workflow: YAML workflows for cultural-media centers."""


for _command in [
    *definitions.COMMANDS,
    *items.COMMANDS,
    db.db_group,
    *time.COMMANDS,
    *policy.COMMANDS,
    *compliance_cli.COMMANDS,
    *report_cli.COMMANDS,
]:
    main.add_command(_command)
