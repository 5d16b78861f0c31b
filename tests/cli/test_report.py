"""The operational report (RPT-1, CMT-7, TRN-5): figures computed from a real history.

One scripted history (:func:`populate`) is walked through the public API with the
FakeClock, on three small workflows written here (``comments``, ``publishing``,
``training``, shaped like the contracts the report reads, not the bundled files). Times
are Asia/Shanghai; Sun 2025-09-28 and Sat 2025-10-11 are adjusted working days and
2025-10-01..08 is the National Day holiday.

| when (local)        | what                                                                  |
|---------------------|-----------------------------------------------------------------------|
| Fri 09-26 15:00     | comments c1..c6 received (2 working days: due Mon 09-29 17:30);        |
|                     | publishing p1, p2 (wang, zhao), p5 (wang) drafting (1 working day:     |
|                     | due Sun 09-28 17:30); training records, six trainees                  |
| Fri 09-26 17:00     | c1 replied (2 h; 2 working h); p1 published (wechat, weibo)            |
| Sun 09-28 10:00     | c2 replied (43 h; 3.5 working h)                                      |
| Mon 09-29 10:00     | c2 replied again (not its first reply)                                |
| Mon 09-29 12:00     | c3 replied (69 h; 14 working h); c4 deleted unanswered                 |
| Tue 09-30 10:00     | c6 replied late (91 h; 20.5 working h): its clock is breached;         |
|                     | p4 drafting (due Thu 10-09 17:30, after the holiday)                   |
| Wed 10-01 00:30     | p4 published (app, wechat): October locally, September in UTC          |
| Thu 10-09 10:00     | p1 corrected back to drafting; p3 drafting (due Fri 10-10 17:30)       |
| Thu 10-09 11:00     | p1 published again (not a new publication)                             |
| Thu 10-09 12:00     | the report: c5 still unanswered and overdue, p2 and p5 overdue         |
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cmc_workflow import Actor, Engine
from cmc_workflow.cli.report import report_text
from cmc_workflow.i18n import set_language
from cmc_workflow.reports import (
    ALL,
    UNCATEGORIZED,
    CertifiedStaff,
    ChannelMonth,
    OverdueWork,
    ReplyTimes,
    Report,
    ReportOptions,
    SlaMonth,
    StateCount,
    build_report,
    columns,
    report_csv,
    report_document,
)
from cmc_workflow.store import Store
from cmc_workflow.testing import FakeClock, fresh_sqlite_url
from tests import helpers as bundled
from tests.helpers import EngineFactory
from tests.helpers.cli import Result, run_cli
from tests.helpers.databases import PostgresPool
from tests.helpers.records import RECORD_WORKFLOWS, qualify_account, train_editors

SH = ZoneInfo("Asia/Shanghai")
CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")

ASSISTANT = Actor("li", {"ops_assistant"})
MANAGER = Actor("chen", {"ops_manager"})
EDITOR = Actor("wang", {"editor"})
TRAINER = Actor("sun", {"trainer"})

COMMENTS = """\
id: comments
label: {zh: 留言与消息, en: Comments and messages}
implements: [CMT-1, CMT-2, CMT-7]
roles:
  ops_assistant: {zh: 运营助理岗, en: Operations assistant}
  ops_manager: {zh: 运营管理岗, en: Operations manager}
data:
  text: {type: text, label: {zh: 内容, en: Text}}
  category: {type: string, required: false, label: {zh: 分类, en: Category}}
start: {state: received, roles: [ops_assistant], implements: [CMT-1]}
states:
  received:
    type: userTask
    label: {zh: 待答复, en: Waiting for a reply}
    deadline: {within: 2 working days, implements: [CMT-2]}
    transitions:
      - trigger: reply
        target: answered
        roles: [ops_assistant]
        implements: [CMT-7]
        form: {answer: {type: text}}
      - {trigger: delete, target: deleted, roles: [ops_manager]}
  answered:
    type: userTask
    label: {zh: 已答复, en: Answered}
    transitions:
      - trigger: reply
        target: answered
        roles: [ops_assistant]
        implements: [CMT-7]
        form: {answer: {type: text}}
      - {trigger: close, target: closed, roles: [ops_assistant]}
  closed:
    type: endEvent
    label: {zh: 已关闭, en: Closed}
  deleted:
    type: endEvent
    label: {zh: 已删除, en: Deleted}
