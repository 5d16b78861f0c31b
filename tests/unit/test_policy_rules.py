"""The policy rules alone: pure judgements over a request and listed facts (no engine).

Each rule is compiled from a small policy over the bundled publishing workflow, then
judged against hand-made requests and histories, so that its semantics (rounds, order of
stages, invalidating edits, pairs, scoping, dates) are pinned independently of the store.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow.definition.loader import load_paths
from cmc_workflow.policy import ListFacts, PolicySet, Request, Step, build_policy_set
from cmc_workflow.policy.masking import Masker, mask_value, personal_fields
from cmc_workflow.policy.rules import Rule
from tests.helpers import POLICIES, WORKFLOWS
from tests.helpers import UNGUARDED_PUBLISHING as PUBLISHING

CJK = re.compile("[\u4e00-\u9fff]")

NOW = dt.datetime(2025, 9, 26, 7, 0, tzinfo=dt.UTC)
CHECKLIST = {
    "truthful": True,
    "repost_authorized": True,
    "copyright_cleared": True,
    "nothing_confidential": True,
}

POLICY = """\
kind: policy
id: unit
label: {zh: 单元, en: Unit}
workflows:
  publishing:
    rework: [drafting]
    invalidate_approvals_on_edit: [content, title]
    steps:
      author: {state: drafting, trigger: submit, label: {zh: 撰稿人, en: author}}
      first: {state: first_review, trigger: approve, label: {zh: 初审人, en: first reviewer}}
      second: {state: second_review, trigger: approve, label: {zh: 复审人, en: second reviewer}}
      sign: {state: signoff, trigger: sign, label: {zh: 签发人, en: signing manager}}
      proposer: {trigger: start, label: {zh: 报题人, en: proposer}}
    attestations:
      - {id: checklist, steps: [first, second], require_true: [truthful, copyright_cleared]}
    distinct_actors:
      - {id: author_not_reviewer, steps: [author, first, second], pairs: [[author, first]],
         within: item}
      - {id: two_reviewers, steps: [first, second]}
    required_stages:
      - {id: stages, enter: publishing, stages: [first, second, sign]}
    forbid_data:
      - {id: no_money, when: data.monetization == true}
      - {id: account_expired, expired: due_date, steps: [sign]}
    requires_record:
      - id: trained
        steps: [proposer]
        workflow: publishing
        states: [archived]
        field: title
        where: data.outline == 'passed'
