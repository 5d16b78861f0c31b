"""The HTTP API answers in the language the request asks for (``Accept-Language``): a
problem document's ``title`` and ``detail`` in Chinese or English, saying which
(``Content-Language``) and that it depends on the header (``Vary``), while the machine
fields (``code``, ``rule``, both-language ``message``) stay the same in every language.
Run in process against the real ASGI application over a SQLite file of each test's own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow import Engine
from cmc_workflow.api.app import create_app
from cmc_workflow.api.tokens import issue_token
from tests.api.conftest import SYSTEM, definitions

pytestmark = [
    pytest.mark.req("SEC-1"),
    # Starlette's test client warns that it will move to httpx2; the client still works
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`"),
]

CHINESE, ENGLISH = ("zh-CN", "找不到该事项"), ("en", "Item not found")
HEADERS: list[tuple[str | None, tuple[str, str]]] = [
    (None, CHINESE),  # no header: the service's default, Chinese
    ("*", CHINESE),
    ("zh", CHINESE),
    ("zh-CN", CHINESE),
    ("zh-Hans", CHINESE),
    ("zh-Hans-CN", CHINESE),
    ("en", ENGLISH),
    ("EN-us", ENGLISH),
    ("zh-CN,zh;q=0.9,en;q=0.8", CHINESE),
    ("en-GB,en;q=0.9,zh;q=0.5", ENGLISH),
    ("zh;q=0.3, en;q=0.7", ENGLISH),
    ("en;q=0", CHINESE),  # English refused
    ("zh;q=0", ENGLISH),  # Chinese refused
    ("zh;q=0, en;q=0", CHINESE),  # both refused: the default
    ("*;q=0.5, en;q=0.4", CHINESE),  # any language (the default) before English
    ("fr-FR, en;q=0.5", ENGLISH),
    ("fr-FR", CHINESE),  # none this service speaks: the default
]


@pytest.fixture
def engine(sqlite_url: str, tmp_path: Path) -> Iterator[Engine]:
    workflows, policies = definitions(tmp_path)
    with Engine.open(sqlite_url, workflows=workflows, policies=policies) as opened:
        yield opened


def client(engine: Engine, **options: Any) -> Any:
    """A client of the real application calling as ``wang`` (editor) with a token."""
    from starlette.testclient import TestClient

    token = issue_token(
        engine.store, SYSTEM, label="tests", created_by="pytest", now=dt.datetime.now(dt.UTC)
    )
    headers = {
        "Authorization": f"Bearer {token.text}",
        "X-Cmc-Actor": "wang",
        "X-Cmc-Roles": "editor",
    }
    return TestClient(create_app(engine, **options), headers=headers)


def language_headers(accept: str | None) -> dict[str, str]:
    return {} if accept is None else {"Accept-Language": accept}


def says(reply: Any, content_language: str) -> dict[str, Any]:
    """The problem document of ``reply``, after checking it says its language."""
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert reply.headers["Content-Language"] == content_language
    assert "accept-language" in reply.headers["Vary"].lower()
    body: dict[str, Any] = reply.json()
    return body


def test_a_problem_is_in_the_language_the_request_asks_for(engine: Engine) -> None:
    api = client(engine)
    machine = None
    for accept, (content_language, title) in HEADERS:
        reply = api.get("/v1/items/999", headers=language_headers(accept))
        assert reply.status_code == 404, (accept, reply.text)
        body = says(reply, content_language)
        assert body["title"] == title, accept
        chinese = content_language == "zh-CN"
        assert body["detail"] == body["message"]["zh" if chinese else "en"], accept
        assert "999" in body["detail"], accept
        fields = {k: v for k, v in body.items() if k not in ("title", "detail")}
        machine = machine or fields
        assert fields == machine, accept  # code, message (both languages) ... unchanged
    assert machine is not None
    assert machine["code"] == "ItemNotFound"
    assert machine["message"]["zh"] != machine["message"]["en"]


def test_a_refusal_keeps_its_rule_and_both_languages_whatever_is_asked(engine: Engine) -> None:
    api = client(engine)
    item = api.post("/v1/items", json={"workflow": "article", "data": {"title": "古籍"}})
    assert item.status_code == 201, item.text
    path = f"/v1/items/{item.json()['id']}/fire"
    reviewer = {"X-Cmc-Actor": "zhao", "X-Cmc-Roles": "reviewer"}
    answers = {}
    for accept, expected in (("en-US", "en"), ("zh-Hans", "zh-CN")):
        reply = api.post(
            path, json={"trigger": "submit"}, headers={**reviewer, "Accept-Language": accept}
        )
        assert reply.status_code == 403, reply.text
        answers[expected] = says(reply, expected)
    english, chinese = answers["en"], answers["zh-CN"]
    assert (english["title"], chinese["title"]) == ("Not permitted", "无权执行该操作")
    assert english["detail"] == english["message"]["en"]
    assert chinese["detail"] == chinese["message"]["zh"]
    for field in ("code", "rule", "message", "item_id", "trigger", "state", "type"):
        assert english[field] == chinese[field], field
    assert english["code"] == "NotPermitted"


def test_a_refused_sign_in_and_an_unknown_address_follow_the_header(engine: Engine) -> None:
    api = client(engine)
    anonymous = {"Authorization": "", "Accept-Language": "en"}
    refused = api.get("/v1/workflows", headers=anonymous)
    assert refused.status_code == 401
    body = says(refused, "en")
    assert body["detail"] == "no token given (Authorization: Bearer ...)"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    chinese = says(api.get("/v1/workflows", headers={"Authorization": ""}), "zh-CN")
    assert (chinese["code"], chinese["detail"]) == ("token_missing", "未提供访问令牌")
    nowhere = api.get("/v1/nowhere", headers={"Accept-Language": "en-GB"})
    assert (nowhere.status_code, says(nowhere, "en")["title"]) == (404, "Not Found")
    here = api.get("/v1/nowhere", headers={"Accept-Language": "zh-TW, en;q=0.1"})
    assert says(here, "zh-CN")["title"] == "没有这个地址"


def test_an_oversized_body_is_refused_in_the_language_asked_for(engine: Engine) -> None:
    api = client(engine, max_body=512)
    big = {"workflow": "article", "data": {"title": "x" * 2000}}
    english = api.post("/v1/items", json=big, headers={"Accept-Language": "en-GB"})
    assert english.status_code == 413
    assert "exceeds the limit of 512 bytes" in says(english, "en")["detail"]
    chinese = api.post("/v1/items", json=big, headers={"Accept-Language": "zh-Hans"})
    assert says(chinese, "zh-CN")["detail"] == "请求体超过 512 字节的上限，未作任何处理"
    assert api.get("/v1/items").json()["items"] == []
