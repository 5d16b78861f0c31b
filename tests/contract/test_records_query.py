"""The records a policy asks for (``StoreTx.records``): the database leaves out the rows
that cannot name the person, and what is left is compared as a person reads ids, so every
store finds exactly what the in-memory store finds, whatever was typed into the records
(issue 12: the training records of TRN-3 were all read and decoded on every command)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text

from cmc_workflow.model import normal_id
from cmc_workflow.policy.extension import RecordKeysExtension
from cmc_workflow.store import StorePort
from cmc_workflow.store.memory import MemoryStore
from cmc_workflow.store.port import ItemUpdate, NewItem, StoreTx
from cmc_workflow.store.records import candidates, keyed
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


PAIRS = [("training", f) for f in FIELDS] + [("other", "person")]


def _key(store: StorePort) -> list[tuple[str, str]]:
    with store.write() as tx:
        return tx.key_records(PAIRS)


@pytest.mark.parametrize("keys", ["none", "before", "after"])
def test_records_are_those_the_memory_store_finds_for_every_typed_id(
    sql_store: SqlStore, keys: str
) -> None:
    """Read by the SELECT that leaves rows out, or by key (migration 0015) with the keys
    written with the records (pairs registered ``before`` them: by the store on SQLite,
    the trigger on PostgreSQL) or filled when the pairs are registered ``after`` them."""
    memory = MemoryStore()
    _fill(memory, sql_store.sqlite)
    if keys == "before":
        assert _key(sql_store) == [p for p in PAIRS if p[1] != 'odd"name']
    _fill(sql_store, sql_store.sqlite)
    if keys == "after":
        assert _key(sql_store) == [p for p in PAIRS if p[1] != 'odd"name']
        assert _key(sql_store) == []  # registered once
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


def _keys(store: SqlStore) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT item_id, field, workflow_id, key FROM record_keys ORDER BY 1, 2")
        )
        return [tuple(r) for r in rows]


def test_keys_follow_every_write_of_a_record(sql_store: SqlStore) -> None:
    """An item is keyed when it is written, again when its data changes (its
    field renamed, typed otherwise, removed), and not an item of another workflow."""
    with sql_store.write() as tx:
        assert tx.unkeyed_records([("training", "trainee")]) == [("training", "trainee")]
        assert tx.key_records([("training", "trainee"), ("training", 'a"b')]) == [
            ("training", "trainee")
        ]
        assert tx.unkeyed_records([("training", "trainee")]) == []
        definition = tx.insert_definition("training", "a" * 64, 1, "t.yaml", "id: t", T0).id
        _insert(tx, definition, "training", "passed", {"trainee": "wang"})
        _insert(tx, definition, "training", "passed", {"trainee": "Wang"})
        _insert(tx, definition, "training", "passed", {"trainee": 17, "post": "x"})
        _insert(tx, definition, "training", "passed", {"trainee": True})
        _insert(tx, definition, "training", "passed", {"trainee": None})
        _insert(tx, definition, "training", "passed", {"trainee": ["wang"]})
        _insert(tx, definition, "training", "passed", {"trainee": 1.5})
        _insert(tx, definition, "training", "passed", {"trainee": "w" * 201})
        _insert(tx, definition, "other", "passed", {"trainee": "wang"})
    assert _keys(sql_store) == [
        (1, "trainee", "training", "wang"),
        (2, "trainee", "training", None),
        (3, "trainee", "training", "17"),
        (4, "trainee", "training", "true"),
        (7, "trainee", "training", None),
        (8, "trainee", "training", None),
    ]
    with sql_store.write() as tx:
        for item_id, data in ((1, {"trainee": "li"}), (2, {"trainee": "wang"}), (3, {})):
            tx.update_item(item_id, 1, ItemUpdate("passed", data, 1, 2, T0))
    assert _keys(sql_store)[:3] == [
        (1, "trainee", "training", "li"),
        (2, "trainee", "training", "wang"),
        (4, "trainee", "training", "true"),
    ]
    with sql_store.read() as tx:
        assert tx.records("training", ["passed"], "trainee", "WANG") == [{"trainee": "wang"}]
        assert tx.records("training", ["passed"], "trainee", "li") == [{"trainee": "li"}]
        assert tx.records("training", ["passed"], "trainee", "17") == []


def test_a_keyed_read_sends_only_the_persons_records_and_the_odd_ones(
    sql_store: SqlStore,
) -> None:
    with sql_store.write() as tx:
        tx.key_records([("training", "trainee")])
        definition = tx.insert_definition("training", "a" * 64, 1, "t.yaml", "id: t", T0).id
        for n in range(200):
            _insert(tx, definition, "training", "passed", {"trainee": f"p{n}", "post": "x"})
        _insert(tx, definition, "training", "passed", {"trainee": "Wang", "post": "editor"})
        _insert(tx, definition, "training", "expired", {"trainee": "wang", "post": "reviewer"})
        _insert(tx, definition, "training", "passed", {"trainee": 17, "post": "editor"})
    with sql_store.engine.connect() as conn:

        def sent(wanted: str, states: list[str]) -> list[Any]:
            query = keyed("training", states, "trainee", wanted)
            assert query is not None
            return [r["data"]["trainee"] for r in conn.execute(*query).mappings()]

        assert sent("wang", ["passed"]) == ["Wang"]
        assert sent("wang", ["passed", "expired"]) == ["Wang", "wang"]
        assert sent("p7", ["passed"]) == ["p7", "Wang"]
        assert sent("17", ["passed"]) == ["Wang", 17]
    assert keyed("training", ["passed"], "trainee", "wa\x00ng") is None


def test_a_keyed_record_whose_json_sqlite_cannot_parse_is_still_found(
    sql_store: SqlStore,
) -> None:
    if not sql_store.sqlite:
        pytest.skip("PostgreSQL stores no NaN in JSON")
    with sql_store.write() as tx:
        tx.key_records([("training", "trainee")])
        definition = tx.insert_definition("training", "a" * 64, 1, "t.yaml", "id: t", T0).id
        _insert(tx, definition, "training", "passed", {"trainee": "li", "score": float("nan")})
        _insert(tx, definition, "training", "passed", {"trainee": "wang", "post": "editor"})
    assert _keys(sql_store) == [
        (1, "trainee", "training", None),
        (2, "trainee", "training", "wang"),
    ]
    with sql_store.read() as tx:
        assert tx.records("training", ["passed"], "trainee", "Wang") == [
            {"trainee": "wang", "post": "editor"}
        ]
        (found,) = tx.records("training", ["passed"], "trainee", "LI")
        assert found["trainee"] == "li"


def test_an_engine_with_policies_keys_the_records_they_ask_for_once(
    sql_store: SqlStore,
) -> None:
    """Opening an engine registers its policies' pairs (a read, then one write the first
    time); records written before are keyed then."""
    with sql_store.write() as tx:
        definition = tx.insert_definition("training", "a" * 64, 1, "t.yaml", "id: t", T0).id
        _insert(tx, definition, "training", "passed", {"trainee": "wang", "post": "editor"})
    extension = RecordKeysExtension([("training", "trainee"), ("accounts", "account_id")])
    runtime = _Runtime(sql_store)
    extension.bind(runtime)
    assert runtime.writes == 1
    assert _keys(sql_store) == [(1, "trainee", "training", "wang")]
    extension.bind(runtime)
    assert runtime.writes == 1


class _Runtime:
    """The two transactions :meth:`RecordKeysExtension.bind` uses, counted."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.writes = 0

    def read(self) -> Any:
        return self.store.read()

    def write(self) -> Any:
        self.writes += 1
        return self.store.write()


