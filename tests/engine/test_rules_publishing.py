"""The bundled publishing rules closed ("No way around the rules", items 9 and 12-15).

Each scenario reproduces an observation that the bundled workflows and policies accepted
and the standard forbids, through the public API on SQLite and PostgreSQL, and shows the
refusal naming its rule in English and Chinese:

- ACC-2: a piece for wechat, weibo and douyin with no account named went out while the only
  WeChat account was suspended;
- PUB-3: the due date given at the assignment did not set when drafting is due;
- PUB-11: the operations manager alone wrote a correction and republished it;
- PUB-12: an account had no revenue permissions to hold, so nothing refused enabling one;
- PUB-10: the cadence check closed "all regular" 40 days after the last publication.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cmc_workflow import Actor, Engine, HandlerContext, Item, PolicyDenied
from cmc_workflow.clocks import Clocks
from cmc_workflow.definition.loader import load_paths
from cmc_workflow.errors import NotPermitted
from cmc_workflow.model import SYSTEM
from cmc_workflow.policy import ListFacts, Request, build_policy_set
from cmc_workflow.policy.rules import Move, Rule
from cmc_workflow.testing import FakeClock
from tests.helpers import (
    CHECKLIST,
    EDITOR,
    LEAD,
    OPS,
    OTHER_EDITOR,
    POLICIES,
    PUBLISHING,
    REVIEWER,
    SECOND_REVIEWER,
    TOPIC,
    WORKFLOWS,
    EngineFactory,
)
from tests.helpers.records import RECORD_WORKFLOWS, qualify_account, train_editors

SH = ZoneInfo("Asia/Shanghai")
CADENCE = WORKFLOWS / "inspections" / "ins_11_publishing_cadence.yaml"
POLICY_FILES = [POLICIES / f"{n}.yaml" for n in ("roles", "publishing", "accounts", "cadence")]
ASSISTANT = Actor("xu", {"ops_assistant"})
SELF_MEDIA = ["wechat", "weibo", "douyin"]


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


class Channels:
    """The publish_to_channels handler: what went out, where."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, tuple[str, ...], tuple[str, ...]]] = []

    def __call__(self, ctx: HandlerContext) -> None:
        accounts = tuple(ctx.data.get("accounts") or ())
        self.sent.append((ctx.item_id, tuple(ctx.data["channels"]), accounts))

    def of(self, item_id: int) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        return [(c, a) for i, c, a in self.sent if i == item_id]


@pytest.fixture
def channels() -> Channels:
    return Channels()


@pytest.fixture
def engine(engine_factory: EngineFactory, channels: Channels, clocks: Clocks) -> Engine:
    engine = engine_factory(
        workflows=[PUBLISHING, *RECORD_WORKFLOWS, CADENCE],
        policies=POLICY_FILES,
        handlers={"publish_to_channels": channels},
        extensions=[clocks],
    )
    train_editors(engine)
    return engine


def propose(engine: Engine, **data: Any) -> Item:
    return engine.start("publishing", actor=EDITOR, data={**TOPIC, **data})


def to_signoff(engine: Engine, item: Item, *, due: str = "2025-10-10") -> Item:
    """From proposed, through the assignment and both reviews, to the sign-off."""
    path: list[tuple[str, Actor, dict[str, Any]]] = [
        ("approve", LEAD, {}),
        ("assign", LEAD, {"assignees": [EDITOR.id], "due_date": due}),
        ("accept", EDITOR, {}),
        ("submit", EDITOR, {"content": "正文"}),
        ("approve", REVIEWER, CHECKLIST),
        ("approve", SECOND_REVIEWER, CHECKLIST),
    ]
    for trigger, actor, form in path:
        item = engine.fire(item.id, trigger, actor=actor, data=form)
    assert item.state == "signoff", item.state
    return item


