"""A desk for the console: a SQLite file holding a publishing item waiting in first
review, the staff register with the publishing cast, and console passwords.

The database is made through the public API with the real clock (the server the browser
test starts reads the same file with its own real clock): an editor trained for the post
(TRN-3), a topic proposed, selected, assigned, drafted and submitted.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the console needs the api extra")
pytest.importorskip("jinja2", reason="the console needs the api extra")

from cmc_workflow import Engine
from cmc_workflow.console.passwords import set_password
from cmc_workflow.model import Actor
from cmc_workflow.staff.register import PersonEntry, PostEntry, Register
from tests.helpers import EDITOR, LEAD, PUBLISHING, PUBLISHING_POLICIES
from tests.helpers.records import RECORD_WORKFLOWS, train

PASSWORD = "古籍-review-2026"
"""Every cast member's console password in these tests."""
QUALIFIED = {"education": "bachelor", "experience_years": 5.0}
CAST = {
    "wang": ("王芳", "editor"),
    "li": ("李雷", "channel_lead"),
    "zhao": ("赵敏", "reviewer"),
    "qian": ("钱进", "reviewer"),
}
WORKFLOWS = [PUBLISHING, *RECORD_WORKFLOWS]
TITLE = "馆藏古籍修复展"


@dataclass(frozen=True)
class Desk:
    """The database and what is in it."""

    url: str
    path: Path
    item_id: int
    other_id: int


def make_desk(directory: Path) -> Desk:
    """The database of these tests in ``directory``."""
    path = directory / "console.db"
    url = f"sqlite:///{path}"
    now = dt.datetime.now(dt.UTC)
    due = (now + dt.timedelta(days=40)).date().isoformat()
    valid = (now + dt.timedelta(days=365)).date().isoformat()
    with Engine.open(url, workflows=WORKFLOWS, policies=PUBLISHING_POLICIES) as engine:
        train(engine, EDITOR.id, valid_until=valid)
        item = engine.start(
            "publishing",
            actor=EDITOR,
            data={
                "title": TITLE,
                "outline": "修复师讲述古籍修复",
                "channels": ["pc", "app"],
                "content_type": "collection_reveal",
            },
        )
        engine.fire(item.id, "approve", actor=LEAD)
        engine.fire(item.id, "assign", actor=LEAD, data={"assignees": ["wang"], "due_date": due})
        engine.fire(item.id, "accept", actor=EDITOR)
        engine.fire(item.id, "submit", actor=EDITOR, data={"content": "正文：修复师的一天"})
        other = engine.start(
            "publishing",
            actor=EDITOR,
            data={
                "title": "读者之夜",
                "outline": "夜间开放",
                "channels": ["pc"],
                "content_type": "activity_preview",
            },
        )
        register = Register(engine.store)
        day = now.date() - dt.timedelta(days=30)
        hr = Actor("hr1")
        for person, (name, post) in CAST.items():
            register.add(hr, PersonEntry(name, person, **QUALIFIED), [PostEntry(post, {}, day)])
            set_password(engine.store, person, PASSWORD, by="test", now=now)
    return Desk(url, path, item.id, other.id)


@pytest.fixture(scope="session")
def desk_template(tmp_path_factory: pytest.TempPathFactory) -> Desk:
    """The desk made once (a few seconds: records, a walk, scrypt hashes)."""
    return make_desk(tmp_path_factory.mktemp("console-desk"))


@pytest.fixture
def desk(desk_template: Desk, tmp_path: Path) -> Desk:
    """A copy of the desk's database file of this test's own."""
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{desk_template.path}{suffix}")
        if source.exists():
            shutil.copy(source, tmp_path / source.name)
    path = tmp_path / desk_template.path.name
    return replace(desk_template, url=f"sqlite:///{path}", path=path)
