"""Console passwords: the scrypt form, the command that sets them, and the store's rows on
the memory store as on SQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest

from cmc_workflow import Engine
from cmc_workflow.console.passwords import hash_password, set_password, verify_password
from cmc_workflow.errors import ConflictError
from cmc_workflow.model import Actor
from cmc_workflow.staff.register import PersonEntry, PostEntry, Register
from cmc_workflow.store import Store, StorePort
from cmc_workflow.store.memory import MemoryStore
from cmc_workflow.store.port import ConsoleSessionRow
from tests.console.conftest import QUALIFIED, WORKFLOWS, Desk
from tests.helpers import PUBLISHING_POLICIES
from tests.helpers.cli import run_cli

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


def test_a_hash_is_salted_and_only_its_password_matches() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second  # salted
    assert verify_password("correct horse", first)
    assert not verify_password("correct horsE", first)
    assert not verify_password("correct horse", None)  # no password set: never matches
    assert not verify_password("correct horse", "md5$abc")
    assert not verify_password("correct horse", "scrypt$16384$8$1$!!$??")


def test_the_command_sets_a_password_for_a_registered_person_and_ends_their_sessions(
    desk: Desk,
) -> None:
    with (
        Engine.open(desk.url, workflows=WORKFLOWS, policies=PUBLISHING_POLICIES) as engine,
        engine.store.write() as tx,
    ):
        tx.insert_console_session(
            ConsoleSessionRow("k" * 64, "zhao", "c", NOW, NOW + dt.timedelta(hours=1), None)
        )
    done = run_cli(
        "console", "password", "--db", desk.url, "--stdin", "Zhao", stdin="新密码-long-enough\n"
    )
    assert done.returncode == 0, done.stderr
    assert "已为 zhao 设置控制台密码" in done.stdout
    short = run_cli("console", "password", "--db", desk.url, "--stdin", "zhao", stdin="short\n")
    assert short.returncode == 2
    assert "至少 10 个字符" in short.stderr
    stranger = run_cli(
        "console", "password", "--db", desk.url, "--stdin", "nobody", stdin="long enough pw\n"
    )
    assert stranger.returncode == 2
    assert "不在人员名册中" in stranger.stderr
    with (
        Engine.open(desk.url, workflows=WORKFLOWS, policies=PUBLISHING_POLICIES) as engine,
        engine.store.read() as tx,
    ):
        stored = tx.console_password("zhao")
        session = tx.console_session("k" * 64)
    assert stored is not None
    assert verify_password("新密码-long-enough", stored.password_hash)
    assert session is not None
    assert session.ended_at is not None


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[StorePort]:
    """The memory store, and the SQL store on SQLite and PostgreSQL."""
    if request.param == "memory":
        yield MemoryStore()
        return
    opened = Store.open(request.getfixturevalue(f"{request.param}_url"))
    try:
        yield opened
    finally:
        opened.close()


def test_every_store_keeps_passwords_and_sessions(store: StorePort) -> None:
    Register(store, clock=lambda: NOW).add(
        Actor("hr1"), PersonEntry("赵敏", "zhao", **QUALIFIED), [PostEntry("reviewer", {})]
    )
    with pytest.raises(ValueError, match="staff register"):
        set_password(store, "nobody", "long enough pw", by="t", now=NOW)
    row = set_password(store, "ZHAO", "long enough pw", by="t", now=NOW)
    assert row.person_id == "zhao"
    set_password(store, "zhao", "another long one", by="t", now=NOW)  # replaces it
    session = ConsoleSessionRow("a" * 64, "zhao", "c", NOW, NOW + dt.timedelta(hours=1), None)
    with store.write() as tx:
        tx.insert_console_session(session)
        tx.insert_console_session(ConsoleSessionRow("b" * 64, "zhao", "c", NOW, NOW, None))
    with pytest.raises(ConflictError), store.write() as tx:
        tx.insert_console_session(session)
    with store.write() as tx:
        assert tx.end_console_sessions(NOW, key="a" * 64) == 1
        assert tx.end_console_sessions(NOW, person_id="zhao") == 1
        assert tx.end_console_sessions(NOW, person_id="zhao") == 0
    with store.read() as tx:
        assert tx.console_session("a" * 64) == dataclasses.replace(session, ended_at=NOW)
        assert tx.console_session("c" * 64) is None
        stored = tx.console_password("zhao")
    assert stored is not None
    assert verify_password("another long one", stored.password_hash)
