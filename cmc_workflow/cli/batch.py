"""Batches of commands from a JSON-lines file: ``start-many`` and ``fire-many``.

``start-many`` is how reader messages come in (the intake of the ``comments`` workflow):
a burst of messages exported from a platform, one JSON object per line, registered at the
cost of one commit per :data:`~cmc_workflow.engine.batch.MAX_BATCH` lines instead of one
per message. Every line is still judged, recorded and audited as ``start`` would.

The whole file is read and parsed first: a line that is not a JSON object is a usage error
(exit 2) and nothing is written. The lines then go to the engine in batches of at most
``MAX_BATCH`` lines, each batch one transaction; a refused line is reported (and audited)
without undoing the others. Exit 0 when every line was accepted, 2 when at least one was
refused (the others are committed: the output says which, line by line), 3 when the
database failed (the batches before the failing one are committed; the message says how
many lines).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import IO, Any

import click

from cmc_workflow.cli.exits import Exit, fail
from cmc_workflow.cli.help import Command
from cmc_workflow.cli.options import (
    Settings,
    actor_options,
    clock_options,
    engine_options,
    parse_json_object,
)
from cmc_workflow.cli.output import cell, emit_json, table
from cmc_workflow.engine import Engine
from cmc_workflow.engine.batch import MAX_BATCH, FireEntry, Outcome
from cmc_workflow.errors import StoreError
from cmc_workflow.i18n import N_, heading, pick, shown, tr
from cmc_workflow.model import Actor


def read_lines(source: IO[str]) -> list[tuple[int, dict[str, Any]]]:
    """The JSON objects of ``source``, one per non-blank line, with their line numbers; a
    line that is not a JSON object is a usage error naming it."""
    found = []
    for number, line in enumerate(source, start=1):
        if line.strip():
            found.append((number, parse_json_object(line, f"--file line {number}")))
    return found


def _fire_entry(number: int, line: dict[str, Any], actor: Actor) -> FireEntry:
    """A ``fire-many`` line as the engine's :class:`FireEntry` (or a usage error)."""
    unknown = set(line) - {"item", "trigger", "data", "expected_version"}
    item, trigger = line.get("item"), line.get("trigger")
    data, expected = line.get("data"), line.get("expected_version")
    if (
        unknown
        or not isinstance(item, int)
        or isinstance(item, bool)
        or not isinstance(trigger, str)
        or not (data is None or isinstance(data, dict))
        or not (expected is None or (isinstance(expected, int) and not isinstance(expected, bool)))
    ):
        raise click.BadParameter(
            shown(
                *tr(
                    'each line is {{"item": ID, "trigger": NAME, "data": {{...}}, '
                    '"expected_version": N}} (data and expected_version optional)'
                ),
                sep="\n",
            ),
            param_hint=str(tr("--file line {number}", number=number)),
        )
    return FireEntry(item, trigger, actor, data, expected)


def _run(
    settings: Settings,
    lines: Sequence[tuple[int, Any]],
    run: Callable[[Engine, list[Any]], list[Outcome]],
    *,
    need_workflows: bool = False,
) -> None:
    """Run ``lines`` in batches of at most ``MAX_BATCH``, print each line's outcome, exit
    2 when any was refused."""
    numbers = [number for number, _value in lines]
    outcomes: list[Outcome] = []
    with settings.open_engine(need_workflows=need_workflows) as engine:
        for first in range(0, len(lines), MAX_BATCH):
            chunk = [value for _number, value in lines[first : first + MAX_BATCH]]
            try:
                done = run(engine, chunk)
            except StoreError as exc:
                committed = tr(
                    "database error: {error}\n{first} of {count} lines were committed before "
                    "it (lines from {line} on were not)",
                    error=exc,
                    first=first,
                    count=len(lines),
                    line=numbers[first],
                )
                fail(
                    Exit.DATABASE,
                    shown(*committed, sep="\n"),
                    settings.as_json,
                    type=type(exc).__name__,
                    committed=first,
                )
            outcomes += [
                Outcome(first + o.index, o.item, o.refusal) for o in done
            ]  # index into the whole file
    refused = sum(1 for o in outcomes if not o.accepted)
    if settings.as_json:
        emit_json(
            {
                "accepted": len(outcomes) - refused,
                "refused": refused,
                "results": [_plain(numbers[o.index], o) for o in outcomes],
            }
        )
    else:
        click.echo(outcome_table(numbers, outcomes), nl=False)
        accepted = len(outcomes) - refused
        click.echo(tr("{accepted} accepted, {refused} refused", accepted=accepted, refused=refused))
    if refused:
        told = tr("{refused} line(s) refused; the others are committed", refused=refused)
        click.echo(shown(*told, sep="\n"), err=True)
        raise SystemExit(Exit.USAGE)


