"""``cmc-workflow webhook``: host systems' webhook subscriptions
(:mod:`cmc_workflow.webhooks.subscriptions`), as the HTTP API's ``/v1/subscriptions``.

- ``webhook add --db URL --url URL [--event TYPE]... [--workflow ID]... [--label TEXT]``
  stores a subscription and prints its signing secret once;
- ``webhook list --db URL [--removed]`` lists them (never secrets);
- ``webhook remove --db URL ID`` removes one (its pending deliveries are cancelled);
- ``webhook deliveries --db URL ID`` shows its deliveries and attempts.

With ``CMC_WEBHOOK_KEY`` set, the database keeps only a nonce the secret is derived from
(see ``docs/how-to-webhooks.md``); it must then be set where ``run`` and ``serve`` run.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os

import click

from cmc_workflow.cli.exits import Exit, fail, handled
from cmc_workflow.cli.help import Group
from cmc_workflow.cli.options import db_option, json_option
from cmc_workflow.cli.output import emit_json, table
from cmc_workflow.i18n import N_, tr
from cmc_workflow.i18n import heading as H
from cmc_workflow.webhooks.subscriptions import EVENTS


@click.group(
    "webhook",
    cls=Group,
    help=N_("Webhooks to host systems: add, list, remove subscriptions."),
)
def webhook_group() -> None:
    pass


@webhook_group.command(
    "add",
    help=N_(
        "Subscribe URL to events and print its signing secret once: store it in the "
        "host system's secrets; it cannot be shown again."
    ),
)
@db_option
@click.option("--url", required=True, help=N_("Where to POST the events (https://...)."))
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(EVENTS),
    help=N_("An event type to receive (repeat; none: all)."),
)
@click.option(
    "--workflow", "workflows", multiple=True, help=N_("A workflow to receive (repeat; none: all).")
)
@click.option("--label", default="", help=N_("What the subscription is for (shown by list)."))
@json_option
def add(
    db: str,
    url: str,
    events: tuple[str, ...],
    workflows: tuple[str, ...],
    label: str,
    as_json: bool,
) -> None:
    from cmc_workflow.store import Store
    from cmc_workflow.webhooks.subscriptions import add_subscription

    key = os.environ.get("CMC_WEBHOOK_KEY") or None
    with handled(as_json):
        store = Store.open(db)
        try:
            added = add_subscription(
                store,
                url,
                events=events,
                workflows=workflows,
                label=label,
                created_by=getpass.getuser(),
                now=dt.datetime.now(dt.UTC),
                master_key=key,
            )
        finally:
            store.close()
    row = added.row
    if as_json:
        emit_json({"id": row.id, "url": row.url, "secret": added.secret})
        return
    click.echo(added.secret)
    click.echo(
        tr(
            "subscription {id} to {url}: the secret is shown once, store it now",
            id=row.id,
            url=row.url,
        ),
        err=True,
    )
    if key is None:
        click.echo(
            tr("CMC_WEBHOOK_KEY is not set: the secret is stored as is in the database"),
            err=True,
        )


@webhook_group.command("list", help=N_("The subscriptions (never their secrets), oldest first."))
@db_option
@click.option("--removed", is_flag=True, help=N_("Also the removed subscriptions."))
@json_option
def list_(db: str, removed: bool, as_json: bool) -> None:
    from cmc_workflow.runner.assemble import existing_store
    from cmc_workflow.webhooks.subscriptions import list_subscriptions

    with handled(as_json), existing_store(db) as store:
        rows = list_subscriptions(store, removed=removed)
    if as_json:
        emit_json(
            [
                {
                    "id": r.id,
                    "url": r.url,
                    "events": r.events,
                    "workflows": r.workflows,
                    "label": r.label,
                    "created_at": r.created_at,
                    "created_by": r.created_by,
                    "removed_at": r.removed_at,
                }
                for r in rows
            ]
        )
        return
    text = table(
        [
            H(h)
            for h in (
                N_("Id"),
                N_("URL"),
                N_("Events"),
                N_("Workflows"),
                N_("Label"),
                N_("Removed"),
            )
        ],
        [
            [
                str(r.id),
                r.url,
                ",".join(r.events) or "*",
                ",".join(r.workflows) or "*",
                r.label,
                f"{r.removed_at:%Y-%m-%d %H:%M}" if r.removed_at else "",
            ]
            for r in rows
        ],
    )
    click.echo(text, nl=False)


@webhook_group.command(
    "remove", help=N_("Remove subscription SUBSCRIPTION_ID; its pending deliveries are cancelled.")
)
@db_option
@click.argument("subscription_id", type=int)
def remove(db: str, subscription_id: int) -> None:
    from cmc_workflow.runner.assemble import existing_store
    from cmc_workflow.webhooks.subscriptions import remove_subscription

    with handled(False), existing_store(db) as store:
        done = remove_subscription(store, subscription_id, dt.datetime.now(dt.UTC))
    if not done:
        fail(Exit.USAGE, str(tr("no live subscription {id}", id=subscription_id)), False)
    click.echo(tr("removed subscription {id}", id=subscription_id))


@webhook_group.command(
    "deliveries", help=N_("The deliveries of SUBSCRIPTION_ID with their attempts, oldest first.")
)
@db_option
@click.argument("subscription_id", type=int)
@json_option
def deliveries(db: str, subscription_id: int, as_json: bool) -> None:
    from cmc_workflow.runner.assemble import existing_store

    with handled(as_json), existing_store(db) as store, store.read() as tx:
        rows = tx.hook_deliveries(subscription_id)
        attempts = {r.id: tx.hook_attempts(r.id) for r in rows}
    if as_json:
        emit_json(
            [
                {
                    "id": r.id,
                    "event_id": r.event_id,
                    "event": r.event,
                    "item_id": r.item_id,
                    "status": r.status,
                    "attempts": [
                        {
                            "at": a.at,
                            "result": a.result,
                            "status_code": a.status_code,
                            "error": a.error,
                        }
                        for a in attempts[r.id]
                    ],
                }
                for r in rows
            ]
        )
        return
    text = table(
        [
            H(h)
            for h in (
                N_("Id"),
                N_("Event"),
                N_("Item"),
                N_("Delivery status"),
                N_("Attempts"),
                N_("Last error"),
            )
        ],
        [
            [
                str(r.id),
                r.event,
                str(r.item_id or ""),
                r.status,
                str(r.attempts),
                r.last_error or "",
            ]
            for r in rows
        ],
    )
    click.echo(text, nl=False)


COMMANDS: list[click.Command] = [webhook_group]
