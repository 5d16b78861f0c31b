"""Input limits at the edges, in process: the YAML readers (file kind, size, nesting depth,
anchors), number fields (NaN, infinity), a database migrated by a newer release, and a
read-only database that read-only commands can still read."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from cmc_workflow import Engine, located
from cmc_workflow.calendar import WorkingCalendar, load_calendar_dir, parse_calendar_file
from cmc_workflow.cli import main
from cmc_workflow.definition import load_paths, load_workflow_text
from cmc_workflow.definition.forms import validate_values
from cmc_workflow.definition.models import FieldSpec
from cmc_workflow.errors import (
    DatabaseReadOnly,
    DefinitionError,
    Problem,
    SchemaTooNew,
    StoreError,
)
from cmc_workflow.located import (
    C_LOADER,
    MAX_ANCHORS,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    load_located,
    read_source,
)
from cmc_workflow.store import Store, schema
from cmc_workflow.store import audit as audit_log
from cmc_workflow.store.database import open_database
from tests.helpers import EDITOR, LEAD, POLICIES, PUBLISHING, TOPIC, UNGUARDED_PUBLISHING, WORKFLOWS

CAP = 120.0
"""A generous cap on a read that must not block: only a hang ever reaches it."""


def finishes(action: Callable[[], Any]) -> Any:
    """Run ``action`` on a thread and return its result; fail (not hang) if it blocks."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = action()
        except BaseException as exc:  # handed back to the test below
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(CAP)
    assert not thread.is_alive(), "the reader blocked"
    if "error" in box:
        raise box["error"]
    return box.get("result")


def nested_flow(levels: int) -> str:
    return "id: deep\nlabel: " + "[" * levels + "]" * levels + "\n"


def nested_block(levels: int) -> str:
    lines = [f"{'  ' * i}k{i}:" for i in range(levels)]
    return "\n".join(lines) + " x\n"


def codes(problems: list[Problem] | tuple[Problem, ...]) -> list[str]:
    return [p.code for p in problems]


def calendar_codes(text: str, file: str) -> list[str]:
    """The codes a calendar file of ``text`` is refused with (the same reader reads it)."""
    with pytest.raises(DefinitionError) as caught:
        parse_calendar_file(text, file)
    return codes(caught.value.problems)