def reviewed(engine: Engine, item: Item) -> Item:
    """Both reviews and the sign-off of a draft waiting in first review."""
    item = engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
    item = engine.fire(item.id, "approve", actor=SECOND_REVIEWER, data=CHECKLIST)
    return engine.fire(item.id, "sign", actor=OPS)


def published(engine: Engine, **data: Any) -> Item:
    """A piece with ``data`` walked to published (released to its accounts if it has any)."""
    item = engine.fire(to_signoff(engine, propose(engine, **data)).id, "sign", actor=OPS)
    if item.state == "release":
        item = engine.fire(item.id, "release", actor=OPS)
    assert item.state == "published", item.state
    return item


def suspend(engine: Engine, account: Item) -> Item:
    """An operating account whose re-check finds its qualification lapsed."""
    account = engine.fire(account.id, "recheck", actor=OPS)
    account = engine.fire(account.id, "lapse", actor=OPS, data={"reason": "认证未年审"})
    assert account.state == "suspended"
    return account


def refused(rule: str, excinfo: pytest.ExceptionInfo[PolicyDenied]) -> PolicyDenied:
    denied = excinfo.value
    assert denied.rule == rule, (denied.rule, denied.reason_en)
    assert denied.reason_en
    assert denied.reason_zh
    return denied


# -- ACC-2: self-media channels go out only through operating accounts of that channel ----------
@pytest.mark.req("ACC-2", "PUB-7")
@pytest.mark.enforces(
    "ACC-2", element="policies/publishing.yaml#workflows.publishing.covered_by_records[0]"
)
def test_acc_2_self_media_channels_without_an_operating_account_of_their_own_are_refused(
    engine: Engine, channels: Channels
) -> None:
    wechat = qualify_account(engine, "fslib-wechat")
    qualify_account(engine, "fslib-weibo", platform="weibo")
    qualify_account(engine, "fslib-douyin", platform="douyin")
    suspend(engine, wechat)  # the only WeChat account stops operating
    # the observation: channels [wechat, weibo, douyin], no accounts, published at the sign
    item = engine.fire(
        to_signoff(engine, propose(engine, channels=SELF_MEDIA)).id, "sign", actor=OPS
    )
    assert item.state == "release"  # the accounts' custodian must release it first
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(item.id, "release", actor=OPS)
    refused("account_qualified", excinfo)  # no account named at all
    (release,) = [a for a in engine.allowed(item.id, OPS) if a.trigger == "release"]
    assert (release.allowed, release.rules) == (
        False,
        ("account_qualified", "self_media_through_qualified_accounts"),
    )
    covered = [r for r in release.reasons if ": wechat, weibo, douyin: no " in r]
    assert len(covered) == 1, release.reasons
    # an account of another platform does not carry a channel
    item = engine.fire(
        item.id,
        "change_accounts",
        actor=OPS,
        data={"accounts": ["fslib-weibo", "fslib-douyin"], "reason": "微信号停用"},
    )
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(item.id, "release", actor=OPS)
    assert refused("self_media_through_qualified_accounts", excinfo).reason_en.startswith(
        "wechat: no "
    )
    # naming the suspended WeChat account is refused too
    item = engine.fire(
        item.id,
        "change_accounts",
        actor=OPS,
        data={"accounts": ["fslib-wechat", "fslib-weibo", "fslib-douyin"], "reason": "补充"},
    )
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(item.id, "release", actor=OPS)
    assert refused("account_qualified", excinfo).reason_en.startswith("fslib-wechat:")
    assert channels.of(item.id) == []  # nothing went out
    # dropping the channel is a change of content: back to drafting and both reviews again
    item = engine.fire(item.id, "reject", actor=OPS, data={"reason": "微信号停用，去掉微信渠道"})
    item = engine.fire(
        item.id,
        "submit",
        actor=EDITOR,
        data={
            "content": "正文",
            "draft_version": 2,  # a resubmission is a new version (PUB-4)
            "channels": ["weibo", "douyin"],
            "accounts": ["fslib-weibo", "fslib-douyin"],
        },
    )
    item = reviewed(engine, item)
    item = engine.fire(item.id, "release", actor=OPS)
    assert item.state == "published"
    assert channels.of(item.id) == [(("weibo", "douyin"), ("fslib-weibo", "fslib-douyin"))]
    # a piece for the web channels only still goes out at the sign-off
    plain = engine.fire(
        to_signoff(engine, propose(engine, channels=["pc", "app"])).id, "sign", actor=OPS
    )
    assert plain.state == "published"


