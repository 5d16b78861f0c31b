"""Bad input over HTTP gets a clear problem document and changes nothing: malformed JSON,
unknown fields, oversized bodies, wrong versions, wrong types, a token of another
system, missing or revoked tokens, a missing person; failed sign-ins are audited (SEC-1)
and rate-limited per client address."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmc_workflow.api.tokens import issue_token, revoke_token
from cmc_workflow.store import Store
from cmc_workflow.store.port import ItemFilter
from cmc_workflow.testing import FakeClock
from tests.api.conftest import SYSTEM, Server, start_server
from tests.helpers.processes import Processes

pytestmark = pytest.mark.req("SEC-1")


@pytest.fixture(scope="module")
def small(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server taking bodies of at most 4 KiB and 1,000 failed sign-ins a minute."""
    with Processes() as processes:
        yield start_server(
            processes,
            module_db_url,
            tmp_path_factory.mktemp("small"),
            "--max-body",
            "4096",
            "--auth-failures",
            "1000",
        )


def snapshot(server: Server) -> tuple[int, int, list[tuple[int, str, int]]]:
    """How many history rows and audit records there are, and every item's state."""
    store = Store.open(server.db)
    try:
        with store.read() as tx:
            page = tx.find_items(ItemFilter(limit=1000))
            history = sum(len(tx.history(r.id)) for r in page)
            audits = sum(1 for _ in tx.audit_records())
            return history, audits, [(r.id, r.state, r.version) for r in page]
    finally:
        store.close()


def items_and_history(server: Server) -> tuple[int, list[tuple[int, str, int]]]:
    history, _, items = snapshot(server)
    return history, items


def audit_rows(server: Server) -> list[dict[str, Any]]:
    store = Store.open(server.db)
    try:
        with store.read() as tx:
            return list(tx.audit_records())
    finally:
        store.close()


def a_draft(server: Server) -> int:
    with server.client() as editor:
        reply = editor.post("/v1/items", json={"workflow": "article", "data": {"title": "t"}})
    assert reply.status_code == 201, reply.text
    item_id: int = reply.json()["id"]
    return item_id


