"""structlog configuration for the command line and the daemon, and the library's loggers.

The library logs through :func:`get_logger`: through structlog once the process has
configured it (the command line, the daemon, a host that uses structlog), else through the
standard :mod:`logging` module under the same names (``cmc_workflow.engine``, ...), where
an unconfigured host hears only warnings and errors, on stderr, as Python's own convention
for libraries has it. structlog's zero-config defaults would print every event, info
included, on stdout: 21 lines on every ``Engine.open`` of the bundle. The command line calls
:func:`configure_logging` once, at its entry point (ARCHITECTURE decision 12), with a
:class:`Threshold` that the commands' ``--log-level`` options may still move once their
own options are parsed: the configuration is made once, the level is read per event.

structlog costs a fresh process 50-60 ms to import (``structlog.stdlib`` brings
``asyncio``, ``ssl`` and ``socket``), more than a tenth of a cold ``cmc-workflow
validate``, which logs nothing. So in a process that has not imported structlog yet,
:func:`configure_logging` keeps the configuration and makes it with the first event that
passes its threshold; an event below it is dropped without importing structlog. A process
that has structlog already (a host, the tests) is configured at once, as before.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import structlog

LEVELS = ("debug", "info", "warning", "error")
"""The level names the options accept."""

_RANK = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


@dataclass(slots=True)
class Threshold:
    """The lowest level logged; ``explicit`` once a user chose it (not a default)."""

    level: str = "warning"
    explicit: bool = False

    def set(self, level: str, *, explicit: bool) -> None:
        """Move the threshold: a user's choice wins over a command's default."""
        if explicit or not self.explicit:
            self.level = level.lower()
            self.explicit = self.explicit or explicit

    def __call__(
        self, _logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """A structlog processor that drops events below the threshold."""
        if _RANK.get(method, logging.INFO) < _RANK[self.level]:
            import structlog  # configured by now: imported already

            raise structlog.DropEvent
        return event


def configure_logging(
    *, json: bool = True, level: str = "info", threshold: Threshold | None = None
) -> None:
    """Send structured logs to stderr, as JSON lines (or readable text).

    With ``threshold`` the level is read from it at each event, so that it can still be
    moved after this call; else ``level`` is fixed now. Made at once when structlog is
    imported already, else with the first event that passes (see the module's docstring).
    """
    global _pending
    chosen = _Pending(json, logging.getLevelNamesMapping()[level.upper()], threshold)
    with _pending_lock:
        _pending = None
        if "structlog" not in sys.modules:
            _pending = chosen
            return
    chosen.configure()


@dataclass(frozen=True, slots=True)
class _Pending:
    """A configuration :func:`configure_logging` has not made yet."""

    json: bool
    fixed: int
    threshold: Threshold | None

    def drops(self, level: int) -> bool:
        """Whether an event of ``level`` is below the threshold (dropped once configured)."""
        return level < (_RANK[self.threshold.level] if self.threshold is not None else self.fixed)

    def configure(self) -> None:
        import structlog

        renderer: structlog.typing.Processor = (
            structlog.processors.JSONRenderer(ensure_ascii=False)
            if self.json
            else structlog.dev.ConsoleRenderer(colors=False)
        )
        threshold = self.threshold
        structlog.configure(
            processors=[
                *([threshold] if threshold is not None else []),
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
                renderer,
            ],
            wrapper_class=structlog.make_filtering_bound_logger(
                logging.DEBUG if threshold is not None else self.fixed
            ),
            logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
            cache_logger_on_first_use=True,
        )


_pending: _Pending | None = None
"""The configuration waiting for the first event that passes it (None: none waits)."""
_pending_lock = threading.Lock()


def _configure_pending() -> None:
    """Make the waiting configuration, if any (once, whichever thread logs first); one
    that structlog was given since, by whoever imported it, is the later and stays."""
    global _pending
    if _pending is None:
        return
    with _pending_lock:
        chosen, _pending = _pending, None
        if chosen is not None:
            import structlog

            if not structlog.is_configured():
                chosen.configure()


class LibraryLogger:
    """A logger of the library: structlog's when structlog is configured, else the standard
    library's (:func:`get_logger`). Decided per event, so that configuring either later
    takes effect at once."""

    __slots__ = ("_name", "_stdlib", "_structlog")

    def __init__(self, name: str) -> None:
        self._name = name
        self._structlog: Any = None
        self._stdlib: Any = None

    def _target(self) -> Any:
        _configure_pending()
        import structlog

        if structlog.is_configured():
            if self._structlog is None:
                self._structlog = structlog.get_logger(self._name)
            return self._structlog
        if self._stdlib is None:
            self._stdlib = structlog.wrap_logger(
                logging.getLogger(self._name),
                processors=[
                    structlog.stdlib.filter_by_level,
                    structlog.processors.format_exc_info,
                    structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True),
                ],
                wrapper_class=structlog.stdlib.BoundLogger,
            )
        return self._stdlib

    def __getattr__(self, method: str) -> Any:
        if "structlog" not in sys.modules:
            level = _RANK.get(method)
            pending = _pending
            if pending is not None:
                # configured by the command line, not made yet: an event below its
                # threshold is dropped as structlog would (a cold validate logs none other)
                if level is not None and pending.drops(level):
                    return _dropped
            # else nobody imported structlog, so nobody configured it: the standard
            # library's logger decides, and an event it would drop is dropped without
            # importing structlog (a cold Engine.open logs only such events in a quiet host)
            elif level is not None and not logging.getLogger(self._name).isEnabledFor(level):
                return _dropped
        return getattr(self._target(), method)


def _dropped(*_args: Any, **_kwargs: Any) -> None:
    """An event below the standard library logger's level."""


def get_logger(name: str) -> Any:
    """The library's logger called ``name`` (see the module's docstring)."""
    return LibraryLogger(name)
