"""The ``cmc-workflow`` command line: one click group, one module per group of commands.

Environment variables are read here (and only here, never by the library), all under
the ``CMC_`` prefix: ``CMC_DB`` (database URL), ``CMC_WORKFLOWS``, ``CMC_POLICIES``, ...
Shared options live in :mod:`.options`, the exit statuses in :mod:`.exits`, what is
printed in :mod:`.output`. Logging is configured once, here, for every command.

A command's module is imported when that command runs (:data:`COMMANDS` names it), so
that ``cmc-workflow validate`` loads the definition language and not the engine, the
store, SQLAlchemy or Alembic; ``--help`` imports them all to list them.
``tests/cli/test_cli_startup.py`` pins both: the table against the modules, and what a
command loads.
"""

from __future__ import annotations

# first of all: importing `_signals` arms SIGTERM/SIGINT when this process is
# `cmc-workflow run`, so that a signal during the imports below stops it cleanly
from cmc_workflow import _signals as _signals

# isort: split

import gc
import importlib
import os
from typing import Any

import click

from cmc_workflow.cli.help import Group, asked_language, translated_errors, version_option
from cmc_workflow.cli.options import (
    add_lang_option,
    lang_option,
    log_level_option,
    refuse_undecodable,
    threshold,
)
from cmc_workflow.i18n import N_, set_language
from cmc_workflow.log import configure_logging

COMMANDS: dict[str, str] = {
    "validate": "definitions",
    "schema": "definitions",
    "graph": "definitions",
    "explain": "definitions",
    "bpmn": "bpmn",
    "start": "items",
    "fire": "items",
    "show": "items",
    "history": "items",
    "inbox": "items",
    "allowed": "items",
    "versions": "versions",
    "migrate": "migrate",
    "start-many": "batch",
    "fire-many": "batch",
    "db": "db",
    "run": "run",
    "status": "time",
    "calendar": "calendar",
    "policy": "policy",
    "who-can": "policy",
    "explain-denial": "policy",
    "audit": "audit",
    "compliance": "compliance",
    "docs": "compliance",
    "report": "report",
    "backup": "backup",
    "restore": "backup",
    "staff": "staff",
    "serve": "serve",
    "token": "token",
    "console": "console",
    "task": "task",
    "notify": "notify",
    "webhook": "webhook",
}
"""Each top-level command, and the module of ``cmc_workflow.cli`` whose ``COMMANDS``
list holds it."""


def load_command(name: str) -> click.Command:
    """The command ``name`` of :data:`COMMANDS`, importing its module."""
    module = importlib.import_module(f"{__name__}.{COMMANDS[name]}")
    (command,) = (c for c in module.COMMANDS if c.name == name)
    assert isinstance(command, click.Command)
    return command


class _Main(Group):
    """The top group: refuses arguments that are not UTF-8 before any command runs,
    imports a command's module only when the command is asked for (:data:`COMMANDS`),
    and knows the language of the run before click parses (``--lang`` anywhere, else
    ``CMC_LANG``, else the locale), so that ``--help`` and click's errors are shown in it
    (:mod:`.help`)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        set_language(asked_language(args, os.environ))  # None: the locale's
        with translated_errors():
            return super().make_context(info_name, args, parent, **extra)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        refuse_undecodable(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with translated_errors():
            return super().invoke(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(add_lang_option(load_command(cmd_name)))
        return self.commands.get(cmd_name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The console script's (and ``python -m cmc_workflow``'s) way in. The process
        ends with the command, so every object alive then is handed to the collector's
        permanent generation (:func:`gc.freeze`): the interpreter's shutdown otherwise
        collects, one by one, the hundred thousand objects the imports made, which took
        0.06-0.14 s after ``validate`` and 0.2-0.4 s after a command that opened the
        engine (2-core VM, busy); frozen, 0.01-0.05 s. Memory goes back to the system at
        exit all the same. In-process runs (tests call :meth:`main`) are left alone."""
        try:
            return super().__call__(*args, **kwargs)
        finally:
            gc.freeze()


@click.group(
    cls=_Main,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "CMC"},
    help=N_("Run and administer cmc-workflow: YAML workflows for cultural-media centers."),
)
@version_option()
@log_level_option()
@lang_option()
@click.option(
    "--log-format",
    type=click.Choice(["json", "text"]),
    default="json",
    show_default=True,
    envvar="CMC_LOG_FORMAT",
    help=N_("Log lines on stderr as JSON, or as readable text."),
)
@click.pass_context
def main(ctx: click.Context, log_format: str) -> None:
    # the one logging configuration; a command's --log-level moves its threshold
    configure_logging(json=log_format == "json", threshold=threshold(ctx))
