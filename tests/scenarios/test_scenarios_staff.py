"""The staff register's rules walked end to end (STF-2 qualifications, STF-3 staffing) on
the bundled ``workflows/accounts.yaml`` and ``workflows/staffing_gap.yaml``, through the
public API and a controlled clock (Fri 2025-09-26 15:00 Asia/Shanghai), on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow import Actor, Engine, Item
from cmc_workflow.errors import RegisterRefused, RosterInvalid
from cmc_workflow.staff import roster
from cmc_workflow.staff.register import PersonEntry, PostEntry, Register
from cmc_workflow.staff.staffing import StaffingCheck
from cmc_workflow.store import Store
from cmc_workflow.testing import FakeClock
from tests.helpers import POLICIES, WORKFLOWS, EngineFactory

HR = Actor("hr1")
MANAGER = Actor("sun", {"ops_manager"})
DAY = dt.date(2025, 9, 1)
ACCOUNT: dict[str, Any] = {
    "account_id": "fslib-wechat",
    "platform": "wechat",
    "name": "佛山市图书馆",
    "registrant_name": "张三",
    "registrant_id_number": "440602199001011234",
    "registrant_phone": "13800138000",
    "custodian": "sun",
}


@pytest.fixture
def register(db_url: str, clock: FakeClock) -> Iterator[Register]:
    store = Store.open(db_url)
    yield Register(store, clock=clock)
    store.close()


def person(name: str, pid: str, education: str | None, years: float | None) -> PersonEntry:
    return PersonEntry(name, pid, education=education, experience_years=years)


# -- STF-2 post qualifications -------------------------------------------------------------------
@pytest.mark.req("STF-2")
@pytest.mark.enforces("STF-2", element="cmc_workflow/staff/register.py")
def test_stf_2_a_managers_post_asks_for_a_bachelors_degree_and_three_years(
    register: Register,
) -> None:
    register.add(HR, person("钱七", "qian", "associate", 10))
    register.add(HR, person("孙明", "sun", "bachelor", 2))
    register.add(HR, person("周杰", "zhou", "master", 3))
    with pytest.raises(RegisterRefused) as low_degree:
        register.post(HR, "qian", PostEntry("ops_manager"))
    assert low_degree.value.rule == "E-STAFF-QUALIFICATION"
    assert "bachelor" in low_degree.value.reason_en
    assert "本科及以上学历" in low_degree.value.reason_zh
    with pytest.raises(RegisterRefused, match="at least 3 years") as few_years:
        register.post(HR, "sun", PostEntry("运营管理岗"))
    assert "3 年及以上相关工作经验" in few_years.value.reason_zh
    assert register.post(HR, "zhou", PostEntry("ops_manager")).role == "ops_manager"
    # a staff post asks less: an associate degree and one year
    assert register.post(HR, "qian", PostEntry("ops_assistant")).role == "ops_assistant"
    # the refused ones hold nothing, and every attempt is on the audit log
    assert [p.post for p in register.person("qian").posts] == ["ops_assistant"]  # type: ignore[union-attr]
    assert register.person("sun").posts == ()  # type: ignore[union-attr]
    with register.store.read() as tx:
        log = [(r["command"], r["outcome"], r["rule"]) for r in tx.audit_records()]
    assert log.count(("staff.post", "refused", "E-STAFF-QUALIFICATION")) == 2
    assert log.count(("staff.post", "accepted", None)) == 2


@pytest.mark.req("STF-2")
def test_stf_2_a_staff_post_asks_for_an_associate_degree_and_one_year_and_unknown_counts_as_none(
    register: Register,
) -> None:
    register.add(HR, person("吴一", "wu", "secondary", 5))
    register.add(HR, person("郑二", "zheng", None, None))
    register.add(HR, person("冯三", "feng", "associate", 0.5))
    for pid in ("wu", "zheng", "feng"):
        with pytest.raises(RegisterRefused, match="E-STAFF-QUALIFICATION"):
            register.post(HR, pid, PostEntry("editor"))
    register.update(HR, "feng", experience_years=1)
    assert register.post(HR, "feng", PostEntry("editor")).post == "editor"


@pytest.mark.req("STF-2")
def test_stf_2_a_roster_row_that_fails_a_qualification_imports_nothing(
    register: Register, tmp_path: Path
) -> None:
    file = tmp_path / "roster.csv"
    file.write_text(
        "姓名,工号,岗位,学历,工作年限\n王芳,E001,编辑,本科,2\n李雷,E002,运营管理岗,大专,6\n",
        encoding="utf-8",
    )
    with pytest.raises(RosterInvalid) as invalid:
        roster.parse(file, register.catalogue, today=DAY)
    (problem,) = invalid.value.problems
    assert (problem.line, problem.column, problem.code) == (3, 3, "E-STAFF-QUALIFICATION")
    assert "本科" in problem.message_zh
    assert register.people() == []


# -- STF-3 staffing ------------------------------------------------------------------------------
@pytest.fixture
def accounts(register: Register, engine_factory: EngineFactory) -> Engine:
    """The accounts and the staffing alerts, the register naming one operations manager
    (all accounts) and no assistant; two accounts registered."""
    register.add(HR, person("孙明", "sun", "bachelor", 5), [PostEntry("ops_manager", {}, DAY)])
    register.add(HR, person("徐丽", "xu", "associate", 2))
    engine = engine_factory(
        workflows=[WORKFLOWS / "accounts.yaml", WORKFLOWS / "staffing_gap.yaml"],
        policies=[POLICIES / "roles.yaml"],
    )
    engine.start("accounts", actor=MANAGER, data=ACCOUNT)
    engine.start(
        "accounts",
        actor=MANAGER,
        data={**ACCOUNT, "account_id": "fslib-weibo", "platform": "weibo"},
    )
    return engine


def alerts(engine: Engine) -> list[Item]:
    with engine.store.read() as tx:
        rows = tx.workflow_records("staffing_gap")
    return [engine.get(r.item_id) for r in rows]


def open_gaps(engine: Engine) -> list[tuple[str, str]]:
    return sorted((a.data["account_id"], a.data["post"]) for a in alerts(engine) if a.is_open)


@pytest.mark.req("STF-3")
@pytest.mark.enforces("STF-3", element="cmc_workflow/staff/staffing.py")
def test_stf_3_an_account_without_its_assistant_raises_one_alert_per_gap_until_filled(
    accounts: Engine, register: Register, clock: FakeClock
) -> None:
    engine = accounts
    engine.run_due()  # the daemon's pass: the daily staffing check runs
    assert open_gaps(engine) == [
        ("fslib-wechat", "ops_assistant"),
        ("fslib-weibo", "ops_assistant"),
    ]
    first = {a.data["account_id"]: a.id for a in alerts(engine)}
    clock.advance(days=1)
    engine.run_due()  # the next day: the gaps stay open, nothing raised twice
    assert len(alerts(engine)) == 2
    # an assistant for the WeChat account only (part-time, scoped by platform)
    register.post(HR, "xu", PostEntry("ops_assistant", {"channels": ["wechat"]}))
    clock.advance(days=1)
    engine.run_due()
    assert open_gaps(engine) == [("fslib-weibo", "ops_assistant")]
    filled = engine.get(first["fslib-wechat"])
    assert filled.state == "filled"
    assert filled.created_by == "staffing-check"
    assert engine.history(filled.id)[-1].trigger == "filled"


@pytest.mark.req("STF-3")
def test_stf_3_a_manager_whose_post_ends_leaves_a_gap_and_two_runners_raise_it_once(
    accounts: Engine, register: Register, engine_factory: EngineFactory, clock: FakeClock
) -> None:
    register.post(HR, "xu", PostEntry("ops_assistant", {}, DAY))
    (manager_post,) = register.person("sun").posts  # type: ignore[union-attr]
    register.end_post(HR, manager_post.id, dt.date(2025, 9, 26))
    other = engine_factory(
        workflows=[WORKFLOWS / "accounts.yaml", WORKFLOWS / "staffing_gap.yaml"],
        policies=[POLICIES / "roles.yaml"],
        identity=None,
    )
    checks = [
        next(e for e in engine.extensions if isinstance(e, StaffingCheck))
        for engine in (accounts, other)
    ]
    assert checks[0].check_staffing().raised == ()  # the post is held to the end of its day
    clock.advance(days=1)
    raised = [len(check.check_staffing().raised) for check in checks]
    assert raised == [2, 0]
    assert open_gaps(accounts) == [("fslib-wechat", "ops_manager"), ("fslib-weibo", "ops_manager")]


@pytest.mark.req("STF-3")
def test_stf_3_a_dismissed_alert_of_a_gap_still_open_is_raised_again(
    accounts: Engine, register: Register, clock: FakeClock
) -> None:
    register.add(HR, person("人事", "hr1", "bachelor", 5), [PostEntry("hr", {}, DAY)])
    engine = accounts
    engine.run_due()
    first = alerts(engine)[0]
    engine.fire(first.id, "dismiss", actor=Actor("hr1"), data={"reason": "账号即将注销"})
    clock.advance(days=1)
    engine.run_due()
    again = [a for a in alerts(engine) if a.data["gap"] == first.data["gap"]]
    assert [a.state for a in again] == ["dismissed", "open"]


# -- TRN-5 over the register ---------------------------------------------------------------------
@pytest.mark.req("TRN-5", "TRN-2")
def test_trn_5_the_ratio_counts_every_person_holding_a_post_in_the_register(
    register: Register, engine_factory: EngineFactory, clock: FakeClock
) -> None:
    from cmc_workflow.reports import CertifiedStaff, build_report
    from tests.helpers.records import TRAINER, TRAINING, train

    register.add(HR, person("王芳", "wang", "bachelor", 5), [PostEntry("editor", {}, DAY)])
    register.add(HR, person("周杰", "zhou", "bachelor", 5), [PostEntry("editor", {}, DAY)])
    register.add(HR, person("孙明", "sun", "bachelor", 5), [PostEntry("ops_manager", {}, DAY)])
    register.add(HR, person("胡老师", "hu", "bachelor", 5), [PostEntry("trainer", {}, DAY)])
    gone = [PostEntry("editor", {}, DAY, dt.date(2025, 9, 20))]
    register.add(HR, person("李雷", "li", "bachelor", 5), gone)  # left before today
    engine = engine_factory(workflows=[TRAINING], policies=[POLICIES / "roles.yaml"])
    # TRN-2: the records attach to register people by person id (Wang is wang)
    train(engine, "Wang", certificate="C-001")
    train(engine, "li", certificate="C-002")  # certified, but no longer staff
    with pytest.raises(Exception, match="identity_unknown"):
        train(engine, "stranger", certificate="C-003", trainer=Actor("nobody", {"trainer"}))
    assert TRAINER.id == "hu"
    report = build_report(engine, sections=["certification"])
    # staff: wang, zhou, sun, hu (li's post ended); certified: wang alone
    assert report.certification == (
        CertifiedStaff(
            "training", dt.date(2025, 9, 26), 4, 1, 0.25, 0.5, meets_floor=False, basis="register"
        ),
    )