# -- PUB-3: the due date given at the assignment is when drafting is due -------------------------
@pytest.mark.req("PUB-3")
@pytest.mark.enforces(
    "PUB-3", element="policies/publishing.yaml#workflows.publishing.forbid_data[2]"
)
def test_pub_3_drafting_is_due_by_the_due_date_given_at_the_assignment(
    engine: Engine, clocks: Clocks
) -> None:
    due = {}
    for date in ("2025-09-27", "2025-12-31"):
        item = engine.fire(propose(engine).id, "approve", actor=LEAD)
        item = engine.fire(
            item.id, "assign", actor=LEAD, data={"assignees": [EDITOR.id], "due_date": date}
        )
        item = engine.fire(item.id, "accept", actor=EDITOR)
        (drafting,) = [c for c in clocks.clocks(item.id) if c.state == "drafting"]
        due[date] = drafting.due_at
    # the end of the day given (before: 2025-10-10 17:30 for both)
    assert due == {"2025-09-27": local(2025, 9, 28), "2025-12-31": local(2026, 1, 1)}
    # a reassignment gives a new due date, and the clock of the next drafting follows it
    item = engine.fire(propose(engine).id, "approve", actor=LEAD)
    item = engine.fire(
        item.id, "assign", actor=LEAD, data={"assignees": [EDITOR.id], "due_date": "2025-10-31"}
    )
    item = engine.fire(
        item.id,
        "reassign",
        actor=LEAD,
        data={"assignees": [OTHER_EDITOR.id], "due_date": "2025-11-14"},
    )
    engine.fire(item.id, "accept", actor=OTHER_EDITOR)
    (drafting,) = [c for c in clocks.clocks(item.id) if c.state == "drafting"]
    assert drafting.due_at == local(2025, 11, 15)
    # a due date already passed is refused, and the item stays where it was
    item = engine.fire(propose(engine).id, "approve", actor=LEAD)
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(
            item.id,
            "assign",
            actor=LEAD,
            data={"assignees": [EDITOR.id], "due_date": "2025-09-25"},
        )
    refused("due_date_not_passed", excinfo)
    assert engine.get(item.id).state == "selected"


