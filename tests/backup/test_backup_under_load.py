"""A backup taken while commands are being fired restores whole (SEC-4, issue 16).

A writer thread fires commands without pause through its own engine (its own
connections: for the database it is another writer) and records every accepted command,
in commit order, as (item id, the item's visit after it). The backup is taken meanwhile.

What "present" means for a concurrent copy: the copy is one snapshot, taken at an instant
between the call and the return of :func:`take_backup`. So every command accepted before
the call is in the copy; with one writer the commands commit in order, and the copy holds
exactly a prefix of them (none is half in it, none after a missing one). On SQLite the
copy is held open (the progress callback waits) until the writer has committed twenty
more commands: all of them after the snapshot, so all of them absent, although they were
committed while the copy was being made.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cmc_workflow import Engine
from cmc_workflow.backup import restore_backup, take_backup, verify_backup
from cmc_workflow.backup.postgres import find_tool
from cmc_workflow.errors import BackupError
from cmc_workflow.store.database import open_database
from cmc_workflow.testing import FakeClock, fresh_sqlite_url
from tests.helpers import EDITOR, LEAD, TOPIC, UNGUARDED_PUBLISHING, check_invariants, ok_handler
from tests.helpers.databases import postgres_admin_url, postgres_database
from tests.helpers.processes import wait_until

STEPS = [
    ("approve", LEAD, {}),
    ("assign", LEAD, {"assignees": [EDITOR.id], "due_date": "2025-10-10"}),
    ("accept", EDITOR, {}),
]


class Writer:
    """Fires commands in a thread until stopped; ``accepted`` holds (item id, visit) per
    accepted command, in commit order."""

    def __init__(self, url: str, clock: FakeClock) -> None:
        self.engine = Engine.open(
            url,
            workflows=UNGUARDED_PUBLISHING,
            clock=clock,
            handlers={"publish_to_channels": ok_handler},
            runner="writer",
        )
        self.accepted: list[tuple[int, int]] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                item = self.engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
                self.accepted.append((item.id, item.visit))
                for trigger, actor, form in STEPS:
                    if self.stop.is_set():
                        return
                    item = self.engine.fire(item.id, trigger, actor=actor, data=dict(form))
                    self.accepted.append((item.id, item.visit))
        except BaseException as exc:  # judged by the test
            self.error = exc

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=300)
        self.engine.close()
        assert not self.thread.is_alive(), "the writer hung"
        assert self.error is None, f"the writer failed: {self.error!r}"


def visits(url: str) -> dict[int, int]:
    """Each item's visit as the database at ``url`` holds it."""
    engine = open_database(url)
    try:
        with engine.connect() as conn:
            return {r.id: r.visit for r in conn.execute(text("SELECT id, visit FROM items"))}
    finally:
        engine.dispose()


def present_prefix(accepted: list[tuple[int, int]], copy: dict[int, int]) -> int:
    """How many of ``accepted`` the copy holds, checking that they are a prefix."""
    present = [copy.get(item, 0) >= visit for item, visit in accepted]
    count = present.index(False) if False in present else len(present)
    late = [accepted[i] for i in range(count, len(accepted)) if present[i]]
    assert not late, f"the copy holds {late} but not {accepted[count]}: not one snapshot"
    return count


@pytest.fixture
def scratch_server() -> str | None:
    """The PostgreSQL server to verify dumps on (None: SQLite only)."""
    admin = postgres_admin_url()
    return None if admin is None else admin.render_as_string(hide_password=False)


@pytest.fixture
def restore_target(db_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind as ``db_url`` to restore into."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    admin = postgres_admin_url()
    assert admin is not None
    with postgres_database(admin, "cmc_restore") as url:
        yield url


def _needs_pg_dump(db_url: str) -> None:
    if db_url.startswith("postgres"):
        try:
            find_tool("pg_dump")
            find_tool("pg_restore")
        except BackupError as exc:
            pytest.skip(f"no PostgreSQL client programs here: {exc.code}")


@pytest.mark.req("SEC-4")
@pytest.mark.enforces("SEC-4", element="cmc_workflow/backup/take.py")
def test_a_backup_under_load_restores_every_command_accepted_before_it(
    db_url: str,
    clock: FakeClock,
    tmp_path: Path,
    scratch_server: str | None,
    restore_target: str,
) -> None:
    _needs_pg_dump(db_url)
    folder = tmp_path / "backups"
    held: dict[str, Any] = {}

    with Writer(db_url, clock) as writer:
        wait_until(lambda: len(writer.accepted) >= 60, "sixty commands accepted")

        def hold_the_snapshot(_left: int, _total: int) -> None:
            if "first" not in held:  # inside the snapshot: let the writer commit 20 more
                held["first"] = len(writer.accepted)
                wait_until(
                    lambda: len(writer.accepted) >= held["first"] + 20,
                    "twenty commands committed while the copy is held",
                )

        before = len(writer.accepted)
        taken = take_backup(db_url, folder, progress=hold_the_snapshot, pages=2)
        after = len(writer.accepted)
        wait_until(lambda: len(writer.accepted) >= after + 10, "ten commands after the backup")
    accepted = list(writer.accepted)

    verified = verify_backup(taken.file, scratch_url=scratch_server)
    assert verified.ok, [str(i) for i in verified.issues]
    assert verified.audit is not None
    assert verified.audit.ok
    assert verified.audit.records == taken.census.audit_records > 0

    restored = restore_backup(taken.file, restore_target, scratch_url=scratch_server)
    assert restored.ok, [str(i) for i in [*restored.verified.issues, *restored.issues]]
    assert check_invariants(restore_target) == []
    count = present_prefix(accepted, visits(restore_target))
    assert count >= before, f"{before - count} command(s) accepted before the backup are missing"
    # + 1: the command in flight may have committed before the snapshot, returned after
    assert count <= after + 1, "the copy holds commands accepted after the backup returned"
    if db_url.startswith("sqlite"):
        # twenty commands committed while the copy was held open: all absent from it
        assert after >= held["first"] + 20
        assert count <= held["first"] + 1
    assert taken.census.item_count == len({item for item, _ in accepted[:count]})


@pytest.mark.req("SEC-4")
def test_a_sqlite_copy_in_many_steps_is_not_restarted_by_writers(tmp_path: Path) -> None:
    """One page per step while the writer commits: the copy still finishes, in one pass
    over the pages (the left count only goes down), and is whole."""
    url = fresh_sqlite_url(tmp_path)
    clock = FakeClock()
    left: list[int] = []
    with Writer(url, clock) as writer:
        wait_until(lambda: len(writer.accepted) >= 200, "two hundred commands accepted")
        taken = take_backup(
            url, tmp_path / "backups", progress=lambda n, _t: left.append(n), pages=1
        )
    assert len(left) > 20, "the copy did not go in many steps"
    assert left == sorted(left, reverse=True), "the copy restarted"
    verified = verify_backup(taken.file)
    assert verified.ok, [str(i) for i in verified.issues]
