"""What a cold ``Engine.open`` loads, pinned without timing anything (the measured cost is
in ``benchmarks/startup.py``): on a database already at head it needs no Alembic, no
scheduler, no command line and no in-memory store, and it builds no state machine until
a transition is fired."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import Engine as SAEngine
from sqlalchemy import event

from cmc_workflow import Engine, requirements
from tests.helpers import ROOT, TOPIC
from tests.helpers.processes import run

NOT_FOR_OPEN = (
    "alembic",
    "mako",
    "apscheduler",
    "transitions",
    "click",
    "cmc_workflow.cli",
    "cmc_workflow.runner",
    "cmc_workflow.store.memory",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.postgresql",
    "urllib.request",
    "http.client",
    "structlog",
    "cmc_workflow.notify.config",
    "cmc_workflow.migration.plan",
    "cmc_workflow.schemas",
    "cmc_workflow.staff.catalogue",
    "cmc_workflow.staff.register",
    "cmc_workflow.store.verification",
)
"""What opening a database at head must not load (on SQLite: neither PostgreSQL's
dialect nor the ORM; nor the webhooks' HTTP client before a delivery is sent; nor
structlog in a host that configured no logging, whose library events are all dropped;
nor the models of the kinds of file the bundle does not hold: notifications, migration
plans; nor the staff register and its catalogue of posts, read by the first staffing
check, or when the register holds somebody; nor the audit chains' verification before
the first verify)."""

_PROBE = """\
import json, sys
from cmc_workflow import Engine, i18n
url, workflows, policies, fire = sys.argv[1:5]
with Engine.open(url, workflows=workflows, policies=policies) as engine:
    opened = sorted(sys.modules)
    catalogue = i18n._catalogue is not None  # read on the first message
    if fire == "fire":
        from cmc_workflow import Actor
        item = engine.start("publishing", actor=Actor("wang", roles={"editor"}),
                            data=json.loads(sys.argv[5]))
        engine.fire(item.id, "approve", actor=Actor("li", roles={"channel_lead"}))
        state = engine.get(item.id).state
    else:
        state = None
print(json.dumps({"opened": opened, "after": sorted(sys.modules), "state": state,
                  "catalogue": catalogue}))
"""


def _loaded(names: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)]


def _open_cold(url: str, *, fire: bool, env: dict[str, str] | None = None) -> dict[str, object]:
    args = [url, str(ROOT / "workflows"), str(ROOT / "policies"), "fire" if fire else "-"]
    done = run(
        [sys.executable, "-c", _PROBE, *args, json.dumps(TOPIC)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_opening_a_database_at_head_loads_no_migration_tool_nor_scheduler(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    Engine.open(url, workflows=ROOT / "workflows", policies=ROOT / "policies").close()
    probe = _open_cold(url, fire=False)
    opened = probe["opened"]
    assert isinstance(opened, list)
    assert _loaded(opened, NOT_FOR_OPEN) == []
    assert "sqlalchemy" in opened
    assert "cmc_workflow.store.repository" in opened


def test_the_state_machine_is_built_when_a_transition_fires(tmp_path: Path) -> None:
    probe = _open_cold(f"sqlite:///{tmp_path / 'new.db'}", fire=True)  # migrated on open
    opened, after = probe["opened"], probe["after"]
    assert isinstance(opened, list)
    assert isinstance(after, list)
    assert "transitions" not in opened
    assert "transitions" in after
    assert probe["state"] == "selected"


def test_opening_a_database_again_writes_nothing(tmp_path: Path) -> None:
    """The workflows stored already are found in one read transaction: an engine opening
    its database again takes no write lock (was one write transaction per workflow)."""
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    Engine.open(url, workflows=ROOT / "workflows", policies=ROOT / "policies").close()
    seen: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(" ".join(statement.split()[:2]).upper())

    event.listen(SAEngine, "before_cursor_execute", on_execute)  # every engine's
    try:
        Engine.open(url, workflows=ROOT / "workflows", policies=ROOT / "policies").close()
    finally:
        event.remove(SAEngine, "before_cursor_execute", on_execute)

    verbs = [s.split()[0] for s in seen]
    assert verbs.count("SELECT") >= 30  # one per workflow file of the bundle, at least
    # SQLite's write transactions: the two of opening (is the file empty, its schema's
    # revision), none for the workflows (was one per workflow)
    assert seen.count("BEGIN IMMEDIATE") == 2, seen
    assert not {"INSERT", "UPDATE", "DELETE"} & set(verbs)


def test_no_definition_model_defaults_through_the_builtin_list() -> None:
    """pydantic asks each default factory for its signature; the builtin ``list``'s is
    parsed from text by the tokenizer (8 ms of a cold open over 47 fields): the list
    fields of the definition languages default through ``empty_list``."""
    checked = 0
    for name in ("definition.models", "policy.models", "schedules.models"):
        module = importlib.import_module(f"cmc_workflow.{name}")
        for model in vars(module).values():
            if not (inspect.isclass(model) and issubclass(model, BaseModel)):
                continue
            for field_name, field in model.model_fields.items():
                assert field.default_factory is not list, f"{model.__name__}.{field_name}"
                checked += field.default_factory is not None
    assert checked > 30


def test_a_clean_open_reads_no_catalogue(tmp_path: Path) -> None:
    """The message catalogue is read with the first message: opening an engine on the
    bundle says nothing, in a Chinese locale too, so it never pays for it."""
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    Engine.open(url, workflows=ROOT / "workflows", policies=ROOT / "policies").close()
    chinese = {**os.environ, "LANG": "zh_CN.UTF-8", "LC_ALL": "", "LANGUAGE": ""}
    probe = _open_cold(url, fire=False, env=chinese)
    assert probe["catalogue"] is False


def test_the_verification_names_loaded_on_first_use_are_its_own() -> None:
    """``store.audit`` exports the verification's names without importing its module up
    front: each resolves, on first use, to the very object of that module."""
    from cmc_workflow.store import audit, verification

    for name in ("KINDS", "Finding", "Verification", "verify"):
        assert getattr(audit, name) is getattr(verification, name)
    with pytest.raises(AttributeError):
        _ = audit.no_such_name  # type: ignore[attr-defined]  # still an AttributeError


def test_the_bundled_requirements_are_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both answers about the bundled requirements file (the levels, the *must* ids with a
    *should* part; an engine's open asks both) come from one read and one parse."""
    parse = requirements.parse_requirements
    parsed: list[str] = []

    def counting(text: str) -> list[requirements.Requirement]:
        parsed.append(text)
        return parse(text)

    caches = (requirements._bundled, requirements.bundled_levels, requirements.bundled_should_parts)
    monkeypatch.setattr(requirements, "parse_requirements", counting)
    for cache in caches:
        cache.cache_clear()
    try:
        levels = requirements.bundled_levels()
        mixed = requirements.bundled_should_parts()
    finally:  # kept answers of the counting parse: the next caller reads the file again
        for cache in caches:
            cache.cache_clear()
    assert len(parsed) == 1
    assert mixed <= set(levels)
    assert levels == {r.id: r.level for r in parse(requirements.bundled_requirements_text())}