"""

PUBLISHING = """\
id: publishing
label: {zh: 内容发布, en: Publishing}
implements: [PUB-3, PUB-7]
roles:
  editor: {zh: 编辑, en: Editor}
  ops_manager: {zh: 运营管理岗, en: Operations manager}
data:
  title: {type: string, label: {zh: 标题, en: Title}}
  channels: {type: list, label: {zh: 发布渠道, en: Channels}}
  assignees: {type: list, required: false, label: {zh: 承办编辑, en: Assigned editors}}
start: {state: drafting, roles: [editor]}
states:
  drafting:
    type: userTask
    label: {zh: 撰稿中, en: Drafting}
    assignee: assignees
    deadline: {within: 1 working day, implements: [PUB-3]}
    transitions:
      - {trigger: publish, target: published, roles: [ops_manager], implements: [PUB-7]}
  published:
    type: userTask
    label: {zh: 已发布, en: Published}
    effects: [publication]
    transitions:
      - {trigger: correct, target: drafting, roles: [ops_manager]}
      - {trigger: archive, target: archived, roles: [editor]}
  archived:
    type: endEvent
    label: {zh: 已归档, en: Archived}
"""

PUBLISHING_POLICY = """\
kind: policy
id: publishing
label: {zh: 发布前须经签发, en: Signed off before publication}
workflows:
  publishing:
    steps:
      signoff: {state: drafting, trigger: publish, label: {zh: 签发人, en: signing manager}}
    required_stages:
      - {id: signed_off, enter: published, stages: [signoff], implements: [PUB-7]}
"""
"""Entering ``published`` is a publication (``effects: [publication]``), which no workflow
may carry out unguarded: the report counts the first entries of such states."""

TRAINING = """\
id: training
label: {zh: 培训与考核, en: Training and assessment}
implements: [TRN-2, TRN-5]
roles:
  trainer: {zh: 培训师, en: Trainer}
data:
  trainee: {type: string, label: {zh: 学员, en: Trainee}}
  course: {type: string, label: {zh: 课程, en: Course}}
start: {state: enrolled, roles: [trainer]}
states:
  enrolled:
    type: userTask
    label: {zh: 培训中, en: Enrolled}
    transitions:
      - trigger: pass
        target: passed
        roles: [trainer]
        implements: [TRN-2]
        form:
          certificate: {type: string, required: false}
          valid_until: {type: date, required: false}
      - {trigger: fail, target: failed, roles: [trainer]}
  passed:
    type: userTask
    label: {zh: 已通过, en: Passed}
    transitions:
      - {trigger: retrain, target: enrolled, roles: [trainer]}
  failed:
    type: endEvent
    label: {zh: 未通过, en: Failed}
