"""Shared fixtures: one contract suite runs against every store.

``db_url`` is parametrized over SQLite (always: a fresh file per test) and PostgreSQL
(when ``CMC_TEST_POSTGRES_URL`` is set: one throw-away database per test run, migrated
once and emptied before each test). ``.ci/run`` sets the variable; without it the
PostgreSQL cases are skipped, never failed.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cmc_workflow.store import schema
from cmc_workflow.store.database import normalize_url, open_database
from cmc_workflow.store.tables import metadata

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
POLICIES = ROOT / "policies"
PUBLISHING_POLICIES = [POLICIES / "roles.yaml", POLICIES / "publishing.yaml"]
"""The bundled policies that judge publishing; the other files name other workflows, which
a test loading the publishing workflow alone does not load."""
PG_ENV = "CMC_TEST_POSTGRES_URL"


@pytest.fixture(autouse=True)
def _logging_left_as_found(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A command run in-process configures structlog as the CLI does, with loggers cached
    on first use; cached module loggers would then escape ``capture_logs`` in every later
    test. Within the tests the configuration never caches, and it is reset after each."""
    configure = structlog.configure

    def uncached(**settings: object) -> None:
        configure(**{**settings, "cache_logger_on_first_use": False})  # type: ignore[arg-type]

    monkeypatch.setattr(structlog, "configure", uncached)
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated throw-away PostgreSQL database for this test run."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests skipped")
    admin_url = make_url(normalize_url(base))
    name = f"cmc_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    engine = open_database(url)
    schema.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _empty_postgres(url: str) -> None:
    engine = open_database(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL with an empty, migrated schema: a SQLite file, or PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cmc.db'}"
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


class FakeClock:
    """A controllable clock for tests: starts at a fixed instant, moves when told."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2025, 9, 26, 7, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """A clock at Fri 2025-09-26 15:00 Asia/Shanghai (07:00 UTC)."""
    return FakeClock()
