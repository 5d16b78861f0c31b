"""Every single-row tamper of the history and the audit log is named (SEC-2).

A database holds a few items walked through the bundled ``publishing`` workflow, with
refused commands (one item's last record is a refusal, one actor's chain holds a single
refused start). Then, for EACH row of ``history`` and EACH row of ``audit`` in turn, each
column is changed, the row is deleted, and a forged row is inserted (linked and hashed
like the engine would, and unchained); :func:`verify` must name the table and the row
every time. Each tamper runs in a transaction that is rolled back, so every case starts
from the same untampered database, which verifies clean.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner
from sqlalchemy import Table, delete, insert, inspect, select, update
from sqlalchemy.engine import Connection

from cmc_workflow import Actor, Engine
from cmc_workflow.cli import main
from cmc_workflow.errors import CmcWorkflowError, ConflictError, StoreError
from cmc_workflow.store import audit as audit_log
from cmc_workflow.store import schema
from cmc_workflow.store.database import open_database
from cmc_workflow.store.tables import audit, audit_heads, history, items
from cmc_workflow.testing import FakeClock
from tests.helpers import (
    EDITOR,
    HAPPY_PATH,
    LEAD,
    ROOT,
    TOPIC,
    UNGUARDED_PUBLISHING,
    ok_handler,
    walk,
)
from tests.helpers.databases import PG_ENV, postgres_admin_url, postgres_database
from tests.helpers.processes import run

STRANGER = Actor("nobody", {"visitor"})
LONER = Actor("drifter", {"visitor"})


def build(engine: Engine) -> dict[str, int]:
    """Three items and two actor chains: a full lifecycle (handler included), an item whose
    last record is a refusal, an item half-way, and refused starts."""
    done = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    walk(engine, done, "archived")
    refused_last = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    with pytest.raises(CmcWorkflowError):
        engine.fire(refused_last.id, "approve", actor=STRANGER)
    engine.fire(refused_last.id, "approve", actor=LEAD)
    with pytest.raises(CmcWorkflowError):
        engine.fire(refused_last.id, "approve", actor=STRANGER)
    halfway = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    walk(engine, halfway, "drafting")
    for _ in range(2):
        with pytest.raises(CmcWorkflowError):
            engine.start("publishing", actor=STRANGER, data=dict(TOPIC))
    with pytest.raises(CmcWorkflowError):
        engine.start("publishing", actor=LONER, data=dict(TOPIC))
    return {"done": done.id, "refused_last": refused_last.id, "halfway": halfway.id}


@pytest.fixture
def built(db_url: str, clock: FakeClock) -> tuple[str, dict[str, int]]:
    with Engine.open(
        db_url,
        workflows=UNGUARDED_PUBLISHING,
        clock=clock,
        handlers={"publish_to_channels": ok_handler},
    ) as engine:
        ids = build(engine)
    return db_url, ids


@pytest.fixture
def conn(built: tuple[str, dict[str, int]]) -> Iterator[Connection]:
    database = open_database(built[0])
    try:
        with database.connect() as connection:
            yield connection
    finally:
        database.dispose()


def rows_of(conn: Connection, table: Table) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.id))]


def tampered(conn: Connection, *statements: Any) -> audit_log.Verification:
    """Verify with ``statements`` applied, then roll them back."""
    if conn.in_transaction():  # the reads before
        conn.rollback()
    tx = conn.begin()
    try:
        for statement in statements:
            conn.execute(statement)
        return audit_log.verify(conn)
    finally:
        tx.rollback()


def changed(name: str, value: Any) -> Any:
    """Another value of the same type for column ``name``."""
    if name in ("hash", "prev_hash"):
        return value[:-1] + ("1" if value[-1] != "1" else "2")
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(seconds=1)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 100
    if isinstance(value, list):
        return [*value, "forged"]
    if isinstance(value, dict):
        return {**value, "forged": True}
    if name == "item_id":  # an audit record of a refused start
        return 1
    return "mallory" if value != "mallory" else "forged"


def names_row(result: audit_log.Verification, table: str, row_id: int) -> bool:
    return any(f.table == table and f.row_id == row_id for f in result.findings)


def names_gap(result: audit_log.Verification, table: str, chain: str, seq: int) -> bool:
    return any(
        f.table == table
        and f.chain == chain
        and f.missing is not None
        and f.missing[0] <= seq <= f.missing[1]
        for f in result.findings
    )


def check_every_tamper(
    conn: Connection,
    table: Table,
    columns: tuple[str, ...],
    chain_of: Callable[[dict[str, Any]], str],
    seq_of: Callable[[dict[str, Any]], int],
    forge: Callable[[dict[str, Any], list[dict[str, Any]]], dict[str, Any]],
    other: Callable[[dict[str, Any], str], dict[str, Any]],
) -> list[str]:
    """Edit each column of each row, delete each row, insert a forged row after each row
    (linked and hashed, then unchained); returns what verification failed to name."""
    table_name = table.name
    missed: list[str] = []
    rows = rows_of(conn, table)
    next_id = max(r["id"] for r in rows) + 1
    for row in rows:
        where = f"{table_name} id {row['id']} ({chain_of(row)} #{seq_of(row)})"
        for column in columns:
            values = other(row, column)
            result = tampered(conn, update(table).where(table.c.id == row["id"]).values(values))
            if not names_row(result, table_name, row["id"]):
                missed.append(f"edit of {column} in {where}: {result.findings}")
        result = tampered(conn, delete(table).where(table.c.id == row["id"]))
        if not names_gap(result, table_name, chain_of(row), seq_of(row)):
            missed.append(f"deletion of {where}: {result.findings}")
        forged = forge(row, rows)
        for variant in (forged, {**forged, "prev_hash": None, "hash": None}):
            result = tampered(conn, insert(table).values({**variant, "id": next_id}))
            if not names_row(result, table_name, next_id):
                unchained = "unchained " if variant["hash"] is None else ""
                missed.append(f"{unchained}row inserted after {where}: {result.findings}")
    return missed


@pytest.mark.req("SEC-2")
def test_the_untampered_database_verifies_clean(conn: Connection) -> None:
    result = audit_log.verify(conn)
    assert result.ok, result.findings
    assert result.history_rows == len(rows_of(conn, history)) > 0
    assert result.records == len(rows_of(conn, audit)) > 0
    assert result.items == 3
    heads = {r["chain"]: (r["chain_seq"], r["hash"]) for r in rows_of_heads(conn)}
    assert heads == result.heads


def rows_of_heads(conn: Connection) -> list[dict[str, Any]]:
    """Every chain's anchor: ``audit_heads`` rows, and the items' own (migration 0006)."""
    anchors = [dict(r._mapping) for r in conn.execute(select(audit_heads))]
    on_items = conn.execute(select(items.c.id, items.c.audit_seq, items.c.audit_head))
    return anchors + [
        {"chain": f"item:{r.id}", "chain_seq": r.audit_seq, "hash": r.audit_head} for r in on_items
    ]


@pytest.mark.req("SEC-2")
def test_every_edit_deletion_and_insertion_of_a_history_row_is_named(
    conn: Connection, built: tuple[str, dict[str, int]]
) -> None:
    ids = built[1]
    all_rows = rows_of(conn, history)
    assert {r["kind"] for r in all_rows} == {"start", "fire", "handler"}

    def other(row: dict[str, Any], column: str) -> dict[str, Any]:
        if column == "item_id":  # moved to another item, where its number is free
            target = ids["halfway"] if row["item_id"] != ids["halfway"] else ids["done"]
            return {"item_id": target, "seq": 1000}
        return {column: changed(column, row[column])}

    def forge(row: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
        # a route row after ``row``, numbered after the item's last, linked to ``row``
        last = max(r["seq"] for r in rows if r["item_id"] == row["item_id"])
        forged = {k: v for k, v in row.items() if k not in ("id", "prev_hash", "hash")}
        forged.update(kind="route", trigger=None, actor="system", roles=[], form={}, seq=last + 1)
        forged["from_state"] = row["to_state"]
        forged["prev_hash"] = row["hash"]
        forged["hash"] = audit_log.history_hash(row["hash"], forged)
        return forged

    missed = check_every_tamper(
        conn,
        history,
        (*audit_log.HISTORY_HASHED_FIELDS, "prev_hash", "hash"),
        lambda r: f"item:{r['item_id']}",
        lambda r: int(r["seq"]),
        forge,
        other,
    )
    assert missed == []


@pytest.mark.req("SEC-2")
@pytest.mark.enforces("SEC-2", element="cmc_workflow/store/verification.py")
def test_every_edit_deletion_and_insertion_of_an_audit_record_is_named(
    conn: Connection, built: tuple[str, dict[str, int]]
) -> None:
    ids = built[1]
    records = rows_of(conn, audit)
    last = {}
    for r in records:
        last[r["chain"]] = r
    # the cases the issue saw missed: an item's last record that is a refusal, and an
    # actor chain of one record
    assert last[f"item:{ids['refused_last']}"]["outcome"] == "refused"
    assert last["actor:drifter"]["chain_seq"] == 1

    def other(row: dict[str, Any], column: str) -> dict[str, Any]:
        return {column: changed(column, row[column])}

    def forge(row: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
        end = max(r["chain_seq"] for r in rows if r["chain"] == row["chain"])
        forged = {k: v for k, v in row.items() if k not in ("id", "prev_hash", "hash")}
        forged.update(actor="mallory", outcome="accepted", rule=None, reason=None)
        forged["chain_seq"] = end + 1
        forged["prev_hash"] = row["hash"]
        forged["hash"] = audit_log.record_hash(row["hash"], forged)
        return forged

    missed = check_every_tamper(
        conn,
        audit,
        (*audit_log.HASHED_FIELDS, "chain_seq", "prev_hash", "hash"),
        lambda r: str(r["chain"]),
        lambda r: int(r["chain_seq"]),
        forge,
        other,
    )
    assert missed == []


@pytest.mark.req("SEC-2")
def test_a_rehashed_last_row_is_named_by_its_anchor(
    conn: Connection, built: tuple[str, dict[str, int]]
) -> None:
    """A careful forger re-hashes the row changed: only the anchor outside the chain can
    tell, for the last history row and the last audit record of a chain."""
    item_id = built[1]["refused_last"]
    rows = [r for r in rows_of(conn, history) if r["item_id"] == item_id]
    row = rows[-1]
    forged = {**row, "actor": "mallory"}
    digest = audit_log.history_hash(row["prev_hash"], forged)
    result = tampered(
        conn, update(history).where(history.c.id == row["id"]).values(actor="mallory", hash=digest)
    )
    assert names_row(result, "history", row["id"])
    record = [r for r in rows_of(conn, audit) if r["chain"] == f"item:{item_id}"][-1]
    forged = {**record, "reason": "nothing to see"}
    digest = audit_log.record_hash(record["prev_hash"], forged)
    result = tampered(
        conn,
        update(audit)
        .where(audit.c.id == record["id"])
        .values(reason="nothing to see", hash=digest),
    )
    assert names_row(result, "audit", record["id"])


@pytest.mark.req("SEC-2")
def test_the_anchors_themselves_are_checked(
    conn: Connection, built: tuple[str, dict[str, int]]
) -> None:
    ids = built[1]
    item = dict(conn.execute(select(items).where(items.c.id == ids["halfway"])).one()._mapping)
    moved = tampered(conn, update(items).where(items.c.id == item["id"]).values(state="published"))
    assert [(f.kind, f.table, f.row_id) for f in moved.findings] == [
        ("edited", "items", item["id"])
    ]
    counted = tampered(
        conn, update(items).where(items.c.id == item["id"]).values(seq=item["seq"] + 1)
    )
    assert [(f.kind, f.table, f.row_id) for f in counted.findings] == [
        ("edited", "items", item["id"])
    ]
    erased = tampered(
        conn,
        update(items).where(items.c.id == item["id"]).values(audit_seq=None, audit_head=None),
    )
    assert [(f.kind, f.table, f.chain) for f in erased.findings] == [
        ("deleted", "items", f"item:{item['id']}")
    ]
    rehashed = tampered(
        conn,
        update(items)
        .where(items.c.id == item["id"])
        .values(audit_head=changed("hash", item["audit_head"])),
    )
    assert [(f.kind, f.chain) for f in rehashed.findings] == [("edited", f"item:{item['id']}")]
    chain = "actor:nobody"
    gone = tampered(conn, delete(audit_heads).where(audit_heads.c.chain == chain))
    assert [(f.kind, f.table, f.chain) for f in gone.findings] == [
        ("deleted", "audit_heads", chain)
    ]
    assert [f.row_id for f in gone.findings] == [None]  # the row is gone: no id to name
    head = conn.execute(select(audit_heads).where(audit_heads.c.chain == chain)).one()
    edited = tampered(
        conn,
        update(audit_heads)
        .where(audit_heads.c.chain == chain)
        .values(hash=changed("hash", head.hash)),
    )
    assert [(f.kind, f.chain) for f in edited.findings] == [("edited", chain)]


@pytest.mark.req("SEC-2")
def test_the_engine_keeps_the_gap_of_a_deleted_last_record(
    built: tuple[str, dict[str, int]], clock: FakeClock
) -> None:
    """The next command after a deleted last record chains to the anchor, not to what is
    left: the deletion stays visible instead of being papered over."""
    url, ids = built
    item_id = ids["refused_last"]
    database = open_database(url)
    try:
        with database.begin() as conn:
            last = conn.execute(
                select(audit.c.id, audit.c.chain_seq)
                .where(audit.c.chain == f"item:{item_id}")
                .order_by(audit.c.chain_seq.desc())
                .limit(1)
            ).one()
            conn.execute(delete(audit).where(audit.c.id == last.id))
            rows = conn.execute(
                select(history.c.id, history.c.seq)
                .where(history.c.item_id == item_id)
                .order_by(history.c.seq.desc())
                .limit(1)
            ).one()
            conn.execute(delete(history).where(history.c.id == rows.id))
    finally:
        database.dispose()
    with Engine.open(url, workflows=UNGUARDED_PUBLISHING, clock=clock) as engine:
        engine.fire(item_id, "assign", actor=LEAD, data=dict(HAPPY_PATH[1][3]))
    database = open_database(url)
    try:
        with database.connect() as conn:
            result = audit_log.verify(conn)
    finally:
        database.dispose()
    assert names_gap(result, "audit", f"item:{item_id}", last.chain_seq)
    assert names_gap(result, "history", f"item:{item_id}", rows.seq)
    assert json.dumps([f.message_zh for f in result.findings], ensure_ascii=False).count("删除")


def run_cli(*args: str) -> Any:
    """``cmc-workflow ARGS`` in this process; the test session's logging is put back."""
    saved = structlog.get_config()
    try:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    finally:
        structlog.configure(**saved)