"""


def local(*args: int) -> dt.datetime:
    """A time in Asia/Shanghai."""
    return dt.datetime(*args, tzinfo=SH)


NOW = local(2025, 10, 9, 12, 0)


def write_workflows(folder: Path) -> Path:
    folder.mkdir()
    for name, text in [
        ("comments", COMMENTS),
        ("publishing", PUBLISHING),
        ("publishing_policy", PUBLISHING_POLICY),
        ("training", TRAINING),
    ]:
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    return write_workflows(tmp_path / "workflows")


def populate(engine: Engine, clock: FakeClock) -> dict[str, int]:
    """Walk the history of the module docstring; returns the item ids by name."""
    ids: dict[str, int] = {}

    def at(when: dt.datetime) -> None:
        clock.now = when.astimezone(dt.UTC)

    def comment(name: str, category: str | None = None) -> None:
        data = {"text": f"留言 {name}", **({"category": category} if category else {})}
        ids[name] = engine.start("comments", actor=ASSISTANT, data=data).id

    def reply(name: str) -> None:
        # as a reply page does: it fires on the version it shows (c2 is answered twice
        # with the same text, which without the version reads as a stale second click)
        seen = engine.get(ids[name]).version
        engine.fire(
            ids[name], "reply", actor=ASSISTANT, data={"answer": "您好"}, expected_version=seen
        )

    def draft(name: str, channels: list[str], assignees: list[str] | None = None) -> None:
        data = {"title": name, "channels": channels}
        if assignees:
            data["assignees"] = assignees
        ids[name] = engine.start("publishing", actor=EDITOR, data=data).id

    def publish(name: str) -> None:
        engine.fire(ids[name], "publish", actor=MANAGER)

    def training(trainee: str, passed: dict[str, str] | None = None, failed: bool = False) -> int:
        item = engine.start(
            "training", actor=TRAINER, data={"trainee": trainee, "course": "岗位基础"}
        )
        if passed is not None:
            engine.fire(item.id, "pass", actor=TRAINER, data=passed)
        if failed:
            engine.fire(item.id, "fail", actor=TRAINER)
        return item.id

    at(local(2025, 9, 26, 15, 0))
    comment("c1", "consultation")
    comment("c2", "consultation")
    comment("c3", "complaint")
    comment("c4")
    comment("c5", "consultation")
    comment("c6", "complaint")
    draft("p1", ["wechat", "weibo"])
    draft("p2", ["wechat"], ["wang", "zhao"])
    draft("p5", ["pc"], ["wang"])
    training("alice", {"certificate": "C-001", "valid_until": "2026-12-31"})
    training("bob", {"certificate": "C-002"})
    training("bob")  # a second record: still one person
    training("carol", {"certificate": "  "})  # passed without a certificate
    training("carol", failed=True)
    training("dave", {"certificate": "C-004", "valid_until": "2025-10-08"})  # expired
    training("erin")  # still in training
    training("frank", {"certificate": "C-006", "valid_until": "2025-10-09"})  # valid today

    at(local(2025, 9, 26, 17, 0))
    reply("c1")
    publish("p1")
    at(local(2025, 9, 28, 10, 0))
    reply("c2")
    at(local(2025, 9, 29, 10, 0))
    reply("c2")
    at(local(2025, 9, 29, 12, 0))
    reply("c3")
    engine.fire(ids["c4"], "delete", actor=MANAGER)
    at(local(2025, 9, 30, 10, 0))
    reply("c6")
    draft("p4", ["app", "wechat"])
    at(local(2025, 10, 1, 0, 30))
    publish("p4")
    at(local(2025, 10, 9, 10, 0))
    engine.fire(ids["p1"], "correct", actor=MANAGER)
    draft("p3", ["douyin"], ["li"])
    at(local(2025, 10, 9, 11, 0))
    publish("p1")
    at(NOW)
    return ids


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def history(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Report, dict[str, int]]]:
    """The full report of the populated database, as of Thu 2025-10-09 12:00, on each
    store; populated once per store for the module's tests (the report is a value)."""
    folder = tmp_path_factory.mktemp("report")
    pool: PostgresPool | None = None
    if request.param == "sqlite":
        url = fresh_sqlite_url(folder)
    else:
        pool = request.getfixturevalue("postgres_pool")
        url = pool.take()
    try:
        clock = FakeClock()
        workflows = write_workflows(folder / "workflows")
        with Engine.open(url, workflows=workflows, clock=clock) as engine:
            ids = populate(engine, clock)
            report = build_report(engine)
        yield report, ids
    finally:
        if pool is not None:
            pool.give_back(url)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, dict[str, int]]:
    """A populated SQLite file, its workflows folder and the item ids, for the tests where
    the store does not matter (they only read it)."""
    folder = tmp_path_factory.mktemp("stored")
    url = f"sqlite:///{folder / 'report.db'}"
    workflows = write_workflows(folder / "workflows")
    clock = FakeClock()
    with Engine.open(url, workflows=workflows, clock=clock) as engine:
        ids = populate(engine, clock)
    return url, workflows, ids