# -- PUB-11: a correction is content: reviewed and signed off, out to the same channels ---------
@pytest.mark.req("PUB-11", "PUB-5", "PUB-6")
@pytest.mark.enforces(
    "PUB-11", element="policies/publishing.yaml#workflows.publishing.forbid_data[3]"
)
@pytest.mark.enforces(
    "PUB-11", element="policies/publishing.yaml#workflows.publishing.distinct_actors[2]"
)
def test_pub_11_a_correction_passes_both_reviews_and_the_sign_off_and_reaches_the_same_channels(
    engine: Engine, channels: Channels
) -> None:
    qualify_account(engine, "fslib-wechat")
    qualify_account(engine, "fslib-weibo", platform="weibo")
    accounts = ["fslib-wechat", "fslib-weibo"]
    item = published(engine, accounts=accounts)
    item = engine.fire(item.id, "report_error", actor=REVIEWER, data={"description": "日期写错"})
    # the observation: the ops manager alone corrected and republished at once
    item = engine.fire(
        item.id,
        "correct",
        actor=OPS,
        data={"department": "活动推广部", "correction": "活动日期改为10月9日"},
    )
    assert item.state == "correcting"
    assert len(channels.of(item.id)) == 1  # not out again yet
    with pytest.raises(NotPermitted):  # an editor writes it, not the manager
        engine.fire(item.id, "submit", actor=OPS, data={"content": "更正稿"})
    # whoever writes the correction does not review it
    writer = Actor("wu", {"editor", "reviewer"})
    item = engine.fire(item.id, "submit", actor=writer, data={"content": "更正稿：10月9日"})
    assert item.state == "first_review"
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(item.id, "approve", actor=writer, data=CHECKLIST)
    refused("corrector_does_not_review", excinfo)
    # first and second review by different people, then the sign-off
    item = engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
    refused("distinct_reviewers", excinfo)
    item = engine.fire(item.id, "approve", actor=SECOND_REVIEWER, data=CHECKLIST)
    item = engine.fire(item.id, "sign", actor=OPS)
    assert item.state == "release"
    # every channel and account that carried the original: they cannot be narrowed
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(
            item.id,
            "change_accounts",
            actor=OPS,
            data={"accounts": ["fslib-weibo"], "reason": "只发微博"},
        )
    refused("correction_keeps_the_channels", excinfo)
    item = engine.fire(item.id, "release", actor=OPS)
    assert item.state == "published"
    original = (tuple(TOPIC["channels"]), tuple(accounts))
    assert channels.of(item.id) == [original, original]
    # the whole trail is kept
    trail = [(h.trigger, h.actor) for h in engine.history(item.id) if h.kind == "fire"]
    assert trail[-7:] == [
        ("report_error", REVIEWER.id),
        ("correct", OPS.id),
        ("submit", writer.id),
        ("approve", REVIEWER.id),
        ("approve", SECOND_REVIEWER.id),
        ("sign", OPS.id),
        ("release", OPS.id),
    ]
    forms = {h.trigger: h.form for h in engine.history(item.id)[-8:]}
    assert forms["correct"]["department"] == "活动推广部"
    assert forms["submit"]["content"] == "更正稿：10月9日"


@pytest.mark.req("PUB-11", "PUB-6")
def test_pub_11_a_correction_republished_without_its_reviews_is_a_load_time_bypass(
    tmp_path: Path,
) -> None:
    """The old shape (the manager's correct went straight to publishing) is caught by the
    static proof: since a confirmed error starts a new round, publishing needs both
    reviews and the sign-off again."""
    text = PUBLISHING.read_text(encoding="utf-8")
    retract = "      - trigger: retract\n"
    assert text.count(retract) == 1
    republish = (
        "      - trigger: republish\n        target: publishing\n        roles: [ops_manager]\n"
    )
    shortcut = tmp_path / "publishing.yaml"
    shortcut.write_text(text.replace(retract, republish + retract), "utf-8")
    loaded = load_paths([shortcut, *RECORD_WORKFLOWS, *POLICY_FILES[:3]])
    bypass = [p for p in loaded.problems if p.code == "E-POLICY-BYPASS"]
    assert len(bypass) == 1, [p.code for p in loaded.problems]
    assert "reviewed_and_signed_off" in bypass[0].message
    assert "correction -republish-> publishing" in bypass[0].message


