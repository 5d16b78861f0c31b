"""The computations of ``confirm_figures`` alone, over listed facts (no store): periods,
what counts in them, and the rule's verdicts."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from cmc_workflow.definition.loader import LoadedWorkflow, load_workflow_text
from cmc_workflow.definition.models import Label
from cmc_workflow.policy import ListFacts, Request
from cmc_workflow.policy.rules import FiguresRule, Move, StepKey
from cmc_workflow.policy.rules.figures import (
    Period,
    Sources,
    complaint_statistics,
    first_publications,
    period_of,
    publication_sources,
    published_states,
    self_media_year,
)

SH = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def test_periods_are_the_year_before_or_the_calendar_year_before_in_shanghai() -> None:
    year = period_of("calendar_year_before", local(2026, 1, 5, 9))
    assert (year.since, year.until, year.label) == (local(2025, 1, 1), local(2026, 1, 1), "2025")
    # 2026-01-01 00:30 in Shanghai is still 2025-12-31 in UTC: the local year counts
    assert period_of("calendar_year_before", local(2026, 1, 1, 0, 30)).label == "2025"
    twelve = period_of("year_before", local(2025, 12, 1, 9))
    assert (twelve.since, twelve.label) == (local(2024, 12, 1, 9), "2024-12-01..2025-12-01")
    assert period_of("year_before", local(2028, 2, 29, 9)).since == local(2027, 2, 28, 9)


def complaint(item: int, received: str, at: dt.datetime, **data: Any) -> Move:
    return Move(item, "route", "complaint_received", at, "x", {"received_at": received, **data})


def test_a_complaint_counts_by_when_it_arrived_and_late_ones_by_their_clocks() -> None:
    period = Period(local(2025, 1, 1), local(2026, 1, 1), "2025")
    data = {"channel": "weibo", "category": "complaint", "satisfaction": "dissatisfied"}
    moves = {
        "comments": [
            # arrived on 2024-12-31, registered in 2025: last year's
            complaint(1, "2024-12-31T20:00+08:00", local(2025, 1, 2, 9), **data),
            complaint(2, "2025-03-01T10:00+08:00", local(2025, 3, 1, 11), **data),
            Move(2, "complaint_closing", "complaint_closed", local(2025, 3, 4, 10), "x", data),
            Move(2, "x", "classify", local(2025, 3, 1, 11), "x", data),
        ]
    }
    figures = complaint_statistics(ListFacts(moves=moves, late=[2]), period)
    values = figures.values
    assert (values["received"], values["closed"], values["closed_late"]) == (1, 1, 1)
    assert values["max_hours_to_close"] == 72  # from arrival, not from registration
    assert values["by_channel"] == {"weibo": 1}
    assert values["by_satisfaction"] == {"dissatisfied": 1}
    assert values["messages_by_category"] == {"complaint": 1}
    assert not figures.empty
    assert complaint_statistics(ListFacts(), period).empty


def test_the_year_counts_engine_publications_and_a_month_confirmed_twice_once() -> None:
    period = Period(local(2025, 1, 1), local(2026, 1, 1), "2025")
    piece = {"accounts": ["wx", "wx"], "channels": ["wechat", "pc"]}
    month = {"platforms": ["wechat"], "followers_wechat": 100, "reads": 10, "publications": 3}
    again = {**month, "followers_wechat": 120, "reads": 12}
    moves = {
        "publishing": [
            Move(1, "publishing", "published", local(2025, 5, 1), "archived", piece),
            Move(1, "correction", "published", local(2025, 6, 1), "archived", piece),  # again
            Move(2, "publishing", "published", local(2024, 12, 31, 23), "archived", piece),
        ],
        "self_media_statistics": [
            Move(5, "confirming", "done", local(2025, 5, 31), "done", month),
            Move(
                6,
                "confirming",
                "done",
                local(2025, 6, 2),
                "done",
                {**again, "scheduled_for": "2025-05-30T15:00+08:00"},
            ),
        ],
    }
    values = self_media_year(ListFacts(moves=moves), period).values
    assert values["publications"] == 1  # first entry counts; last year's piece does not
    assert values["publications_by_account"] == {"wx": 1}  # an account named twice: once
    assert values["publications_by_channel"] == {"pc": 1, "wechat": 1}
    assert values["months_reported"] == ["2025-05"]
    assert (values["reads"], values["followers"]) == (12, 120)  # the later confirmation
    assert "met_reads" not in values  # no adopted targets for 2025


def test_the_rule_refuses_unconfirmed_and_mistyped_figures_and_passes_confirmed_ones() -> None:
    step = StepKey("propose", "drafting", "propose", Label(zh="提出人", en="proposer"))
    rule = FiguresRule(
        "year_results",
        [step],
        "self_media_year",
        "calendar_year_before",
        "year_results",
        "results_confirmed",
        {"last_reads": "reads"},
        None,
        confirm_when_empty=False,
    )
    month = {"platforms": ["wechat"], "followers_wechat": 1, "reads": 7, "publications": 1}
    facts = ListFacts(
        moves={"self_media_statistics": [Move(1, "c", "done", local(2025, 3, 31), "done", month)]}
    )

    def request(**form: Any) -> Request:
        now = local(2026, 1, 5, 9)
        return Request(
            workflow="annual_targets",
            state="drafting",
            trigger="propose",
            entered=("approval",),
            actor="sun",
            roles=frozenset({"ops_manager"}),
            attributes={},
            data={"scheduled_for": "2026-01-05T09:00+08:00", **form},
            form=form,
            form_spec={},
            edge_roles=frozenset({"ops_manager"}),
            now=now,
            today=now.date(),
        )

    unconfirmed, figures = rule.verdict(request(), facts)
    assert unconfirmed is not None
    assert "reads: 7" in unconfirmed.reason_en
    assert figures.values["period"] == "2025"
    mistyped = rule.judge(request(results_confirmed=True, last_reads=8), facts)
    assert mistyped is not None
    assert mistyped.reason_en.startswith("last_reads 8 typed, 7 in the store")
    assert "last_reads 填写为 8，系统记录为 7" in mistyped.reason_zh
    assert rule.judge(request(results_confirmed=True, last_reads=7), facts) is None
    # nothing recorded and confirm_when_empty false: the first year passes unconfirmed
    assert rule.judge(request(), ListFacts()) is None


# -- where publications are (issue 17) -----------------------------------------------------------
def _workflow(wf_id: str, states: str, handlers: str = "") -> LoadedWorkflow:
    head = (
        f"id: {wf_id}\nlabel: {{zh: 发布, en: Publishing}}\n"
        "roles:\n  editor: {zh: 编辑, en: Editor}\n"
    )
    start = "start: {state: draft, roles: [editor]}\n"
    return load_workflow_text(head + handlers + start + "states:\n" + states)


DRAFT = """\
  draft:
    type: userTask
    label: {zh: 撰稿, en: Draft}
    transitions:
      - {trigger: send, target: sending, roles: [editor]}
