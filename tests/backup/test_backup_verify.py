"""``backup verify`` and ``restore`` on tampered, damaged and intact backups (SEC-4).

A backup of a few publishing items is taken, then its copy is edited the way someone
with the file would: a history row, an audit record, a chain rewritten together with its
anchor; with the manifest's checksum left alone (the checksum names the file) and fixed
(the restored copy's audit verification and census must still name the item, its id and
its workflow). The commands run in-process as an administrator types them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow import Engine
from cmc_workflow.backup import Taken, take_backup
from cmc_workflow.backup.census import Census
from cmc_workflow.backup.check import compare
from cmc_workflow.backup.files import sha256_of
from cmc_workflow.backup.postgres import find_tool
from cmc_workflow.errors import BackupError
from cmc_workflow.store.chain import history_hash
from cmc_workflow.testing import FakeClock, fresh_sqlite_url
from tests.helpers import EDITOR, TOPIC, UNGUARDED_PUBLISHING, check_invariants, ok_handler, walk
from tests.helpers.cli import Result, run_cli
from tests.helpers.databases import postgres_admin_url, postgres_database
from tests.helpers.processes import run


@pytest.fixture
def live(tmp_path: Path) -> tuple[str, dict[str, int]]:
    """A SQLite database with three publishing items at different places."""
    url = fresh_sqlite_url(tmp_path / "live")
    with Engine.open(
        url,
        workflows=UNGUARDED_PUBLISHING,
        clock=FakeClock(),
        handlers={"publish_to_channels": ok_handler},
    ) as engine:
        done = walk(engine, engine.start("publishing", actor=EDITOR, data=dict(TOPIC)), "archived")
        halfway = walk(
            engine, engine.start("publishing", actor=EDITOR, data=dict(TOPIC)), "drafting"
        )
        fresh = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    return url, {"done": done.id, "halfway": halfway.id, "fresh": fresh.id}


@pytest.fixture
def taken(live: tuple[str, dict[str, int]], tmp_path: Path) -> Taken:
    return take_backup(live[0], tmp_path / "backups")


def edit(taken: Taken, *statements: str, fix_checksum: bool = False) -> None:
    """Run SQL on the backup's copy; with ``fix_checksum`` the manifest is made to agree."""
    with closing(sqlite3.connect(taken.file)) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    if fix_checksum:
        manifest = json.loads(taken.manifest.read_text(encoding="utf-8"))
        manifest["sha256"] = sha256_of(taken.file)
        taken.manifest.write_text(json.dumps(manifest), encoding="utf-8")


def verify(path: Path, *args: str) -> tuple[Result, dict[str, Any]]:
    done = run_cli("backup", "verify", str(path), "--json", *args)
    return done, done.json()


def codes(report: dict[str, Any]) -> list[str]:
    return [issue["code"] for issue in report["issues"]]


def about(report: dict[str, Any], code: str) -> list[tuple[int | None, str | None]]:
    """The items (id, workflow) the issues of ``code`` name."""
    return [(i["item_id"], i["workflow"]) for i in report["issues"] if i["code"] == code]


@pytest.mark.req("SEC-4")
def test_an_intact_backup_verifies_from_its_file_its_manifest_or_its_folder(
    taken: Taken,
) -> None:
    for path in (taken.file, taken.manifest, taken.file.parent):
        done, report = verify(path)
        assert done.exit_code == 0, done.stdout
        assert report["ok"] is True
        assert report["issues"] == []
        assert report["items"] == 3
        assert report["audit_records"] == taken.census.audit_records
    human = run_cli("backup", "verify", str(taken.file))
    assert human.exit_code == 0
    assert "intact, restores" in human.stdout
    assert "完好，可恢复" in human.stdout


