"""The runtime port extensions are given, the command context, and the layering rules.

Extensions see :class:`~cmc_workflow.extensions.Runtime`, never the engine; a start's
claim is passed to it explicitly; a command's context is frozen and links run deeper;
the pure parts of clocks and schedules import no store, engine or framework.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Connection

from cmc_workflow import Actor, Engine
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.definition import load_paths
from cmc_workflow.engine import CommandContext, assemble
from cmc_workflow.errors import ConflictError, DefinitionError, PolicyDenied
from cmc_workflow.extensions import Change, Command, Extension, Runtime
from cmc_workflow.model import SYSTEM, engine_actor
from cmc_workflow.store import Store, Tx
from cmc_workflow.testing import FakeClock

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "cmc_workflow"

TICKET = """\
id: ticket
label: {zh: 工单, en: Ticket}
roles:
  system: {zh: 系统, en: System}
  clerk: {zh: 办事员, en: Clerk}
data:
  title: {type: string, required: false}
start: {state: open, roles: [system, clerk]}
states:
  open:
    type: userTask
    label: {zh: 待办, en: Open}
    transitions:
      - {trigger: close, target: closed, roles: [clerk, system]}
  closed:
    type: endEvent
    label: {zh: 已办, en: Closed}
"""

CLERK = Actor("zhao", {"clerk"})


class Keeper(Extension):
    """Keeps what it is bound to and every change it follows."""

    def __init__(self) -> None:
        self.bound: list[object] = []
        self.changes: list[Change] = []

    def bind(self, runtime: Runtime) -> None:
        self.bound.append(runtime)

    def after_change(self, tx: Tx, change: Change) -> None:
        self.changes.append(change)

    @property
    def runtime(self) -> Runtime:
        (runtime,) = self.bound
        assert isinstance(runtime, Runtime)
        return runtime


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "ticket.yaml").write_text(TICKET, encoding="utf-8")
    return defs


@pytest.fixture
def opened(tmp_path: Path, folder: Path) -> Iterator[tuple[Engine, Keeper]]:
    keeper = Keeper()
    with Engine.open(
        f"sqlite:///{tmp_path / 'r.db'}", workflows=folder, clock=FakeClock(), extensions=[keeper]
    ) as engine:
        yield engine, keeper


# -- what an extension is given -------------------------------------------------------------
PORT = {
    "runner",
    "now",
    "read",
    "write",
    "write_series",
    "workflow",
    "fire_system",
    "reassign_system",  # a deadline step that reassigns (issue 14, part 3)
    "start_system",
    "emit",  # an SLA warning or breach, told to every extension (issue 15, webhooks)
}


def test_an_extension_is_bound_to_the_runtime_port_not_the_engine(
    opened: tuple[Engine, Keeper],
) -> None:
    engine, keeper = opened
    runtime = keeper.runtime
    assert not isinstance(runtime, Engine)
    assert {name for name in dir(runtime) if not name.startswith("_")} == PORT
    # the port declares neither: reading them is the point (and an expression statement)
    with pytest.raises(AttributeError):
        runtime.engine  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(AttributeError):
        runtime.store  # type: ignore[attr-defined]  # noqa: B018
    assert runtime.runner == engine.runner
    assert runtime.now() == engine.clock()
    with runtime.read() as tx:
        assert isinstance(tx, Tx)
        assert not isinstance(tx, Connection)
    assert runtime.workflow("ticket") is engine.workflow("ticket")


def test_the_runtime_finds_stored_versions_and_refuses_a_mismatch(
    opened: tuple[Engine, Keeper],
) -> None:
    engine, keeper = opened
    item = engine.start("ticket", actor=CLERK)
    with engine.store.read() as tx:
        row = tx.item(item.id)
        assert row is not None
        found = keeper.runtime.workflow("ticket", row.definition_id, tx=tx)
    assert found.content_hash == engine.workflow("ticket").content_hash
    with pytest.raises(ValueError, match="not 'other'"):
        keeper.runtime.workflow("other", row.definition_id)


def test_a_system_step_joins_the_callers_transaction_and_is_fenced(
    opened: tuple[Engine, Keeper],
) -> None:
    engine, keeper = opened
    item = engine.start("ticket", actor=CLERK)
    with keeper.runtime.write() as tx:
        stale = keeper.runtime.fire_system(
            tx, item.id, "close", state="open", visit=2, reason="a timer of another visit"
        )
        assert stale is False
        assert keeper.runtime.fire_system(
            tx, item.id, "close", state="open", visit=1, reason="a timer"
        )
    assert engine.get(item.id).state == "closed"
    assert engine.history(item.id)[-1].actor == SYSTEM.id


def test_a_refused_system_step_rolls_back_only_its_own_writes(tmp_path: Path, folder: Path) -> None:
    class NoClosing(Extension):
        def check(self, command: Command, tx: Tx) -> None:
            if command.trigger == "close":
                raise PolicyDenied("no_closing", "nothing closes today")

    keeper = Keeper()
    with Engine.open(
        f"sqlite:///{tmp_path / 'n.db'}",
        workflows=folder,
        clock=FakeClock(),
        extensions=[keeper, NoClosing()],
    ) as engine:
        item = engine.start("ticket", actor=CLERK)
        with keeper.runtime.write() as tx:
            tx.insert_audit(  # the caller's own write in the same transaction
                {
                    "at": engine.clock(),
                    "actor": SYSTEM.id,
                    "roles": ["system"],
                    "command": "timer",
                    "workflow_id": "ticket",
                    "item_id": item.id,
                    "trigger": None,
                    "outcome": "accepted",
                    "rule": "caller",
                    "reason": "written before the step",
                    "detail": {},
                }
            )
            with pytest.raises(PolicyDenied):
                keeper.runtime.fire_system(tx, item.id, "close", state="open", visit=1, reason="t")
        assert engine.get(item.id).state == "open"
        assert "caller" in [r["rule"] for r in engine.audit_trail(item.id)]


def test_a_start_claim_runs_once_in_the_starts_transaction(
    opened: tuple[Engine, Keeper],
) -> None:
    engine, keeper = opened
    seen: list[tuple[int, str, dt.datetime]] = []

    def claim(tx: Tx, change: Change) -> None:
        row = tx.item(change.item_id)  # the item is written already, in this transaction
        assert row is not None
        seen.append((change.item_id, change.kind, change.now))

    actor = engine_actor("schedule:test", {"system"})
    item = keeper.runtime.start_system("ticket", actor=actor, data={"title": "x"}, claim=claim)
    assert seen == [(item.id, "start", engine.clock())]
    assert item.created_by == "schedule:test"
    engine.start("ticket", actor=CLERK)  # a later command does not run it again
    assert len(seen) == 1


def test_a_refusing_claim_leaves_no_item(opened: tuple[Engine, Keeper]) -> None:
    engine, keeper = opened

    def claim(tx: Tx, change: Change) -> None:
        raise ConflictError("taken over")

    with pytest.raises(ConflictError, match="taken over"):
        keeper.runtime.start_system(
            "ticket", actor=engine_actor("schedule:x", {"system"}), data={}, claim=claim
        )
    with engine.store.read() as tx:
        assert tx.open_items([("ticket", "open")]) == []
    assert [c.kind for c in keeper.changes] == ["start"]  # it followed, then rolled back


def test_only_the_engine_starts_as_the_system(opened: tuple[Engine, Keeper]) -> None:
    _engine, keeper = opened
    with pytest.raises(ValueError, match="not an engine actor"):
        keeper.runtime.start_system("ticket", actor=CLERK, data={})


# -- the command context and the per-command scratch --------------------------------------
def test_a_command_context_is_frozen_and_links_run_deeper(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        with store.read() as tx:
            now = dt.datetime(2025, 9, 26, tzinfo=dt.UTC)

            def claim(tx: Tx, change: Change) -> None:
                raise AssertionError("not called here")

            ctx = CommandContext(tx, CLERK, "fire", now, now, claim=claim)
            with pytest.raises(dataclasses.FrozenInstanceError):
                ctx.depth = 3  # type: ignore[misc]  # frozen: the assignment must fail
            child = ctx.deeper("collect")
            assert (child.kind, child.depth, child.claim) == ("collect", 1, None)
            assert (child.tx, child.actor, child.now, child.claim_until) == (tx, CLERK, now, now)
            assert child.deeper("start").depth == 2
    finally:
        store.close()


def test_the_scratch_of_a_command_is_its_own(opened: tuple[Engine, Keeper]) -> None:
    engine, _keeper = opened
    wf = engine.workflow("ticket")
    now = engine.clock()
    first = Command("start", CLERK, wf, None, None, None, {}, {}, "open", now)
    second = Command("start", CLERK, wf, None, None, None, {}, {}, "open", now)
    first.scratch["memo"] = 1
    assert second.scratch == {}
    assert first == second  # the scratch is no part of what the command is


def test_the_policy_memo_lives_on_the_command(tmp_path: Path) -> None:
    from cmc_workflow.policy.extension import PolicyRuntime, RuleExtension

    with Engine.open(
        f"sqlite:///{tmp_path / 'p.db'}",
        workflows=ROOT / "workflows",
        policies=ROOT / "policies",
        clock=FakeClock(),
    ) as engine:
        rules = [e for e in engine.extensions if isinstance(e, RuleExtension)]
        assert rules
        runtime: PolicyRuntime = rules[0].runtime
        wf = engine.workflow("publishing")
        now = engine.clock()
        editor = Actor("wang", {"editor"})
        command = Command("start", editor, wf, None, None, None, {}, {}, wf.initial, now)
        request = runtime.request(command)
        assert runtime.request(command) is request
        again = Command("start", editor, wf, None, None, None, {}, {}, wf.initial, now)
        assert runtime.request(again) is not request
        assert runtime.request(again) == request


# -- the composition root -------------------------------------------------------------------
def test_assemble_takes_a_loaded_set_and_leaves_a_given_store_open(
    tmp_path: Path, folder: Path
) -> None:
    loaded = load_paths([folder])
    loaded.raise_for_problems()
    store = Store.open(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        engine = assemble(store, loaded, clock=FakeClock(), calendar=WorkingCalendar())
        assert engine.workflows == ["ticket"]
        assert engine.store is store
        names = [type(e).__name__ for e in engine.extensions]
        # a claimed task is its holder's; the host systems' webhooks hear of what stands
        assert names == ["TaskGuard", "Clocks", "Schedules", "Webhooks"]
        assert engine.start("ticket", actor=CLERK).state == "open"
    finally:
        store.close()


def test_assemble_opens_no_store_for_definitions_that_cannot_run(
    tmp_path: Path, folder: Path
) -> None:
    bad = folder / "bad.yaml"
    bad.write_text(
        "kind: schedules\nschedules:\n  s:\n    workflow: ticket\n    cron: '0 9 * * *'\n"
        "    role: clerk\n    data: {title: 3}\n",
        encoding="utf-8",
    )
    loaded = load_paths([folder])
    opened: list[Store] = []

    def store() -> Store:
        opened.append(Store.open(f"sqlite:///{tmp_path / 'x.db'}"))
        return opened[-1]

    with pytest.raises(DefinitionError):
        assemble(store, loaded)
    assert opened == []
    assert not (tmp_path / "x.db").exists()


# -- layering ---------------------------------------------------------------------------------
PURE = ["clocks/deadlines.py", "schedules/language.py", "schedules/recurrence.py"]
FORBIDDEN = ("sqlalchemy", "alembic", "apscheduler", "click", "cmc_workflow.store")
EXCEPT = {PACKAGE / "schedules/recurrence.py": ("apscheduler",)}
"""The cron arithmetic is APScheduler's there, in one function, until a calculator of
our own replaces it."""


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Every module ``path`` imports, and whether under ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, bool]] = []
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            guarded |= {id(n) for child in node.body for n in ast.walk(child)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in guarded) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in guarded))
            found += [  # `from package import module` imports the module
                (f"{node.module}.{alias.name}", id(node) in guarded)
                for alias in node.names
                if _module_file(f"{node.module}.{alias.name}") is not None
            ]
    return found


def _module_file(name: str) -> Path | None:
    if not name.startswith("cmc_workflow."):
        return None
    relative = Path(*name.split(".")[1:])
    for candidate in (PACKAGE / relative.with_suffix(".py"), PACKAGE / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _reach(path: Path) -> set[tuple[Path, str]]:
    """The modules ``path`` imports at run time, with the file importing each, following
    cmc_workflow's own modules (not the parent packages' ``__init__``, which bundle the
    runtime parts)."""
    seen: set[Path] = set()
    reached: set[tuple[Path, str]] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name, guarded in _imports(current):
            if guarded:
                continue
            reached.add((current, name))
            if name.startswith("cmc_workflow."):
                found = _module_file(name)
                if found is not None and found.name != "__init__.py":
                    todo.append(found)
    return reached


@pytest.mark.parametrize("module", PURE)
def test_the_pure_parts_import_no_store_engine_or_framework(module: str) -> None:
    reached = _reach(PACKAGE / module)
    bad = sorted(
        f"{importer.relative_to(PACKAGE)}: {name}"
        for importer, name in reached
        if name.startswith((*FORBIDDEN, "cmc_workflow.engine"))
        and not name.startswith(EXCEPT.get(importer, ("\0",)))
    )
    assert bad == []


RUNTIME_PARTS = [
    "extensions.py",
    "clocks/extension.py",
    "clocks/firing.py",
    "clocks/provisional.py",
    "clocks/status.py",
    "schedules/extension.py",
    "policy/extension.py",
]


@pytest.mark.parametrize("module", RUNTIME_PARTS)
def test_the_extensions_see_the_store_through_its_port_only(module: str) -> None:
    reached = _reach(PACKAGE / module)
    bad = sorted(
        f"{importer.relative_to(PACKAGE)}: {name}"
        for importer, name in reached
        if name.startswith(("sqlalchemy", "alembic", "cmc_workflow.engine"))
        or (name.startswith("cmc_workflow.store.") and name != "cmc_workflow.store.port")
    )
    assert bad == []


def test_the_layering_walk_follows_imports_to_the_store_and_below() -> None:
    reached = {name for _, name in _reach(PACKAGE / "runner" / "assemble.py")}
    assert {"cmc_workflow.store", "sqlalchemy.engine"} <= reached


def test_nothing_outside_the_engine_imports_it_for_types_or_keeps_thread_locals() -> None:
    runtime_parts = [
        PACKAGE / "extensions.py",
        *sorted((PACKAGE / "clocks").glob("*.py")),
        *sorted((PACKAGE / "schedules").glob("*.py")),
        *sorted((PACKAGE / "policy").glob("*.py")),
    ]
    for path in runtime_parts:
        names = [name for name, _guarded in _imports(path)]
        assert not [n for n in names if n.startswith("cmc_workflow.engine")], path
        assert "threading.local" not in path.read_text(encoding="utf-8"), path
    for path in PACKAGE.rglob("*.py"):
        guarded = [name for name, under in _imports(path) if under]
        assert not [n for n in guarded if n.startswith("cmc_workflow.engine")], path
