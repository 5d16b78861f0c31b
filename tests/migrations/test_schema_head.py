"""Opening a database without Alembic: the head revision the code names
(:data:`cmc_workflow.store.schema.HEAD`) is the head of the migration scripts, and the
revision read with one plain SELECT is the one Alembic reads, at every revision, on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, text

from cmc_workflow.store import schema
from cmc_workflow.store.database import open_database
from tests.helpers.databases import PG_ENV, postgres_admin_url, postgres_database


def _alembic_says(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _in_order() -> list[str]:
    """The shipped revisions, oldest first."""
    script = ScriptDirectory(str(schema.MIGRATIONS))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database with no schema at all (a new SQLite file, a new PostgreSQL database)."""
    if request.param == "sqlite":
        engine = open_database(f"sqlite:///{tmp_path / 'empty.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests skipped")
    with postgres_database(admin_url, "cmc_head") as url:
        engine = open_database(url)
        try:
            yield engine
        finally:
            engine.dispose()


def test_head_names_the_newest_migration_script() -> None:
    found = schema.script_head()
    assert found == schema.HEAD, (
        f"cmc_workflow/store/schema.py says HEAD = {schema.HEAD!r}, the migration scripts "
        f"end at {found!r}: move HEAD to the new migration"
    )
    assert schema.head_revision() == schema.HEAD
    assert _in_order()[-1] == schema.HEAD
    assert schema.HEAD in schema.known_revisions()


def test_the_revision_is_read_as_alembic_reads_it_at_every_revision(
    empty_engine: Engine,
) -> None:
    assert schema.current_revision(empty_engine) is None
    assert _alembic_says(empty_engine) is None
    revisions = _in_order()
    assert len(revisions) >= 5
    for revision in revisions:
        schema.upgrade(empty_engine, revision)
        assert schema.current_revision(empty_engine) == revision
        assert _alembic_says(empty_engine) == revision
    schema.downgrade(empty_engine, "base")  # the version table stays, empty
    assert schema.current_revision(empty_engine) is None
    assert _alembic_says(empty_engine) is None


def test_a_version_table_with_two_rows_gets_alembic_s_own_error(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'two.db'}")
    try:
        schema.upgrade(engine, schema.HEAD)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0001')"))
        with pytest.raises(CommandError, match="more than one head"):
            schema.current_revision(engine)
        with pytest.raises(CommandError, match="more than one head"):
            _alembic_says(engine)
    finally:
        engine.dispose()