# -- RPT-1: items, SLA, overdue work, publications ------------------------------------------------
@pytest.mark.req("RPT-1")
def test_rpt_1_items_per_workflow_and_state_open_and_closed(
    history: tuple[Report, dict[str, int]],
) -> None:
    report, _ = history
    assert report.items == (
        StateCount("comments", "answered", "已答复", open=4, closed=0),
        StateCount("comments", "deleted", "已删除", open=0, closed=1),
        StateCount("comments", "received", "待答复", open=1, closed=0),
        StateCount("publishing", "drafting", "撰稿中", open=3, closed=0),
        StateCount("publishing", "published", "已发布", open=2, closed=0),
        StateCount("training", "enrolled", "培训中", open=2, closed=0),
        StateCount("training", "failed", "未通过", open=0, closed=1),
        StateCount("training", "passed", "已通过", open=5, closed=0),
    )


@pytest.mark.req("RPT-1", "CMT-2")
def test_rpt_1_sla_met_and_breached_per_workflow_and_month(
    history: tuple[Report, dict[str, int]],
) -> None:
    report, _ = history
    assert report.sla == (
        # c1..c4 stopped in time, c6 replied after Mon 17:30, c5 still waiting past due
        SlaMonth("comments", "2025-09", met=4, breached=1, running=0, overdue=1),
        # p1's first draft in time; p2 and p5 due Sun 09-28 17:30 (调休) and still drafting
        SlaMonth("publishing", "2025-09", met=1, breached=0, running=0, overdue=2),
        # p4 stopped Wed 10-01 00:30 local (Sep 30 in UTC), p1's second draft; p3 not due
        SlaMonth("publishing", "2025-10", met=2, breached=0, running=1, overdue=0),
    )
    assert [m.compliance for m in report.sla] == [0.8, 1.0, 1.0]


@pytest.mark.req("RPT-1", "PUB-3")
def test_rpt_1_overdue_work_per_assigned_person_else_per_role(
    history: tuple[Report, dict[str, int]],
) -> None:
    report, ids = history
    publishing_due = local(2025, 9, 28, 17, 30)
    comments_due = local(2025, 9, 29, 17, 30)
    assert report.overdue == (
        # p2 (wang, zhao) and p5 (wang); p3 is wang's colleague li's and not due yet
        OverdueWork("person", "wang", 2, publishing_due, ids["p2"], ("publishing",)),
        OverdueWork("person", "zhao", 1, publishing_due, ids["p2"], ("publishing",)),
        # c5 has no assignee field: it waits on the roles that may act in `received`
        OverdueWork("role", "ops_assistant", 1, comments_due, ids["c5"], ("comments",)),
        OverdueWork("role", "ops_manager", 1, comments_due, ids["c5"], ("comments",)),
    )


@pytest.mark.req("RPT-1", "PUB-7")
def test_rpt_1_publications_per_channel_and_month_first_publication_only(
    history: tuple[Report, dict[str, int]],
) -> None:
    report, _ = history
    assert report.publications == (
        ChannelMonth("2025-09", "wechat", 1),  # p1
        ChannelMonth("2025-09", "weibo", 1),  # p1; its re-publication on 10-09 is not counted
        ChannelMonth("2025-10", "app", 1),  # p4 at 00:30 on Oct 1, local time
        ChannelMonth("2025-10", "wechat", 1),
    )