def is_problem(reply: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = reply.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == f"urn:cmc-workflow:problem:{code}"
    assert body["message"]["zh"]
    assert body["message"]["en"]
    return body


def test_malformed_json_is_400_and_starts_nothing(small: Server) -> None:
    item = a_draft(small)
    before = items_and_history(small)
    with small.client() as editor:
        for body in (b"{", b'{"workflow": "article",}', b"\xff\xfe", b"[1, 2"):
            reply = editor.post(
                "/v1/items", content=body, headers={"Content-Type": "application/json"}
            )
            is_problem(reply, 400, "json_invalid")
        fired = editor.post(
            f"/v1/items/{item}/fire",
            content=b'{"trigger": ',
            headers={"Content-Type": "application/json"},
        )
        is_problem(fired, 400, "json_invalid")
    assert items_and_history(small) == before


def test_unknown_fields_and_wrong_types_are_422_and_change_nothing(small: Server) -> None:
    item = a_draft(small)
    before = items_and_history(small)
    with small.client() as editor:
        unknown = editor.post("/v1/items", json={"workflow": "article", "dta": {"title": "x"}})
        body = is_problem(unknown, 422, "request_invalid")
        assert [e["field"] for e in body["errors"]] == ["dta"]
        extra = editor.post(f"/v1/items/{item}/fire", json={"trigger": "submit", "force": True})
        assert [e["field"] for e in is_problem(extra, 422, "request_invalid")["errors"]] == [
            "force"
        ]
        typed = editor.post(
            f"/v1/items/{item}/fire", json={"trigger": "submit", "expected_version": "1"}
        )
        is_problem(typed, 422, "request_invalid")
        path = editor.get("/v1/items/abc")
        is_problem(path, 422, "request_invalid")
        form = editor.post("/v1/items", json={"workflow": "article", "data": {"title": 5}})
        assert is_problem(form, 422, "FormInvalid")["errors"][0]["field"] == "title"
        nul = editor.post(f"/v1/items/{item}/fire", json={"trigger": "sub\u0000mit"})
        is_problem(nul, 422, "input_invalid")
        batch = editor.post(
            "/v1/batches/fire", json={"entries": [{"item_id": item, "trigger": "submit", "who": 1}]}
        )
        is_problem(batch, 422, "request_invalid")
    assert items_and_history(small) == before


def test_oversized_bodies_are_413_whether_announced_or_streamed(small: Server) -> None:
    before = items_and_history(small)
    big = {"workflow": "article", "data": {"title": "x" * 8000}}
    with small.client("wang", "editor", **{"Accept-Language": "en"}) as editor:
        announced = editor.post("/v1/items", json=big)
        body = is_problem(announced, 413, "body_too_large")
        assert body["detail"] == body["message"]["en"]

        def chunks() -> Iterator[bytes]:
            yield b'{"workflow": "article", "data": {"title": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}}'

        streamed = editor.post(
            "/v1/items", content=chunks(), headers={"Content-Type": "application/json"}
        )
        is_problem(streamed, 413, "body_too_large")
    assert items_and_history(small) == before


def test_wrong_versions_are_412_or_409_and_change_nothing(small: Server) -> None:
    item = a_draft(small)
    with small.client() as editor:
        for tag in ('"v7"', 'W/"v0"', "3"):
            stale = editor.post(
                f"/v1/items/{item}/fire", json={"trigger": "submit"}, headers={"If-Match": tag}
            )
            is_problem(stale, 412, "precondition_failed")
        both = editor.post(
            f"/v1/items/{item}/fire",
            json={"trigger": "submit", "expected_version": 2},
            headers={"If-Match": '"v1"'},
        )
        is_problem(both, 422, "input_invalid")
        conflict = editor.post(
            f"/v1/items/{item}/fire", json={"trigger": "submit", "expected_version": 9}
        )
        is_problem(conflict, 409, "ConflictError")
        now = editor.get(f"/v1/items/{item}")
        assert (now.json()["state"], now.headers["ETag"]) == ("draft", '"v1"')


def test_a_token_of_another_system_is_refused_and_audited_without_its_secret(small: Server) -> None:
    store = Store.open(small.db)
    try:
        other = issue_token(store, "cms", label="cms", created_by="pytest", now=FakeClock()())
    finally:
        store.close()
    before = items_and_history(small)
    with httpx.Client(base_url=small.url, timeout=60.0) as raw:
        headers = {
            "Authorization": f"Bearer {other.text}",
            "X-Cmc-System": SYSTEM,
            "X-Cmc-Actor": "wang",
            "X-Cmc-Roles": "editor",
        }
        refused = raw.post(
            "/v1/items", json={"workflow": "article", "data": {"title": "t"}}, headers=headers
        )
        is_problem(refused, 403, "token_system_mismatch")
        # with its own system named, the same token works
        own = {**headers, "X-Cmc-System": "cms"}
        assert raw.get("/v1/workflows", headers=own).status_code == 200
    assert items_and_history(small) == before
    records = [r for r in audit_rows(small) if r["command"] == "authenticate"]
    assert any(
        r["rule"] == "token_system_mismatch" and r["detail"]["key"] == other.key for r in records
    )
    secret = other.text.split("_", 2)[2]
    assert all(secret not in repr(r) for r in audit_rows(small))
    assert secret not in small.log.read_text(errors="replace")


def test_missing_malformed_unknown_and_revoked_tokens_are_401(small: Server) -> None:
    store = Store.open(small.db)
    try:
        issued = issue_token(
            store, SYSTEM, label="soon revoked", created_by="pytest", now=FakeClock()()
        )
    finally:
        store.close()
    good = {"X-Cmc-Actor": "wang", "X-Cmc-Roles": "editor"}
    key, secret = issued.key, issued.text.split("_", 2)[2]
    wrong_secret = f"cmcw_{key}_{'A' * 43}"
    cases = [
        ({}, "token_missing"),
        ({"Authorization": "Basic d2FuZzpwdw=="}, "token_missing"),
        ({"Authorization": "Bearer not-a-token"}, "token_malformed"),
        ({"Authorization": f"Bearer cmcw_{'0' * 16}_{secret}"}, "token_unknown"),
        ({"Authorization": f"Bearer {wrong_secret}"}, "token_unknown"),
    ]
    with httpx.Client(base_url=small.url, timeout=60.0) as raw:
        assert (
            raw.get(
                "/v1/workflows", headers={**good, "Authorization": f"Bearer {issued.text}"}
            ).status_code
            == 200
        )
        for headers, rule in cases:
            reply = raw.get("/v1/workflows", headers={**good, **headers})
            is_problem(reply, 401, rule)
            assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        store = Store.open(small.db)
        try:
            assert revoke_token(store, issued.text, dt.datetime.now(dt.UTC))
        finally:
            store.close()
        revoked = raw.get(
            "/v1/workflows", headers={**good, "Authorization": f"Bearer {issued.text}"}
        )
        is_problem(revoked, 401, "token_revoked")
    rules = [r["rule"] for r in audit_rows(small) if r["command"] == "authenticate"]
    for _, rule in cases:
        assert rule in rules
    assert "token_revoked" in rules


def test_the_person_acting_must_be_named_and_admissible(small: Server) -> None:
    before = items_and_history(small)
    with small.client(actor=None) as nobody:
        is_problem(nobody.get("/v1/inbox"), 403, "actor_missing")
    with small.client("system", "editor") as engine_name:
        refused = engine_name.post(
            "/v1/items", json={"workflow": "article", "data": {"title": "t"}}
        )
        is_problem(refused, 403, "actor_id_reserved")
    with small.client("%E7%8E%8B%E4%BC%9F", "editor") as chinese:  # 王伟, percent-encoded
        reply = chinese.post("/v1/items", json={"workflow": "article", "data": {"title": "t"}})
        assert reply.status_code == 201, reply.text
        assert reply.json()["created_by"] == "王伟"
    after = items_and_history(small)
    assert len(after[1]) == len(before[1]) + 1


def test_failed_sign_ins_are_rate_limited_per_address(module_db_url: str, tmp_path: Path) -> None:
    with Processes() as processes:
        server = start_server(
            processes, module_db_url, tmp_path, "--auth-failures", "3", "--auth-window", "600"
        )
        with httpx.Client(base_url=server.url, timeout=60.0) as raw:
            bad = {"Authorization": "Bearer cmcw_" + "0" * 16 + "_" + "A" * 43}
            for _ in range(3):
                is_problem(raw.get("/v1/workflows", headers=bad), 401, "token_unknown")
            limited = raw.get("/v1/workflows", headers=bad)
            is_problem(limited, 429, "rate_limited")
            assert int(limited.headers["Retry-After"]) > 0
            # the address is held back even with a good token, until the window moves on
            with server.client() as good:
                is_problem(good.get("/v1/workflows"), 429, "rate_limited")
            assert raw.get("/v1/health").status_code == 200
    rules = [r["rule"] for r in audit_rows(server) if r["command"] == "authenticate"]
    assert rules.count("rate_limited") >= 2


@pytest.mark.enforces("SEC-1", element="cmc_workflow/api/tokens.py")
def test_a_tokens_issue_sign_ins_and_revocation_are_audited_without_its_secret(
    small: Server,
) -> None:
    store = Store.open(small.db)
    try:
        issued = issue_token(
            store, "ils", label="馆藏系统", created_by="admin-li", now=FakeClock()()
        )
    finally:
        store.close()
    headers = {"Authorization": f"Bearer {issued.text}", "X-Cmc-Actor": "zhou"}
    with httpx.Client(base_url=small.url, timeout=60.0) as raw:
        for _ in range(3):  # one sign-in a minute per token and person is enough
            assert raw.get("/v1/workflows", headers=headers).status_code == 200
        other = {**headers, "X-Cmc-Actor": "Qian"}
        assert raw.get("/v1/workflows", headers=other).status_code == 200
    store = Store.open(small.db)
    try:
        assert revoke_token(store, issued.key, dt.datetime.now(dt.UTC), revoked_by="admin-wu")
    finally:
        store.close()
    mine = [r for r in audit_rows(small) if r["detail"].get("key") == issued.key]
    assert [(r["command"], r["actor"], r["outcome"]) for r in mine] == [
        ("token_issue", "admin-li", "accepted"),
        ("sign_in", "zhou", "accepted"),
        ("sign_in", "Qian", "accepted"),
        ("token_revoke", "admin-wu", "accepted"),
    ]
    assert mine[0]["detail"]["system"] == mine[1]["detail"]["system"] == "ils"
    assert mine[1]["detail"]["client"] == "127.0.0.1"
    secret = issued.text.split("_", 2)[2]
    assert all(secret not in repr(r) for r in audit_rows(small))
