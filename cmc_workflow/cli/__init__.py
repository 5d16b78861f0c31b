"""The ``cmc-workflow`` command line: one click group, one module per group of commands.

Environment variables are read here (and only here, never by the library), all under
the ``CMC_`` prefix: ``CMC_DB`` (database URL), ``CMC_WORKFLOWS``, ``CMC_POLICIES``, ...
Shared options live in :mod:`.options`, the exit statuses in :mod:`.exits`, what is
printed in :mod:`.output`. Logging is configured once, here, for every command.
"""

from __future__ import annotations

# first of all: importing `_signals` arms SIGTERM/SIGINT when this process is
# `cmc-workflow run`, so that a signal during the imports below stops it cleanly
from cmc_workflow import _signals as _signals

# isort: split

import click

from cmc_workflow.cli import audit, batch, calendar, db, definitions, items, policy, run, time
from cmc_workflow.cli import compliance as compliance_cli
from cmc_workflow.cli import report as report_cli
from cmc_workflow.cli.options import log_level_option, refuse_undecodable, threshold
from cmc_workflow.log import configure_logging


class _Main(click.Group):
    """The top group: refuses arguments that are not UTF-8 before any command runs."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        refuse_undecodable(args)
        return super().parse_args(ctx, args)


@click.group(
    cls=_Main,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "CMC"},
)
@click.version_option(package_name="cmc-workflow")
@log_level_option()
@click.option(
    "--log-format",
    type=click.Choice(["json", "text"]),
    default="json",
    show_default=True,
    envvar="CMC_LOG_FORMAT",
    help="Log lines on stderr as JSON, or as readable text.",
)
@click.pass_context
def main(ctx: click.Context, log_format: str) -> None:
    """Run and administer cmc-workflow: YAML workflows for cultural-media centers."""
    # the one logging configuration; a command's --log-level moves its threshold
    configure_logging(json=log_format == "json", threshold=threshold(ctx))


for _command in [
    *definitions.COMMANDS,
    *items.COMMANDS,
    *batch.COMMANDS,
    db.db_group,
    *run.COMMANDS,
    *time.COMMANDS,
    *calendar.COMMANDS,
    *policy.COMMANDS,
    *audit.COMMANDS,
    *compliance_cli.COMMANDS,
    *report_cli.COMMANDS,
]:
    main.add_command(_command)
