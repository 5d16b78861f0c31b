"""SIGTERM/SIGINT for the ``cmc-workflow run`` process, from its first instant.

Importing cmc-workflow takes most of a second (SQLAlchemy, pydantic, transitions), and
building the daemon (loading definitions, opening the database) takes more; a SIGTERM in
that window used to kill the process with the default action (exit -15). So the command
line (``cmc_workflow.cli``, which the console script imports) arms :func:`install` before
its own imports when, and only when, the process is the
``cmc-workflow run`` command (never in a program that merely imports the library). The
handler only records the request in :data:`STOP`; :func:`cmc_workflow.runner.daemon.run` checks
it before and after building the daemon, and the running daemon waits on it. A second
signal exits at once with 130. Standard library only: this module runs before the rest.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import PurePath
from types import FrameType

STOP = threading.Event()
"""Set by the first SIGTERM/SIGINT of this process (once :func:`install` armed it)."""

FORCED = 130
"""The exit status of a second signal (``cmc_workflow.exits.Exit.FORCED``)."""


def _handle(_signum: int, _frame: FrameType | None) -> None:
    if STOP.is_set():
        os._exit(FORCED)  # a second signal: stop at once, the open transaction rolls back
    STOP.set()


def install() -> threading.Event:
    """Make SIGTERM and SIGINT set :data:`STOP` (a second one exits 130); returns it."""
    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)
    return STOP


def is_daemon_command(argv: Sequence[str], orig_argv: Sequence[str]) -> bool:
    """True when the process is ``cmc-workflow run`` or ``python -m cmc_workflow run``."""
    if list(argv[1:2]) != ["run"]:
        return False
    if PurePath(argv[0]).stem == "cmc-workflow":
        return True
    return any(orig_argv[i : i + 2] == ["-m", "cmc_workflow"] for i in range(len(orig_argv) - 1))


def arm_if_daemon_command() -> None:
    """:func:`install` when this process is the daemon command, on its main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    if is_daemon_command(sys.argv, list(getattr(sys, "orig_argv", []))):
        install()


arm_if_daemon_command()  # on import, before the package's heavy imports (see above)