@pytest.mark.req("SEC-4", "SEC-2")
@pytest.mark.parametrize("fix_checksum", [False, True], ids=["checksum-left", "checksum-fixed"])
def test_an_edited_history_row_fails_naming_the_item(
    taken: Taken, live: tuple[str, dict[str, int]], fix_checksum: bool
) -> None:
    item = live[1]["done"]
    edit(
        taken,
        f"UPDATE history SET actor = 'mallory' WHERE item_id = {item} AND seq = 3",
        fix_checksum=fix_checksum,
    )
    done, report = verify(taken.file)
    assert done.exit_code == 1
    assert report["ok"] is False
    assert ("E-BACKUP-CHECKSUM" in codes(report)) is not fix_checksum
    assert about(report, "E-AUDIT-EDITED") == [(item, "publishing")]
    (edited,) = [i for i in report["issues"] if i["code"] == "E-AUDIT-EDITED"]
    assert edited["table"] == "history"
    assert "changed after it was written" in edited["message"]
    assert "写入后被改动" in edited["message_zh"]
    human = run_cli("backup", "verify", str(taken.file))
    assert human.exit_code == 1
    assert f"item {item} (publishing)" in human.stdout
    assert f"事项 {item}（publishing）" in human.stdout


@pytest.mark.req("SEC-4", "SEC-2")
@pytest.mark.enforces("SEC-4", element="cmc_workflow/backup/check.py")
def test_an_edited_audit_record_fails_naming_the_item(
    taken: Taken, live: tuple[str, dict[str, int]]
) -> None:
    item = live[1]["halfway"]
    edit(
        taken,
        f"UPDATE audit SET actor = 'mallory' WHERE item_id = {item} AND chain_seq = 2",
        fix_checksum=True,
    )
    done, report = verify(taken.file)
    assert done.exit_code == 1
    assert codes(report) == ["E-AUDIT-EDITED"]
    assert about(report, "E-AUDIT-EDITED") == [(item, "publishing")]


@pytest.mark.req("SEC-4", "SEC-2")
def test_a_chain_rewritten_with_its_anchor_is_named_by_the_manifest(
    taken: Taken, live: tuple[str, dict[str, int]]
) -> None:
    """The one rewrite the chains cannot catch (a row changed, re-hashed, and the item's
    anchor moved to match): the restored copy verifies, the manifest's anchors do not."""
    item = live[1]["fresh"]
    with closing(sqlite3.connect(taken.file)) as conn:
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute(f"SELECT * FROM history WHERE item_id = {item}").fetchone())
    row["actor"] = "mallory"
    row["roles"] = json.loads(row["roles"])
    row["form"] = json.loads(row["form"])
    row["at"] = _aware(row["at"])
    digest = history_hash(row["prev_hash"], row)
    edit(
        taken,
        f"UPDATE history SET actor = 'mallory', hash = '{digest}' WHERE id = {row['id']}",
        f"UPDATE items SET history_head = '{digest}' WHERE id = {item}",
        fix_checksum=True,
    )
    done, report = verify(taken.file)
    assert done.exit_code == 1
    assert not [c for c in codes(report) if c.startswith("E-AUDIT-")], report
    assert about(report, "E-BACKUP-ANCHOR") == [(item, "publishing")]


def _aware(text: str) -> Any:
    import datetime as dt

    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.req("SEC-4")
def test_verify_all_checks_every_backup_of_the_folder(
    taken: Taken, live: tuple[str, dict[str, int]]
) -> None:
    newer = take_backup(live[0], taken.file.parent)
    assert run_cli("backup", "verify", str(taken.file.parent), "--all").exit_code == 0
    edit(taken, "UPDATE audit SET actor = 'mallory' WHERE id = 1")  # the older one
    assert run_cli("backup", "verify", str(taken.file.parent)).exit_code == 0  # the newest
    done, report = verify(taken.file.parent, "--all")
    assert done.exit_code == 1
    assert report["ok"] is False
    assert [b["ok"] for b in report["backups"]] == [False, True]
    assert report["backups"][1]["file"] == str(newer.file)


@pytest.mark.req("SEC-4")
def test_a_checksum_mismatch_alone_fails(taken: Taken) -> None:
    manifest = json.loads(taken.manifest.read_text(encoding="utf-8"))
    manifest["sha256"] = "0" * 64
    taken.manifest.write_text(json.dumps(manifest), encoding="utf-8")
    done, report = verify(taken.file)
    assert done.exit_code == 1
    assert codes(report) == ["E-BACKUP-CHECKSUM"]
    assert report["checksum_ok"] is False


