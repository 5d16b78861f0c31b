"""``cmc-workflow token``: the API tokens of host systems (:mod:`cmc_workflow.api.tokens`).

- ``token create --db URL --system NAME [--label TEXT]`` prints a new token once;
- ``token list --db URL [--system NAME]`` lists keys, systems, creation and revocation;
- ``token revoke --db URL [--system NAME] KEY`` revokes one.

The database keeps the SHA-256 of each secret, never the secret.
"""

from __future__ import annotations

import datetime as dt
import getpass

import click

from cmc_workflow.api.tokens import issue_token, list_tokens, revoke_token, valid_system
from cmc_workflow.cli.exits import Exit, fail, handled
from cmc_workflow.cli.help import Group
from cmc_workflow.cli.options import db_option, json_option
from cmc_workflow.cli.output import emit_json, table
from cmc_workflow.i18n import N_, tr
from cmc_workflow.i18n import heading as H


def _system(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not valid_system(value):
        raise click.BadParameter(
            str(
                tr(
                    "{system} is not a system name: lowercase letters, digits, '.', '_', '-' "
                    "(at most 64)",
                    system=repr(value),
                )
            ),
            param_hint="--system",
        )
    return value


@click.group("token", cls=Group, help=N_("API tokens of host systems: create, list, revoke."))
def token_group() -> None:
    pass


@token_group.command(
    "create",
    help=N_(
        "Create a token for SYSTEM and print it once: store it in the host system's "
        "secrets; it cannot be shown again."
    ),
)
@db_option
@click.option("--system", required=True, callback=_system, help=N_("The host system it is for."))
@click.option("--label", default="", help=N_("What the token is for (shown by list)."))
@json_option
def create(db: str, system: str, label: str, as_json: bool) -> None:
    from cmc_workflow.store import Store

    with handled(as_json):
        store = Store.open(db)
        try:
            issued = issue_token(
                store,
                system,
                label=label,
                created_by=getpass.getuser(),
                now=dt.datetime.now(dt.UTC),
            )
        finally:
            store.close()
    if as_json:
        emit_json({"key": issued.key, "system": issued.system, "token": issued.text})
        return
    click.echo(issued.text)
    click.echo(
        tr(
            "token {key} for {system}: shown once, store it now",
            key=issued.key,
            system=issued.system,
        ),
        err=True,
    )


@token_group.command("list", help=N_("The tokens (keys, never secrets), oldest first."))
@db_option
@click.option("--system", default=None, callback=_system, help=N_("Only this system's tokens."))
@json_option
def list_(db: str, system: str | None, as_json: bool) -> None:
    from cmc_workflow.runner.assemble import existing_store

    with handled(as_json), existing_store(db) as store:
        rows = list_tokens(store, system)
    if as_json:
        emit_json(
            [
                {
                    "key": r.key,
                    "system": r.system,
                    "label": r.label,
                    "created_at": r.created_at,
                    "created_by": r.created_by,
                    "revoked_at": r.revoked_at,
                    "last_used_at": r.last_used_at,
                }
                for r in rows
            ]
        )
        return
    text = table(
        [
            H(h)
            for h in (
                N_("Token key"),
                N_("System"),
                N_("Label"),
                N_("Created"),
                N_("Revoked"),
                N_("Last used"),
            )
        ],
        [
            [
                r.key,
                r.system,
                r.label,
                f"{r.created_at:%Y-%m-%d %H:%M}",
                f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "",
                f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "",
            ]
            for r in rows
        ],
    )
    click.echo(text, nl=False)


@token_group.command(
    "revoke",
    help=N_("Revoke the token KEY (its key as list shows it); calls with it are refused at once."),
)
@db_option
@click.option(
    "--system", default=None, callback=_system, help=N_("Refuse a key of another system.")
)
@click.argument("key")
def revoke(db: str, system: str | None, key: str) -> None:
    from cmc_workflow.runner.assemble import existing_store

    with handled(False), existing_store(db) as store:
        if system is not None:
            mine = {r.key for r in list_tokens(store, system)}
            if key.split("_")[1 if key.startswith("cmcw_") else 0] not in mine:
                said = tr("no token {key} of system {system}", key=repr(key), system=repr(system))
                fail(Exit.USAGE, str(said), False)
        done = revoke_token(store, key, dt.datetime.now(dt.UTC), revoked_by=getpass.getuser())
    if not done:
        fail(Exit.USAGE, str(tr("no live token {key}", key=repr(key))), False)
    click.echo(tr("revoked {key}", key=key))


COMMANDS: list[click.Command] = [token_group]
