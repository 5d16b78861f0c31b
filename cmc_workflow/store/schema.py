"""Schema migrations with Alembic: upgrade, downgrade, current revision, and drift against
the models.

Opening a database at head needs no Alembic: :data:`HEAD` names the newest migration and
:func:`current_revision` reads the ``alembic_version`` table with one plain SELECT, so
``Engine.open`` does not pay for importing Alembic (and Mako, and Pygments) nor for
parsing every migration file. Alembic is imported by the functions that migrate, list
the migrations or compare the schema; ``tests/migrations/test_schema_head.py`` checks
that :data:`HEAD` is the head of the migration scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, inspect, text

from cmc_workflow.errors import DatabaseReadOnly, SchemaTooNew
from cmc_workflow.store.database import is_read_only
from cmc_workflow.store.tables import metadata, postgres_indexes

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).with_name("migrations")

HEAD = "0016"
"""The newest migration this version of cmc-workflow ships: a new migration moves it
(a test compares it with the scripts in ``migrations/versions``)."""

VERSION_TABLE = "alembic_version"
"""Where Alembic records the revision a database is at (its default name)."""


def _config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def head_revision() -> str:
    """The newest migration this version of cmc-workflow ships (:data:`HEAD`)."""
    return HEAD


def script_head() -> str | None:
    """The head revision as Alembic reads it from the migration scripts (what
    :data:`HEAD` must equal)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def known_revisions() -> set[str]:
    """Every migration revision this version of cmc-workflow ships."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    return {rev.revision for rev in script.walk_revisions()}


def refuse_unknown(revision: str | None) -> None:
    """Raise :class:`SchemaTooNew` when ``revision`` is not one of ours (a newer release
    migrated the database); None (an empty database) and our revisions pass."""
    if revision is not None and revision != HEAD and revision not in known_revisions():
        raise SchemaTooNew(revision, HEAD)


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return _revision_of(conn)


def _revision_of(conn: Connection) -> str | None:
    """What Alembic's ``MigrationContext.get_current_revision`` answers, read with one
    SELECT (Alembic itself is asked only for a table holding several heads, so that the
    error stays its own)."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    found = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(found) > 1:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()
    return str(found[0]) if found else None


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
    from alembic import command

    config = _config(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        # before Alembic, which ends in a CommandError traceback on an unknown revision
        refuse_unknown(_revision_of(conn))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Revert migrations down to ``revision`` (``base``: no tables) in one transaction."""
    from alembic import command

    config = _config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def drift(engine: Engine) -> list[Any]:
    """Differences between the migrated database and the table models (empty when equal)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    def on_this_dialect(obj: Any, name: Any, kind: str, reflected: bool, other: Any) -> bool:
        # an index created on one dialect only (Index.ddl_if: the GIN index of data on
        # PostgreSQL) is not missing elsewhere
        only = getattr(obj, "_ddl_if", None)
        return only is None or only.dialect in (None, engine.dialect.name)

    postgres_indexes()  # the models in full, PostgreSQL's own indexes included
    with engine.connect() as conn:
        opts = {"compare_type": True, "include_object": on_this_dialect}
        context = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(context, metadata))