# -- PUB-12: the account record holds its revenue permissions -----------------------------------
@pytest.mark.req("PUB-12", "ACC-2")
@pytest.mark.enforces("PUB-12", element="policies/accounts.yaml#workflows.accounts.forbid_data[0]")
def test_pub_12_revenue_permissions_are_refused_and_an_account_found_with_one_stops(
    engine: Engine, channels: Channels
) -> None:
    registration = {
        "account_id": "fslib-douyin",
        "platform": "douyin",
        "name": "佛山市图书馆",
        "registrant_name": "张三",
        "registrant_id_number": "440602199001011234",
        "registrant_phone": "13800138000",
        "custodian": OPS.id,
    }
    with pytest.raises(PolicyDenied) as excinfo:  # enabling one is refused
        engine.start("accounts", actor=OPS, data={**registration, "revenue_permissions": ["ads"]})
    assert "SM 4.3" in refused("no_revenue_permissions", excinfo).reason_en
    douyin = qualify_account(engine, "fslib-douyin", platform="douyin")
    item = engine.fire(
        to_signoff(engine, propose(engine, channels=["douyin"], accounts=["fslib-douyin"])).id,
        "sign",
        actor=OPS,
    )
    # found enabled on the platform: the account stops operating
    douyin = engine.fire(
        douyin.id,
        "report_revenue",
        actor=ASSISTANT,
        data={"revenue_permissions": ["paid_knowledge"], "where_found": "月度统计时发现"},
    )
    assert (douyin.state, douyin.data["revenue_permissions"]) == (
        "revenue_suspended",
        ["paid_knowledge"],
    )
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(item.id, "release", actor=OPS)
    assert excinfo.value.rule in {"account_qualified", "self_media_through_qualified_accounts"}
    # until it is switched off: saying so without clearing the record is refused
    for still in ({}, {"revenue_permissions": ["paid_knowledge"]}):
        with pytest.raises(PolicyDenied) as excinfo:
            engine.fire(douyin.id, "switch_off", actor=OPS, data={**still, "note": "已关闭"})
        refused("no_revenue_permissions", excinfo)
    douyin = engine.fire(
        douyin.id, "switch_off", actor=OPS, data={"revenue_permissions": [], "note": "已关闭"}
    )
    assert douyin.state == "operating"
    assert engine.fire(item.id, "release", actor=OPS).state == "published"
    assert channels.of(item.id) == [(("douyin",), ("fslib-douyin",))]
    # the register holds one entry per account id: a second one (say, of another platform
    # to carry another channel under the same id) is refused while the first is live
    with pytest.raises(PolicyDenied) as excinfo:
        engine.start("accounts", actor=OPS, data={**registration, "platform": "weibo"})
    assert "fslib-douyin" in refused("one_register_entry_per_account", excinfo).reason_zh
    # a piece that declares paid content is refused too
    with pytest.raises(PolicyDenied) as excinfo:
        propose(engine, monetization=True)
    refused("no_monetization", excinfo)


