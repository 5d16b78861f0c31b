"""Many concurrent clients firing on shared items through a real server on loopback:
every accepted command is recorded once (history rows and item versions), every refusal
of a race is 409 or 412, nothing is lost. Prints the requests per second held (the
figures of docs/performance.md, "HTTP API under load")."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import start_server
from tests.helpers.processes import Processes

pytestmark = [pytest.mark.slow, pytest.mark.req("SEC-4")]

CLIENTS = 16
ITEMS = 8
SECONDS = float(os.environ.get("CMC_LOAD_SECONDS", "4"))
"""How long the clients fire: 4 s in the suite (thousands of commands, enough to race);
docs/performance.md's figures were taken at ``CMC_LOAD_SECONDS=12``."""


def test_concurrent_clients_lose_and_double_nothing(db_url: str, tmp_path: Path) -> None:
    with Processes() as processes:
        server = start_server(processes, db_url, tmp_path)
        with server.client("wang", "editor") as editor:
            ids = [
                editor.post(
                    "/v1/items", json={"workflow": "article", "data": {"title": f"L{n}"}}
                ).json()["id"]
                for n in range(ITEMS)
            ]
        accepted: dict[int, list[int]] = defaultdict(list)  # item -> versions its fires made
        statuses: Counter[int] = Counter()
        codes: Counter[str] = Counter()
        lock = threading.Lock()
        stop = time.monotonic() + SECONDS
        errors: list[BaseException] = []

        def client(n: int) -> None:
            rng = random.Random(n)
            try:
                with server.client(f"person{n}", "editor,reviewer") as http:
                    while time.monotonic() < stop:
                        item = rng.choice(ids)
                        read = http.get(f"/v1/items/{item}")
                        with lock:
                            statuses[read.status_code] += 1
                        if read.status_code != 200:
                            continue
                        state = read.json()["state"]
                        trigger = "submit" if state == "draft" else "reject"
                        mode = rng.random()
                        body: dict[str, Any] = {"trigger": trigger}
                        headers = {}
                        if mode < 0.6:
                            headers["If-Match"] = read.headers["ETag"]
                        elif mode < 0.9:
                            body["expected_version"] = read.json()["version"]
                        fired = http.post(f"/v1/items/{item}/fire", json=body, headers=headers)
                        with lock:
                            statuses[fired.status_code] += 1
                            if fired.status_code == 200:
                                accepted[item].append(fired.json()["version"])
                            else:
                                codes[fired.json().get("code", "?")] += 1
            except BaseException as exc:  # reported by the test below
                errors.append(exc)

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        assert not errors, errors
        requests = sum(statuses.values())
        fires = sum(len(v) for v in accepted.values())
        conflicts = statuses[409] + statuses[412]
        assert set(statuses) <= {200, 409, 412}, (statuses, codes)
        with server.client() as reader:
            for item in ids:
                versions = sorted(accepted[item])
                # every accepted fire made its own version: none doubled, none skipped
                assert versions == list(range(2, 2 + len(versions))), (item, versions)
                now = reader.get(f"/v1/items/{item}").json()
                assert now["version"] == 1 + len(versions)
                history = reader.get(f"/v1/items/{item}/history").json()
                assert len(history) == 1 + len(versions)  # the start, then each accepted fire
                assert [h["seq"] for h in history] == list(range(1, len(history) + 1))
                audit = reader.get(f"/v1/items/{item}/audit").json()
                assert sum(a["outcome"] == "accepted" for a in audit) == len(history)
        backend = db_url.split(":", 1)[0]
        print(
            f"\nHTTP load ({backend}): {CLIENTS} clients, {ITEMS} shared items, {elapsed:.1f} s: "
            f"{requests} requests ({requests / elapsed:.0f}/s), {fires} accepted fires "
            f"({fires / elapsed:.0f}/s), {conflicts} answered 409/412 {dict(codes)}; "
            f"lost 0, doubled 0"
        )
        assert fires > 0
        assert conflicts > 0
