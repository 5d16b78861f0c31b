"""Operator commands on items: ``start``, ``fire``, ``show``, ``history``, ``inbox``,
``allowed`` (``versions`` lives in :mod:`.versions`).

Every command opens the engine on ``--db`` with the definitions of ``--workflows`` (and
``--policies``), does one thing and prints it: a readable table with Chinese labels, or
one JSON document with ``--json`` (times in ISO 8601, UTC). Logs go to stderr only.

The CLI opens the engine with ``handlers=None`` and without inline delivery: operators
do not run action handlers or notifiers; what a command queues in the outbox (a
serviceTask's handler, notifications) is delivered by the daemon.

Exit codes (:mod:`cmc_workflow.cli.exits`): 0 done; 1 a definition file has problems
(each printed as ``file:line:col: CODE message``); 2 the command was refused or is
malformed (the message names the rule: the policy rule's id, or the check such as
``NotPermitted``); 3 the database failed or needs ``cmc-workflow db upgrade``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from cmc_workflow.cli.help import Command
from cmc_workflow.cli.options import (
    Settings,
    actor_options,
    clock_options,
    data_options,
    engine_options,
)
from cmc_workflow.cli.output import cell, emit_json, table, when
from cmc_workflow.engine import Engine
from cmc_workflow.errors import WorkflowNotFound
from cmc_workflow.i18n import N_, pick, tr
from cmc_workflow.i18n import heading as H
from cmc_workflow.model import Actor, Allowed, HistoryEntry, Item, VersionInfo

_T = TypeVar("_T")


def _labels(engine: Engine, workflow: str) -> tuple[str, dict[str, str]]:
    """The workflow's label and its data fields' labels (current version), in the
    language of :func:`~cmc_workflow.i18n.pick`."""
    try:
        definition = engine.workflow(workflow).definition
    except WorkflowNotFound:
        return workflow, {}
    fields_ = {
        k: pick(s.label.en, s.label.zh) for k, s in definition.data.items() if s.label is not None
    }
    return pick(definition.label.en, definition.label.zh), fields_


def _state_label(item: Item) -> str:
    """The label of the item's state in the language shown, as its own version names it."""
    return pick(item.state_label_en or item.state_label, item.state_label)


def item_table(engine: Engine, item: Item) -> str:
    """The readable card of one item."""
    label, field_labels = _labels(engine, item.workflow)
    revision, data = H(N_("revision")), H(N_("Data"))  # outside f-strings: Babel reads them
    rows = [
        [H(N_("Id")), str(item.id)],
        [H(N_("Workflow")), f"{label} ({item.workflow}) {revision} {item.revision}"],
        [H(N_("State")), f"{_state_label(item)} ({item.state})"],
        [H(N_("Closed")), cell(not item.is_open)],
        [H(N_("Row version")), str(item.version)],
        [H(N_("Visit")), str(item.visit)],
        [H(N_("Created by")), item.created_by],
        [H(N_("Created at")), when(item.created_at)],
        [H(N_("Updated at")), when(item.updated_at)],
        [H(N_("Closed at")), when(item.closed_at)],
        [H(N_("Parent item")), cell(item.parent_id)],
    ]
    for key, value in item.data.items():
        name = f"{field_labels[key]} ({key})" if key in field_labels else key
        rows.append([f"{data}·{name}", cell(value)])
    return table([H(N_("Field")), H(N_("Value"))], rows)


_KINDS = {
    "start": N_("Start"),
    "fire": N_("Fire"),
    "route": N_("Route"),
    "handler": N_("Handler"),
    "timer": N_("Timer"),
    "migrate": N_("Migrate"),
}


def history_table(entries: Sequence[HistoryEntry]) -> str:
    """The readable history of one item."""
    rows = [
        [
            str(e.seq),
            when(e.at),
            H(_KINDS[e.kind]) if e.kind in _KINDS else e.kind,
            e.trigger or "—",
            e.from_state or "—",
            e.to_state,
            e.actor,
            ", ".join(e.roles) or "—",
            cell(dict(e.form), 40) if e.form else "—",
        ]
        for e in entries
    ]
    heads = [
        N_("Step"),
        N_("Time"),
        N_("Kind"),
        N_("Trigger"),
        N_("From"),
        N_("To"),
        N_("Actor"),
        N_("Roles"),
        N_("Form"),
    ]
    return table([H(h) for h in heads], rows)


def inbox_table(items: Sequence[Item]) -> str:
    """The readable list of items waiting on someone."""
    rows = [
        [
            str(i.id),
            i.workflow,
            f"{_state_label(i)} ({i.state})",
            cell(i.data.get("title"), 30),
            when(i.updated_at),
            str(i.version),
        ]
        for i in items
    ]
    heads = [
        N_("Id"),
        N_("Workflow"),
        N_("State"),
        N_("Title"),
        N_("Updated at"),
        N_("Row version"),
    ]
    return table([H(h) for h in heads], rows)


