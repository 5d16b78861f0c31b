"""Every refused command leaves an audit record, whatever was wrong with its input (SEC-1;
issue "No way around the rules", observation 7), on SQLite and PostgreSQL.

The engine checks a command's input at its boundary (``start``, ``fire``, ``allowed``,
``inbox``) and refuses what the store cannot hold or a person cannot read with a named
field (:class:`InputInvalid`, rule ``input_invalid``). The refusal's audit record holds
the input escaped and cut to its columns, and says so; writing it never fails because of
the input. The CLI refuses arguments that are not UTF-8 with a message, not a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cmc_workflow import Actor, Engine, Item
from cmc_workflow.cli import main
from cmc_workflow.errors import EngineError, IdentityRefused, InputInvalid
from cmc_workflow.store import audit as audit_log
from cmc_workflow.store.tables import audit
from cmc_workflow.testing import FakeClock
from tests.helpers import EDITOR, LEAD, ROOT, TOPIC, UNGUARDED_PUBLISHING, ok_handler

INT64_MAX = 2**63 - 1


@pytest.fixture
def engine(db_url: str, clock: FakeClock) -> Iterator[Engine]:
    with Engine.open(
        db_url,
        workflows=[UNGUARDED_PUBLISHING],
        clock=clock,
        handlers={"publish_to_channels": ok_handler},
    ) as engine:
        yield engine


@pytest.fixture
def item(engine: Engine) -> Item:
    return engine.start("publishing", actor=EDITOR, data=dict(TOPIC))


def refusals(engine: Engine) -> list[dict[str, Any]]:
    """Every refused audit record, oldest first, read from the table itself; the log
    verifies whole after them."""
    with engine.store.read() as tx:
        rows = tx.conn.execute(
            select(audit).where(audit.c.outcome == "refused").order_by(audit.c.id)
        ).all()
        assert audit_log.verify(tx.conn).ok
    return [dict(r._mapping) for r in rows]


BAD_FIRES: list[tuple[str, dict[str, Any], str]] = [
    # (case, keyword arguments of fire() over the item's own, the field named)
    ("65-character trigger", {"trigger": "t" * 65}, "trigger"),
    ("trigger with NUL", {"trigger": "app\x00rove"}, "trigger"),
    ("trigger with a lone surrogate", {"trigger": "appr\udcffove"}, "trigger"),
    ("trigger not text", {"trigger": 7}, "trigger"),
    ("item id 2**64", {"item_id": 2**64}, "item_id"),
    ("item id below int64", {"item_id": -(2**63) - 1}, "item_id"),
    ("item id as text", {"item_id": "1"}, "item_id"),
    ("item id a bool", {"item_id": True}, "item_id"),
    ("data a string", {"data": "x"}, "data"),
    ("data a list", {"data": ["x"]}, "data"),
    ("NUL in data", {"data": {"comment": "a\x00b"}}, "data.comment"),
    ("lone surrogate in data", {"data": {"comment": "\ud800"}}, "data.comment"),
    ("lone surrogate in a key", {"data": {"comm\udcffent": "x"}}, "data.comm\\udcffent"),
    ("NaN in data", {"data": {"score": float("nan")}}, "data.score"),
    ("infinity deep in data", {"data": {"x": [{"y": float("-inf")}]}}, "data.x[0].y"),
    ("a key that is not text", {"data": {1: "x"}}, "data.1"),
    ("bytes in data", {"data": {"comment": b"x"}}, "data.comment"),
    ("an object deep in data", {"data": {"x": {"y": [object()]}}}, "data.x.y[0]"),
    ("version beyond INTEGER", {"expected_version": 2**40}, "expected_version"),
    ("version as text", {"expected_version": "1"}, "expected_version"),
]


@pytest.mark.req("SEC-1")
@pytest.mark.parametrize(("case", "given", "field"), BAD_FIRES, ids=[c for c, _g, _f in BAD_FIRES])
def test_a_fire_with_bad_input_is_refused_naming_the_field_and_audited(
    engine: Engine, item: Item, case: str, given: dict[str, Any], field: str
) -> None:
    call: dict[str, Any] = {"item_id": item.id, "trigger": "approve", "actor": LEAD, **given}
    with pytest.raises(InputInvalid) as raised:
        engine.fire(call.pop("item_id"), call.pop("trigger"), **call)
    assert raised.value.rule == "input_invalid"
    assert [e.field for e in raised.value.errors] == [field]
    assert all(e.message_zh for e in raised.value.errors)
    assert field in str(raised.value)
    assert "命令的输入无效" in raised.value.reason_zh
    [record] = refusals(engine)
    assert (record["command"], record["rule"], record["actor"]) == ("fire", "input_invalid", "li")
    assert record["detail"]["fields"]
    if given.get("item_id") is None:  # an item id the table holds: the item's own chain
        assert record["item_id"] == item.id
        assert engine.audit_trail(item.id)[-1]["outcome"] == "refused"
    else:
        assert record["item_id"] is None
        assert record["detail"]["item_id"] == repr(given["item_id"]).strip("'")
    after = engine.get(item.id)
    assert (after.state, after.version) == (item.state, item.version)


@pytest.mark.req("SEC-1")
def test_what_the_record_cannot_hold_is_escaped_or_cut_and_says_so(
    engine: Engine, item: Item
) -> None:
    with pytest.raises(InputInvalid):
        engine.fire(item.id, "t" * 65, actor=LEAD)
    with pytest.raises(InputInvalid):
        engine.fire(item.id, "x\x00\udcff", actor=LEAD)
    with pytest.raises(InputInvalid):
        engine.start("w" * 200, actor=EDITOR)
    with pytest.raises(IdentityRefused):
        engine.fire(item.id, "approve", actor=Actor("a" * 200, {"channel_lead"}))
    with pytest.raises(IdentityRefused):
        engine.fire(item.id, "approve", actor=Actor("l\udcffi\x00", {"channel_lead"}))
    long_trigger, escaped_trigger, long_workflow, long_actor, escaped_actor = refusals(engine)
    assert long_trigger["trigger"] == "t" * 64
    assert long_trigger["detail"]["truncated"] == ["trigger"]
    assert escaped_trigger["trigger"] == "x\\x00\\udcff"
    assert "trigger" in escaped_trigger["detail"]["escaped"]
    assert "U+0000, U+DCFF" in escaped_trigger["reason"]
    assert long_workflow["workflow_id"] == "w" * 64
    assert (long_workflow["command"], long_workflow["item_id"]) == ("start", None)
    assert long_actor["actor"] == "a" * 128
    assert long_actor["rule"] == "actor_id_invalid"
    assert "actor" in long_actor["detail"]["truncated"]
    assert escaped_actor["actor"] == "l\\udcffi\\x00"
    assert escaped_actor["detail"]["escaped"] == ["actor"]
    # nothing unreadable was stored: the item reads back whole
    assert [h.trigger for h in engine.history(item.id)] == [None]
    assert engine.get(item.id).data == item.data


@pytest.mark.req("SEC-1")
def test_a_start_with_bad_data_is_refused_and_audited(engine: Engine) -> None:
    for data, field in [
        ("x", "data"),
        ({**TOPIC, "title": "nul\x00"}, "data.title"),
        ({**TOPIC, "outline": "\udfff"}, "data.outline"),
        ({**TOPIC, "channels": ["wechat", float("nan")]}, "data.channels[1]"),
    ]:
        with pytest.raises(InputInvalid) as raised:
            engine.start("publishing", actor=EDITOR, data=data)  # type: ignore[arg-type]
        assert [e.field for e in raised.value.errors] == [field]
    with pytest.raises(InputInvalid) as raised:
        engine.start("publishing", actor=EDITOR, data=dict(TOPIC), parent_id=2**64)
    assert [e.field for e in raised.value.errors] == ["parent_id"]
    records = refusals(engine)
    assert [r["command"] for r in records] == ["start"] * 5
    assert {r["rule"] for r in records} == {"input_invalid"}


@pytest.mark.req("SEC-1")
def test_allowed_and_inbox_check_their_input_too(engine: Engine, item: Item) -> None:
    with pytest.raises(InputInvalid):
        engine.allowed(2**64, LEAD)
    with pytest.raises(InputInvalid):
        engine.allowed("1", LEAD)  # type: ignore[arg-type]
    with pytest.raises(IdentityRefused):
        engine.inbox(Actor("\u200b", {"editor"}))
    assert [r["command"] for r in refusals(engine)] == ["allowed", "allowed", "inbox"]
    assert "approve" in [a.trigger for a in engine.allowed(item.id, LEAD) if a.allowed]


def test_every_refusal_is_an_engine_error_with_a_code(engine: Engine, item: Item) -> None:
    """A caller catching EngineError sees every boundary refusal, and its code."""
    for call in (
        lambda: engine.fire(item.id, "t" * 65, actor=LEAD),
        lambda: engine.fire(item.id, "approve", actor=Actor(" ", {"channel_lead"})),
        lambda: engine.fire(item.id, "approve", actor=Actor("system", {"channel_lead"})),
    ):
        with pytest.raises(EngineError) as raised:
            call()
        assert raised.value.code in {"input_invalid", "actor_id_invalid", "actor_id_reserved"}


# -- the command line ------------------------------------------------------------------------
def test_a_cli_argument_that_is_not_utf8_is_refused_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMC_")}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONIOENCODING"] = "utf-8"
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    for argv in (
        [b"start", b"publishing", b"--actor", b"w\xffang", b"--role", b"editor"],
        [b"start", b"\xff\xfe", b"--actor", b"wang", b"--role", b"editor"],
        [b"fire", b"1", b"appr\xe9ove", b"--actor", b"li", b"--role", b"channel_lead"],
        [b"start", b"publishing", b"--actor", b"wang", b"--data", b'{"title": "\xff"}'],
    ):
        done = subprocess.run(
            [sys.executable.encode(), b"-m", b"cmc_workflow", *argv, b"--db", url.encode()],
            capture_output=True,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        err = done.stderr.decode("utf-8")
        assert done.returncode == 2, err
        assert "Traceback" not in err
        assert "is not UTF-8 text" in err
        assert "不是 UTF-8 文本" in err


def test_a_cli_refusal_of_a_bad_identity_names_its_rule_in_both_languages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    runner = CliRunner()
    common = ["--db", url, "--workflows", str(UNGUARDED_PUBLISHING)]
    monkeypatch.chdir(tmp_path)  # no policies/ folder here: the engine's own checks speak
    for actor, rule in [("system", "actor_id_reserved"), ("wa\u200bng", "actor_id_invalid")]:
        done = runner.invoke(
            main, ["start", "publishing", "--actor", actor, "--role", "editor", *common]
        )
        assert done.exit_code == 2, done.output
        assert f"refused ({rule})" in done.stderr
        assert f"已拒绝（{rule}）" in done.stderr
    done = runner.invoke(
        main, ["start", "publishing", "--actor", "wang", "--role", "system", *common]
    )
    assert done.exit_code == 2
    assert "refused (role_reserved)" in done.stderr