"""
SENDING = """\
  sending:
    type: serviceTask
    label: {zh: 发布中, en: Sending}
    handler: send_out
    transitions:
      - {trigger: failed, target: draft}
      - {trigger: done, target: online, default: true}
  online:
    type: endEvent
    label: {zh: 已上线, en: Online}
"""


def test_a_publication_is_the_state_after_the_handler_or_the_effect_state_itself() -> None:
    declared = "handlers:\n  send_out: {description: x, effects: [publication]}\n"
    # a serviceTask publishes on entry; the piece is out once it took its default outcome
    video = _workflow("short_video", DRAFT + SENDING, declared)
    assert published_states(video) == ("online",)
    # a workflow running the same handler without repeating its effects publishes too
    # (the handler's effects are united over the workflows, as loading does)
    quiet = _workflow("clips", DRAFT + SENDING, "handlers:\n  send_out: {description: x}\n")
    assert published_states(quiet) == ()
    assert publication_sources([video, quiet]) == (
        ("clips", "online"),
        ("short_video", "online"),
    )
    # on a state that is no serviceTask, entering the state is the publication
    by_hand = DRAFT.replace("target: sending", "target: posted") + (
        "  posted:\n    type: endEvent\n    label: {zh: 已发布, en: Posted}\n"
        "    effects: [publication]\n"
    )
    assert published_states(_workflow("notices", by_hand)) == ("posted",)
    # other guarded effects are not publications
    release = by_hand.replace("effects: [publication]", "effects: [account_release]")
    assert publication_sources([_workflow("release_only", release)]) == ()


def test_a_piece_counts_once_at_its_first_entry_into_any_publication_state() -> None:
    moves = {
        "publishing": [
            Move(1, "publishing", "published", local(2025, 3, 1, 9), "x", {"accounts": ["a"]}),
            Move(1, "publishing", "published", local(2025, 4, 1, 9), "x", {"accounts": ["a"]}),
        ],
        "short_video": [
            Move(2, "sending", "online", local(2025, 5, 1, 9), "x", {"accounts": ["b"]}),
            Move(2, "sending", "posted", local(2025, 2, 1, 9), "x", {"accounts": ["b"]}),
        ],
    }
    facts = ListFacts(moves=moves)
    sources = (("publishing", "published"), ("short_video", "online"), ("short_video", "posted"))
    firsts = first_publications(facts, sources)
    assert [(f.item, f.at) for f in firsts] == [
        (2, local(2025, 2, 1, 9)),
        (1, local(2025, 3, 1, 9)),
    ]
    period = Period(local(2025, 1, 1), local(2026, 1, 1), "2025")
    values = self_media_year(facts, period, Sources(publications=sources)).values
    assert values["publications"] == 2
    assert values["publications_by_account"] == {"a": 1, "b": 1}
    # by default the bundled workflow's pair alone
    assert self_media_year(facts, period).values["publications"] == 1
