"""``cmc-workflow task``: task operations on user tasks (issue 14, part 3).

- ``task claim ITEM`` / ``task unclaim ITEM``: take a task from a role's queue (认领) or
  put it back (退回队列);
- ``task delegate ITEM --to P`` / ``task hand-back ITEM``: hand it to another holder of
  the role (委派) and return it (交回);
- ``task reassign ITEM --to P``: a lead gives it to someone (改派);
- ``task inbox``: the actor's tasks, "mine" (我的) apart from "my roles' queue" (待认领).

Each is one command, audited (``task.<op>``); identity comes from the staff register
when it holds people. A refusal exits 2 and names its rule (``task_claimed``,
``task_role_not_held``, ``task_target_not_holder``, ``task_not_lead`` ...) in English and
Chinese; exit codes as for the item commands (docs/cli.md).
"""

from __future__ import annotations

from typing import Any

import click

from cmc_workflow.cli.help import Group
from cmc_workflow.cli.items import inbox_table, item_table
from cmc_workflow.cli.options import Settings, actor_options, engine_options
from cmc_workflow.cli.output import emit_json
from cmc_workflow.i18n import N_, Text, tr
from cmc_workflow.model import Actor, Item

_TO = click.option("--to", "to", required=True, metavar="PERSON", help=N_("The person's id."))


def _done(settings: Settings, engine: Any, item: Item, what: Text) -> None:
    if settings.as_json:
        emit_json(item)
    else:
        click.echo(f"{what}\n{item_table(engine, item)}", nl=False)


@click.group("task", cls=Group, help=N_("Claim, delegate and reassign user tasks."))
def task_group() -> None:
    pass


@task_group.command("claim", help=N_("Claim ITEM from the queue of a role --actor holds."))
@click.argument("item_id", metavar="ITEM", type=int)
@engine_options
@actor_options
def claim(settings: Settings, *, item_id: int, actor: Actor) -> None:
    with settings.open_engine() as engine:
        item = engine.claim(item_id, actor=actor)
        _done(
            settings, engine, item, tr("{actor} claimed item {item}", actor=actor.id, item=item_id)
        )


@task_group.command("unclaim", help=N_("Put ITEM, claimed by --actor, back in its role's queue."))
@click.argument("item_id", metavar="ITEM", type=int)
@engine_options
@actor_options
def unclaim(settings: Settings, *, item_id: int, actor: Actor) -> None:
    with settings.open_engine() as engine:
        item = engine.unclaim(item_id, actor=actor)
        _done(settings, engine, item, tr("item {item} is back in the queue", item=item_id))


@task_group.command(
    "delegate", help=N_("Hand ITEM, held by --actor, to --to (a holder of a role of the state).")
)
@click.argument("item_id", metavar="ITEM", type=int)
@_TO
@engine_options
@actor_options
def delegate(settings: Settings, *, item_id: int, to: str, actor: Actor) -> None:
    with settings.open_engine() as engine:
        item = engine.delegate(item_id, to, actor=actor)
        _done(settings, engine, item, tr("item {item} delegated to {to}", item=item_id, to=to))


@task_group.command(
    "hand-back", help=N_("Return ITEM, delegated to --actor, to the person who delegated it.")
)
@click.argument("item_id", metavar="ITEM", type=int)
@engine_options
@actor_options
def hand_back(settings: Settings, *, item_id: int, actor: Actor) -> None:
    with settings.open_engine() as engine:
        item = engine.hand_back(item_id, actor=actor)
        _done(settings, engine, item, tr("item {item} handed back", item=item_id))


@task_group.command(
    "reassign", help=N_("As a lead, give ITEM to --to (a holder of a role of the state).")
)
@click.argument("item_id", metavar="ITEM", type=int)
@_TO
@engine_options
@actor_options
def reassign(settings: Settings, *, item_id: int, to: str, actor: Actor) -> None:
    with settings.open_engine() as engine:
        item = engine.reassign(item_id, to, actor=actor)
        _done(settings, engine, item, tr("item {item} reassigned to {to}", item=item_id, to=to))


@task_group.command(
    "inbox",
    help=N_(
        '--actor\'s tasks: "mine" (claimed by, delegated or assigned to them) and '
        '"queue" (waiting on one of their roles, for anyone of it to claim).'
    ),
)
@engine_options
@actor_options
def inbox(settings: Settings, *, actor: Actor) -> None:
    with settings.open_engine() as engine:
        mine, queue = engine.my_tasks(actor)
    if settings.as_json:
        emit_json({"mine": mine, "queue": queue})
        return
    click.echo(tr("mine ({count})", count=len(mine)))
    click.echo(inbox_table(mine), nl=False)
    click.echo(tr("my roles' queue ({count})", count=len(queue)))
    click.echo(inbox_table(queue), nl=False)


COMMANDS = [task_group]
