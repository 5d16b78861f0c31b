"""The HTTP API through a real ``cmc-workflow serve`` on loopback (SQLite and
PostgreSQL): commands, reads, queries, reports and calendar questions, each checked
against what the engine recorded."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Server

pytestmark = pytest.mark.req("SEC-1")


def started(server: Server, title: str = "Rare books", **data: Any) -> dict[str, Any]:
    with server.client() as editor:
        reply = editor.post(
            "/v1/items", json={"workflow": "article", "data": {"title": title, **data}}
        )
    assert reply.status_code == 201, reply.text
    assert reply.headers["ETag"] == f'"v{reply.json()["version"]}"'
    assert reply.headers["Location"] == f"/v1/items/{reply.json()['id']}"
    body: dict[str, Any] = reply.json()
    return body


def test_an_item_moves_through_its_workflow_with_etags(server: Server) -> None:
    item = started(server)
    with server.client() as editor, server.client("zhao", "reviewer") as reviewer:
        read = editor.get(f"/v1/items/{item['id']}")
        assert read.status_code == 200
        assert read.headers["ETag"] == '"v1"'
        moved = editor.post(
            f"/v1/items/{item['id']}/fire",
            json={"trigger": "submit", "data": {"reviewer": "Zhao"}},
            headers={"If-Match": read.headers["ETag"]},
        )
        assert moved.status_code == 200, moved.text
        assert (moved.json()["state"], moved.headers["ETag"]) == ("review", '"v2"')
        # the state's label in both languages, whatever the request asks
        assert (moved.json()["state_label"], moved.json()["state_label_en"]) == ("审核", "Review")
        done = reviewer.post(
            f"/v1/items/{item['id']}/fire",
            json={"trigger": "approve"},
            headers={"If-Match": '"v2"'},
        )
        assert done.status_code == 200, done.text
        assert (done.json()["state"], done.json()["is_open"]) == ("done", False)
        history = editor.get(f"/v1/items/{item['id']}/history").json()
        assert [(h["trigger"], h["actor"]) for h in history] == [
            (None, "wang"),
            ("submit", "wang"),
            ("approve", "zhao"),
        ]
        audit = editor.get(f"/v1/items/{item['id']}/audit").json()
        assert [(a["command"], a["outcome"]) for a in audit] == [
            ("start", "accepted"),
            ("fire", "accepted"),
            ("fire", "accepted"),
        ]
        assert editor.get(f"/v1/items/{item['id']}/children").json() == []
        assert isinstance(editor.get(f"/v1/items/{item['id']}/outbox").json(), list)


def test_a_policy_refusal_names_its_rule_in_both_languages_and_changes_nothing(
    server: Server,
) -> None:
    item = started(server)
    with server.client("li", "editor,reviewer") as author:
        submitted = started(server)
        # li submits wang's piece (the author step), then tries to approve it
        moved = author.post(f"/v1/items/{submitted['id']}/fire", json={"trigger": "submit"})
        assert moved.status_code == 200, moved.text
        allowed = author.get(f"/v1/items/{submitted['id']}/allowed").json()
        approve = next(a for a in allowed if a["trigger"] == "approve")
        assert approve["allowed"] is False
        (reason,) = approve["reasons"]
        assert reason["rule"] == "author_does_not_review"
        assert "li" in reason["en"]
        assert "审核人" in reason["zh"]
        refused = author.post(f"/v1/items/{submitted['id']}/fire", json={"trigger": "approve"})
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["code"] == problem["rule"] == "author_does_not_review"
        assert problem["type"] == "urn:cmc-workflow:problem:author_does_not_review"
        assert problem["detail"] == problem["message"]["zh"]  # Chinese by default
        assert refused.headers["Content-Language"] == "zh-CN"
        english = author.post(
            f"/v1/items/{submitted['id']}/fire",
            json={"trigger": "approve"},
            headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"},
        )
        assert english.status_code == 403
        assert english.json()["detail"] == english.json()["message"]["en"]
        assert english.headers["Content-Language"] == "en"
        after = author.get(f"/v1/items/{submitted['id']}").json()
        assert (after["state"], after["version"]) == ("review", 2)
        audit = author.get(f"/v1/items/{submitted['id']}/audit").json()
        assert [a["rule"] for a in audit if a["outcome"] == "refused"] == [
            "author_does_not_review",
            "author_does_not_review",
        ]
    assert item["state"] == "draft"


def test_a_role_the_transition_does_not_allow_is_403_not_permitted(server: Server) -> None:
    item = started(server)
    with server.client("zhao", "reviewer") as reviewer:
        refused = reviewer.post(f"/v1/items/{item['id']}/fire", json={"trigger": "submit"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "NotPermitted"
    assert refused.json()["message"]["zh"].startswith("zhao 无权在 'draft' 执行 'submit'")


def test_a_stale_if_match_is_412_and_a_stale_expected_version_409(server: Server) -> None:
    item = started(server)
    with server.client() as editor:
        editor.post(f"/v1/items/{item['id']}/fire", json={"trigger": "submit"})
        stale = editor.post(
            f"/v1/items/{item['id']}/fire", json={"trigger": "submit"}, headers={"If-Match": '"v1"'}
        )
        assert stale.status_code == 412
        assert stale.json()["current_version"] == 2
        assert stale.headers["ETag"] == '"v2"'
        conflict = editor.post(
            f"/v1/items/{item['id']}/fire", json={"trigger": "reject", "expected_version": 1}
        )
        assert conflict.status_code == 409
        assert conflict.json()["code"] == "ConflictError"
        bad = editor.post(
            f"/v1/items/{item['id']}/fire", json={"trigger": "x"}, headers={"If-Match": "yesterday"}
        )
        assert bad.status_code == 400
        assert bad.json()["code"] == "if_match_invalid"
        assert editor.get(f"/v1/items/{item['id']}").json()["version"] == 2


def test_unknown_items_workflows_and_triggers(server: Server) -> None:
    item = started(server)
    with server.client() as editor:
        assert editor.get("/v1/items/999999").status_code == 404
        assert editor.get("/v1/items/999999").json()["code"] == "ItemNotFound"
        missing = editor.post("/v1/items", json={"workflow": "nope"})
        assert (missing.status_code, missing.json()["code"]) == (404, "WorkflowNotFound")
        wrong = editor.post(f"/v1/items/{item['id']}/fire", json={"trigger": "approve"})
        assert (wrong.status_code, wrong.json()["code"]) == (409, "InvalidTrigger")
        assert editor.get("/v1/no-such-route").json()["code"] == "not_found"


def test_batches_report_each_outcome(server: Server) -> None:
    with server.client("wang", "editor") as editor:
        made = editor.post(
            "/v1/batches/start",
            json={"workflow": "article", "entries": [{"data": {"title": "a"}}, {"data": {}}]},
        )
        assert made.status_code == 200, made.text
        first, second = made.json()
        assert first["accepted"]
        assert first["item"]["state"] == "draft"
        assert not second["accepted"]
        assert second["refusal"]["code"] == "FormInvalid"
        fired = editor.post(
            "/v1/batches/fire",
            json={
                "entries": [
                    {"item_id": first["item"]["id"], "trigger": "submit"},
                    {"item_id": first["item"]["id"], "trigger": "submit"},
                ]
            },
        )
        assert fired.status_code == 200, fired.text
        one, two = fired.json()
        assert one["accepted"]
        assert not two["accepted"]
        assert two["refusal"]["code"] == "InvalidTrigger"
        assert two["refusal"]["message"]["en"]


def test_queries_page_through_items_with_a_cursor(server: Server) -> None:
    titles = [f"Query piece {n}" for n in range(7)]
    ids = [started(server, t, priority=n % 2)["id"] for n, t in enumerate(titles)]
    with server.client() as editor:
        seen: list[int] = []
        params: dict[str, Any] = {"title": "query piece", "limit": 3, "order": "desc"}
        while True:
            page = editor.get("/v1/items", params=params)
            assert page.status_code == 200, page.text
            seen += [i["id"] for i in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
            params["cursor"] = cursor
        assert seen == sorted(ids, reverse=True)
        odd = editor.get("/v1/items", params={"title": "query piece", "data": "priority:1"})
        assert [i["id"] for i in odd.json()["items"]] == ids[1::2]
        as_text = editor.get("/v1/items", params={"title": "query piece", "data": 'priority:"1"'})
        assert as_text.json()["items"] == []  # the text "1" is not the number 1
        editor.post(
            f"/v1/items/{ids[0]}/fire", json={"trigger": "submit", "data": {"reviewer": "Zhao"}}
        )
        queue = editor.get("/v1/items", params={"role": "reviewer", "title": "query piece"})
        assert [i["id"] for i in queue.json()["items"]] == [ids[0]]
        mine = editor.get("/v1/items", params={"assignee": "zhao", "title": "query piece"})
        assert [i["id"] for i in mine.json()["items"]] == [ids[0]]
        running = editor.get("/v1/items", params={"sla": "running", "title": "query piece"})
        assert [i["id"] for i in running.json()["items"]] == [ids[0]]
        late = editor.get(
            "/v1/items",
            params={
                "due_before": "2100-01-01T00:00:00Z",
                "state": "review",
                "title": "query piece",
            },
        )
        assert [i["id"] for i in late.json()["items"]] == [ids[0]]
        assert (
            editor.get("/v1/items", params={"overdue": "true", "title": "query piece"}).json()[
                "items"
            ]
            == []
        )
        other_order = editor.get("/v1/items", params={"cursor": _cursor(editor), "order": "asc"})
        assert other_order.status_code == 422
        typo = editor.get("/v1/items", params={"titel": "x"})
        assert (typo.status_code, typo.json()["errors"][0]["field"]) == (422, "titel")
        bad_sort = editor.get("/v1/items", params={"sort": "title"})
        assert (bad_sort.status_code, bad_sort.json()["code"]) == (422, "input_invalid")
        naive = editor.get("/v1/items", params={"created_from": "2026-01-01T00:00:00"})
        assert naive.status_code == 422
        assert naive.json()["errors"][0]["field"] == "created_from"


def _cursor(client: Any) -> str:
    page = client.get("/v1/items", params={"limit": 1, "order": "desc"})
    cursor: str = page.json()["next_cursor"]
    return cursor


def test_inbox_definitions_reports_and_calendar(server: Server) -> None:
    item = started(server, "Inbox piece")
    with server.client() as editor, server.client("qian", "reviewer") as reviewer:
        editor.post(
            f"/v1/items/{item['id']}/fire", json={"trigger": "submit", "data": {"reviewer": "qian"}}
        )
        assert item["id"] in [i["id"] for i in reviewer.get("/v1/inbox").json()]
        workflows = editor.get("/v1/workflows").json()
        assert [w["id"] for w in workflows] == ["article"]
        assert editor.get("/v1/workflows/article").json()["label"] == {
            "zh": "稿件",
            "en": "Article",
        }
        (version,) = editor.get("/v1/workflows/article/versions").json()
        assert version["current"]
        assert version["open_items"] >= 1
        who = editor.get("/v1/workflows/article/states/review/who-can").json()
        approve = next(t for t in who["triggers"] if t["trigger"] == "approve")
        assert approve["may_fire"] == ["reviewer"]
        assert [r["rule"] for r in approve["rules"]] == ["author_does_not_review"]
        assert editor.get("/v1/workflows/article/states/nowhere/who-can").status_code == 404
        report = editor.get("/v1/report", params={"section": "items"}).json()
        assert list(report["sections"]) == ["items"]
        assert editor.get("/v1/report", params={"section": "nope"}).status_code == 422
        matrix = editor.get("/v1/compliance").json()
        assert matrix["summary"]["requirements"] > 0
        due = editor.get(
            "/v1/calendar/add-days", params={"start": "2025-09-26T15:00:00+08:00", "days": 2}
        ).json()
        assert due["due"] == "2025-09-29T17:30:00+08:00"  # Sun 2025-09-28 is a working day
        day = editor.get("/v1/calendar/days/2025-09-28").json()
        assert (day["working"], day["source"]) == (True, "official")
        assert editor.get("/v1/calendar/days/2025-10-01").json()["working"] is False


@pytest.mark.req("STF-5")
def test_task_operations_over_http_claim_and_fence_the_task(server: Server) -> None:
    item = started(server)
    with (
        server.client() as editor,
        server.client("zhao", "reviewer") as zhao,
        server.client("qian", "reviewer") as qian,
    ):
        moved = editor.post(f"/v1/items/{item['id']}/fire", json={"trigger": "submit"})
        assert moved.status_code == 200, moved.text
        queue = qian.get("/v1/tasks").json()
        assert item["id"] in [i["id"] for i in queue["queue"]]  # the server is shared
        claimed = zhao.post(f"/v1/items/{item['id']}/claim")
        assert claimed.status_code == 200, claimed.text
        assert claimed.headers["ETag"] == f'"v{claimed.json()["version"]}"'
        assert item["id"] in [i["id"] for i in zhao.get("/v1/tasks").json()["mine"]]
        assert item["id"] not in [i["id"] for i in qian.get("/v1/tasks").json()["queue"]]
        taken = qian.post(f"/v1/items/{item['id']}/claim")
        assert taken.status_code == 403, taken.text
        assert taken.json()["code"] == "task_claimed"
        assert taken.json()["message"]["zh"]
        fenced = qian.post(f"/v1/items/{item['id']}/fire", json={"trigger": "approve"})
        assert (fenced.status_code, fenced.json()["code"]) == (403, "task_claimed")
        assert zhao.post(f"/v1/items/{item['id']}/unclaim").status_code == 200
        done = qian.post(f"/v1/items/{item['id']}/fire", json={"trigger": "approve"})
        assert done.status_code == 200, done.text
        audit = editor.get(f"/v1/items/{item['id']}/audit").json()
        assert ("task.claim", "refused") in [(a["command"], a["outcome"]) for a in audit]