@pytest.fixture(params=["libyaml", "pure"])
def composer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The limits hold with both composers (libyaml is checked on the composed graph)."""
    if request.param == "libyaml" and not C_LOADER:
        pytest.skip("PyYAML was built without libyaml")
    if request.param == "pure":
        monkeypatch.setattr(located, "C_LOADER", False)
    return str(request.param)


# -- file kinds ------------------------------------------------------------------------------
@pytest.mark.req("SEC-4")
def test_a_fifo_named_like_yaml_is_refused_without_blocking(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, folder, ignore=shutil.ignore_patterns("*.md"))
    os.mkfifo(folder / "pipe.yaml")
    (folder / "link.yml").symlink_to(folder / "pipe.yaml")

    loaded = finishes(lambda: load_paths([folder]))

    refused = {Path(p.file).name: p for p in loaded.problems}
    assert set(refused) == {"pipe.yaml", "link.yml"}
    assert {p.code for p in refused.values()} == {"E-FILE-KIND"}
    assert "FIFO" in refused["pipe.yaml"].message
    assert refused["pipe.yaml"].message_zh
    with pytest.raises(DefinitionError) as caught:
        finishes(lambda: Engine.open(f"sqlite:///{tmp_path / 'cmc.db'}", workflows=folder))
    assert set(caught.value.codes) == {"E-FILE-KIND"}


def test_a_directory_a_device_and_a_socket_named_like_yaml_are_refused(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "null.yaml").symlink_to("/dev/null")
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock.yaml"))
        loaded = finishes(lambda: load_paths([tmp_path]))
    kinds = {Path(p.file).name: (p.code, p.message) for p in loaded.problems}
    assert kinds["dir.yaml"][0] == "E-FILE-KIND"
    assert "directory" in kinds["dir.yaml"][1]
    assert kinds["null.yaml"][0] == "E-FILE-KIND"
    assert "device" in kinds["null.yaml"][1]
    assert kinds["sock.yaml"][0] == "E-FILE-KIND"
    assert "socket" in kinds["sock.yaml"][1]


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_FILE_BYTES + "\nid: big\n", encoding="utf-8")
    text_, problems = read_source(big)
    assert text_ is None
    assert codes(problems) == ["E-FILE-SIZE"]
    assert problems[0].hint
    assert problems[0].message_zh
    assert problems[0].hint_zh
    loaded = load_paths([tmp_path])
    assert codes(loaded.problems) == ["E-FILE-SIZE"]
    # the same limit holds for a text handed over directly
    _doc, direct = load_located("a: " + "x" * MAX_FILE_BYTES, "<string>")
    assert codes(direct) == ["E-FILE-SIZE"]


def test_a_file_just_under_the_limits_still_loads(tmp_path: Path) -> None:
    source = UNGUARDED_PUBLISHING.read_text(encoding="utf-8")  # loaded without its policies
    padded = source + "# " + "x" * (MAX_FILE_BYTES - len(source.encode()) - 3) + "\n"
    assert len(padded.encode()) == MAX_FILE_BYTES
    (tmp_path / "publishing.yaml").write_text(padded, encoding="utf-8")
    assert load_paths([tmp_path]).problems == []
    _doc, problems = load_located(nested_flow(MAX_DEPTH - 1), "f.yaml")  # + the root mapping
    assert problems == []


def test_a_file_that_is_not_utf8_is_refused_naming_its_place(tmp_path: Path) -> None:
    (tmp_path / "latin.yaml").write_bytes(b"id: x\nlabel: caf\xe9\n")
    text_, problems = read_source(tmp_path / "latin.yaml")
    assert text_ is None
    assert codes(problems) == ["E-READ"]
    assert "0xE9 at line 2, column 11" in problems[0].message


# -- nesting and anchors -------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [nested_flow, nested_block])
def test_deep_nesting_is_a_located_problem_not_a_recursion_error(
    shape: Callable[[int], str], tmp_path: Path, composer: str
) -> None:
    source = shape(490)
    _doc, problems = load_located(source, "deep.yaml")
    assert codes(problems) == ["E-YAML-DEPTH"]
    assert problems[0].line >= 1
    assert problems[0].column >= 1
    assert problems[0].message_zh
    assert calendar_codes(source, "deep.yaml") == ["E-YAML-DEPTH"]
    (tmp_path / "deep.yaml").write_text(source, encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_calendar_dir(tmp_path)
    assert caught.value.codes == ["E-YAML-DEPTH"]


def test_nesting_past_what_libyaml_itself_allows_is_the_same_problem(composer: str) -> None:
    # libyaml stops at 1,000 levels; 100,000 fit under the size limit in flow style
    started = time.perf_counter()
    _doc, problems = load_located(nested_flow(100_000), "deep.yaml")
    assert [(p.code, p.line, p.column) for p in problems] == [("E-YAML-DEPTH", 2, 7 + MAX_DEPTH)]
    assert time.perf_counter() - started < CAP


def test_the_depth_problem_points_at_the_level_that_crosses_the_limit(composer: str) -> None:
    _doc, problems = load_located("a: " + "[" * 100 + "]" * 100, "f.yaml")
    # the root mapping is level 1, so the list that opens level MAX_DEPTH + 1 is refused
    assert [(p.line, p.column) for p in problems] == [(1, 4 + MAX_DEPTH - 1)]


def test_too_many_values_are_refused_before_they_are_all_composed(composer: str) -> None:
    row = "  - [1, 2, 3, 4, 5, 6, 7, 8, 9]\n"  # ten values
    source = "items:\n" + row * (MAX_NODES // 8)
    assert len(source.encode()) < MAX_FILE_BYTES  # under the size limit: the value count acts
    _doc, problems = load_located(source, "dense.yaml")
    assert [p.code for p in problems] == ["E-YAML-NODES"]
    # root, key, list (3) and ten values a row: value 20,001 sits in the row on line 2001
    assert problems[0].line == MAX_NODES // 10 + 1
    assert calendar_codes(source, "dense.yaml") == ["E-YAML-NODES"]


def test_too_many_anchors_are_refused_for_every_kind(composer: str) -> None:
    source = "items:\n" + "".join(f"  - &a{i} {i}\n" for i in range(MAX_ANCHORS + 5))
    _doc, problems = load_located(source, "a.yaml")
    assert [(p.code, p.line) for p in problems] == [("E-YAML-ANCHORS", MAX_ANCHORS + 2)]
    assert calendar_codes(source, "a.yaml") == ["E-YAML-ANCHORS"]


@pytest.mark.req("SEC-4")
def test_a_calendar_folder_refuses_a_fifo_and_keeps_nothing_half_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "2027.yaml")
    with pytest.raises(DefinitionError) as caught:
        finishes(lambda: WorkingCalendar.from_directory(tmp_path))
    assert caught.value.codes == ["E-FILE-KIND"]


# -- number fields ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_never_pass_a_number_field(value: float) -> None:
    fields = {
        "score": FieldSpec.model_validate({"type": "number", "min": 0, "max": 100}),
        "hours": FieldSpec.model_validate({"type": "number"}),
    }
    clean, errors = validate_values(fields, {"score": value, "hours": value})
    assert clean == {}
    assert {e.field for e in errors} == {"score", "hours"}
    assert all("finite" in e.message for e in errors)


# -- a database from a newer release ---------------------------------------------------------------
def _stamp(url: str, revision: str) -> None:
    engine = open_database(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


@pytest.fixture
def future_db(db_url: str) -> Iterator[str]:
    """The test database as a newer release would leave it (PostgreSQL's is shared by the
    session, so its stamp goes back to our head afterwards)."""
    Store.open(db_url, migrate=True).close()
    _stamp(db_url, "ffff_future")
    yield db_url
    _stamp(db_url, schema.head_revision())


def _revision(url: str) -> str | None:
    engine = open_database(url)
    try:
        return schema.current_revision(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("migrate", [None, False, True])
def test_a_database_from_a_newer_release_is_refused_with_its_code(
    future_db: str, migrate: bool | None
) -> None:
    with pytest.raises(SchemaTooNew) as caught:
        Engine.open(future_db, workflows=UNGUARDED_PUBLISHING, migrate=migrate)
    assert caught.value.code == "E-DB-TOO-NEW"
    assert caught.value.revision == "ffff_future"
    assert caught.value.head == schema.head_revision()
    assert "newer release" in caught.value.reason_en
    assert caught.value.reason_zh
    assert isinstance(caught.value, StoreError)
    assert _revision(future_db) == "ffff_future"  # nothing was migrated or written


def test_db_upgrade_and_current_refuse_a_newer_database_with_exit_3(future_db: str) -> None:
    for command in ("upgrade", "current"):
        result = CliRunner().invoke(main, ["db", command, "--db", future_db, "--json"])
        assert result.exit_code == 3, result.output
        assert "E-DB-TOO-NEW" in result.output
        assert "Traceback" not in result.output
    assert _revision(future_db) == "ffff_future"


def test_an_older_known_database_is_still_told_to_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = open_database(url)
    try:
        schema.upgrade(engine, "0001")
    finally:
        engine.dispose()
    with pytest.raises(StoreError) as caught:
        Store.open(url)
    assert not isinstance(caught.value, SchemaTooNew)
    assert "db upgrade" in str(caught.value)


# -- a read-only database -------------------------------------------------------------------
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def stored_item(tmp_path: Path) -> tuple[Path, int]:
    """A SQLite file holding one publishing item moved one step, closed (no -wal left)."""
    folder = tmp_path / "copy"
    folder.mkdir()
    url = f"sqlite:///{folder / 'cmc.db'}"
    with Engine.open(url, workflows=UNGUARDED_PUBLISHING) as engine:
        item = engine.start("publishing", actor=EDITOR, data=TOPIC)
        engine.fire(item.id, "approve", actor=LEAD)
    return folder / "cmc.db", item.id


@pytest.mark.req("SEC-4")
def test_a_read_only_store_reads_and_refuses_writes_with_its_code(
    stored_item: tuple[Path, int],
) -> None:
    path, _item_id = stored_item
    before = _digest(path)
    store = Store.open(f"sqlite:///{path}", read_only=True)
    try:
        assert store.read_only
        with store.read() as tx:
            assert audit_log.verify(tx.conn).ok
        with pytest.raises(DatabaseReadOnly) as caught, store.write() as tx:
            tx.conn.execute(text("DELETE FROM outbox"))
        assert caught.value.code == "E-DB-READ-ONLY"
        assert caught.value.reason_zh
    finally:
        store.close()
    with pytest.raises(DatabaseReadOnly):
        Store.open(f"sqlite:///{path}", read_only=True, migrate=True)
    assert _digest(path) == before


def _without_write_permission() -> list[str]:
    """The command prefix under which file permissions hold: as root, the same user
    without the capabilities that override them (so the test is real as root too)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file permissions cannot be made to hold")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]