# -- PUB-10: silence computed from the publications the engine recorded -------------------------
@pytest.mark.req("PUB-10", "INS-11")
@pytest.mark.enforces(
    "PUB-10", element="policies/cadence.yaml#workflows.publishing_cadence_check.silence[0]"
)
def test_pub_10_the_cadence_check_cannot_close_regular_while_an_account_is_silent(
    engine: Engine, clock: FakeClock
) -> None:
    clock.now = local(2025, 8, 1, 10, 0)
    qualify_account(engine, "fslib-wechat")
    clock.now = local(2025, 8, 10, 10, 0)
    published(engine, channels=["wechat"], accounts=["fslib-wechat"])
    # the observation: 40 days after the last publication, closed as regular
    clock.now = local(2025, 9, 19, 10, 0)
    with pytest.raises(PolicyDenied) as excinfo:  # nobody picks a longer interval by hand
        engine.start("publishing_cadence_check", actor=ASSISTANT, data={"interval_days": 60})
    refused("permissions", excinfo)
    check = engine.start("publishing_cadence_check", actor=SYSTEM, data={"interval_days": 7})
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(check.id, "all_regular", actor=ASSISTANT)
    denied = refused("no_silent_account", excinfo)
    assert denied.reason_en.startswith("fslib-wechat silent 40 days (since 2025-08-10, 7 allowed)")
    assert "fslib-wechat 已 40 天未发布" in denied.reason_zh
    assert engine.get(check.id).state == "checking"
    (closing,) = [a for a in engine.allowed(check.id, ASSISTANT) if a.trigger == "all_regular"]
    assert (closing.allowed, closing.rules) == (False, ("no_silent_account",))  # said ahead
    alert = engine.fire(
        check.id,
        "raise_alert",
        actor=ASSISTANT,
        data={"accounts": ["fslib-wechat"], "days_silent": 40},
    )
    assert alert.state == "alerted"
    # publishing again makes the account regular; a new account counts from its start
    clock.now = local(2025, 9, 22, 10, 0)
    weibo = qualify_account(engine, "fslib-weibo", platform="weibo")
    clock.now = local(2025, 9, 26, 10, 0)
    published(engine, channels=["wechat"], accounts=["fslib-wechat"])
    check = engine.start("publishing_cadence_check", actor=SYSTEM, data={"interval_days": 7})
    assert engine.fire(check.id, "all_regular", actor=ASSISTANT).state == "regular"
    # an account with its own configured interval is judged by it
    qualify_account(engine, "fslib-douyin", platform="douyin", cadence_days=3)
    qualify_account(engine, "fslib-bilibili", platform="weibo", cadence_days=30)
    clock.now = local(2025, 9, 30, 10, 0)  # weibo: 8 days since certified, never published
    check = engine.start("publishing_cadence_check", actor=SYSTEM, data={"interval_days": 7})
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(check.id, "all_regular", actor=ASSISTANT)
    assert refused("no_silent_account", excinfo).reason_en.startswith(
        "fslib-weibo silent 8 days (since 2025-09-22, 7 allowed); "
        "fslib-douyin silent 4 days (since 2025-09-26, 3 allowed): "
    )
    assert "fslib-bilibili" not in excinfo.value.reason_en  # 4 of its 30 days
    # an account that no longer operates is not expected to publish
    suspend(engine, weibo)
    published(engine, channels=["douyin"], accounts=["fslib-douyin"])
    assert engine.fire(check.id, "all_regular", actor=ASSISTANT).state == "regular"


@pytest.mark.req("PUB-10", "INS-11")
@pytest.mark.enforces(
    "PUB-10", element="policies/cadence.yaml#workflows.publishing_cadence_check.silence[0].alert"
)
def test_pub_10_an_alert_carries_the_computed_silence_not_typed_figures(
    engine: Engine, clock: FakeClock
) -> None:
    clock.now = local(2025, 8, 1, 10, 0)
    qualify_account(engine, "fslib-wechat")
    qualify_account(engine, "fslib-weibo", platform="weibo")
    clock.now = local(2025, 8, 20, 10, 0)
    published(engine, channels=["weibo"], accounts=["fslib-weibo"])
    clock.now = local(2025, 8, 31, 10, 0)  # wechat silent 30 days, weibo 11
    check = engine.start("publishing_cadence_check", actor=SYSTEM, data={"interval_days": 7})
    # the walk-arounds: an alert naming an account that is not the silent one (hiding
    # the one that is), leaving one out, or typing another number of days
    for typed in (
        {"accounts": ["fslib-douyin"], "days_silent": 30},
        {"accounts": ["fslib-wechat"], "days_silent": 30},
        {"accounts": ["fslib-wechat", "fslib-weibo"], "days_silent": 12},
    ):
        with pytest.raises(PolicyDenied) as excinfo:
            engine.fire(check.id, "raise_alert", actor=ASSISTANT, data=typed)
        denied = refused("no_silent_account", excinfo)
        assert "show fslib-wechat 30, fslib-weibo 11 (longest 30 days)" in denied.reason_en
        assert "断更账号为 fslib-wechat 30, fslib-weibo 11" in denied.reason_zh
    alert = engine.fire(
        check.id,
        "raise_alert",
        actor=ASSISTANT,
        data={"accounts": ["FSLIB-Weibo ", "fslib-wechat"], "days_silent": 30},
    )
    assert alert.state == "alerted"  # the ids as a person types them (case, spaces)


