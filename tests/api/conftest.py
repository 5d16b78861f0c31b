"""A real ``cmc-workflow serve`` on loopback per module and database (SQLite, and
PostgreSQL when ``CMC_TEST_POSTGRES_URL`` is set), its tokens, and httpx clients.

The server is a child process on a free port, awaited by condition (``/v1/health``
answers) and ended by its pid after the module (:class:`~tests.helpers.processes.Processes`).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx", reason="the HTTP API tests need the api and test extras")
pytest.importorskip("fastapi", reason="the HTTP API tests need the api extra")
pytest.importorskip("uvicorn", reason="the HTTP API tests need the api extra")

from cmc_workflow.api.tokens import issue_token  # noqa: E402
from cmc_workflow.store import Store  # noqa: E402
from cmc_workflow.testing import FakeClock  # noqa: E402
from tests.helpers.processes import Processes, wait_until  # noqa: E402

ARTICLE = """\
id: article
label: {zh: 稿件, en: Article}
roles:
  editor: {zh: 编辑, en: Editor}
  reviewer: {zh: 审核人, en: Reviewer}
data:
  title: {type: string}
  priority: {type: integer, required: false}
  reviewer: {type: string, required: false}
start: {state: draft, roles: [editor]}
states:
  draft:
    type: userTask
    label: {zh: 撰稿, en: Draft}
    transitions:
      - trigger: submit
        target: review
        roles: [editor]
        form:
          reviewer: {type: string, required: false}
  review:
    type: userTask
    label: {zh: 审核, en: Review}
    assignee: reviewer
    deadline: {within: 2 working days}
    transitions:
      - {trigger: approve, target: done, roles: [reviewer]}
      - {trigger: reject, target: draft, roles: [reviewer]}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
"""

ARTICLE_POLICY = """\
kind: policy
id: article_rules
label: {zh: 稿件规则, en: Article rules}
workflows:
  article:
    steps:
      author: {state: draft, trigger: submit, label: {zh: 作者, en: author}}
      reviewed: {state: review, trigger: approve, label: {zh: 审核人, en: reviewer}}
    distinct_actors:
      - id: author_does_not_review
        description: Whoever submitted the piece does not approve it.
        steps: [author, reviewed]
        pairs: [[author, reviewed]]
        within: item
"""

SYSTEM = "library-erp"
"""The host system the tests' token is bound to."""


def definitions(folder: Path) -> tuple[Path, Path]:
    """The test workflow and policy, written under ``folder``."""
    workflows, policies = folder / "workflows", folder / "policies"
    workflows.mkdir(parents=True, exist_ok=True)
    policies.mkdir(parents=True, exist_ok=True)
    (workflows / "article.yaml").write_text(ARTICLE, encoding="utf-8")
    (policies / "article_rules.yaml").write_text(ARTICLE_POLICY, encoding="utf-8")
    return workflows, policies


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """A running ``cmc-workflow serve``."""

    url: str
    db: str
    token: str
    process: subprocess.Popen[Any]
    log: Path

    def client(self, actor: str | None = "wang", roles: str = "editor", **headers: str) -> Any:
        """An httpx client calling as ``actor`` with ``roles`` (comma-separated)."""
        sent = {"Authorization": f"Bearer {self.token}", **headers}
        if actor is not None:
            sent["X-Cmc-Actor"] = actor
            sent["X-Cmc-Roles"] = roles
        return httpx.Client(base_url=self.url, headers=sent, timeout=60.0)


def start_server(
    processes: Processes, db: str, folder: Path, *extra: str, token: str | None = None
) -> Server:
    """Start ``cmc-workflow serve`` on a free port and wait until it answers."""
    workflows, policies = definitions(folder)
    if token is None:
        store = Store.open(db)
        try:
            token = issue_token(
                store, SYSTEM, label="tests", created_by="pytest", now=FakeClock()()
            ).text
        finally:
            store.close()
    for _attempt in range(3):  # another process may take the free port first
        port = free_port()
        log = folder / f"serve-{port}.log"
        with log.open("wb") as sink:
            process = processes.start(
                [
                    sys.executable,
                    "-m",
                    "cmc_workflow",
                    "serve",
                    "--db",
                    db,
                    "--workflows",
                    str(workflows),
                    "--policies",
                    str(policies),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    *extra,
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"

        def answers(url: str = url, process: subprocess.Popen[Any] = process) -> bool:
            if process.poll() is not None:
                return True  # stop waiting: it exited (checked below)
            try:
                return httpx.get(f"{url}/v1/health", timeout=5.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, f"cmc-workflow serve on {url} to answer")
        if process.poll() is None:
            return Server(url, db, token, process, log)
    raise AssertionError(f"cmc-workflow serve did not start: {log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per module and database."""
    with Processes() as processes:
        yield start_server(processes, module_db_url, tmp_path_factory.mktemp("serve"))