# -- CMT-7: time to first reply ------------------------------------------------------------------
@pytest.mark.req("CMT-7")
def test_cmt_7_time_to_first_reply_median_p90_max_and_unanswered(
    history: tuple[Report, dict[str, int]],
) -> None:
    report, _ = history
    assert report.first_reply == (
        # answered after 2, 43, 69, 91 calendar hours; 2, 3.5, 14, 20.5 working hours
        # (09:00-17:30 on working days, Sun 09-28 one of them); c4 deleted and c5 waiting
        ReplyTimes("comments", ALL, 6, 4, 2, 1, 56.0, 91.0, 91.0, 8.75, 20.5, 20.5),
        ReplyTimes("comments", UNCATEGORIZED, 1, 0, 1, 0, None, None, None, None, None, None),
        ReplyTimes("comments", "complaint", 2, 2, 0, 0, 80.0, 91.0, 91.0, 17.25, 20.5, 20.5),
        # c2's second reply does not count: its first came after 43 h
        ReplyTimes("comments", "consultation", 3, 2, 1, 1, 22.5, 43.0, 43.0, 2.75, 3.5, 3.5),
    )


@pytest.mark.req("CMT-7")
def test_cmt_7_reply_workflow_and_trigger_are_configurable(
    stored: tuple[str, Path, dict[str, int]],
) -> None:
    url, _, _ = stored
    store = Store.open(url)
    try:
        # "deleting" answers nobody, but taken as the reply trigger c4 becomes answered
        options = ReportOptions(reply_triggers=("reply", "delete"))
        report = build_report(store, sections=["first_reply"], now=NOW, options=options)
        assert report.first_reply[0].answered == 5
        other = ReportOptions(reply_workflow="no_such_workflow")
        assert build_report(store, sections=["first_reply"], options=other).first_reply == ()
    finally:
        store.close()


@pytest.mark.req("CMT-7")
def test_cmt_7_the_wait_counts_from_when_a_message_arrived(
    tmp_path: Path, clock: FakeClock
) -> None:
    folder = tmp_path / "received"
    folder.mkdir()
    text = COMMENTS.replace(
        "  category: {type: string,",
        "  received_at: {type: datetime, required: false}\n  category: {type: string,",
    )
    (folder / "comments.yaml").write_text(text, encoding="utf-8")
    assistant = Actor("li", {"ops_assistant"})
    with Engine.open(f"sqlite:///{tmp_path / 'r.db'}", workflows=folder, clock=clock) as engine:
        late = engine.start(  # registered at Fri 15:00, arrived at 13:00
            "comments",
            actor=assistant,
            data={"text": "x", "received_at": "2025-09-26T13:00+08:00"},
        )
        clock.advance(hours=1)
        engine.fire(late.id, "reply", actor=assistant, data={"answer": "y"})
        report = build_report(engine, sections=["first_reply"], now=clock.now)
        assert report.first_reply[0].median_hours == 3.0  # 13:00 -> 16:00, not 1 hour
        plain = ReportOptions(received_field=None)
        report = build_report(engine, sections=["first_reply"], now=clock.now, options=plain)
        assert report.first_reply[0].median_hours == 1.0


# -- TRN-5: certified staff ratio ---------------------------------------------------------------
@pytest.mark.req("TRN-5")
def test_trn_5_certified_staff_ratio_meets_the_50_percent_floor(
    history: tuple[Report, dict[str, int]],
) -> None:
    report, _ = history
    # six people; alice, bob (no expiry) and frank (valid through today) are certified;
    # carol's certificate is blank, dave's expired yesterday, erin is still in training
    assert report.certification == (
        CertifiedStaff("training", dt.date(2025, 10, 9), 6, 3, 0.5, 0.5, meets_floor=True),
    )


@pytest.mark.req("TRN-5")
def test_trn_5_expired_certificates_bring_the_ratio_under_the_floor(
    stored: tuple[str, Path, dict[str, int]],
) -> None:
    url, _, _ = stored
    store = Store.open(url)
    try:
        later = build_report(store, sections=["certification"], now=local(2027, 1, 4, 9, 0))
    finally:
        store.close()
    # alice's certificate ran to 2026-12-31, frank's to 2025-10-09: only bob's remains
    assert later.certification == (
        CertifiedStaff("training", dt.date(2027, 1, 4), 6, 1, 0.1667, 0.5, meets_floor=False),
    )


