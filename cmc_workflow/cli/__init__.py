"""The ``cmc-workflow`` command line: one click group, one module per group of commands.

Environment variables are read here (and only here, never by the library), all under
the ``CMC_`` prefix: ``CMC_DB`` (database URL), ``CMC_WORKFLOWS``, ``CMC_POLICIES``.
"""

from __future__ import annotations

# first of all: importing `_signals` arms SIGTERM/SIGINT when this process is
# `cmc-workflow run`, so that a signal during the imports below stops it cleanly
from cmc_workflow import _signals as _signals

# isort: split

import click

from cmc_workflow.cli import compliance as compliance_cli
from cmc_workflow.cli import db, definitions, items, policy, time
from cmc_workflow.cli import report as report_cli


class _Main(click.Group):
    """The top group: refuses arguments that are not UTF-8 before any command runs."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        items.refuse_undecodable(args)
        return super().parse_args(ctx, args)


@click.group(
    cls=_Main,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "CMC"},
)
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