@pytest.mark.req("SEC-4", "SEC-2")
def test_read_only_commands_read_a_database_nobody_may_write(
    stored_item: tuple[Path, int],
) -> None:
    path, item_id = stored_item
    url = f"sqlite:///{path}"
    prefix = _without_write_permission()
    path.chmod(0o444)
    path.parent.chmod(0o555)
    try:
        probe = subprocess.run(
            [*prefix, "touch", str(path.parent / "probe")], capture_output=True, check=False
        )
        assert probe.returncode != 0, "the folder is still writable: the test would prove nothing"
        before = _digest(path)

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*prefix, sys.executable, "-m", "cmc_workflow", *args, "--db", url],
                cwd=path.parent,
                capture_output=True,
                text=True,
                check=False,
            )

        shown = cli(
            "show",
            str(item_id),
            "--workflows",
            str(WORKFLOWS),
            "--policies",
            str(POLICIES),
            "--json",
        )
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["state"] == "selected"
        history = cli("history", str(item_id), "--json")
        assert history.returncode == 0, history.stderr
        assert len(json.loads(history.stdout)) == 2
        verified = cli("audit", "verify", "--json")
        assert verified.returncode == 0, verified.stderr
        assert json.loads(verified.stdout)["ok"] is True
        # a write is refused with the rule that refused it, and nothing changes
        form = json.dumps({"assignees": [EDITOR.id], "due_date": "2025-10-10"})
        fired = cli(
            "fire",
            str(item_id),
            "assign",
            "--actor",
            LEAD.id,
            "--role",
            "channel_lead",
            "--data",
            form,
        )
        assert fired.returncode == 3
        assert "E-DB-READ-ONLY" in fired.stderr
        assert "Traceback" not in fired.stderr
        upgrade = cli("db", "upgrade")
        assert upgrade.returncode == 3, upgrade.stderr
        assert "E-DB-READ-ONLY" in upgrade.stderr
        daemon = cli(  # a daemon only writes
            "run", "--once", "--workflows", str(WORKFLOWS), "--policies", str(POLICIES)
        )
        assert daemon.returncode == 3, daemon.stderr
        assert "E-DB-READ-ONLY" in daemon.stderr
        assert _digest(path) == before
        assert sorted(p.name for p in path.parent.iterdir()) == ["cmc.db"]
    finally:
        path.parent.chmod(0o755)
        path.chmod(0o644)