# -- the two new rule kinds alone, over listed facts ---------------------------------------------
def bundled_rule(workflow: str, rule_id: str) -> Rule:
    loaded = load_paths([PUBLISHING, *RECORD_WORKFLOWS, CADENCE, *POLICY_FILES])
    policy, problems = build_policy_set(loaded)
    assert problems == []
    (rule,) = [r for r in policy.workflows[workflow].rules if r.id == rule_id]
    return rule


def request(state: str, trigger: str, data: dict[str, Any], *, entered: str = "") -> Request:
    now = local(2025, 9, 30, 10, 0)
    return Request(
        workflow="w",
        state=state,
        trigger=trigger,
        entered=(entered,) if entered else (),
        actor="xu",
        roles=frozenset({"ops_assistant"}),
        attributes={},
        data=data,
        form={},
        form_spec={},
        edge_roles=frozenset(),
        now=now,
        today=now.date(),
    )


@pytest.mark.req("PUB-10")
def test_silence_counts_publications_only_not_a_dismissed_correction() -> None:
    rule = bundled_rule("publishing_cadence_check", "no_silent_account")
    account = {"account_id": "fslib-wechat"}
    piece = {"accounts": ["fslib-wechat"]}
    certified = Move(1, "certifying", "operating", local(2025, 9, 1), "operating", account)
    moves = {
        "accounts": [
            certified,  # a quarterly re-check coming back does not restart the silence
            Move(1, "rechecking", "operating", local(2025, 9, 28), "operating", account),
        ],
        "publishing": [
            Move(7, "publishing", "published", local(2025, 9, 10), "archived", piece),
            # an error reported and dismissed re-enters published: not a publication
            Move(7, "correction", "published", local(2025, 9, 29), "archived", piece),
        ],
    }
    check = request("checking", "all_regular", {"interval_days": 7})
    denial = rule.judge(check, ListFacts(moves=moves))
    assert denial is not None
    assert denial.reason_en.startswith("fslib-wechat silent 20 days (since 2025-09-10")
    moves["publishing"].append(
        Move(8, "publishing", "published", local(2025, 9, 29), "published", piece)
    )
    assert rule.judge(check, ListFacts(moves=moves)) is None
    # an interval it cannot read refuses rather than passes
    unread = rule.judge(request("checking", "all_regular", {}), ListFacts(moves=moves))
    assert unread is not None
    assert "interval_days" in unread.reason_en


@pytest.mark.req("ACC-2")
def test_covered_by_records_needs_a_counting_record_of_each_channel() -> None:
    rule = bundled_rule("publishing", "self_media_through_qualified_accounts")
    ok = {"qualified_until": "2026-09-30", "revenue_permissions": []}
    records = {
        "accounts": [
            {"_state": "operating", "account_id": "wx", "platform": "wechat", **ok},
            {"_state": "suspended", "account_id": "wb", "platform": "weibo", **ok},
            {
                "_state": "operating",
                "account_id": "dy",
                "platform": "douyin",
                **ok,
                "revenue_permissions": ["ads"],
            },
            {"_state": "operating", "account_id": "old", "platform": "weibo"},  # no date
        ]
    }
    facts = ListFacts(records=records)
    piece = {"channels": ["pc", "wechat", "weibo", "douyin"], "accounts": ["wx", "wb", "dy"]}
    leaving = request("release", "release", piece, entered="publishing")
    denial = rule.judge(leaving, facts)
    assert denial is not None
    assert denial.reason_en.startswith("weibo, douyin: no ")
    assert denial.reason_zh.startswith("weibo、douyin：")
    web = request("release", "release", {"channels": ["pc"], "accounts": []}, entered="publishing")
    assert rule.judge(web, facts) is None
    staying = request("release", "change_accounts", piece)
    assert not rule.applies(staying)  # judged when the piece goes out, not before
