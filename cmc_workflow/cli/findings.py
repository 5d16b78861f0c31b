"""What the checking commands (``validate``, ``policy check``, ``who-can``) print about
definition files: ``--format text|json|sarif`` and ``--strict``.

- ``text``: one ``file:line:col: CODE message (hint: ...) | 中文`` line per problem;
- ``json``: always exactly one JSON document on stdout, problems or not: ``ok``,
  ``exit_code``, ``counts`` (errors, warnings), ``problems`` (each with ``file``,
  ``line``, ``column``, ``code``, ``severity``, ``message``, ``hint``, ``message_zh``,
  ``hint_zh``) and what the command found besides;
- ``sarif``: a SARIF 2.1.0 log (one run, one result per problem, one rule per code) that
  code-hosting platforms show inline on a pull request.

Exit codes: 0 no error (warnings alone pass), 1 an error, or a warning under
``--strict``; usage errors stay 2.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from cmc_workflow.errors import Problem
from cmc_workflow.exits import Exit
from cmc_workflow.i18n import N_, tr, zh

FORMATS = ("text", "json", "sarif")

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"


def format_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--format text|json|sarif`` (``fmt=``) and ``--strict`` (``strict=``)."""
    command = click.option(
        "--strict",
        is_flag=True,
        help=N_("Exit 1 on warnings too (W- codes), not only on errors."),
    )(command)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=None,
        help=N_(
            "text (default), json (one document on stdout, problems or not) or sarif "
            "(SARIF 2.1.0, for code-hosting platforms)."
        ),
    )(command)


def chosen(fmt: str | None, as_json: bool) -> str:
    """The format asked for: ``--format``, else ``json`` for ``--json``, else ``text``."""
    if fmt is not None and as_json and fmt != "json":
        raise click.UsageError(str(tr("give --format or --json, not both")))
    return fmt or ("json" if as_json else "text")


def exit_code(problems: Sequence[Problem], strict: bool) -> Exit:
    """1 with an error (or any warning under ``strict``), else 0."""
    if any(p.is_error for p in problems) or (strict and problems):
        return Exit.PROBLEMS
    return Exit.OK


def problem_json(problem: Problem) -> dict[str, Any]:
    """One problem as a JSON object (every field, ``severity`` included)."""
    return {
        "file": problem.file,
        "line": problem.line,
        "column": problem.column,
        "code": problem.code,
        "severity": "error" if problem.is_error else "warning",
        "message": problem.message,
        "hint": problem.hint,
        "message_zh": problem.message_zh,
        "hint_zh": problem.hint_zh,
    }


def report(
    command: str,
    problems: Sequence[Problem],
    *,
    fmt: str,
    strict: bool,
    text_err: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Exit:
    """Print ``problems`` in ``fmt`` and return the exit code. ``text`` goes to stdout,
    or to stderr with ``text_err`` (commands whose stdout holds their result); ``json``
    and ``sarif`` always print one document on stdout. ``extra`` joins the JSON document."""
    ordered = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.code))
    code = exit_code(ordered, strict)
    if fmt == "text":
        for problem in ordered:
            click.echo(str(problem), err=text_err)
    elif fmt == "json":
        document = {
            "command": command,
            "ok": code == Exit.OK,
            "exit_code": int(code),
            "counts": {
                "errors": sum(p.is_error for p in ordered),
                "warnings": sum(not p.is_error for p in ordered),
            },
            "problems": [problem_json(p) for p in ordered],
            **(extra or {}),
        }
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        click.echo(json.dumps(sarif_log(ordered), ensure_ascii=False, indent=2))
    return code


def _uri(file: str) -> str:
    """A file as SARIF wants it: a relative POSIX path from the working directory when
    it lies below it (what a pull request's files are named by), else a ``file:`` URI."""
    path = Path(file).absolute()
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path.as_uri()
    return path.as_uri() if relative.startswith("..") else Path(relative).as_posix()


def _version() -> str:
    try:
        return metadata.version("cmc-workflow")
    except metadata.PackageNotFoundError:
        return "0"


def sarif_log(problems: Sequence[Problem]) -> dict[str, Any]:
    """``problems`` as a SARIF 2.1.0 log: one run of ``cmc-workflow``, one rule per code
    (its first message as the short description), one result per problem with its
    level, Chinese and English message, and region (1-based line and column)."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for problem in problems:
        if problem.code not in rules:
            rules[problem.code] = {
                "id": problem.code,
                "name": problem.code.title().replace("-", ""),
                "shortDescription": {"text": problem.code},
                "defaultConfiguration": {"level": "error" if problem.is_error else "warning"},
            }
        text = problem.message
        if problem.hint:
            text += f" (hint: {problem.hint})"
        if problem.message_zh:
            text += f" | {problem.message_zh}"
            if problem.hint_zh:
                text += zh("(hint: {hint})").format(hint=problem.hint_zh)
        results.append(
            {
                "ruleId": problem.code,
                "ruleIndex": list(rules).index(problem.code),
                "level": "error" if problem.is_error else "warning",
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(problem.file)},
                            "region": {
                                "startLine": max(problem.line, 1),
                                "startColumn": max(problem.column, 1),
                            },
                        }
                    }
                ],
                "properties": {
                    "message_zh": problem.message_zh,
                    "hint": problem.hint,
                    "hint_zh": problem.hint_zh,
                },
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "cmc-workflow",
                        "version": _version(),
                        "rules": list(rules.values()),
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
