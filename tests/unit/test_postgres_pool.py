"""The PostgreSQL pool of the tests (``tests.helpers.databases``): its drops keep up, so
that no checkpoint of the server has dozens of fresh copies to write out and a worker's
teardown has a batch at most to drop (a ``DROP DATABASE`` waits for a checkpoint)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import URL
from sqlalchemy.engine import make_url

from tests.helpers import databases
from tests.helpers.databases import LIVE, PostgresPool


class Server:
    """Databases made and dropped, with the most that were ever there at once, and the
    most drops that were under way at once; a drop takes ``slow`` seconds."""

    def __init__(self, slow: float) -> None:
        self.slow = slow
        self.lock = threading.Lock()
        self.there: set[str] = set()
        self.most = 0
        self.dropping = 0
        self.most_dropping = 0

    def create(self, _admin: URL, name: str, _template: str | None = None) -> None:
        with self.lock:
            self.there.add(name)
            self.most = max(self.most, len(self.there))

    def drop(self, _admin: URL, name: str) -> None:
        with self.lock:
            self.dropping += 1
            self.most_dropping = max(self.most_dropping, self.dropping)
        time.sleep(self.slow)  # the checkpoint it waits for
        with self.lock:
            self.dropping -= 1
            self.there.discard(name)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Server:
    fake = Server(slow=0.05)
    monkeypatch.setattr(databases, "_create", fake.create)
    monkeypatch.setattr(databases, "_drop", fake.drop)
    return fake


def test_the_copies_wait_for_the_drops_and_waiting_drops_go_together(server: Server) -> None:
    pool = PostgresPool(make_url("postgresql://server/postgres"), "template")
    try:
        for _ in range(40):  # tests far quicker than a drop
            url = pool.take()
            assert make_url(url).database in server.there
            pool.give_back(url)
    finally:
        pool.close()
    assert server.there == set()  # closed: everything dropped, ready copies too
    assert server.most <= LIVE
    assert server.most_dropping > 1
