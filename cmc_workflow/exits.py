"""The one table of exit statuses of ``cmc-workflow`` and its daemon: code -> name -> meaning.

Every command and the daemon (:mod:`cmc_workflow.runner.daemon`) exit through a code of
:data:`EXIT_CODES`, each with one meaning across the program; ``docs/cli.md`` shows the
same table (a test keeps them equal). Standard library only, so that the runner uses it
without importing the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum


class Exit(IntEnum):
    """An exit status of ``cmc-workflow``; its meaning is :data:`EXIT_CODES` [code]."""

    OK = 0
    PROBLEMS = 1
    USAGE = 2
    DATABASE = 3
    CRASH = 4
    UNCOVERED = 5
    FORCED = 130


EXIT_CODES: Mapping[Exit, str] = {
    Exit.OK: "done (`run`: stopped by SIGTERM/SIGINT, or --once finished its pass)",
    Exit.PROBLEMS: "a check found problems, each one printed: a definition or calendar file "
    "(file:line:col: CODE message; a warning, W- code, only with --strict), the audit log "
    "(`audit verify`: tampering), the daemons' lag (`status --max-lag`: behind), a backup "
    "(`backup verify`, `restore`: checksum, audit chains or counts; nothing restored)",
    Exit.USAGE: "not done: the command line is malformed, or the command was refused "
    "(the message names the rule, e.g. a policy rule's id or NotPermitted)",
    Exit.DATABASE: "the database cannot be opened, failed, or its schema is not this "
    "release's (run `cmc-workflow db upgrade`; E-DB-TOO-NEW, E-DB-READ-ONLY, E-DB-MISSING, "
    "E-DB-DRIVER, E-DB-UNSUPPORTED), or a backup's program is missing or failed "
    "(E-BACKUP-TOOL-MISSING: no pg_dump)",
    Exit.CRASH: "`run`: an unexpected error stopped the daemon (logged with its traceback)",
    Exit.UNCOVERED: "`compliance`: a must requirement is not met (only recorded, partial, "
    "unproven, cited or nothing) or something is broken (the matrix is still printed or "
    "written)",
    Exit.FORCED: "`run`: a second SIGTERM/SIGINT stopped it at once; the open transaction "
    "rolled back",
}
"""Every exit status, with its one meaning (the table of ``docs/cli.md``)."""