# -- the period, the sources, empty databases ------------------------------------------------------
@pytest.mark.req("RPT-1")
def test_the_period_selects_items_by_start_clocks_by_stop_and_publications_by_time(
    stored: tuple[str, Path, dict[str, int]],
) -> None:
    url, workflows, _ = stored
    with Engine.open(url, workflows=workflows, clock=FakeClock(NOW)) as engine:
        october = build_report(engine, since=local(2025, 10, 1), until=local(2025, 11, 1))
        september = build_report(engine, since=local(2025, 9, 1), until=local(2025, 10, 1))
    assert october.items == (StateCount("publishing", "drafting", "撰稿中", 1, 0),)  # p3
    assert [(m.workflow, m.month) for m in october.sla] == [("publishing", "2025-10")]
    assert [p.month for p in october.publications] == ["2025-10", "2025-10"]
    assert october.first_reply == ()  # every comment arrived in September
    assert [p.month for p in september.publications] == ["2025-09", "2025-09"]
    assert sum(s.open + s.closed for s in september.items) == 18  # all but p3
    # snapshots, whatever the period: overdue work and certification as of now
    assert october.overdue == september.overdue != ()
    assert october.certification == september.certification != ()


@pytest.mark.req("RPT-1")
def test_a_bare_store_gives_the_same_report_as_the_engine(
    stored: tuple[str, Path, dict[str, int]],
) -> None:
    url, workflows, _ = stored
    with Engine.open(url, workflows=workflows, clock=FakeClock(NOW)) as engine:
        from_engine = build_report(engine)
    store = Store.open(url)
    try:  # no definition loaded: the stored versions name the states and assignees
        from_store = build_report(store, now=NOW)
    finally:
        store.close()
    assert from_store == from_engine


@pytest.mark.req("RPT-1")
def test_workflows_absent_from_the_database_give_empty_sections(
    tmp_path: Path, workflows: Path, clock: FakeClock
) -> None:
    with Engine.open(
        f"sqlite:///{tmp_path / 'empty.db'}", workflows=workflows, clock=clock
    ) as engine:
        report = build_report(engine, sections=["sla", "items", "certification"])
        assert report.sections == ("items", "sla", "certification")
        assert report.rows("certification") == []
        everything = build_report(engine)
        assert all(everything.rows(s) == [] for s in everything.sections)
        with pytest.raises(ValueError, match="no section"):
            build_report(engine, sections=["nope"])


# -- the command line ----------------------------------------------------------------------------
@pytest.mark.req("RPT-1")
def test_rpt_1_tables_follow_the_chosen_language_csv_and_json_do_not(
    history: tuple[Report, dict[str, int]],
) -> None:
    report, _ = history
    shown: dict[str, str] = {}
    files: dict[str, tuple[str, dict[str, Any]]] = {}
    try:
        for lang in ("en", "zh", "both"):
            set_language(lang)
            shown[lang] = report_text(report)
            files[lang] = (report_csv(report), report_document(report))
    finally:
        set_language(None)
    english, chinese, both = shown["en"], shown["zh"], shown["both"]
    assert not CJK.search(english), english
    assert "\nPublications per channel and month\nMonth    Channel  Publications\n" in english
    assert re.search(r"\npublishing +published +Published +2 +0\n", english)  # its label
    assert re.search(r"\nperson +wang +2 ", english)
    assert re.search(r"\ntraining .* yes +training records\n", english.split("(TRN-5)")[1])
    assert "\n发布量（按渠道、月份）\n月份     渠道    发布数\n" in chinese
    assert re.search(r"\npublishing +published +已发布 +2 +0\n", chinese)
    assert re.search(r"\n人员 +wang +2 ", chinese)
    assert re.search(r"\ncomments +（全部） +6 ", chinese)
    assert re.search(r"\ntraining .* 是 +培训记录\n", chinese.split("（TRN-5）")[1])
    assert not re.search("[A-Z][a-z]+ per ", chinese)  # no English title left
    # a locale naming no language: titles in both, the table's words in Chinese
    assert both.startswith("Report  generated 2025-10-09 12:00 (Asia/Shanghai)")
    assert " | 报表  生成于 2025-10-09 12:00（Asia/Shanghai）" in both
    assert "\nPublications per channel and month | 发布量（按渠道、月份）\n月份 " in both
    # what programs read keeps its names and values, whatever a person is shown
    assert files["en"] == files["zh"] == files["both"]
    assert files["zh"][0].startswith("section,workflow,state,label,open,closed,month,")


