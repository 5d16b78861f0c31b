"""``cmc-workflow notify``: notifications to people (issue 14, part 4).

- ``notify log [--item ID]``: each notice (one per recipient and transport) with every
  attempt to send it (time, transport, result, error); addresses masked (SEC-3);
- ``notify test --to PERSON``: send a test message to a person through each of their
  transports now, and say what each did (exit 1 when one failed).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from cmc_workflow.cli.exits import Exit, fail, handled
from cmc_workflow.cli.help import Group
from cmc_workflow.cli.options import db_option, json_option, need, workflows_option
from cmc_workflow.cli.output import cell, emit_json, table
from cmc_workflow.i18n import N_, heading, tr
from cmc_workflow.language import load_paths
from cmc_workflow.staff.contacts import masked
from cmc_workflow.store import Store


@click.group(
    "notify",
    cls=Group,
    help=N_("Notifications to people: delivery records, a test message."),
)
def notify_group() -> None:
    pass


def _shown(address: str) -> str:
    """An e-mail address masked; a URL without its query (a robot's key is a secret)."""
    if "://" in address:
        return address.split("?", 1)[0]
    return masked("email", address) or ""


@notify_group.command("log", help=N_("Each notice with every attempt to send it."))
@db_option
@click.option("--item", "item_id", type=int, default=None, help=N_("Only the notices of ITEM."))
@json_option
def log_command(db: str, item_id: int | None, as_json: bool) -> None:
    with handled(as_json):
        store = Store.open(db)
        try:
            with store.read() as tx:
                found = [(n, tx.notice_attempts(n.id)) for n in tx.notices(item_id)]
        finally:
            store.close()
    views: list[dict[str, Any]] = [
        {
            "id": n.id,
            "item_id": n.item_id,
            "event": n.event,
            "person": n.person_id,
            "transport": n.transport,
            "address": _shown(n.address),
            "status": n.status,
            "attempts": [
                {"at": a.at.isoformat(), "result": a.result, "error": a.error} for a in tries
            ],
        }
        for n, tries in found
    ]
    if as_json:
        emit_json(views)
        return
    rows = [
        [
            str(v["id"]),
            cell(v["item_id"]),
            v["event"],
            cell(v["person"]),
            v["transport"],
            v["address"],
            v["status"],
            "; ".join(
                f"{a['at'][:19]} {a['result']} {a['error'] or ''}".strip() for a in v["attempts"]
            )
            or "—",
        ]
        for v in views
    ]
    headers = [
        N_("Item"),
        N_("Event"),
        N_("Person"),
        N_("Transport"),
        N_("Address"),
        N_("Status"),
        N_("Attempts"),
    ]
    click.echo(table(["#", *(heading(h) for h in headers)], rows), nl=False)


@notify_group.command(
    "test",
    help=N_("Send a test message to PERSON through each of their transports now."),
)
@click.option("--to", "person", required=True, help=N_("The person's id (register or file)."))
@workflows_option
@click.option("--db", default=None, envvar="CMC_DB", help=N_("Read addresses from the register."))
@json_option
def test_command(person: str, workflows: tuple[str, ...], db: str | None, as_json: bool) -> None:
    from cmc_workflow.notify.extension import Notifications
    from cmc_workflow.notify.templates import render
    from cmc_workflow.notify.transports import SendFailed
    from cmc_workflow.store.memory import MemoryStore

    paths = need(workflows, "--workflows", "workflows/")
    with handled(as_json):
        loaded = load_paths(paths)
        loaded.raise_for_problems()
        files = loaded.others.get("notifications", [])
        if not files:
            fail(
                Exit.USAGE,
                str(tr("no kind: notifications file in --workflows")),
                as_json,
            )
        doc, config = files[0]
        notify = Notifications.from_file(config, doc)
        store = Store.open(db) if db else MemoryStore()
        try:
            with store.read() as tx:
                targets = [
                    (t, notify.address(tx, person.lower(), t))
                    for t in notify.transports_of(person.lower())
                ]
        finally:
            store.close()
    now = dt.datetime.now(dt.UTC)
    results: list[dict[str, Any]] = []
    for transport, address in targets:
        result: dict[str, Any] = {"transport": transport, "address": _shown(address or "")}
        if address is None:
            none = tr("no address for this transport")
            result["error"] = f"{none.en} ({none.zh})"  # JSON carries both languages
        else:
            facts = {"event": "test", "workflow": "-", "item_id": 0, "state": "-"}
            key = f"test:{person}:{transport}:{now.isoformat()}"
            try:
                notify.senders[transport].send(address, render(facts, config.language, key))
                result["sent"] = True
            except SendFailed as exc:
                result["error"] = str(exc)
        results.append(result)
    if as_json:
        emit_json(results)
    else:
        for r in results:
            state = tr("sent") if r.get("sent") else tr("FAILED: {error}", error=r.get("error"))
            click.echo(f"{r['transport']:<12} {r['address']:<40} {state}")
    if not targets:
        fail(Exit.USAGE, str(tr("{person}: no transport configured", person=person)), as_json)
    if any(not r.get("sent") for r in results):
        raise SystemExit(Exit.PROBLEMS)


COMMANDS = [notify_group]