@pytest.mark.req("SEC-2")
def test_audit_verify_names_a_changed_reviewer_in_both_languages(
    tmp_path: Path, clock: FakeClock
) -> None:
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    with Engine.open(
        url,
        workflows=UNGUARDED_PUBLISHING,
        clock=clock,
        handlers={"publish_to_channels": ok_handler},
    ) as engine:
        ids = build(engine)
    done = run_cli("audit", "verify", "--db", url)
    assert done.exit_code == 0, done.output
    assert "16 history rows of 3 items" in done.stdout
    assert "intact" in done.stdout
    assert "完好" in done.stdout
    database = open_database(url)
    try:
        with database.begin() as conn:
            review = conn.execute(
                select(history.c.id).where(
                    history.c.item_id == ids["done"], history.c.from_state == "first_review"
                )
            ).scalar_one()
            conn.execute(update(history).where(history.c.id == review).values(actor="mallory"))
    finally:
        database.dispose()
    done = run_cli("audit", "verify", "--db", url)
    assert done.exit_code == 1
    assert f"edited: history row id {review} (item {ids['done']} #6)" in done.stdout
    assert f"历史记录 id {review}（事项 {ids['done']} #6）：内容与其哈希不符" in done.stdout
    assert "1 finding(s)" in done.stdout
    assert "发现 1 处问题" in done.stdout
    done = run_cli("audit", "verify", "--db", url, "--json")
    assert done.exit_code == 1
    (finding,) = json.loads(done.stdout)["findings"]
    assert (finding["kind"], finding["table"], finding["row_id"]) == ("edited", "history", review)
    assert finding["audit_id"] is None
    assert "内容与其哈希不符" in finding["message_zh"]