def report_cli(*args: str, cwd: Path) -> Result:
    return run_cli("report", *args, cwd=cwd)


EXPECTED_CSV = """\
section,workflow,state,label,open,closed,month,channel,publications
items,comments,answered,已答复,4,0,,,
items,comments,deleted,已删除,0,1,,,
items,comments,received,待答复,1,0,,,
items,publishing,drafting,撰稿中,3,0,,,
items,publishing,published,已发布,2,0,,,
items,training,enrolled,培训中,2,0,,,
items,training,failed,未通过,0,1,,,
items,training,passed,已通过,5,0,,,
publications,,,,,,2025-09,wechat,1
publications,,,,,,2025-09,weibo,1
publications,,,,,,2025-10,app,1
publications,,,,,,2025-10,wechat,1
"""


@pytest.mark.req("RPT-1")
def test_rpt_1_cli_exports_one_csv_with_a_section_column(
    stored: tuple[str, Path, dict[str, int]], tmp_path: Path
) -> None:
    url, workflows, _ = stored
    common = ["--db", url, "--workflows", str(workflows)]
    done = report_cli(
        *common, "--section", "publications", "--section", "items", "--format", "csv", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == EXPECTED_CSV  # sections in report order, whatever the option order
    try:
        for lang, title in [("en", "Publications per channel and month\nMonth "), ("zh", "发布量")]:
            done = report_cli(*common, "--section", "publications", "--lang", lang, cwd=tmp_path)
            assert done.returncode == 0, done.stderr
            assert f"\n{title}" in done.stdout  # the table in the language asked for
    finally:
        set_language(None)  # in-process: the next tests read the locale's language

    folder = tmp_path / "out"
    folder.mkdir()
    done = report_cli(
        *common, "--format", "csv", "--output", str(folder), "--since", "2025-09-27", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in folder.iterdir()) == [
        "appraisal.csv",
        "certification.csv",
        "complaints.csv",
        "content_types.csv",
        "first_reply.csv",
        "items.csv",
        "overdue.csv",
        "publications.csv",
        "self_media_year.csv",
        "should_warnings.csv",
        "sla.csv",
    ]
    # UTF-8 with the byte-order mark, without which Excel on Chinese Windows reads GBK
    assert all(p.read_bytes().startswith(b"\xef\xbb\xbf") for p in folder.iterdir())
    replies = list(csv.reader(io.StringIO((folder / "first_reply.csv").read_text("utf-8-sig"))))
    assert replies == [columns("first_reply")]  # nothing started since 09-27: header only
    assert (folder / "publications.csv").read_text("utf-8-sig") == (
        "month,channel,publications\n2025-10,app,1\n2025-10,wechat,1\n"  # p1 was on 09-26
    )

    single = tmp_path / "report.csv"
    done = report_cli(*common, "--format", "csv", "--output", str(single), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert single.read_bytes().startswith(b"\xef\xbb\xbf")
    assert single.read_text("utf-8-sig").startswith("section,")


# -- issue 17: every workflow that publishes -----------------------------------------------------
@pytest.mark.req("RPT-1", "PUB-7", "PRM-1", "INS-7")
def test_publications_of_a_copy_of_the_publishing_workflow_count_in_every_section(
    engine_factory: EngineFactory, tmp_path: Path
) -> None:
    """A center that copies workflows/publishing.yaml as ``short_video`` (with its policy)
    sees its publications in the report beside the bundled workflow's: the report counts
    every workflow whose definition carries out the ``publication`` effect."""
    copy, guard = bundled.publishing_copy(tmp_path, "short_video")
    engine = engine_factory(
        workflows=[bundled.PUBLISHING, copy, *RECORD_WORKFLOWS],
        policies=[*bundled.PUBLISHING_POLICIES, guard],
        handlers={"publish_to_channels": bundled.ok_handler},
        identity=None,
    )
    train_editors(engine)
    qualify_account(engine, "fslib-dy", platform="douyin")
    article = engine.start("publishing", actor=bundled.EDITOR, data=bundled.TOPIC)
    assert bundled.walk(engine, article, "published").state == "published"
    video = engine.start(
        "short_video",
        actor=bundled.EDITOR,
        data={
            **bundled.TOPIC,
            "channels": ["douyin"],
            "accounts": ["fslib-dy"],
            "content_type": "activity_preview",
        },
    )
    video = bundled.walk(engine, video, "signoff")
    assert engine.fire(video.id, "sign", actor=bundled.OPS).state == "release"
    assert engine.fire(video.id, "release", actor=bundled.OPS).state == "published"

    year = build_report(
        engine,
        since=local(2025, 1, 1),
        until=local(2026, 1, 1),
        sections=["publications", "content_types", "self_media_year"],
    )
    assert year.publications == (
        ChannelMonth("2025-09", "app", 1),
        ChannelMonth("2025-09", "douyin", 1),  # the short video
        ChannelMonth("2025-09", "pc", 1),
    )
    assert [(r.account, r.content_type, r.publications) for r in year.content_types] == [
        ("channel:app", "news", 1),
        ("channel:pc", "news", 1),
        ("fslib-dy", "activity_preview", 1),
    ]
    figures = {(r.dimension, r.key): r.value for r in year.self_media_year}
    assert figures[("total", "publications")] == 2
    assert figures[("account", "fslib-dy")] == 1
    assert figures[("channel", "douyin")] == 1

    # a host that names one workflow counts that one only
    named = ReportOptions(publishing_workflow="short_video")
    only = build_report(engine, sections=["publications"], options=named)
    assert only.publications == (ChannelMonth("2025-09", "douyin", 1),)


@pytest.mark.req("RPT-1", "PUB-7")
def test_a_publication_state_renamed_in_a_later_version_still_counts(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Version 1 publishes into ``published``, version 2 into ``online``: the items of both
    versions count, each once, at its first entry (the stored versions say where)."""
    folder = write_workflows(tmp_path / "workflows")
    url = f"sqlite:///{tmp_path / 'renamed.db'}"
    with Engine.open(url, workflows=folder, clock=clock) as engine:
        old = engine.start("publishing", actor=EDITOR, data={"title": "a", "channels": ["pc"]})
        engine.fire(old.id, "publish", actor=MANAGER)
    for name in ("publishing", "publishing_policy"):
        path = folder / f"{name}.yaml"
        path.write_text(path.read_text("utf-8").replace("published", "online"), "utf-8")
    clock.now = local(2025, 10, 9, 10, 0).astimezone(dt.UTC)
    with Engine.open(url, workflows=folder, clock=clock) as engine:
        new = engine.start("publishing", actor=EDITOR, data={"title": "b", "channels": ["app"]})
        assert engine.fire(new.id, "publish", actor=MANAGER).state == "online"
        whole = build_report(engine, sections=["publications"])
        october = build_report(engine, sections=["publications"], since=local(2025, 10, 1))
    assert whole.publications == (
        ChannelMonth("2025-09", "pc", 1),  # version 1, in `published`
        ChannelMonth("2025-10", "app", 1),  # version 2, in `online`
    )
    assert october.publications == (ChannelMonth("2025-10", "app", 1),)
