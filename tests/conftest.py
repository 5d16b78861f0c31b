"""Shared fixtures: the clock, the databases and the engines every test file uses.

``db_url`` is parametrized over SQLite (always: a fresh copy of a migrated file per test)
and PostgreSQL (when ``CMC_TEST_POSTGRES_URL`` is set: a database of the test's own, made
from a template migrated once per run and dropped afterwards). ``.ci/run`` sets the
variable; without it the PostgreSQL cases are skipped, never failed.

``engine_factory`` opens engines on that database with that clock and closes them after
the test; ``engine`` opens one with the module's ``engine_options`` (override that fixture
in a test file to choose its workflows, policies, handlers and extensions).

Import shared names from ``tests.helpers`` and ``cmc_workflow.testing``, never from here.

Temporary folders (``tmp_path``: the SQLite files, the daemons' folders) are made in
``/dev/shm`` when it is a writable RAM file system with room to spare: the engine still
asks SQLite for ``synchronous=FULL``, but an fsync to RAM costs nothing, and the suite's
time on a busy machine was mostly tests waiting for the disk (a third of the wall time of
``tests/scenarios``). No test depends on the disk: the crash tests kill processes, which
leaves the page cache as it is on a disk. ``CMC_TEST_TMP=disk`` keeps them on disk (the
system's temporary folder); pytest keeps the folders of failed tests only.

Where ``PYTHONDONTWRITEBYTECODE`` is set (to keep ``.pyc`` files out of the tree), every
child process the tests start (the command line, daemons, runners: a few hundred) compiled
the whole package from source again, a fifth of the CPU of the tests that start them; the
run writes the compiled files under ``PYTHONPYCACHEPREFIX`` in the temporary root instead,
outside the tree, and keeps them for the next run.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from cmc_workflow import Engine, i18n
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.testing import FakeClock, fresh_sqlite_url
from tests.helpers import EngineFactory, keep_unguarded
from tests.helpers.databases import PG_ENV, PostgresPool, migrated_template, postgres_admin_url
from tests.helpers.order import slow_modules_first
from tests.helpers.processes import CHILDREN

RAM = Path("/dev/shm")


def _ram_temproot() -> Path | None:
    """``/dev/shm`` when it can hold the run's folders, else None (the system's default)."""
    if os.environ.get("CMC_TEST_TMP", "ram") == "disk":
        return None
    if not RAM.is_dir() or not os.access(RAM, os.W_OK | os.X_OK):
        return None
    return RAM if shutil.disk_usage(RAM).free > 4 << 30 else None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # read by pytest when it first makes the run's base folder (after every configure hook);
    # xdist's workers take theirs inside the controller's
    if config.option.basetemp is None and "PYTEST_DEBUG_TEMPROOT" not in os.environ:
        root = _ram_temproot()
        if root is not None:
            os.environ["PYTEST_DEBUG_TEMPROOT"] = str(root)
    _bytecode_outside_the_tree()


def _bytecode_outside_the_tree() -> None:
    """Compiled files in the temporary root, for this process and every child (xdist's
    workers included, which start after the configure hooks), when the environment asks
    for none in the tree and names no place of its own."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    root = os.environ.get("PYTEST_DEBUG_TEMPROOT") or tempfile.gettempdir()
    prefix = Path(root) / f"cmc-pycache-{os.getuid()}"
    os.environ["PYTHONPYCACHEPREFIX"] = str(prefix)
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    sys.pycache_prefix = str(prefix)
    sys.dont_write_bytecode = False


def pytest_runtest_setup() -> None:
    """The unguarded publishing copy written again if the temporary folder was cleaned
    during the run (a ``stat`` a test otherwise)."""
    keep_unguarded()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with a ``slow`` test first, so that a long test never starts last on one
    xdist worker while the other is idle (``tests.helpers.order``); after pytest's own
    ordering and the deselection, which it leaves as they were within each module."""
    items[:] = slow_modules_first(items)


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


@pytest.fixture(autouse=True)
def _language_left_as_found() -> Iterator[None]:
    """A command run in-process with ``--lang`` chooses the language for the process, as
    it should for a command; between tests it goes back to the locale's choice, so that no
    test reads in the language an earlier one chose."""
    yield
    i18n.set_language(None)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """The name of a PostgreSQL database migrated once for this run, copied per test."""
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests skipped")
    with migrated_template(admin_url) as name:
        yield name


@pytest.fixture(scope="session")
def postgres_pool(postgres_template: str) -> Iterator[PostgresPool]:
    """Copies of the template made ahead of the tests that take them, dropped after."""
    admin_url = postgres_admin_url()
    assert admin_url is not None
    pool = PostgresPool(admin_url, postgres_template)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def postgres_url(postgres_pool: PostgresPool) -> Iterator[str]:
    """A migrated PostgreSQL database of this test alone, dropped after it."""
    url = postgres_pool.take()
    try:
        yield url
    finally:
        postgres_pool.give_back(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated, empty SQLite file of this test alone."""
    return fresh_sqlite_url(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A database URL with an empty, migrated schema: a SQLite file, or PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database for a whole module whose scenarios share one engine: a migrated SQLite
    file, or a PostgreSQL database of the module's own, dropped after it."""
    if request.param == "sqlite":
        yield fresh_sqlite_url(tmp_path_factory.mktemp("module"))
        return
    pool: PostgresPool = request.getfixturevalue("postgres_pool")
    url = pool.take()
    try:
        yield url
    finally:
        pool.give_back(url)


@pytest.fixture
def clock() -> FakeClock:
    """A clock at Fri 2025-09-26 15:00 Asia/Shanghai (07:00 UTC)."""
    return FakeClock()


@pytest.fixture
def clocks() -> Clocks:
    """The SLA clocks on the default working calendar, to pass in ``extensions``."""
    return Clocks(WorkingCalendar())


@pytest.fixture
def engine_factory(db_url: str, clock: FakeClock) -> Iterator[EngineFactory]:
    """Opens engines (``Engine.open``'s arguments; ``url`` and ``clock`` default to this
    test's) and closes every one of them after the test."""
    opened: list[Engine] = []

    def open_engine(**options: Any) -> Engine:
        options.setdefault("clock", clock)
        engine = Engine.open(options.pop("url", db_url), **options)
        opened.append(engine)
        return engine

    yield open_engine
    for engine in reversed(opened):
        engine.close()


@pytest.fixture
def engine_options() -> dict[str, Any]:
    """What ``engine`` opens: a test file overrides this fixture with its definitions."""
    raise pytest.UsageError("override the engine_options fixture to use the engine fixture")


@pytest.fixture
def engine(engine_factory: EngineFactory, engine_options: dict[str, Any]) -> Engine:
    """An engine on ``db_url`` with this test's clock and the module's ``engine_options``."""
    return engine_factory(**engine_options)


@pytest.fixture(autouse=True)
def _children_ended() -> Iterator[None]:
    """Every child process the test started with ``tests.helpers.processes.start`` is
    ended by its pid and reaped after it, whatever the test did."""
    with CHILDREN:
        yield