def _plain(line: int, outcome: Outcome) -> dict[str, Any]:
    if outcome.refusal is None:
        return {"line": line, "accepted": True, "item": outcome.item}
    return {"line": line, "accepted": False, "refusal": outcome.refusal}


def outcome_table(numbers: Sequence[int], outcomes: Sequence[Outcome]) -> str:
    """One row per line: accepted (the item and its state) or refused (rule and reason)."""
    rows = []
    for o in outcomes:
        if o.item is not None:
            rows.append(
                [
                    str(numbers[o.index]),
                    heading(N_("accepted")),
                    str(o.item.id),
                    f"{pick(o.item.state_label_en, o.item.state_label)} ({o.item.state})",
                    "—",
                    "—",
                ]
            )
        elif o.refusal is not None:
            r = o.refusal
            reason = shown(r.message, r.message_zh)
            rows.append(
                [
                    str(numbers[o.index]),
                    heading(N_("refused")),
                    cell(r.item_id),
                    cell(r.state),
                    r.rule,
                    cell(reason, 80),
                ]
            )
    headers = [N_("Line"), N_("Outcome"), N_("Item"), N_("State"), N_("Rule"), N_("Reason")]
    return table([heading(h) for h in headers], rows)


@click.command(
    "start-many",
    cls=Command,
    help=N_(
        "Start one item of WORKFLOW per line of --file (each line the item data as a "
        "JSON object), as --actor, in batches of one transaction each: the intake of "
        "reader messages (``start-many comments``).\n\n"
        "Prints each line's item or refusal. Exit 2 when a line is malformed (nothing "
        "written) or refused (the other lines are committed)."
    ),
)
@click.argument("workflow")
@click.option(
    "--file",
    "source",
    required=True,
    type=click.File("r", encoding="utf-8"),
    help=N_("JSON lines, one item's data per line ('-' reads stdin)."),
)
@engine_options
@clock_options
@actor_options
def start_many(settings: Settings, *, workflow: str, source: IO[str], actor: Actor) -> None:
    lines = read_lines(source)

    def run(engine: Engine, chunk: list[Any]) -> list[Outcome]:
        return engine.start_many(workflow, chunk, actor=actor)

    _run(settings, lines, run, need_workflows=True)


@click.command(
    "fire-many",
    cls=Command,
    help=N_(
        "Fire the trigger of each line of --file on its item as --actor, in batches of "
        "one transaction each, in file order.\n\n"
        "Prints each line's item or refusal. Exit 2 when a line is malformed (nothing "
        "written) or refused (the other lines are committed)."
    ),
)
@click.option(
    "--file",
    "source",
    required=True,
    type=click.File("r", encoding="utf-8"),
    help=N_(
        'JSON lines, one command per line: {"item": ID, "trigger": NAME, "data": {...}, '
        "\"expected_version\": N} ('-' reads stdin)."
    ),
)
@engine_options
@clock_options
@actor_options
def fire_many(settings: Settings, *, source: IO[str], actor: Actor) -> None:
    lines = [(n, _fire_entry(n, line, actor)) for n, line in read_lines(source)]

    def run(engine: Engine, chunk: list[Any]) -> list[Outcome]:
        return engine.fire_many(chunk)

    _run(settings, lines, run)


COMMANDS: list[click.Command] = [start_many, fire_many]
