"""Database commands: ``db upgrade`` (Alembic migrations to head) and ``db current``.

A fresh SQLite file is migrated automatically when the engine opens it; every other
database (PostgreSQL, an older SQLite file) is upgraded by an operator with
``cmc-workflow db upgrade --db URL``. Exit 3 when the database cannot be reached or the
migration fails (it runs in one transaction, so nothing is half-applied).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cmc_workflow.cli.exits import handled
from cmc_workflow.cli.help import Group
from cmc_workflow.cli.options import db_option, json_option
from cmc_workflow.cli.output import emit_json
from cmc_workflow.errors import StoreError
from cmc_workflow.i18n import N_, tr
from cmc_workflow.store import schema
from cmc_workflow.store.database import open_database


@contextmanager
def _database(url: str, *, create: bool) -> Iterator[Engine]:
    """The SQLAlchemy engine of ``url``; driver errors become :class:`StoreError`.

    Without ``create`` a SQLite file that does not exist is an error (connecting would
    create it empty).
    """
    try:
        parsed = make_url(url)
        sqlite_file = parsed.database if parsed.get_backend_name() == "sqlite" else None
        if not create and sqlite_file and not Path(sqlite_file).exists():
            raise StoreError(tr("no database file {database}", database=repr(parsed.database)))
        engine = open_database(url)
    except (SQLAlchemyError, ValueError) as exc:
        raise StoreError(
            tr("cannot open the database {url}: {exc}", url=repr(url), exc=exc)
        ) from exc
    try:
        yield engine
    except SQLAlchemyError as exc:
        raise StoreError(tr("database error on {url}: {exc}", url=repr(url), exc=exc)) from exc
    finally:
        engine.dispose()


@click.group("db", cls=Group, help=N_("Create and migrate the database schema."))
def db_group() -> None:
    pass


@db_group.command(help=N_("Migrate the database at --db to the newest schema; prints FROM -> TO."))
@db_option
@json_option
def upgrade(db: str, as_json: bool) -> None:
    with handled(as_json), _database(db, create=True) as engine:
        before = schema.current_revision(engine)
        schema.upgrade(engine)
        after = schema.current_revision(engine)
    if as_json:
        emit_json({"from": before, "to": after, "changed": before != after})
    elif before == after:
        click.echo(tr("already at head: {revision}", revision=after))
    else:
        click.echo(f"{before or '(empty)'} -> {after}")


@db_group.command(
    help=N_("Print the schema revision of the database at --db and whether it is at head.")
)
@db_option
@json_option
def current(db: str, as_json: bool) -> None:
    with handled(as_json), _database(db, create=False) as engine:
        revision = schema.current_revision(engine)
    head = schema.head_revision()
    with handled(as_json):
        schema.refuse_unknown(revision)  # "run db upgrade" would be wrong advice
    if as_json:
        emit_json({"current": revision, "head": head, "up_to_date": revision == head})
    elif revision == head:
        click.echo(f"{revision} (head)")
    else:
        click.echo(f"{revision or '(empty)'} (head is {head}: run `cmc-workflow db upgrade`)")


COMMANDS: list[click.Command] = [db_group]
