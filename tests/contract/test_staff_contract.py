"""The staff register's part of the store contract (STF-1, SEC-6, STF-3), on every store
(memory, SQLite and PostgreSQL, fast path and Core; see ``conftest.py``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cmc_workflow.errors import ConflictError, StoreError
from cmc_workflow.store.port import NewItem, NewPost, PersonRow, StorePort

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
D0 = dt.date(2026, 3, 2)


def person(person_id: str = "wang", **changes: Any) -> PersonRow:
    values: dict[str, Any] = {
        "person_id": person_id,
        "name": "王芳",
        "employee_no": "E001",
        "email": "wang@example.org",
        "mobile": "13800138000",
        "wecom": None,
        "dingtalk": "wangfang",
        "education": "bachelor",
        "experience_years": 3.5,
        "joined_on": dt.date(2020, 7, 1),
        "created_at": T0,
        "updated_at": T0,
        **changes,
    }
    return PersonRow(**values)


def post(person_id: str = "wang", role: str = "editor", **changes: Any) -> NewPost:
    values: dict[str, Any] = {
        "person_id": person_id,
        "post": role,
        "role": role,
        "scope": {"channels": ["wechat", "weibo"]},
        "starts_on": D0,
        "ends_on": None,
        "created_at": T0,
        **changes,
    }
    return NewPost(**values)


def test_a_person_reads_back_as_written_and_twice_is_a_conflict(store: StorePort) -> None:
    with store.write() as tx:
        assert not tx.has_people()
        tx.insert_person(person())
    with store.read() as tx:
        assert tx.has_people()
        assert tx.person("wang") == person()
        assert tx.person("li") is None
        assert tx.people() == [person()]
    with pytest.raises(ConflictError), store.write() as tx:
        tx.insert_person(person(name="另一人"))
    with store.read() as tx:
        assert tx.person("wang") == person()


def test_a_change_of_a_person_writes_only_its_columns(store: StorePort) -> None:
    later = T0 + dt.timedelta(days=1)
    with store.write() as tx:
        tx.insert_person(person())
        tx.update_person("wang", {"mobile": "13900139000", "updated_at": later})
    with store.read() as tx:
        assert tx.person("wang") == person(mobile="13900139000", updated_at=later)
    with pytest.raises(TypeError), store.write() as tx:
        tx.update_person("wang", {"person_id": "li"})


def test_posts_have_days_and_holders_are_the_posts_held_on_a_day(store: StorePort) -> None:
    with store.write() as tx:
        tx.insert_person(person())
        tx.insert_person(person("li", name="李雷"))
        first = tx.insert_post(post())
        second = tx.insert_post(post("li", "ops_manager", scope={}, ends_on=D0))
        assert tx.end_post(first, D0 + dt.timedelta(days=9))
        assert not tx.end_post(second + 100, D0)
    with store.read() as tx:
        posts = tx.posts()
        assert [p.id for p in posts] == [first, second]
        assert posts[0].scope == {"channels": ["wechat", "weibo"]}
        assert posts[0].ends_on == D0 + dt.timedelta(days=9)
        assert [p.id for p in tx.posts("li")] == [second]
        assert [p.person_id for p in tx.holders("editor", D0)] == ["wang"]
        assert [p.person_id for p in tx.holders("ops_manager", D0)] == ["li"]
        assert tx.holders("ops_manager", D0 + dt.timedelta(days=1)) == []
        assert tx.holders("editor", D0 - dt.timedelta(days=1)) == []
        assert tx.holders("editor", D0 + dt.timedelta(days=10)) == []


def test_a_post_of_nobody_is_refused(store: StorePort) -> None:
    with pytest.raises(StoreError), store.write() as tx:
        tx.insert_post(post("nobody"))


def test_identity_posts_tell_an_unknown_person_from_one_without_posts(store: StorePort) -> None:
    with store.write() as tx:
        tx.insert_person(person())
        tx.insert_person(person("li", name="李雷"))
        tx.insert_post(post())
        tx.insert_post(post(role="reviewer", ends_on=D0))
    with store.read() as tx:
        assert tx.identity_posts("zhao") is None
        assert tx.identity_posts("li") == []
        found = tx.identity_posts("wang")
        assert found is not None
        assert [(p.role, p.ends_on) for p in found] == [("editor", None), ("reviewer", D0)]
        assert found == tx.posts("wang")


def test_a_staffing_alert_is_recorded_once_per_gap(store: StorePort) -> None:
    with store.write() as tx:
        definition_id = tx.insert_definition("wf", "a" * 64, 1, "wf.yaml", "id: wf", T0).id
        item_id = tx.insert_item(
            NewItem("wf", definition_id, "open", {}, 1, 1, 1, T0, "system", T0)
        )
        tx.insert_staffing_alert("account:a:ops_manager", item_id, T0)
    with pytest.raises(ConflictError), store.write() as tx:
        tx.insert_staffing_alert("account:a:ops_manager", item_id, T0)
    with store.write() as tx:
        assert tx.staffing_alerts() == {"account:a:ops_manager": item_id}
        tx.delete_staffing_alert("account:a:ops_manager")
        tx.delete_staffing_alert("account:b:ops_manager")  # none: nothing happens
    with store.read() as tx:
        assert tx.staffing_alerts() == {}