def test_an_engine_on_a_read_only_file_registers_nothing_and_reads_as_before(
    sqlite_url: str,
) -> None:
    writer = SqlStore.open(sqlite_url)
    with writer.write() as tx:
        definition = tx.insert_definition("training", "a" * 64, 1, "t.yaml", "id: t", T0).id
        _insert(tx, definition, "training", "passed", {"trainee": "wang", "post": "editor"})
    writer.close()
    store = SqlStore.open(sqlite_url, read_only=True)
    try:
        RecordKeysExtension([("training", "trainee")]).bind(_Runtime(store))
        with store.read() as tx:
            assert tx.unkeyed_records([("training", "trainee")]) == [("training", "trainee")]
            assert tx.records("training", ["passed"], "trainee", "Wang") == [
                {"trainee": "wang", "post": "editor"}
            ]
    finally:
        store.close()


def test_a_registration_rolled_back_leaves_the_records_read_as_before(
    sql_store: SqlStore,
) -> None:
    """The store learns a pair is keyed only from a committed registration: one rolled
    back (nothing keyed) must not make it read an empty index."""
    pair = ("training", "trainee")
    with sql_store.write() as tx:
        definition = tx.insert_definition("training", "a" * 64, 1, "t.yaml", "id: t", T0).id
        _insert(tx, definition, "training", "passed", {"trainee": "wang", "post": "editor"})

    def register_then_fail() -> None:
        with sql_store.write() as tx:
            assert tx.key_records([pair]) == [pair]
            assert tx.records("training", ["passed"], "trainee", "WANG") == [
                {"trainee": "wang", "post": "editor"}
            ]
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        register_then_fail()
    assert _keys(sql_store) == []
    with sql_store.read() as tx:
        assert tx.unkeyed_records([pair]) == [pair]
        assert tx.records("training", ["passed"], "trainee", "Wang") == [
            {"trainee": "wang", "post": "editor"}
        ]
    with sql_store.write() as tx:
        assert tx.key_records([pair]) == [pair]
    with sql_store.read() as tx:
        assert tx.records("training", ["passed"], "trainee", "Wang") == [
            {"trainee": "wang", "post": "editor"}
        ]
    assert pair in sql_store.keyed