def test_a_damaged_file_is_reported_not_crashed_on(taken: Taken) -> None:
    data = bytearray(taken.file.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # a page of the b-trees overwritten
    taken.file.write_bytes(bytes(data))
    done, report = verify(taken.file)
    assert done.exit_code == 1
    assert "E-BACKUP-CHECKSUM" in codes(report)
    assert "E-BACKUP-UNREADABLE" in codes(report)


def test_an_edited_manifest_is_named_not_crashed_on(taken: Taken) -> None:
    manifest = json.loads(taken.manifest.read_text(encoding="utf-8"))
    del manifest["census"]["items"]
    taken.manifest.write_text(json.dumps(manifest), encoding="utf-8")
    done = run_cli("backup", "verify", str(taken.manifest), "--json")
    assert done.exit_code == 1
    assert done.json()["error"]["rule"] == "E-BACKUP-MANIFEST"


def test_a_file_without_its_manifest_is_not_a_backup(taken: Taken) -> None:
    taken.manifest.unlink()
    done = run_cli("backup", "verify", str(taken.file))
    assert done.exit_code == 1
    assert "E-BACKUP-MANIFEST" in done.stderr
    assert "缺少备份的清单文件" in done.stderr


# -- retention ------------------------------------------------------------------------------------
def test_keep_removes_only_the_oldest_backups_this_tool_wrote(
    live: tuple[str, dict[str, int]], tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    theirs = [folder / "cmc-backup-19990101T000000Z.sqlite3", folder / "notes.txt"]
    for path in theirs:
        path.write_text("not ours", encoding="utf-8")
    (folder / "cmc-backup-19990101T000000Z.json").write_text('{"format": "x"}', "utf-8")
    made = [take_backup(live[0], folder, keep=2) for _ in range(4)]
    kept = sorted(p.name for p in folder.glob("cmc-backup-2*"))
    assert kept == sorted(p.name for t in made[-2:] for p in (t.file, t.manifest))
    assert [p for t in made[:2] for p in t.removed] == []
    assert made[2].removed == [made[0].file, made[0].manifest]
    assert all(path.exists() for path in theirs)


# -- restore --------------------------------------------------------------------------------------
@pytest.mark.req("SEC-4")
def test_restore_refuses_a_target_that_is_not_empty_unless_forced(
    taken: Taken, live: tuple[str, dict[str, int]], tmp_path: Path
) -> None:
    target = f"sqlite:///{tmp_path / 'target.db'}"
    assert run_cli("restore", str(taken.file), "--db", target).exit_code == 0
    assert check_invariants(target) == []
    refused = run_cli("restore", str(taken.file), "--db", target, "--json")
    assert refused.exit_code == 2
    assert refused.json()["error"]["rule"] == "E-RESTORE-TARGET-NOT-EMPTY"
    assert "目标数据库不为空" in refused.stderr
    refused = run_cli("restore", str(taken.file), "--db", live[0])
    assert refused.exit_code == 2
    forced = run_cli("restore", str(taken.file), "--db", target, "--force", "--json")
    assert forced.exit_code == 0, forced.stdout
    assert forced.json()["items"] == 3


@pytest.mark.req("SEC-4")
def test_restore_of_a_tampered_backup_writes_nothing(taken: Taken, tmp_path: Path) -> None:
    edit(taken, "UPDATE history SET actor = 'mallory' WHERE id = 1", fix_checksum=True)
    target = tmp_path / "target.db"
    done = run_cli("restore", str(taken.file), "--db", f"sqlite:///{target}")
    assert done.exit_code == 1
    assert "E-AUDIT-EDITED" in done.stdout
    assert "未恢复" in done.stdout
    assert not target.exists()


# -- PostgreSQL's client programs -----------------------------------------------------------------
def test_pg_dump_not_on_path_is_a_located_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no program at all
    with pytest.raises(BackupError) as caught:
        find_tool("pg_dump", server=15)
    assert caught.value.code == "E-BACKUP-TOOL-MISSING"
    assert caught.value.where == "pg_dump"
    assert "postgresql-client-15" in caught.value.reason_en
    assert "未找到" in caught.value.reason_zh
    with pytest.raises(BackupError) as given:
        find_tool("pg_dump", str(tmp_path / "pg_dump"))
    assert given.value.code == "E-BACKUP-TOOL-MISSING"
    assert given.value.where == str(tmp_path / "pg_dump")


@pytest.mark.req("SEC-4")
@pytest.mark.postgres
def test_a_postgresql_backup_without_pg_dump_exits_3_in_both_languages(tmp_path: Path) -> None:
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("CMC_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
    empty = tmp_path / "bin"
    empty.mkdir()
    with postgres_database(admin, "cmc_nodump") as url:
        done = run(
            [sys.executable, "-m", "cmc_workflow", "backup", "--db", url, "--to", str(tmp_path)],
            env={**os.environ, "PATH": str(empty)},
            capture_output=True,
            text=True,
        )
    assert done.returncode == 3, done.stderr
    assert "E-BACKUP-TOOL-MISSING" in done.stderr
    assert "was not found on PATH" in done.stderr
    assert "未找到" in done.stderr
    assert not list(tmp_path.glob("cmc-backup-*"))


def _pg_dump_or_skip() -> str:
    try:
        return str(find_tool("pg_dump"))
    except BackupError as exc:
        pytest.skip(f"{exc.code}: no pg_dump here")


@pytest.mark.req("SEC-4")
@pytest.mark.postgres
def test_a_postgresql_backup_verifies_and_restores(postgres_url: str, tmp_path: Path) -> None:
    pg_dump = _pg_dump_or_skip()
    version = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, check=True)
    assert "PostgreSQL" in version.stdout
    with Engine.open(
        postgres_url,
        workflows=UNGUARDED_PUBLISHING,
        clock=FakeClock(),
        handlers={"publish_to_channels": ok_handler},
    ) as engine:
        item = walk(engine, engine.start("publishing", actor=EDITOR, data=dict(TOPIC)), "signoff")
    made = run_cli("backup", "--db", postgres_url, "--to", str(tmp_path), "--json")
    assert made.exit_code == 0, made.stderr
    assert made.json()["file"].endswith(".pgdump")
    manifest = json.loads(Path(made.json()["manifest"]).read_text(encoding="utf-8"))
    client = int(version.stdout.split()[2].split(".")[0])
    assert manifest["database"]["tool"] == f"pg_dump {client}"  # the server's major or newer
    done, report = verify(tmp_path, "--db", postgres_url)
    assert done.exit_code == 0, report
    assert report["kind"] == "postgresql"
    assert report["items"] == 1
    admin = postgres_admin_url()
    assert admin is not None
    with postgres_database(admin, "cmc_restore") as target:
        restored = run_cli("restore", str(tmp_path), "--db", target, "--json")
        assert restored.exit_code == 0, restored.stdout
        assert check_invariants(target) == []
        with Engine.open(target, workflows=UNGUARDED_PUBLISHING, clock=FakeClock()) as engine:
            assert engine.get(item.id).state == "signoff"


def test_what_the_restored_copy_lacks_reads_in_each_language() -> None:
    # a pure comparison of two censuses: each issue in English and Chinese (JSON carries
    # both), the item named in its own language, a missing anchor said in words
    head = (3, "a" * 16)
    manifest = Census(
        {"publishing": {"drafting": 2}},
        5,
        7,
        {"item:4": head},
        {"item:4": head},
        {"item:4": "publishing"},
    )
    restored = Census({"publishing": {"drafting": 1}}, 4, 7, {"item:4": head})
    counts, rows, anchor = compare(manifest, restored)
    assert (
        counts.message_zh == "流程 publishing 状态 drafting：清单记为 2 个事项，恢复的副本中有 1 个"
    )
    assert rows.message == "the manifest counts 5 history rows, the restored copy holds 4"
    assert rows.message_zh == "清单记为 5 条历史记录，恢复的副本中有 4 条"
    assert str(anchor) == (
        "E-BACKUP-ANCHOR item 4 (publishing): the history of item:4 ends at #3 aaaaaaaaaaaaaaaa "
        "in the manifest, at nothing in the restored copy: rewritten after the backup was taken"
    )
    assert anchor.zh == (
        "E-BACKUP-ANCHOR 事项 4（publishing）：item:4 的历史链在清单中止于 #3 aaaaaaaaaaaaaaaa，"
        "在恢复的副本中止于 无：备份后被改写"
    )
