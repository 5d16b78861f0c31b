"""The hash-chained audit log (SEC-1, SEC-2) on every store: chains are written as the
engine works, verification passes on an untouched log and names the record when one is
edited, deleted or inserted behind the engine's back."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from cmc_workflow import Actor, Engine
from cmc_workflow.errors import CmcWorkflowError
from cmc_workflow.store import audit as audit_log
from cmc_workflow.store.database import open_database
from cmc_workflow.store.tables import audit
from cmc_workflow.testing import FakeClock
from tests.helpers import EDITOR, LEAD, TOPIC, ok_handler, walk
from tests.helpers import UNGUARDED_PUBLISHING as PUBLISHING

STRANGER = Actor("nobody", {"visitor"})


def busy_log(engine: Engine) -> list[int]:
    """A log with accepted and refused commands over two items and a refused start."""
    first = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    second = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    walk(engine, first, "drafting")
    for item in (first, second):
        with pytest.raises(CmcWorkflowError):
            engine.fire(item.id, "approve", actor=STRANGER)
    with pytest.raises(CmcWorkflowError):
        engine.start("publishing", actor=STRANGER, data=dict(TOPIC))
    engine.fire(second.id, "approve", actor=LEAD)
    return [first.id, second.id]


def rows(url: str) -> list[dict[str, Any]]:
    db = open_database(url)
    try:
        with db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(audit).order_by(audit.c.id))]
    finally:
        db.dispose()


def execute(url: str, *statements: Any) -> None:
    db = open_database(url)
    try:
        with db.begin() as conn:
            for statement in statements:
                conn.execute(statement)
    finally:
        db.dispose()


def verify(url: str) -> audit_log.Verification:
    db = open_database(url)
    try:
        with db.connect() as conn:
            return audit_log.verify(conn)
    finally:
        db.dispose()


@pytest.fixture
def engine_options() -> dict[str, Any]:
    return {"workflows": PUBLISHING, "handlers": {"publish_to_channels": ok_handler}}


@pytest.mark.req("SEC-1", "SEC-2")
def test_every_record_is_chained_per_item_or_actor(engine: Engine, db_url: str) -> None:
    first, second = busy_log(engine)
    records = rows(db_url)
    assert {r["chain"] for r in records} == {f"item:{first}", f"item:{second}", "actor:nobody"}
    by_chain: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_chain.setdefault(r["chain"], []).append(r)
    for chain, members in by_chain.items():
        members.sort(key=lambda r: r["chain_seq"])
        assert [r["chain_seq"] for r in members] == list(range(1, len(members) + 1)), chain
        assert members[0]["prev_hash"] == audit_log.GENESIS
        for before, after in itertools.pairwise(members):
            assert after["prev_hash"] == before["hash"]
        for r in members:
            assert audit_log.record_hash(r["prev_hash"], r) == r["hash"]
    result = verify(db_url)
    assert result.ok, result.findings
    assert (result.records, result.chains) == (len(records), 3)
    assert result.heads[f"item:{first}"][0] == len(by_chain[f"item:{first}"])


@pytest.mark.req("SEC-2")
def test_an_edited_record_is_named(engine: Engine, db_url: str) -> None:
    first, _ = busy_log(engine)
    target = [r for r in rows(db_url) if r["item_id"] == first][2]
    execute(db_url, update(audit).where(audit.c.id == target["id"]).values(actor="mallory"))
    result = verify(db_url)
    assert [(f.kind, f.audit_id) for f in result.findings] == [("edited", target["id"])]
    assert f"record id {target['id']}" in result.findings[0].message


@pytest.mark.req("SEC-2")
def test_a_deleted_record_is_named_by_its_neighbours(engine: Engine, db_url: str) -> None:
    first, _ = busy_log(engine)
    chain = [r for r in rows(db_url) if r["item_id"] == first]
    gone, after = chain[2], chain[3]
    execute(db_url, delete(audit).where(audit.c.id == gone["id"]))
    result = verify(db_url)
    kinds = [(f.kind, f.audit_id) for f in result.findings]
    assert ("deleted", after["id"]) in kinds
    message = next(f.message for f in result.findings if f.audit_id == after["id"])
    assert f"between record id {chain[1]['id']}" in message
    assert f"record id {after['id']}" in message
    # the history still holds the accepted step, which now has no audit record
    assert any(f.kind == "deleted" and f.audit_id is None for f in result.findings)


@pytest.mark.req("SEC-2")
def test_deleting_the_last_record_of_an_item_is_caught_by_the_history(
    engine: Engine, db_url: str
) -> None:
    _, second = busy_log(engine)
    last = [r for r in rows(db_url) if r["item_id"] == second][-1]
    assert last["outcome"] == "accepted"
    execute(db_url, delete(audit).where(audit.c.id == last["id"]))
    result = verify(db_url)
    # named twice: by the chain's head row, and by the history's step without its record
    assert [(f.kind, f.chain) for f in result.findings] == [("deleted", f"item:{second}")] * 2
    assert result.findings[0].missing == (last["chain_seq"], last["chain_seq"])
    assert "approve" in result.findings[1].message


@pytest.mark.req("SEC-2")
def test_an_inserted_record_is_named(engine: Engine, db_url: str) -> None:
    first, _ = busy_log(engine)
    chain = [r for r in rows(db_url) if r["item_id"] == first]
    # a careful forger: renumbers the tail, links and hashes the new record correctly
    before = chain[1]
    forged = {k: v for k, v in before.items() if k not in ("id", "hash", "prev_hash", "chain_seq")}
    forged.update(actor="mallory", reason="looked fine to me", chain_seq=3)
    forged["prev_hash"] = before["hash"]
    forged["hash"] = audit_log.record_hash(before["hash"], forged)
    shifts = [
        update(audit).where(audit.c.id == r["id"]).values(chain_seq=r["chain_seq"] + 1)
        for r in reversed(chain[2:])
    ]
    execute(db_url, *shifts, insert(audit).values(forged))
    forged_id = max(r["id"] for r in rows(db_url))
    result = verify(db_url)
    assert [(f.kind, f.audit_id) for f in result.findings] == [("inserted", forged_id)]
    # a clumsy one: a record outside any chain
    clumsy = {**forged, "chain": None, "chain_seq": None, "prev_hash": None, "hash": None}
    execute(db_url, insert(audit).values(clumsy))
    kinds = [f.kind for f in verify(db_url).findings]
    assert kinds.count("unchained") == 1


@pytest.mark.req("SEC-2")
def test_a_record_moved_to_another_chain_breaks_both(engine: Engine, db_url: str) -> None:
    first, second = busy_log(engine)
    moved = [r for r in rows(db_url) if r["item_id"] == first][1]
    execute(
        db_url,
        update(audit)
        .where(audit.c.id == moved["id"])
        .values(item_id=second, chain=f"item:{second}", chain_seq=99),
    )
    kinds = {f.kind for f in verify(db_url).findings}
    assert {"edited", "deleted"} <= kinds


@pytest.mark.req("SEC-1", "SEC-2")
def test_concurrent_runners_keep_every_chain_intact(db_url: str, clock: FakeClock) -> None:
    """Writers on different items never wait for each other's chain; refusals written
    without the item lock still join the item's chain in order."""
    engines = [Engine.open(db_url, workflows=PUBLISHING, clock=clock) for _ in range(3)]
    items = [engines[0].start("publishing", actor=EDITOR, data=dict(TOPIC)).id for _ in range(3)]
    errors: list[BaseException] = []

    def work(engine: Engine, item_id: int) -> None:
        try:
            for n in range(6):
                engine.fire(item_id, "edit", actor=LEAD, data={"title": f"t{n}"})
                with pytest.raises(CmcWorkflowError):
                    engine.fire(items[0], "edit", actor=STRANGER, data={"title": "x"})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(engines[i], items[i])) for i in range(len(items))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.close()
    assert errors == []
    result = verify(db_url)
    assert result.ok, result.findings
    refused = [r for r in rows(db_url) if r["outcome"] == "refused"]
    assert len(refused) == 18