def allowed_table(allowed: Sequence[Allowed]) -> str:
    """The readable list of triggers and whether the actor may fire them."""
    rows = [
        [
            a.trigger,
            a.label,
            a.target,
            cell(a.allowed),
            ", ".join(a.form) or "—",
            "; ".join(a.reasons) or "—",
        ]
        for a in allowed
    ]
    heads = [
        N_("Trigger"),
        N_("Name"),
        N_("Target"),
        N_("Allowed"),
        N_("Form fields"),
        N_("Reasons"),
    ]
    return table([H(h) for h in heads], rows)


def versions_table(versions: Sequence[VersionInfo]) -> str:
    """The readable list of a workflow's stored versions."""
    rows = [
        [
            str(v.revision),
            cell(v.version_label),
            v.content_hash[:12],
            when(v.loaded_at),
            str(v.open_items),
            "✓" if v.current else "",
            v.source_file,
        ]
        for v in versions
    ]
    heads = [
        N_("Revision"),
        N_("Version"),
        N_("Content hash"),
        N_("Loaded at"),
        N_("Open items"),
        N_("Current"),
        N_("File"),
    ]
    return table([H(h) for h in heads], rows)


def _print(settings: Settings, value: _T, render: Callable[[_T], str]) -> None:
    """Print what a command returns: one JSON document with ``--json``, else ``render``'s
    readable text."""
    if settings.as_json:
        emit_json(value)
    else:
        click.echo(render(value), nl=False)


# -- the commands ----------------------------------------------------------------------
@click.command(
    cls=Command,
    help=N_(
        "Start an item of WORKFLOW (its id) as --actor with the item data of --data.\n\n"
        "Prints the new item. Exit 2 when the actor may not start it or the data is "
        "invalid."
    ),
)
@click.argument("workflow")
@engine_options
@clock_options
@actor_options
@data_options
def start(settings: Settings, *, workflow: str, actor: Actor, data: dict[str, Any]) -> None:
    with settings.open_engine(need_workflows=True) as engine:
        item = engine.start(workflow, actor=actor, data=data)
        _print(
            settings,
            item,
            lambda i: pick(*tr("Started item {id}", id=i.id)) + "\n" + item_table(engine, i),
        )


@click.command(
    cls=Command,
    help=N_(
        "Fire TRIGGER on ITEM as --actor, with the transition's form in --data.\n\n"
        "Prints the item after the command. Exit 2 when it is refused (the message "
        "names the rule) or when the item moved on since --expected-version."
    ),
)
@click.argument("item_id", metavar="ITEM", type=int)
@click.argument("trigger")
@engine_options
@clock_options
@actor_options
@data_options
@click.option(
    "--expected-version",
    type=int,
    default=None,
    help=N_("Refuse (exit 2) unless the item is still at this row version."),
)
def fire(
    settings: Settings,
    *,
    item_id: int,
    trigger: str,
    actor: Actor,
    data: dict[str, Any],
    expected_version: int | None,
) -> None:
    with settings.open_engine() as engine:
        item = engine.fire(
            item_id, trigger, actor=actor, data=data, expected_version=expected_version
        )
        _print(
            settings,
            item,
            lambda i: pick(*tr("Fired {trigger}", trigger=trigger)) + "\n" + item_table(engine, i),
        )


@click.command(cls=Command, help=N_("Show ITEM as it stands now."))
@click.argument("item_id", metavar="ITEM", type=int)
@engine_options
def show(settings: Settings, *, item_id: int) -> None:
    with settings.open_engine() as engine:
        _print(settings, engine.get(item_id), lambda item: item_table(engine, item))


@click.command(cls=Command, help=N_("List every accepted step of ITEM, oldest first."))
@click.argument("item_id", metavar="ITEM", type=int)
@engine_options
def history(settings: Settings, *, item_id: int) -> None:
    with settings.open_engine() as engine:
        _print(settings, engine.history(item_id), history_table)


@click.command(
    cls=Command,
    help=N_("List the open items waiting on --actor (by person or by one of the roles)."),
)
@engine_options
@actor_options
def inbox(settings: Settings, *, actor: Actor) -> None:
    with settings.open_engine() as engine:
        _print(settings, engine.inbox(actor), inbox_table)


@click.command(
    cls=Command,
    help=N_(
        "List the triggers of ITEM's state and whether --actor may fire each now, and "
        "why not.\n\n"
        "Guards that read the form are judged with an empty form; ``fire`` decides."
    ),
)
@click.argument("item_id", metavar="ITEM", type=int)
@engine_options
@actor_options
def allowed(settings: Settings, *, item_id: int, actor: Actor) -> None:
    with settings.open_engine() as engine:
        _print(settings, engine.allowed(item_id, actor), allowed_table)


COMMANDS: list[click.Command] = [start, fire, show, history, inbox, allowed]
