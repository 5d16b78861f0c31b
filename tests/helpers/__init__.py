"""Small helpers shared by the engine tests: the publishing cast, its happy path, and the
invariants every database must keep whatever happened to it (SEC-4).

The invariants are read with plain SQL on purpose: they check what is on disk, not what
the engine believes.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from cmc_workflow import Actor, Engine, Item
from cmc_workflow.store.database import open_database
from cmc_workflow.store.tables import audit

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS_ENV = "CMC_TEST_DEFINITIONS"
"""A folder holding ``workflows/`` and ``policies/`` that the tests load instead of the
bundled ones: ``cmc-workflow compliance --knockout`` points it at a copy with one element
removed, to prove a test marked ``enforces`` fails without that element."""
DEFINITIONS = Path(os.environ.get(DEFINITIONS_ENV) or ROOT)
WORKFLOWS = DEFINITIONS / "workflows"
POLICIES = DEFINITIONS / "policies"
PUBLISHING = WORKFLOWS / "publishing.yaml"
PUBLISHING_POLICIES = [POLICIES / "roles.yaml", POLICIES / "publishing.yaml"]
"""The bundled policies that judge publishing; the other files name other workflows, which
a test loading the publishing workflow alone does not load."""


UNGUARDED_ENV = "CMC_TEST_UNGUARDED"
"""The folder of this test run's unguarded copies (:func:`unguarded`): made by the first
process of the run that imports this module, and inherited by everything it starts
(xdist's workers, the command line, daemons), which so write and read the same files."""


def _run_folder() -> Path:
    """This run's folder for the unguarded copies: the inherited one, or a new one that this
    process removes when it exits (only the process that made it: the run's first)."""
    inherited = os.environ.get(UNGUARDED_ENV)
    if inherited:
        return Path(inherited)
    folder = Path(tempfile.mkdtemp(prefix="cmc-unguarded-run-"))
    os.environ[UNGUARDED_ENV] = str(folder)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _unguarded_text(source: Path) -> str:
    text = source.read_text(encoding="utf-8")
    return "".join(
        line
        for line in text.splitlines(keepends=True)
        if not line.lstrip().startswith("effects:")
        and "fail closed: loading refuses this workflow" not in line
    )


def unguarded(source: Path, folder: Path) -> Path:
    """A copy of ``source`` without its ``effects:`` declarations, in ``folder`` under a
    name of its content (a knockout's altered copy is a file of its own), written when it
    is missing: at import, and again before each test should anything have cleaned the
    temporary folder since (``tests/conftest.py``)."""
    kept = _unguarded_text(source)
    digest = hashlib.sha256(kept.encode("utf-8")).hexdigest()[:12]
    target = folder / digest / source.name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.parent / f".{source.name}.{os.getpid()}"
        partial.write_text(kept, encoding="utf-8")
        partial.replace(target)  # atomic: parallel test processes never read half a file
    return target


EngineFactory = Callable[..., Engine]
"""The ``engine_factory`` fixture: ``Engine.open``'s keyword arguments, the test's database
and clock by default."""

UNGUARDED_PUBLISHING = unguarded(PUBLISHING, _run_folder())
"""The bundled publishing graph without its guarded effects (``effects:``), which would
need the bundled policies to load (fail closed): what tests of the engine's mechanics
(store, outbox, audit chain, concurrency, the item CLI) load without policies. Tests of
the rules load :data:`PUBLISHING` with ``policies/``. A file of this test run's own
(:data:`UNGUARDED_ENV`), remade before a test when it is missing (:func:`keep_unguarded`)."""


def keep_unguarded() -> None:
    """Write :data:`UNGUARDED_PUBLISHING` again if it is gone (a clean of the temporary
    folder during the run): a ``stat`` when it is there."""
    if not UNGUARDED_PUBLISHING.exists():
        unguarded(PUBLISHING, UNGUARDED_PUBLISHING.parents[1])


EDITOR = Actor("wang", {"editor"})
OTHER_EDITOR = Actor("zhou", {"editor"})
LEAD = Actor("li", {"channel_lead"})
REVIEWER = Actor("zhao", {"reviewer"})
SECOND_REVIEWER = Actor("qian", {"reviewer"})
OPS = Actor("sun", {"ops_manager"})

TOPIC: dict[str, Any] = {
    "title": "图书馆之夜",
    "outline": "夜间开放活动的专题报道",
    # the library's own web and app channels: a piece for a self-media channel goes out
    # only through an operating account of it that the piece names (ACC-2)
    "channels": ["pc", "app"],
    # PRM-1: a topic is proposed with its content type (policies/publishing.yaml)
    "content_type": "news",
}
CHECKLIST: dict[str, Any] = {
    "truthful": True,
    "repost_authorized": True,
    "copyright_cleared": True,
    "nothing_confidential": True,
}

HAPPY_PATH: list[tuple[str, str, Actor, Mapping[str, Any]]] = [
    # (state the item is in, trigger, who fires it, form)
    ("proposed", "approve", LEAD, {}),
    ("selected", "assign", LEAD, {"assignees": [EDITOR.id], "due_date": "2025-10-10"}),
    ("assigned", "accept", EDITOR, {}),
    ("drafting", "submit", EDITOR, {"content": "正文"}),
    ("first_review", "approve", REVIEWER, CHECKLIST),
    ("second_review", "approve", SECOND_REVIEWER, CHECKLIST),
    ("signoff", "sign", OPS, {}),
    ("published", "archive", EDITOR, {"category": "活动"}),
]
"""The publishing workflow from proposal to archive (the handler moves publishing on)."""


def walk(engine: Engine, item: Item, until: str) -> Item:
    """Fire the happy path on ``item``, from where it is, until it rests in ``until``."""
    states = [state for state, _trigger, _actor, _form in HAPPY_PATH]
    assert item.state in states, f"the happy path does not pass {item.state!r}"
    for state, trigger, actor, form in HAPPY_PATH[states.index(item.state) :]:
        if item.state == until:
            return item
        assert item.state == state, f"expected {state!r}, the item is in {item.state!r}"
        item = engine.fire(item.id, trigger, actor=actor, data=dict(form))
    assert item.state == until, f"the happy path ends in {item.state!r}, not {until!r}"
    return item


def publishing_copy(folder: Path, new_id: str) -> tuple[Path, Path]:
    """The bundled publishing workflow and its policy (policies/publishing.yaml) copied
    into ``folder`` under the workflow id ``new_id``, as a center adds a second publishing
    workflow (e.g. ``short_video``): the policy's id, its section and its rule ids renamed
    (rule ids are unique across the loaded policies). Load it with
    :data:`PUBLISHING_POLICIES`, beside the bundled files."""
    paths = []
    for source, suffix in ((PUBLISHING, ""), (POLICIES / "publishing.yaml", "_policy")):
        text = source.read_text(encoding="utf-8")
        assert text.count("\nid: publishing\n") == 1, source
        text = text.replace("\nid: publishing\n", f"\nid: {new_id}\n")
        if suffix:
            assert text.count("\n  publishing:\n") == 1, source
            text = text.replace("\n  publishing:\n", f"\n  {new_id}:\n")
            text = re.sub(r"(\n\s+- id: )(\w+)", rf"\g<1>{new_id}_\g<2>", text)
        target = folder / f"{new_id}{suffix}.yaml"
        target.write_text(text, encoding="utf-8")
        paths.append(target)
    return paths[0], paths[1]


def ok_handler(_ctx: Any) -> None:
    """A publish_to_channels handler that always succeeds (takes the default outcome)."""
    return None


def check_invariants(url: str) -> list[str]:
    """Everything wrong with the stored items; empty when the database is consistent.

    For every item: history ``seq`` runs 1..n without gaps or duplicates, ``items.seq``
    equals n, the item rests where its last history row leads, with that row's visit,
    and each accepted audited command (start, fire, handler, timer) has exactly its
    history rows, trigger by trigger.
    """
    engine = open_database(url)
    problems: list[str] = []
    try:
        with engine.connect() as conn:
            items = conn.execute(text("SELECT id, state, seq, visit FROM items")).all()
            history: dict[int, list[Any]] = {}
            for row in conn.execute(
                text(
                    "SELECT item_id, seq, kind, trigger, to_state, visit FROM history "
                    "ORDER BY item_id, seq"
                )
            ):
                history.setdefault(row.item_id, []).append(row)
            audited: dict[int, Counter[tuple[str, str | None]]] = {}
            for row in conn.execute(
                text(
                    "SELECT item_id, command, trigger FROM audit "
                    "WHERE outcome = 'accepted' AND item_id IS NOT NULL"
                )
            ):
                audited.setdefault(row.item_id, Counter())[(row.command, row.trigger)] += 1
    finally:
        engine.dispose()
    for item in items:
        rows = history.get(item.id, [])
        seqs = [r.seq for r in rows]
        if seqs != list(range(1, len(rows) + 1)):
            problems.append(f"item {item.id}: history seq {seqs} has gaps or duplicates")
            continue
        if item.seq != len(rows):
            problems.append(f"item {item.id}: seq {item.seq} but {len(rows)} history rows")
        if not rows:
            problems.append(f"item {item.id}: no history at all")
            continue
        if (item.state, item.visit) != (rows[-1].to_state, rows[-1].visit):
            problems.append(
                f"item {item.id}: rests in {item.state!r} visit {item.visit}, its last "
                f"history row leads to {rows[-1].to_state!r} visit {rows[-1].visit}"
            )
        steps = Counter((r.kind, r.trigger) for r in rows if r.kind != "route")
        if steps != audited.get(item.id, Counter()):
            problems.append(
                f"item {item.id}: history steps {dict(steps)} differ from the accepted "
                f"audit records {dict(audited.get(item.id, Counter()))}"
            )
    return problems


def audit_rows(url: str, where: str = "1 = 1", **params: Any) -> list[Any]:
    """Audit records matching a SQL condition, oldest first (for refusals without an item)."""
    engine = open_database(url)
    try:
        with engine.connect() as conn:
            query = select(audit).where(text(where)).order_by(audit.c.id)
            return list(conn.execute(query, params))
    finally:
        engine.dispose()
