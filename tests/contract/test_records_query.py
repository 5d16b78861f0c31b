"""The records a policy asks for (``StoreTx.records``): the database leaves out the rows
that cannot name the person, and what is left is compared as a person reads ids, so every
store finds exactly what the in-memory store finds, whatever was typed into the records
(issue 12: the training records of TRN-3 were all read and decoded on every command)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cmc_workflow.model import normal_id
from cmc_workflow.store import StorePort
from cmc_workflow.store.memory import MemoryStore
from cmc_workflow.store.port import NewItem, StoreTx
from cmc_workflow.store.records import candidates
from cmc_workflow.store.repository import SqlStore

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)

TYPED: list[Any] = [
    "wang",
    "Wang",
    "WANG",
    " wang ",
    "wang\t",
    "ｗａｎｇ",  # full-width
    "wang li",
    "wang  li",
    "Wang\u3000Li",  # an ideographic space
    "wan",
    "wangg",
    "\u212a",  # KELVIN SIGN: k
    "k",
    "straße",
    "STRASSE",
    "ﬁ",  # ligature: fi
    "fi",
    "王伟",
    " 王伟",
    "a.b@c-d_e",
    "[x]~{y}|`z`^",
    'say "hi"\\',
    "wa\u0000ng",
    "",
    5,
    -7,
    99999999999999999999,
    True,
    False,
    1.5,
    None,
    ["wang"],
    {"id": "wang"},
]
WANTED = sorted(
    {normal_id(str(v)) for v in TYPED if isinstance(v, str | int)}
    | {"5", "-7", "99999999999999999999", "1.5", "true", "false", "none", "wa\u0000ng"}
)
FIELDS = ["person", "the.person", 'odd"name']


@pytest.fixture(
    params=[
        "sqlite",
        "sqlite-core",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("postgres-core", marks=pytest.mark.postgres),
    ]
)
def sql_store(request: pytest.FixtureRequest) -> Any:
    backend, _, path = str(request.param).partition("-")
    url: str = request.getfixturevalue(f"{backend}_url")
    opened = SqlStore.open(url)
    store = opened if path != "core" else SqlStore(opened.engine, fast=False)
    try:
        yield store
    finally:
        store.close()


def _fill(store: StorePort, nul: bool) -> None:
    """One record per typed value and field, resting in ``passed`` or ``expired``, and
    the same in another workflow (a text holding NUL where the database stores one:
    PostgreSQL's JSON does not)."""
    with store.write() as tx:
        definition = tx.insert_definition("training", "a" * 64, 1, "t.yaml", "id: t", T0).id
        for n, typed in enumerate(TYPED):
            if not nul and isinstance(typed, str) and "\x00" in typed:
                continue
            for field in FIELDS:
                for workflow in ("training", "other"):
                    data = {field: typed, "n": n} if typed is not None else {"n": n}
                    _insert(tx, definition, workflow, "passed" if n % 3 else "expired", data)


def _insert(tx: StoreTx, definition: int, workflow: str, state: str, data: Any) -> None:
    tx.insert_item(
        NewItem(
            workflow_id=workflow,
            definition_id=definition,
            state=state,
            data=data,
            visit=1,
            seq=1,
            version=1,
            created_at=T0,
            created_by="trainer",
            updated_at=T0,
        )
    )


def test_records_are_those_the_memory_store_finds_for_every_typed_id(
    sql_store: SqlStore,
) -> None:
    memory = MemoryStore()
    _fill(memory, sql_store.sqlite)
    _fill(sql_store, sql_store.sqlite)
    asked = 0
    with memory.read() as mine, sql_store.read() as theirs:
        for states in (["passed"], ["passed", "expired"], ["expired"]):
            for field in FIELDS:
                for wanted in WANTED:
                    for value in {wanted, wanted.upper()}:
                        expected = mine.records("training", states, field, value)
                        assert theirs.records("training", states, field, value) == expected, (
                            states,
                            field,
                            value,
                        )
                        asked += bool(expected)
    assert asked > 40  # most typed ids are found by some query


def test_the_database_sends_only_the_records_that_may_name_the_person(
    sql_store: SqlStore,
) -> None:
    """Of a center's many records, only those naming the person, and those typed in a way
    only Python folds (capitals, spaces, non-ASCII), come back from the database."""
    with sql_store.write() as tx:
        definition = tx.insert_definition("training", "a" * 64, 1, "t.yaml", "id: t", T0).id
        for n in range(200):
            _insert(tx, definition, "training", "passed", {"trainee": f"p{n}", "post": "x"})
        _insert(tx, definition, "training", "passed", {"trainee": "Wang", "post": "editor"})
        _insert(tx, definition, "training", "passed", {"trainee": "wang", "post": "reviewer"})
        _insert(tx, definition, "training", "passed", {"trainee": "王伟", "post": "editor"})
        _insert(tx, definition, "training", "passed", {"trainee": 17, "post": "editor"})
        _insert(tx, definition, "training", "passed", {"trainee": True, "post": "editor"})
    with sql_store.engine.connect() as conn:
        for states in (["passed"], ["passed", "expired"]):

            def sent(wanted: str, states: list[str] = states) -> list[Any]:
                query = candidates(sql_store.sqlite, "training", states, "trainee", wanted)
                assert query is not None
                return [r["data"]["trainee"] for r in conn.execute(*query).mappings()]

            assert sent("wang") == ["Wang", "wang", "王伟"]
            assert sent("p7") == ["p7", "Wang", "王伟"]
            assert sent("17") == ["Wang", "王伟", 17]
            if not sql_store.sqlite:  # SQLite reads every record for a wanted true
                assert sent("true") == ["Wang", "王伟", True]
    with sql_store.read() as tx:
        found = tx.records("training", ["passed"], "trainee", "WANG")
        assert [r["post"] for r in found] == ["editor", "reviewer"]
        assert tx.records("training", ["passed"], "trainee", "p7") == [
            {"trainee": "p7", "post": "x"}
        ]


def test_a_record_whose_json_sqlite_cannot_parse_is_still_found(sql_store: SqlStore) -> None:
    """SQLite's JSON functions refuse ``NaN``, which Python writes and reads: the records
    are then read as before, and found as before."""
    if not sql_store.sqlite:
        pytest.skip("PostgreSQL stores no NaN in JSON")
    with sql_store.write() as tx:
        definition = tx.insert_definition("training", "a" * 64, 1, "t.yaml", "id: t", T0).id
        _insert(tx, definition, "training", "passed", {"trainee": "li", "score": float("nan")})
        _insert(tx, definition, "training", "passed", {"trainee": "wang", "post": "editor"})
    with sql_store.read() as tx:
        assert tx.records("training", ["passed"], "trainee", "Wang") == [
            {"trainee": "wang", "post": "editor"}
        ]
        (found,) = tx.records("training", ["passed"], "trainee", "LI")
        assert found["trainee"] == "li"
