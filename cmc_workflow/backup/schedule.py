"""The daemon's scheduled backup: how often (an interval or a crontab expression), whether
one is due, and taking it without ever stopping the daemon.

``--backup-every`` takes a duration (``30m``, ``6h``, ``1d``, ``1w``) or five crontab
fields in the business time zone (``"0 2 * * *"``: every day at 02:00; the fields mean
what they mean in the schedules language, :mod:`cmc_workflow.cron`). The next backup is
reckoned from the newest backup in the folder, not from the daemon's start: a daemon
restarted every day still backs up once a day, and one that was down past a backup's
time takes it as soon as it runs (``run --once`` from cron, too).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from cmc_workflow.backup.files import backups_in
from cmc_workflow.backup.take import Taken, take_backup
from cmc_workflow.cron import Cron, CronSyntaxError, parse
from cmc_workflow.errors import CmcWorkflowError
from cmc_workflow.i18n import tr
from cmc_workflow.log import get_logger

log = get_logger("cmc_workflow.backup")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


@dataclass(frozen=True, slots=True)
class Every:
    """How often a backup is taken: every ``seconds``, or at each time of ``cron``."""

    text: str
    seconds: float | None = None
    cron: Cron | None = None

    def next_after(self, when: dt.datetime) -> dt.datetime | None:
        """The first backup time after ``when``."""
        if self.cron is not None:
            return self.cron.next_fire(when)
        assert self.seconds is not None
        return when + dt.timedelta(seconds=self.seconds)


def parse_every(text: str, timezone: str) -> Every:
    """``30m``, ``6h``, ``1d``, ``1w`` (a bare number is seconds), or five crontab fields;
    a :class:`ValueError` that says what to write otherwise."""
    found = _DURATION.match(text)
    if found is not None:
        seconds = float(found.group(1)) * _UNITS[found.group(2) or "s"]
        if seconds < 1:
            raise ValueError(f"{text!r}: a backup interval is at least 1s")
        return Every(text, seconds=seconds)
    if len(text.split()) == 5:
        try:
            return Every(text, cron=parse(text, timezone))
        except CronSyntaxError as exc:
            raise ValueError(f"{text!r}: {exc}") from None
    what = tr(
        "write a duration (30m, 6h, 1d, 1w) or five crontab fields ('0 2 * * *': every day "
        "at 02:00)"
    )
    raise ValueError(f"{text!r}: {what}")


@dataclass(frozen=True, slots=True)
class ScheduledBackup:
    """The backups a daemon takes: where, how often, how many are kept."""

    db: str
    folder: Path
    every: Every
    keep: int | None = None
    pg_dump: str | None = None

    def last(self) -> dt.datetime | None:
        """When the newest backup in the folder was taken (None: no backup yet)."""
        found = backups_in(self.folder) if self.folder.is_dir() else []
        if not found:
            return None
        return dt.datetime.fromisoformat(str(found[-1].manifest["created_at"]))

    def next_due(self, now: dt.datetime) -> dt.datetime:
        """When the next backup is due: after the newest one, or now when there is none
        (or when the schedule says it is past)."""
        last = self.last()
        if last is None:
            return now
        due = self.every.next_after(last)
        return now if due is None or due < now else due

    def is_due(self, now: dt.datetime) -> bool:
        """True when a backup should be taken now."""
        return self.next_due(now) <= now

    def take(self) -> Taken | None:
        """Take a backup; a failure is logged with its code in both languages and the
        daemon goes on (None)."""
        try:
            return take_backup(self.db, self.folder, keep=self.keep, pg_dump=self.pg_dump)
        except CmcWorkflowError as exc:
            log.error(
                "backup_failed",
                code=getattr(exc, "code", type(exc).__name__),
                error=getattr(exc, "reason_en", str(exc)),
                error_zh=getattr(exc, "reason_zh", ""),
                folder=str(self.folder),
            )
            return None
        except Exception:  # a bug must not stop the daemon; logged with its traceback
            log.exception("backup_crashed", folder=str(self.folder))
            return None