@pytest.mark.req("SEC-2")
def test_verify_writes_nothing(built: tuple[str, dict[str, int]]) -> None:
    url = built[0]
    if not url.startswith("sqlite"):
        pytest.skip("SQLite counts a connection's changes")
    database = open_database(url)
    try:
        with database.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert isinstance(raw, sqlite3.Connection)
            before = raw.total_changes
            assert audit_log.verify(conn).ok
            assert raw.total_changes == before
    finally:
        database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def own_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test alone (migrations go down and up): a SQLite file, or a new
    PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'own.db'}"
        return
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests skipped")
    with postgres_database(admin_url, "cmc_tamper") as url:
        yield url


@pytest.mark.req("SEC-2")
def test_a_database_upgraded_from_0004_verifies_clean_and_keeps_chaining(
    own_url: str, clock: FakeClock
) -> None:
    """Rows written before history was chained (the engine's rows, with the columns and
    the head table of 0005 taken away by its downgrade) are chained by the upgrade."""
    with Engine.open(
        own_url,
        workflows=UNGUARDED_PUBLISHING,
        clock=clock,
        handlers={"publish_to_channels": ok_handler},
        migrate=True,
    ) as engine:
        ids = build(engine)
    database = open_database(own_url)
    try:
        with database.connect() as conn:
            before = audit_log.verify(conn)
            chained = {r["id"]: r["hash"] for r in rows_of(conn, history)}
        assert before.ok, before.findings
        schema.downgrade(database, "0004")
        columns = {c["name"] for c in inspect(database).get_columns("history")}
        assert "hash" not in columns
        assert "audit_heads" not in inspect(database).get_table_names()
        schema.upgrade(database)
        assert schema.drift(database) == []
        with database.connect() as conn:
            after = audit_log.verify(conn)
            assert {r["id"]: r["hash"] for r in rows_of(conn, history)} == chained
        assert after.ok, after.findings
        assert (after.records, after.history_rows, after.heads) == (
            before.records,
            before.history_rows,
            before.heads,
        )
    finally:
        database.dispose()
    with Engine.open(own_url, workflows=UNGUARDED_PUBLISHING, clock=clock) as engine:
        engine.fire(ids["refused_last"], "assign", actor=LEAD, data=dict(HAPPY_PATH[1][3]))
        with pytest.raises(CmcWorkflowError):
            engine.fire(ids["halfway"], "approve", actor=STRANGER)
    database = open_database(own_url)
    try:
        with database.connect() as conn:
            result = audit_log.verify(conn)
        assert result.ok, result.findings
        assert result.history_rows == before.history_rows + 1
    finally:
        database.dispose()


