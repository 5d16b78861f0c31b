"""Webhook subscriptions over a real ``cmc-workflow serve`` on loopback (SQLite and
PostgreSQL), delivered by a real ``cmc-workflow run --once`` daemon to a real endpoint:
admin tokens only, bad input answered with a problem document and nothing stored, the
secret shown once and the delivery signed with it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow.api.tokens import issue_token  # after the extras' skip
from cmc_workflow.store import Store
from cmc_workflow.testing import FakeClock
from tests.api.conftest import Server, httpx, start_server
from tests.helpers.processes import Processes
from tests.webhooks.receiver import endpoint

PROBLEM = "application/problem+json"


@dataclass
class Served:
    server: Server
    admin: Any
    folder: Path
    processes: Processes


@pytest.fixture(scope="module")
def served(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("hooks")
    with Processes() as processes:
        server = start_server(processes, module_db_url, folder)
        store = Store.open(module_db_url)
        try:
            token = issue_token(store, "admin", label="ops", created_by="pytest", now=FakeClock()())
        finally:
            store.close()
        headers = {
            "Authorization": f"Bearer {token.text}",
            "X-Cmc-Actor": "ops",
            "X-Cmc-Roles": "admin",
        }
        with httpx.Client(base_url=server.url, headers=headers, timeout=60.0) as admin:
            yield Served(server, admin, folder, processes)


def live(served: Served) -> list[dict[str, Any]]:
    answer = served.admin.get("/v1/subscriptions")
    assert answer.status_code == 200
    rows: list[dict[str, Any]] = answer.json()
    return rows


def test_only_an_admin_token_manages_subscriptions(served: Served) -> None:
    before = live(served)
    with served.server.client() as host:  # the library system's token
        refused = host.post("/v1/subscriptions", json={"url": "https://erp.example/hook"})
        listed = host.get("/v1/subscriptions")
    for answer in (refused, listed):
        assert answer.status_code == 403
        assert answer.headers["content-type"].startswith(PROBLEM)
        assert answer.json()["code"] == "admin_token_required"
        assert "admin" in answer.json()["message"]["zh"]
    assert live(served) == before


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (b'{"url": "https://erp.example/hook"', 400, "json_invalid", None),
        ({"url": "https://erp.example/hook", "secret": "mine"}, 422, "request_invalid", "secret"),
        ({"events": ["item.created"]}, 422, "request_invalid", "url"),
        ({"url": "ftp://erp.example/hook"}, 422, "input_invalid", "url"),
        ({"url": "http://erp.example/hook"}, 422, "input_invalid", "url"),
        (
            {"url": "https://erp.example/hook", "events": ["item.deleted"]},
            422,
            "input_invalid",
            "events",
        ),
        (
            {"url": "https://erp.example/hook", "workflows": ["nope"]},
            422,
            "input_invalid",
            "workflows",
        ),
    ],
)
def test_bad_input_gets_a_problem_document_and_stores_nothing(
    served: Served, body: Any, status: int, code: str, field: str | None
) -> None:
    before = live(served)
    if isinstance(body, bytes):
        answer = served.admin.post(
            "/v1/subscriptions", content=body, headers={"Content-Type": "application/json"}
        )
    else:
        answer = served.admin.post(
            "/v1/subscriptions", json=body, headers={"Accept-Language": "en"}
        )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    problem = answer.json()
    assert problem["code"] == code
    assert problem["message"]["zh"]
    assert problem["message"]["en"]
    if field is not None:
        assert field in {e["field"] for e in problem["errors"]}
    assert live(served) == before


def test_a_subscription_made_over_http_gets_signed_events_from_the_daemon(served: Served) -> None:
    with endpoint() as hook:
        made = served.admin.post(
            "/v1/subscriptions",
            json={"url": hook.url, "events": ["item.created"], "label": "erp"},
        )
        assert made.status_code == 201, made.text
        created = made.json()
        secret = created["secret"]
        assert made.headers["location"] == f"/v1/subscriptions/{created['id']}"
        listed = [s for s in live(served) if s["id"] == created["id"]]
        assert listed
        assert "secret" not in listed[0]
        with served.server.client() as host:
            item = host.post("/v1/items", json={"workflow": "article", "data": {"title": "展讯"}})
        assert item.status_code == 201
        daemon = served.processes.start(
            [
                sys.executable,
                "-m",
                "cmc_workflow",
                "run",
                "--db",
                served.server.db,
                "--workflows",
                str(served.folder / "workflows"),
                "--policies",
                str(served.folder / "policies"),
                "--once",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, err = daemon.communicate(timeout=300)
        assert daemon.returncode == 0, err.decode(errors="replace")
        (got,) = hook.delivered()
        assert got.signed_by(secret)
        assert got.json["type"] == "item.created"
        assert got.json["item_id"] == item.json()["id"]
        deliveries = served.admin.get(f"/v1/subscriptions/{created['id']}/deliveries").json()
        assert [(d["status"], [a["status_code"] for a in d["attempts"]]) for d in deliveries] == [
            ("sent", [200])
        ]
    assert served.admin.delete(f"/v1/subscriptions/{created['id']}").status_code == 204
    again = served.admin.delete(f"/v1/subscriptions/{created['id']}")
    assert again.status_code == 404
    assert again.json()["code"] == "subscription_not_found"
    assert created["id"] not in {s["id"] for s in live(served)}
