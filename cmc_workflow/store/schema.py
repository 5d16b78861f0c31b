"""Schema migrations with Alembic: upgrade, downgrade, current revision, and drift against
the models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from cmc_workflow.errors import DatabaseReadOnly, SchemaTooNew
from cmc_workflow.store.database import is_read_only
from cmc_workflow.store.tables import metadata

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def head_revision() -> str:
    """The newest migration this version of cmc-workflow ships."""
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    """Every migration revision this version of cmc-workflow ships."""
    script = ScriptDirectory(str(MIGRATIONS))
    return {rev.revision for rev in script.walk_revisions()}


def refuse_unknown(revision: str | None) -> None:
    """Raise :class:`SchemaTooNew` when ``revision`` is not one of ours (a newer release
    migrated the database); None (an empty database) and our revisions pass."""
    if revision is not None and revision not in known_revisions():
        raise SchemaTooNew(revision, head_revision())


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_empty(engine: Engine) -> bool:
    """True when the database holds none of our tables."""
    names = set(inspect(engine).get_table_names())
    return not names & set(metadata.tables)


MIGRATION_LOCK = 0x636D6301
"""The PostgreSQL advisory lock key migrations hold ('cmc' and 1): one runner migrates at
a time, the others wait for it and find the schema at head."""


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` in one transaction; on PostgreSQL under an
    advisory lock, so that runners started together on a new database do not race.
    Raises :class:`SchemaTooNew` (and changes nothing) on a database a newer release
    migrated, :class:`DatabaseReadOnly` on one opened read-only."""
    if is_read_only(engine):
        raise DatabaseReadOnly("it cannot be migrated")
    config = _config(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        # before Alembic, which ends in a CommandError traceback on an unknown revision
        refuse_unknown(MigrationContext.configure(conn).get_current_revision())
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Revert migrations down to ``revision`` (``base``: no tables) in one transaction."""
    config = _config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def drift(engine: Engine) -> list[Any]:
    """Differences between the migrated database and the table models (empty when equal)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))
