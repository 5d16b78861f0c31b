"""The staff register (STF-1) through its Python API on every store (memory, SQLite,
PostgreSQL): people and posts, refusals with both languages, contact addresses checked
and masked (SEC-3), every change (and refusal) on the hash-chained audit log (SEC-1)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from cmc_workflow import Actor
from cmc_workflow.errors import IdentityRefused, RegisterRefused
from cmc_workflow.staff.contacts import checked, masked
from cmc_workflow.staff.register import PersonEntry, PostEntry, Register
from cmc_workflow.store import MemoryStore, StorePort
from cmc_workflow.store.repository import SqlStore
from cmc_workflow.testing import FakeClock

HR = Actor("HR1")
DAY = dt.date(2025, 9, 1)
WANG = PersonEntry(
    "王芳",
    "Wang",
    employee_no="E001",
    email="wang.fang@example.org",
    mobile="+86 138-0013-8000",
    dingtalk="wangfang",
    education="bachelor",
    experience_years=5,
)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[StorePort]:
    if request.param == "memory":
        yield MemoryStore()
        return
    url: str = request.getfixturevalue(f"{request.param}_url")
    opened = SqlStore.open(url)
    yield opened
    opened.close()


@pytest.fixture
def register(store: StorePort, clock: FakeClock) -> Register:
    return Register(store, clock=clock)


@pytest.mark.req("STF-1")
def test_stf_1_a_person_is_filed_with_posts_roles_scope_and_days(register: Register) -> None:
    person = register.add(
        HR,
        WANG,
        [
            PostEntry("编辑", {"channels": ["wechat", "web"], "branch": "总馆"}, DAY),
            PostEntry("reviewer", {}, DAY, dt.date(2025, 12, 31)),
        ],
    )
    assert person.person_id == "wang"  # as a person reads the id
    found = register.person("WANG")
    assert found is not None
    assert found.row.mobile == "13800138000"  # normalised
    assert [(p.post, p.role, p.scope, p.ends_on) for p in found.posts] == [
        ("editor", "editor", {"branch": "总馆", "channels": ["web", "wechat"]}, None),
        ("reviewer", "reviewer", {}, dt.date(2025, 12, 31)),
    ]
    assert found.roles(dt.date(2026, 1, 1)) == {"editor"}
    assert [p.person_id for p in register.holders("editor", channels="wechat")] == ["wang"]
    assert register.holders("editor", channels="weibo") == []
    assert register.contacts("wang") == {
        "email": "wang.fang@example.org",
        "mobile": "13800138000",
        "dingtalk": "wangfang",
    }


@pytest.mark.req("STF-1")
def test_stf_1_every_change_and_refusal_is_on_the_verified_audit_chain(
    register: Register, store: StorePort
) -> None:
    register.add(HR, WANG)
    post = register.post(HR, "wang", PostEntry("editor", {}, DAY))
    register.end_post(HR, post.id, dt.date(2025, 9, 30))
    register.update(HR, "wang", mobile="13900139000")
    with pytest.raises(RegisterRefused, match="E-STAFF-DUPLICATE"):
        register.add(HR, WANG)
    with store.read() as tx:
        records = list(tx.audit_records())
    assert [(r["command"], r["outcome"]) for r in records] == [
        ("staff.add", "accepted"),
        ("staff.post", "accepted"),
        ("staff.end-post", "accepted"),
        ("staff.update", "accepted"),
        ("staff.add", "refused"),
    ]
    assert {r["actor"] for r in records} == {"hr1"}
    assert {r["chain"] for r in records} == {"actor:hr1"}
    assert [r["chain_seq"] for r in records] == [1, 2, 3, 4, 5]
    # SEC-3: the detail holds the addresses masked, never in clear
    text = repr(records)
    assert "13800138000" not in text
    assert "13900139000" not in text
    assert "wang.fang@" not in text
    assert records[0]["detail"]["person"]["mobile"] == "13*******00"
    if isinstance(store, SqlStore):
        with store.read() as tx:
            assert tx.verify_audit().ok  # type: ignore[attr-defined]  # the SQL store's own


def test_refusals_name_the_rule_in_both_languages_and_write_nothing(register: Register) -> None:
    cases = [
        (PersonEntry(""), "E-STAFF-NAME"),
        (PersonEntry("无名"), "E-STAFF-ID"),
        (PersonEntry("某人", "system"), "E-STAFF-ID"),
        (PersonEntry("某人", "a", email="not-an-address"), "E-STAFF-ADDRESS"),
        (PersonEntry("某人", "a", mobile="12345"), "E-STAFF-ADDRESS"),
        (PersonEntry("某人", "a", wecom="has space"), "E-STAFF-ADDRESS"),
        (PersonEntry("某人", "a", education="kindergarten"), "E-STAFF-EDUCATION"),
    ]
    for entry, rule in cases:
        with pytest.raises(RegisterRefused) as refused:
            register.add(HR, entry)
        assert refused.value.rule == rule
        assert refused.value.reason_zh
        assert refused.value.reason_en
    with pytest.raises(RegisterRefused, match="E-STAFF-POST"):
        register.add(HR, WANG, [PostEntry("chief_editor")])
    with pytest.raises(RegisterRefused, match="E-STAFF-ROLE"):
        register.add(HR, WANG, [PostEntry("editor", role="reviewer")])
    with pytest.raises(RegisterRefused, match="E-STAFF-SCOPE"):
        register.add(HR, WANG, [PostEntry("editor", {"department": "x"})])
    with pytest.raises(RegisterRefused, match="E-STAFF-DATES"):
        register.add(HR, WANG, [PostEntry("editor", {}, DAY, DAY - dt.timedelta(days=1))])
    with pytest.raises(RegisterRefused, match="E-STAFF-UNKNOWN"):
        register.post(HR, "nobody", PostEntry("editor"))
    with pytest.raises(RegisterRefused, match="E-STAFF-NO-POST"):
        register.end_post(HR, 999)
    assert register.people() == []  # a refused add with posts left no person behind


def test_the_engine_s_own_actor_cannot_change_the_register(register: Register) -> None:
    with pytest.raises(IdentityRefused, match="actor_id_reserved"):
        register.add(Actor("system"), WANG)


def test_an_import_is_one_change_all_or_nothing(register: Register) -> None:
    li = PersonEntry("李雷", "li", education="associate", experience_years=1)
    with pytest.raises(RegisterRefused, match="E-STAFF-QUALIFICATION"):
        register.import_people(
            HR, [(WANG, [PostEntry("editor")]), (li, [PostEntry("ops_manager")])]
        )
    assert register.people() == []
    done = register.import_people(HR, [(WANG, [PostEntry("editor")]), (li, [PostEntry("editor")])])
    assert [p.person_id for p in done] == ["wang", "li"]
    assert len(register.people(active_on=register.today())) == 2


def test_addresses_are_checked_and_masked() -> None:
    assert checked("mobile", "86 13800138000") == ("13800138000", None)
    assert checked("email", "a..b@example.org")[0] is None
    assert checked("email", " li@lib.example.cn ") == ("li@lib.example.cn", None)
    assert checked("dingtalk", "ding_user-01") == ("ding_user-01", None)
    assert masked("mobile", "13800138000") == "13*******00"
    assert masked("email", "wang.fang@example.org") == "wa*****ng@example.org"
    assert masked("wecom", None) is None


def test_a_qualification_refusal_reads_whole_in_each_language(register: Register) -> None:
    # the message is put together from parts (the post, the level, what is lacking), each
    # translated: each language reads as one sentence, with its own separators
    li = PersonEntry("李雷", "li", education="associate", experience_years=1.5)
    with pytest.raises(RegisterRefused) as refused:
        register.add(HR, li, [PostEntry("ops_manager")])
    assert refused.value.rule == "E-STAFF-QUALIFICATION"
    assert refused.value.reason_en == (
        "li cannot be put on the post ops_manager (Operations manager): a manager's post asks "
        "for education bachelor or above (has: associate) and at least 3 years of relevant "
        "experience (has: 1.5) (CMC 8.1.2, STF-2)"
    )
    assert refused.value.reason_zh == (
        "li 不能担任运营管理岗：管理人员须具备本科及以上学历（现为：大专），3 年及以上相关工作经验"
        "（现为：1.5 年）（CMC 8.1.2，STF-2）"
    )
    unknown = PersonEntry("韩梅梅", "han")
    with pytest.raises(RegisterRefused) as refused:
        register.add(HR, unknown, [PostEntry("ops_manager")])
    assert "(has: not recorded)" in refused.value.reason_en
    assert "（现为：未登记）" in refused.value.reason_zh
