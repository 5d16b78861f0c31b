"""The store contract of the query API and the API tokens: one body per behaviour, run on
every store (memory, SQLite, PostgreSQL; both paths of the SQL store)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cmc_workflow.errors import ConflictError
from cmc_workflow.store.port import PAUSED, STOPPED, ItemFilter, ItemUpdate, NewToken, StorePort
from tests.contract.test_store_contract import T0, at, clock, definition, new_item


def seed(store: StorePort) -> dict[str, int]:
    """Six items: two workflows, states, data of every JSON kind, clocks of each status."""
    ids: dict[str, int] = {}
    with store.write() as tx:
        d = definition(tx)
        other = definition(tx, "other", "b" * 64)
        rows: list[tuple[str, int, dict[str, Any]]] = [
            ("a", d, {"title": "Rare Books exhibition", "n": 1, "flag": True, "who": "Wang"}),
            ("b", d, {"title": "Spring festival", "n": "1", "flag": 1, "who": ["li", "wang"]}),
            ("c", d, {"title": "rare 50%_off", "n": 1.0, "flag": False, "who": None}),
            ("d", other, {"title": "Other books", "n": 2, "tags": ["x"], "who": "zhao"}),
            ("e", d, {"n": 3, "title": 7}),
            ("f", d, {"title": "closed rare", "n": 4}),
        ]
        for i, (name, definition_id, data) in enumerate(rows):
            wf = "other" if definition_id == other else "wf"
            state = ["draft", "review", "review", "draft", "publish", "done"][i]
            ids[name] = tx.insert_item(
                new_item(
                    definition_id,
                    workflow_id=wf,
                    state=state,
                    data=data,
                    created_at=at(i * 10),
                    updated_at=at(100 - i * 10),
                )
            )
        closed = ItemUpdate("done", rows[5][2], 1, 2, updated_at=at(120), closed_at=at(120))
        tx.update_item(ids["f"], 1, closed)
        tx.insert_clock(clock(ids["a"], due_at=at(30)))
        tx.insert_clock(clock(ids["b"], due_at=at(300), warned_at=at(20)))
        tx.insert_clock(clock(ids["c"], status=PAUSED, due_at=at(10), paused_at=at(5)))
        tx.insert_clock(
            clock(ids["e"], status=STOPPED, stopped_at=at(40), outcome="met", due_at=at(50))
        )
        tx.insert_clock(
            clock(
                ids["f"], status=STOPPED, stopped_at=at(90), outcome="breached", breached_at=at(80)
            )
        )
    return ids


def found(store: StorePort, **filters: Any) -> list[int]:
    with store.read() as tx:
        return [r.id for r in tx.find_items(ItemFilter(**filters))]


def test_filters_combine(store: StorePort) -> None:
    ids = seed(store)
    a, b, c, d, e, f = (ids[k] for k in "abcdef")
    assert found(store) == [a, b, c, d, e, f]
    assert found(store, workflows=("other",)) == [d]
    assert found(store, states=("review",)) == [b, c]
    assert found(store, workflows=("wf",), states=("draft",)) == [a]
    assert found(store, pairs=(("wf", "review"), ("other", "draft"))) == [b, c, d]
    assert found(store, pairs=()) == []
    assert found(store, open=False) == [f]
    assert found(store, open=True) == [a, b, c, d, e]
    assert found(store, created_from=at(10), created_until=at(30)) == [b, c]
    assert found(store, updated_until=at(70)) == [e]
    assert found(store, updated_from=at(100)) == [a, f]


def test_data_fields_compare_as_json(store: StorePort) -> None:
    ids = seed(store)
    a, b, c = ids["a"], ids["b"], ids["c"]
    assert found(store, data=(("n", 1),)) == [a, c]  # 1 and 1.0, not "1"
    assert found(store, data=(("n", "1"),)) == [b]
    assert found(store, data=(("flag", True),)) == [a]  # not the number 1
    assert found(store, data=(("flag", 1),)) == [b]
    assert found(store, data=(("flag", False),)) == [c]
    assert found(store, data=(("who", None),)) == [c]  # present and null
    assert found(store, data=(("n", 1), ("flag", False))) == [c]
    assert found(store, data=(("missing", 1),)) == []


def test_title_text_ignores_ascii_case_and_wildcards(store: StorePort) -> None:
    ids = seed(store)
    assert found(store, title="RARE") == [ids["a"], ids["c"], ids["f"]]
    assert found(store, title="50%_") == [ids["c"]]  # % and _ are text, not wildcards
    assert found(store, title="%") == [ids["c"]]
    assert found(store, title="7") == []  # a title that is not text never matches


def test_assignee_fields_name_people_or_lists(store: StorePort) -> None:
    ids = seed(store)
    assigned = (("wf", "draft", "who"), ("wf", "review", "who"), ("other", "draft", "who"))
    assert found(store, assigned=assigned, people=("wang",)) == [ids["b"]]
    assert found(store, assigned=assigned, people=("Wang", "wang")) == [ids["a"], ids["b"]]
    assert found(store, assigned=assigned, people=("zhao",)) == [ids["d"]]
    assert found(store, assigned=(("wf", "review", "who"),), people=("Wang",)) == []
    assert found(store, assigned=(), people=("wang",)) == []


def test_clocks_answer_due_and_sla(store: StorePort) -> None:
    ids = seed(store)
    assert found(store, due_before=at(60)) == [ids["a"]]  # running only: c is paused
    assert found(store, due_before=at(301)) == [ids["a"], ids["b"]]
    assert found(store, sla="running") == [ids["a"], ids["b"]]
    assert found(store, sla="paused") == [ids["c"]]
    assert found(store, sla="warned") == [ids["b"]]
    assert found(store, sla="met") == [ids["e"]]
    assert found(store, sla="breached") == [ids["f"]]


@pytest.mark.parametrize("sort", ["created_at", "updated_at", "id"])
@pytest.mark.parametrize("descending", [False, True])
def test_keyset_pages_walk_every_item_once(store: StorePort, sort: str, descending: bool) -> None:
    ids = seed(store)
    with store.write() as tx:  # two more items with the same times as a: ties go by id
        for _ in range(2):
            tx.insert_item(new_item(definition(tx, "t", "c" * 64) if _ == 0 else 1))
    everything = found(store, sort=sort, descending=descending, limit=100)
    assert sorted(everything) == sorted(
        [*ids.values(), max(ids.values()) + 1, max(ids.values()) + 2]
    )
    walked: list[int] = []
    after: tuple[Any, int] | None = None
    while True:
        with store.read() as tx:
            rows = tx.find_items(ItemFilter(sort=sort, descending=descending, after=after, limit=3))
        walked += [r.id for r in rows]
        if len(rows) < 3:
            break
        last = rows[-1]
        after = (getattr(last, sort), last.id)
    assert walked == everything


def test_filter_refuses_what_it_cannot_answer() -> None:
    with pytest.raises(ValueError, match="sort by"):
        ItemFilter(sort="title")
    with pytest.raises(ValueError, match="sla"):
        ItemFilter(sla="late")
    with pytest.raises(ValueError, match="limit"):
        ItemFilter(limit=0)
    with pytest.raises(ValueError, match="aware"):
        ItemFilter(created_from=dt.datetime(2026, 1, 1))


def test_tokens_are_stored_listed_revoked(store: StorePort) -> None:
    token = NewToken("k1", "h" * 64, "library-erp", "erp", T0, "admin")
    with store.write() as tx:
        tx.insert_token(token)
        tx.insert_token(NewToken("k2", "i" * 64, "other", "x", at(1), "admin"))
    with pytest.raises(ConflictError), store.write() as tx:
        tx.insert_token(token)
    with store.write() as tx:
        assert tx.revoke_token("k1", at(5))
        assert not tx.revoke_token("k1", at(6))
        assert not tx.revoke_token("nope", at(6))
        tx.token_used("k2", at(7))
    with store.read() as tx:
        row = tx.token("k1")
        assert row is not None
        assert (row.secret_hash, row.system, row.revoked_at) == ("h" * 64, "library-erp", at(5))
        assert [t.key for t in tx.tokens()] == ["k1", "k2"]
        assert [t.key for t in tx.tokens("other")] == ["k2"]
        assert tx.tokens("other")[0].last_used_at == at(7)
        assert tx.token("nope") is None