"""


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> PolicySet:
    folder = tmp_path_factory.mktemp("unit")
    (folder / "unit.yaml").write_text(POLICY, encoding="utf-8")
    loaded = load_paths([PUBLISHING, folder])
    assert loaded.problems == []
    built, problems = build_policy_set(loaded)
    assert problems == []
    return built


def rule(policy: PolicySet, rule_id: str) -> Rule:
    return next(r for r in policy.rules_for("publishing") if r.id == rule_id)


def request(
    state: str | None,
    trigger: str,
    actor: str = "someone",
    *,
    entered: tuple[str, ...] = (),
    data: dict[str, Any] | None = None,
    form: dict[str, Any] | None = None,
    roles: frozenset[str] = frozenset({"reviewer"}),
    probe: bool = False,
    now: dt.datetime = NOW,
) -> Request:
    return Request(
        workflow="publishing",
        state=state,
        trigger=trigger,
        entered=entered,
        actor=actor,
        roles=roles,
        attributes={},
        data=data or {},
        form=form or {},
        form_spec={},
        edge_roles=frozenset({"reviewer"}),
        now=now,
        today=now.date(),
        probe=probe,
    )


def step(seq: int, source: str, trigger: str, target: str, actor: str, **form: Any) -> Step:
    return Step(seq, "fire", trigger, source, target, actor, form)


START = Step(1, "start", None, None, "proposed", "wang", {})
TO_DRAFTING = [
    START,
    step(2, "proposed", "approve", "selected", "li"),
    step(3, "selected", "assign", "assigned", "li", assignees=["wang"]),
    step(4, "assigned", "accept", "drafting", "wang"),
    step(5, "drafting", "submit", "first_review", "wang", content="v1"),
]
FIRST = step(6, "first_review", "approve", "second_review", "zhao", **CHECKLIST)
SECOND = step(7, "second_review", "approve", "signoff", "qian", **CHECKLIST)


def judge(r: Rule, req: Request, history: list[Step]) -> str | None:
    if not r.applies(req):
        return None
    denial = r.judge(req, ListFacts(history))
    return denial.rule if denial is not None else None


@pytest.mark.req("PUB-5")
def test_stages_must_all_happen_in_order_before_entering(policy: PolicySet) -> None:
    stages = rule(policy, "stages")
    sign = request("signoff", "sign", "sun", entered=("publishing",))
    assert judge(stages, sign, [*TO_DRAFTING, FIRST, SECOND]) is None
    assert judge(stages, sign, [*TO_DRAFTING, FIRST]) == "stages"
    # out of order: a second review before the first does not count
    swapped = [*TO_DRAFTING, step(6, "second_review", "approve", "signoff", "qian"), FIRST]
    assert judge(stages, sign, swapped) == "stages"
    # leaving a state other than through the guarded state is not judged
    assert not stages.applies(request("signoff", "reject", "sun", entered=("drafting",)))


@pytest.mark.req("PUB-5")
def test_a_rework_starts_a_new_round_of_stages(policy: PolicySet) -> None:
    stages = rule(policy, "stages")
    rejected = [
        *TO_DRAFTING,
        FIRST,
        SECOND,
        step(8, "signoff", "reject", "drafting", "sun", reason="no"),
        step(9, "drafting", "submit", "first_review", "wang", content="v2"),
    ]
    sign = request("signoff", "sign", "sun", entered=("publishing",))
    assert judge(stages, sign, rejected) == "stages"
    again = [
        *rejected,
        step(10, "first_review", "approve", "second_review", "zhao"),
        step(11, "second_review", "approve", "signoff", "qian"),
    ]
    assert judge(stages, sign, again) is None


@pytest.mark.req("PUB-5")
def test_an_edit_after_an_approval_invalidates_it(policy: PolicySet) -> None:
    stages = rule(policy, "stages")
    edited = [
        *TO_DRAFTING,
        FIRST,
        SECOND,
        step(8, "signoff", "touch_up", "signoff", "sun", title="new title"),
    ]
    sign = request("signoff", "sign", "sun", entered=("publishing",))
    denial = stages.judge(sign, ListFacts(edited))
    assert denial is not None
    assert "invalidated" in denial.reason_en
    assert "touch_up" in denial.reason_en
    assert "重新审核" in denial.reason_zh
    # a step that submits no edit field (or an empty one) is no edit
    untouched = [
        *TO_DRAFTING,
        FIRST,
        SECOND,
        step(8, "signoff", "note", "signoff", "sun", title=""),
    ]
    assert judge(stages, sign, untouched) is None


@pytest.mark.req("PUB-5")
def test_distinct_actors_within_a_round_or_the_whole_item(policy: PolicySet) -> None:
    reviewers = rule(policy, "two_reviewers")
    author = rule(policy, "author_not_reviewer")
    second_by_zhao = request("second_review", "approve", "zhao")
    assert judge(reviewers, second_by_zhao, [*TO_DRAFTING, FIRST]) == "two_reviewers"
    assert (
        judge(reviewers, request("second_review", "approve", "qian"), [*TO_DRAFTING, FIRST]) is None
    )
    # after a rework, last round's first reviewer may do this round's second review
    rework = [
        *TO_DRAFTING,
        FIRST,
        step(7, "second_review", "reject", "drafting", "qian", reason="x"),
        step(8, "drafting", "submit", "first_review", "wang", content="v2"),
        step(9, "first_review", "approve", "second_review", "qian"),
    ]
    assert judge(reviewers, second_by_zhao, rework) is None
    # ...but the author never reviews this item ("within: item"), also after a rework
    first_by_wang = request("first_review", "approve", "wang")
    assert judge(author, first_by_wang, rework) == "author_not_reviewer"
    # pairs apply both ways: a first reviewer may not become the author later
    submit_by_zhao = request("drafting", "submit", "zhao", roles=frozenset({"editor"}))
    assert judge(author, submit_by_zhao, [*TO_DRAFTING, FIRST]) == "author_not_reviewer"
    # only the pairs listed: the author may be the second reviewer under this rule
    assert not author.applies(request("second_review", "approve", "wang"))


def test_distinct_actors_reason_names_both_steps(policy: PolicySet) -> None:
    denial = rule(policy, "two_reviewers").judge(
        request("second_review", "approve", "zhao"), ListFacts([*TO_DRAFTING, FIRST])
    )
    assert denial is not None
    assert denial.reason_en == (
        "zhao already acted as the first reviewer of this item; "
        "the second reviewer must be someone else"
    )
    assert denial.reason_zh == "zhao 已担任本事项的初审人，复审人须由他人担任"


@pytest.mark.req("PUB-5")
def test_attestation_needs_every_listed_field_true_but_not_in_a_probe(policy: PolicySet) -> None:
    checklist = rule(policy, "checklist")
    approve = request("first_review", "approve", "zhao", form=CHECKLIST)
    assert judge(checklist, approve, []) is None
    half = request("first_review", "approve", "zhao", form={**CHECKLIST, "truthful": False})
    denial = checklist.judge(half, ListFacts())
    assert denial is not None
    assert "truthful" in denial.reason_en
    assert judge(checklist, request("first_review", "approve", "zhao"), []) == "checklist"
    assert not checklist.applies(request("first_review", "approve", "zhao", probe=True))


@pytest.mark.req("PUB-12")
def test_forbid_data_condition_and_expiry(policy: PolicySet) -> None:
    money = rule(policy, "no_money")
    assert judge(money, request(None, "start", data={"monetization": True}), []) == "no_money"
    assert judge(money, request(None, "start", data={"monetization": False}), []) is None
    assert judge(money, request(None, "start", data={}), []) is None
    expired = rule(policy, "account_expired")
    sign = request("signoff", "sign", data={"due_date": "2025-09-25"})
    assert judge(expired, sign, []) == "account_expired"
    assert judge(expired, request("signoff", "sign", data={"due_date": "2025-09-26"}), []) is None
    assert judge(expired, request("signoff", "reject", data={"due_date": "2025-09-25"}), []) is None
    unreadable = request("signoff", "sign", data={"due_date": "soon"})
    assert judge(expired, unreadable, []) == "account_expired"


@pytest.mark.req("TRN-3")
def test_requires_record_with_condition(policy: PolicySet) -> None:
    trained = rule(policy, "trained")
    records = {
        "publishing": [
            {"_state": "archived", "title": "wang", "outline": "passed"},
            {"_state": "archived", "title": "zhou", "outline": "failed"},
            {"_state": "drafting", "title": "chen", "outline": "passed"},
        ]
    }
    facts = ListFacts([], records)
    assert trained.judge(request(None, "start", "wang"), facts) is None
    for person in ("zhou", "chen", "nobody"):
        denial = trained.judge(request(None, "start", person), facts)
        assert denial is not None
        assert denial.rule == "trained"
        assert person in denial.reason_en


def test_refusals_made_of_parts_read_whole_in_each_language(policy: PolicySet) -> None:
    # the parts (a where: condition, an invalidating edit, a quoted state) come from the
    # catalogue in the language of the sentence around them
    facts = ListFacts([], {"publishing": [{"_state": "archived", "title": "zhou"}]})
    trained = rule(policy, "trained").judge(request(None, "start", "zhou"), facts)
    assert trained is not None
    assert trained.reason_en == (
        "zhou: no record found; the actor needs a Editorial publishing item in archived "
        "where data.outline == 'passed'"
    )
    assert trained.reason_zh == (
        "zhou：无相应记录；操作人须有处于 archived 的内容选题与发布事项，"
        "且 data.outline == 'passed'"
    )
    edited = [
        *TO_DRAFTING,
        FIRST,
        step(7, "second_review", "touch_up", "second_review", "sun", title="t2"),
    ]
    sign = request("signoff", "sign", "sun", entered=("publishing",))
    denial = rule(policy, "stages").judge(sign, ListFacts(edited))
    assert denial is not None
    assert denial.reason_zh == (
        "进入“publishing”前须依次完成初审人、复审人、签发人，尚缺：初审人、复审人、签发人"
        "（第 7 步 sun 的修改（touch_up）使此前的审核失效，须重新审核）"
    )
    assert denial.reason_en.startswith("entering 'publishing' needs, in order since")
    assert denial.reason_en.endswith(
        "(the edit 'touch_up' by sun at step 7 invalidated earlier approvals: review again)"
    )


def test_describe_gives_both_languages(policy: PolicySet) -> None:
    for r in policy.rules_for("publishing"):
        en, zh = r.describe()
        assert en, r.id
        assert zh, r.id


def test_every_bundled_rule_is_described_in_chinese_from_the_catalogue() -> None:
    # an untranslated msgid would come back in English as its "Chinese"
    bundled, problems = build_policy_set(load_paths([WORKFLOWS, POLICIES]))
    assert not problems
    described = 0
    for wf_id in sorted(bundled.workflows):
        for r in bundled.rules_for(wf_id):
            en, zh = r.describe()
            assert en, (wf_id, r.id)
            assert zh != en, (wf_id, r.id, en)
            assert CJK.search(zh), (wf_id, r.id, zh)
            assert not re.search(r"\b(needs|refused|where|when|entering|item)\b", zh), zh
            described += 1
    assert described > 40  # every kind of rule the bundled policies use


@pytest.mark.req("SEC-3")
def test_masking_values_text_and_mappings() -> None:
    assert mask_value("13800138000") == "13*******00"
    assert mask_value("440106199001011234") == "440***********1234"
    assert mask_value("王小明") == "***"
    assert mask_value(None) is None
    masker = Masker({"phone", "id_number"})
    message = "form of 'register' is invalid: phone: expected a whole number, got '138-0013'"
    assert masker.text(message) == "form of 'register' is invalid: phone: ***"
    assert masker.text("call 13800138000 now", ["13800138000"]) == "call 13*******00 now"
    nested = {"fields": {"phone": "got '138'", "title": "too long"}, "id_number": "4401"}
    assert masker.value(nested) == {
        "fields": {"phone": "***", "title": "too long"},
        "id_number": "4**1",
    }
    event = {"event": "x", "phone": "13800138000", "reason": "id_number: bad '4401'"}
    assert masker.processor(None, "info", event) == {
        "event": "x",
        "phone": "13*******00",
        "reason": "id_number: ***",
    }


@pytest.mark.req("SEC-3")
def test_personal_fields_come_from_data_and_forms(tmp_path: Path) -> None:
    text = PUBLISHING.read_text(encoding="utf-8").replace(
        "  accounts:\n    type: list\n",
        "  accounts:\n    type: list\n    personal: true\n",
    )
    path = tmp_path / "publishing.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = load_paths([path])
    assert personal_fields(loaded.workflows["publishing"].definition) == {"accounts"}
