"""How commands exit: the one table of exit statuses, and the library's errors mapped onto it.

The table itself is :data:`cmc_workflow.exits.EXIT_CODES` (standard library only, shared
with the daemon); ``docs/cli.md`` shows it, and a test checks that every exit of the
command line and of the runner uses one of its codes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from cmc_workflow.cli.output import emit_json
from cmc_workflow.errors import (
    CmcWorkflowError,
    DefinitionError,
    EngineError,
    FormInvalid,
    Problem,
    StoreError,
)
from cmc_workflow.exits import EXIT_CODES, Exit
from cmc_workflow.i18n import Text, tr

__all__ = ["EXIT_CODES", "Exit", "fail", "handled", "problems_found"]


def fail(code: Exit, message: str, as_json: bool = False, **detail: Any) -> NoReturn:
    """Print ``message`` on stderr (and an ``{"error": ...}`` document with ``as_json``),
    then exit with ``code``."""
    click.echo(message, err=True)
    if as_json:
        emit_json({"error": {"exit_code": int(code), "message": message, **detail}})
    raise SystemExit(Exit(code))


def problems_found(problems: Sequence[Problem]) -> None:
    """Print each definition problem (``file:line:col: CODE message``) and exit 1, if any."""
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        raise SystemExit(Exit.PROBLEMS)


@contextmanager
def handled(as_json: bool) -> Iterator[None]:
    """Turn the library's exceptions into a message on stderr and an exit code.

    With ``as_json`` an ``{"error": {...}}`` document also goes to stdout, so that
    stdout always holds exactly one JSON document.
    """
    try:
        yield
    except DefinitionError as exc:
        problems = [str(p) for p in exc.problems]
        fail(
            Exit.PROBLEMS,
            "\n".join(problems) or str(exc),
            as_json,
            type=type(exc).__name__,
            problems=problems,
        )
    except EngineError as exc:
        rule = exc.code
        detail: dict[str, Any] = {
            "type": type(exc).__name__,
            "rule": rule,
            "item_id": exc.item_id,
            "trigger": exc.trigger,
            "state": exc.state,
        }
        if isinstance(exc, FormInvalid):
            detail["fields"] = {e.field: e.message for e in exc.errors}
        if exc.reason_zh:
            detail["reason_zh"] = exc.reason_zh
        fail(Exit.USAGE, exc.refusal(), as_json, **detail)
    except StoreError as exc:
        fail(Exit.DATABASE, database_error(exc), as_json, type=type(exc).__name__)
    except CmcWorkflowError as exc:
        reason = Text(str(exc), getattr(exc, "reason_zh", ""))  # a CalendarError's Chinese
        shown = tr("error: {reason}", reason=reason).shown() if reason.zh else f"error: {exc}"
        fail(Exit.USAGE, shown, as_json, type=type(exc).__name__)


def database_error(exc: CmcWorkflowError) -> str:
    """``database error: ...`` as a person reads it: in Chinese too where the error has
    its Chinese (``reason_zh``)."""
    chinese = getattr(exc, "reason_zh", "")
    if not chinese or chinese in str(exc):  # SchemaTooNew says both languages itself
        return f"database error: {exc}"
    return tr("database error: {reason}", reason=Text(str(exc), chinese)).shown()