def test_aliases_cannot_nest_deeper_than_the_text_does(composer: str) -> None:
    # each anchor nests 60 levels and holds the previous one: 6,000 levels once expanded
    lines = ["root:"]
    for i in range(100):
        inner = f"*a{i - 1}" if i else "1"
        lines.append(f"  k{i}: &a{i} " + "[" * 60 + inner + "]" * 60)
    _doc, problems = load_located("\n".join(lines) + "\n", "aliases.yaml")
    assert codes(problems) == ["E-YAML-DEPTH"]
    assert "aliases" in problems[0].message
    assert problems[0].message_zh


@pytest.mark.parametrize(
    "guard", ["not " * 3000 + "form.x", "-" * 5000 + "1 > 0", " + ".join(["1"] * 3000) + " > 0"]
)
def test_a_guard_nested_too_deeply_is_a_located_problem(guard: str) -> None:
    source = PUBLISHING.read_text(encoding="utf-8")
    head, sep, tail = source.partition("      - trigger: approve\n")
    assert sep, "the publishing workflow's first approve transition moved"
    text_ = f"{head}{sep}        guard: '{guard}'\n{tail}"
    with pytest.raises(DefinitionError) as caught:
        load_workflow_text(text_, "deep-guard.yaml")
    assert "E-GUARD-SYNTAX" in caught.value.codes
    assert any("levels deep" in p.message for p in caught.value.problems)


@pytest.mark.parametrize("command", [["validate"], ["calendar", "status", "--calendars"]])
def test_validate_and_calendar_status_print_the_refusals_and_exit_1(
    tmp_path: Path, command: list[str]
) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "deep.yaml").write_text(nested_flow(490), encoding="utf-8")
    result = finishes(
        lambda: CliRunner().invoke(main, [*command, str(tmp_path)], catch_exceptions=False)
    )
    assert result.exit_code == 1, result.output
    assert "pipe.yaml:1:1: E-FILE-KIND" in result.output
    assert "deep.yaml:2:" in result.output
    assert "E-YAML-DEPTH" in result.output
    assert "命名管道" in result.output  # the Chinese text travels with the English
