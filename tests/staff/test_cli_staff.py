"""``cmc-workflow staff`` in-process (tests/helpers/cli.py), on SQLite: add, post, end-post,
show and list masked, import all or nothing with file:row:column problems, export, and
the exit codes of docs/cli.md (0 done, 1 roster problems, 2 refused)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmc_workflow.exits import Exit
from tests.helpers.cli import run_cli


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cmc.db'}"


def staff(db: str, *args: str) -> tuple[int, str, str]:
    done = run_cli("staff", *args, "--db", db)
    return done.exit_code, done.stdout, done.stderr


@pytest.mark.req("STF-1")
def test_a_person_is_added_put_on_posts_shown_masked_and_taken_off(db: str) -> None:
    code, out, _ = staff(
        db, "add", "王芳", "--id", "wang", "--mobile", "13800138000", "--email",
        "wang@example.org", "--education", "本科", "--years", "5", "--post", "编辑",
        "--scope", "wechat,web", "--actor", "hr1",
    )  # fmt: skip
    assert code == Exit.OK, out
    assert "filed wang" in out
    code, out, _ = staff(
        db, "post", "wang", "ops_manager", "--from", "2025-09-01", "--actor", "hr1"
    )
    assert code == Exit.OK
    code, out, _ = staff(db, "show", "wang", "--json")
    shown = json.loads(out)
    assert shown["mobile"] == "13*******00"
    assert [p["post"] for p in shown["posts"]] == ["editor", "ops_manager"]
    assert shown["posts"][0]["scope"] == {"channels": ["web", "wechat"]}
    code, out, _ = staff(db, "show", "wang", "--reveal", "--json")
    assert json.loads(out)["mobile"] == "13800138000"
    post_id = str(shown["posts"][1]["id"])
    assert staff(db, "end-post", post_id, "--on", "2025-09-30", "--actor", "hr1")[0] == Exit.OK
    code, out, _ = staff(db, "list", "--role", "ops_manager", "--json")
    assert json.loads(out) == []
    code, out, _ = staff(db, "list")
    assert "王芳" in out
    assert "13800138000" not in out


@pytest.mark.req("STF-2")
def test_a_refused_post_exits_2_with_the_rule_in_both_languages(db: str) -> None:
    staff(
        db, "add", "钱七", "--id", "qian", "--education", "大专", "--years", "1", "--actor", "hr1"
    )
    code, _, err = staff(db, "post", "qian", "运营管理岗", "--actor", "hr1")
    assert code == Exit.USAGE
    assert "refused (E-STAFF-QUALIFICATION)" in err
    assert "已拒绝（E-STAFF-QUALIFICATION）" in err
    code, _, err = staff(db, "show", "nobody")
    assert code == Exit.USAGE


def test_a_roster_imports_all_or_nothing_and_exports_masked(db: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,工号,岗位,手机\n王芳,E001,编辑,12\n,E002,编辑,\n", encoding="utf-8")
    code, _, err = staff(db, "import", str(bad), "--actor", "hr1")
    assert code == Exit.PROBLEMS
    assert f"{bad}:2:4: E-STAFF-ADDRESS" in err
    assert f"{bad}:3:1: E-STAFF-NAME" in err
    assert "nothing was imported" in err
    good = tmp_path / "good.csv"
    good.write_text(
        "\ufeff姓名,工号,岗位,手机,学历,工作年限\n王芳,E001,编辑,13800138000,本科,3\n",
        encoding="utf-8",
    )
    code, out, _ = staff(db, "import", str(good), "--actor", "hr1", "--json")
    assert code == Exit.OK
    assert json.loads(out) == {"imported": 1, "people": ["e001"]}
    assert staff(db, "import", str(good), "--actor", "hr1")[0] == Exit.PROBLEMS  # duplicate
    exported = tmp_path / "out.csv"
    assert staff(db, "export", str(exported))[0] == Exit.OK
    text = exported.read_text(encoding="utf-8-sig")
    assert "王芳" in text
    assert "13800138000" not in text


@pytest.mark.req("STF-3")
def test_staff_check_raises_the_gaps_of_the_accounts(db: str, tmp_path: Path) -> None:
    from cmc_workflow import Actor, Engine
    from tests.helpers import POLICIES, WORKFLOWS

    workflows = [WORKFLOWS / "accounts.yaml", WORKFLOWS / "staffing_gap.yaml"]
    staff(db, "add", "孙明", "--id", "sun", "--education", "本科", "--years", "5",
          "--post", "ops_manager", "--actor", "hr1")  # fmt: skip
    with Engine.open(db, workflows=workflows, policies=[POLICIES / "roles.yaml"]) as engine:
        engine.start(
            "accounts",
            actor=Actor("sun"),
            data={
                "account_id": "fslib-wechat", "platform": "wechat", "name": "图书馆",
                "registrant_name": "张三", "registrant_id_number": "440602199001011234",
                "registrant_phone": "13800138000", "custodian": "sun",
            },
        )  # fmt: skip
    args = ["--workflows", str(workflows[0]), "--workflows", str(workflows[1]),
            "--policies", str(POLICIES / "roles.yaml")]  # fmt: skip
    code, out, _ = staff(db, "check", *args, "--json")
    assert code == Exit.OK, out
    found = json.loads(out)
    assert [g["gap"] for g in found["gaps"]] == ["account:fslib-wechat:ops_assistant"]
    assert len(found["raised"]) == 1
    again = json.loads(staff(db, "check", *args, "--json")[1])
    assert again["raised"] == []  # the gap's alert is open: not raised twice
    code, _, err = staff(
        db,
        "check",
        "--workflows",
        str(WORKFLOWS / "training.yaml"),
        "--policies",
        str(POLICIES / "roles.yaml"),
    )
    assert code == Exit.USAGE
    assert "staffing_gap" in err