@pytest.mark.req("SEC-2")
def test_audit_verify_while_runners_write_finds_nothing(
    built: tuple[str, dict[str, int]], clock: FakeClock
) -> None:
    """Commands committing while the chains are walked are not tampering: verify reads
    one snapshot (an anchor read before a command and its chain after it would differ)."""
    url, _ids = built
    with Engine.open(url, workflows=UNGUARDED_PUBLISHING, clock=clock) as engine:
        for _ in range(60):  # rows enough that a walk takes a while
            engine.fire(
                engine.start("publishing", actor=EDITOR, data=dict(TOPIC)).id,
                "edit",
                actor=LEAD,
                data={"title": "t"},
            )
    stop = threading.Event()
    errors: list[BaseException] = []
    fired = [0]

    def write() -> None:
        try:
            with Engine.open(url, workflows=UNGUARDED_PUBLISHING, clock=clock) as engine:
                item = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
                while not stop.is_set() or fired[0] < 20:
                    engine.fire(item.id, "edit", actor=LEAD, data={"title": f"t{fired[0]}"})
                    with pytest.raises(CmcWorkflowError):
                        engine.fire(item.id, "approve", actor=STRANGER)
                    fired[0] += 1
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while not fired[0] and writer.is_alive():
            time.sleep(0.01)  # the writer is writing
        # in child processes: the command configures logging, which must not change
        # under the writer thread of this process
        outcomes = [
            run(
                [sys.executable, "-m", "cmc_workflow", "audit", "verify", "--db", url, "--json"],
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                capture_output=True,
                text=True,
                check=False,
            )
            for _ in range(5)
        ]
    finally:
        stop.set()
        writer.join()
    assert errors == []
    assert fired[0] >= 20
    for done in outcomes:
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.req("SEC-2")
@pytest.mark.parametrize("table", ["audit", "history"])
def test_a_row_forged_past_a_chains_end_stops_the_item_and_is_named(
    built: tuple[str, dict[str, int]], clock: FakeClock, table: str
) -> None:
    """The next command cannot be numbered past a forged row: it fails and writes
    nothing, and verify names the row. On the audit chain (whose writers are serialized)
    the error says what happened instead of posing as a retryable conflict; a duplicate
    history number stays a conflict, the store's contract for a lost race."""
    url, ids = built
    item_id = ids["halfway"]
    database = open_database(url)
    try:
        with database.begin() as conn:
            if table == "audit":
                rows = [r for r in rows_of(conn, audit) if r["chain"] == f"item:{item_id}"]
                last = rows[-1]
                forged = {k: v for k, v in last.items() if k not in ("id", "prev_hash", "hash")}
                forged.update(actor="mallory", chain_seq=last["chain_seq"] + 1)
                forged["prev_hash"] = last["hash"]
                forged["hash"] = audit_log.record_hash(last["hash"], forged)
                conn.execute(insert(audit).values(forged))
            else:
                rows = [r for r in rows_of(conn, history) if r["item_id"] == item_id]
                last = rows[-1]
                forged = {k: v for k, v in last.items() if k not in ("id", "prev_hash", "hash")}
                forged.update(kind="route", actor="system", seq=last["seq"] + 1)
                (forged,) = audit_log.chain_history(last["hash"], [forged])
                conn.execute(insert(history).values(forged))
        with database.connect() as conn:
            before = len(rows_of(conn, history)), len(rows_of(conn, audit))
    finally:
        database.dispose()
    with Engine.open(url, workflows=UNGUARDED_PUBLISHING, clock=clock) as engine:
        with pytest.raises(StoreError if table == "audit" else ConflictError) as caught:
            engine.fire(item_id, "submit", actor=EDITOR, data={"content": "正文"})
        if table == "audit":
            assert not isinstance(caught.value, ConflictError)
            assert "cmc-workflow audit verify" in str(caught.value)
            assert "在引擎之外被插入" in str(caught.value)
        assert engine.get(item_id).state == "drafting"
    database = open_database(url)
    try:
        with database.connect() as conn:
            after = len(rows_of(conn, history)), len(rows_of(conn, audit))
            result = audit_log.verify(conn)
    finally:
        database.dispose()
    # nothing accepted; the conflict is audited as a refusal (the audit chain could not be)
    assert after == (before[0], before[1] + (table == "history"))
    assert any(f.table == table and f.kind == "inserted" for f in result.findings)


@pytest.mark.req("SEC-2")
def test_a_finding_reads_in_each_language_with_its_kind(
    conn: Connection, built: tuple[str, dict[str, int]]
) -> None:
    # the kind is the code in both languages; the Chinese says what it means, and the
    # row named is put in each language's own words
    item_id = built[1]["halfway"]
    first = conn.execute(
        select(history.c.id).where(history.c.item_id == item_id, history.c.seq == 1)
    ).scalar_one()
    result = tampered(conn, update(history).where(history.c.id == first).values(actor="mallory"))
    (finding,) = result.findings
    assert str(finding) == (
        f"edited: history row id {first} (item {item_id} #1): its content no longer matches "
        "its hash (changed after it was written)"
    )
    assert finding.zh == (
        f"edited（被改动）：历史记录 id {first}（事项 {item_id} #1）："
        "内容与其哈希不符（写入后被改动）"
    )
