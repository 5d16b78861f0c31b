"""The console's pages in-process (Starlette's test client over the real app and a SQLite
file): sign-in and its audit, the rate limit, CSRF and origin checks, sessions that end,
both languages on every page, an action through the engine and its refusal, the diagram
and the charts."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import pytest

from cmc_workflow import Engine
from cmc_workflow.api.app import create_app
from cmc_workflow.api.guards import FailureLimiter
from cmc_workflow.cli.serve import _compliance
from cmc_workflow.console.sessions import actor_of
from cmc_workflow.console.texts import text
from cmc_workflow.runner.assemble import load_definitions
from tests.console.conftest import PASSWORD, TITLE, WORKFLOWS, Desk
from tests.helpers import PUBLISHING_POLICIES

pytestmark = pytest.mark.filterwarnings(
    # Starlette's test client warns that it will move to httpx2; the client still works
    "ignore:Using `httpx` with `starlette.testclient`"
)

CHECKLIST = {
    "f.truthful": "on",
    "f.repost_authorized": "on",
    "f.copyright_cleared": "on",
    "f.nothing_confidential": "on",
}


@pytest.fixture
def engine(desk: Desk) -> Iterator[Engine]:
    with Engine.open(desk.url, workflows=WORKFLOWS, policies=PUBLISHING_POLICIES) as opened:
        yield opened


@functools.cache
def _loaded() -> Any:
    return load_definitions([*WORKFLOWS, *PUBLISHING_POLICIES])


def client(engine: Engine, **options: Any) -> Any:
    from starlette.testclient import TestClient

    loaded = _loaded()
    app = create_app(engine, loaded=loaded, compliance=_compliance(loaded), **options)
    return TestClient(app, base_url="http://console.test")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html[:500]
    return found.group(1)


def sign_in(c: Any, person: str = "zhao", password: str = PASSWORD) -> Any:
    page = c.get("/console/sign-in")
    return c.post(
        "/console/sign-in",
        data={"csrf": csrf_of(page.text), "person": person, "password": password},
        follow_redirects=False,
    )


def sign_ins(engine: Engine) -> list[tuple[str, str, str | None]]:
    """The console's sign-ins in the audit (SEC-1): who, outcome, rule."""
    with engine.store.read() as tx:
        return [
            (r["actor"], r["outcome"], r["rule"])
            for r in tx.audit_records()
            if r["command"] == "console_sign_in"
        ]


@pytest.mark.enforces("SEC-1", element="cmc_workflow/console/sessions.py")
def test_a_stranger_is_sent_to_sign_in_and_a_wrong_password_is_refused_and_audited(
    engine: Engine,
) -> None:
    c = client(engine)
    answer = c.get("/console/tasks", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=/console/tasks"
    refused = sign_in(c, password="not the password")
    assert refused.status_code == 401
    assert "password_wrong" in refused.text
    assert "人员编号或密码不正确" in refused.text
    assert "cmc_session" not in refused.cookies
    unknown = sign_in(c, person="nobody")
    assert unknown.status_code == 401  # the same answer: nobody learns who exists
    accepted = sign_in(c)
    assert accepted.status_code == 303
    assert accepted.headers["location"] == "/console/tasks"
    cookie = accepted.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert sign_ins(engine) == [
        ("console:zhao", "refused", "password_wrong"),
        ("console:nobody", "refused", "password_wrong"),
        ("zhao", "accepted", None),
    ]
    with engine.store.read() as tx:
        stored = tx.console_password("zhao")
    assert stored is not None
    assert PASSWORD not in stored.password_hash
    assert stored.password_hash.startswith("scrypt$16384$8$1$")


def test_sign_in_is_rate_limited_per_address(engine: Engine) -> None:
    c = client(engine, failures=FailureLimiter(limit=3, window=600))
    for _ in range(3):
        assert sign_in(c, password="wrong one!").status_code == 401
    limited = sign_in(c)  # even the right password waits
    assert limited.status_code == 429
    assert "登录失败次数过多" in limited.text
    assert ("console:testclient", "refused", "rate_limited") in sign_ins(engine)


def test_forms_without_the_csrf_token_or_from_another_origin_are_refused(
    engine: Engine, desk: Desk
) -> None:
    c = client(engine)
    page = c.get("/console/sign-in")
    forged = c.post(
        "/console/sign-in",
        data={"csrf": "forged", "person": "zhao", "password": PASSWORD},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert "CSRF" in forged.text
    assert sign_in(c).status_code == 303
    item = c.get(f"/console/items/{desk.item_id}")
    version = re.search(r'name="version" value="(\d+)"', item.text)
    assert version is not None
    form = {"trigger": "approve", "version": version.group(1), **CHECKLIST}
    assert c.post(f"/console/items/{desk.item_id}/fire", data=form).status_code == 403
    other = c.post(
        f"/console/items/{desk.item_id}/fire",
        data={**form, "csrf": csrf_of(item.text)},
        headers={"Origin": "http://evil.example"},
    )
    assert other.status_code == 403
    assert engine.get(desk.item_id).state == "first_review"  # nothing happened
    del page


def test_a_review_goes_through_the_engine_and_the_second_one_is_refused_with_its_rule(
    engine: Engine, desk: Desk
) -> None:
    c = client(engine)
    sign_in(c)
    item = c.get(f"/console/items/{desk.item_id}")
    assert 'data-state="first_review"' in item.text
    assert re.search(r'<g class="node current" data-state="first_review"', item.text)
    assert "审核清单" in item.text  # the PUB-5 checklist is the approve form
    fire = {"csrf": csrf_of(item.text), "trigger": "approve", **CHECKLIST}
    missing = c.post(
        f"/console/items/{desk.item_id}/fire",
        data={**fire, "f.truthful": ""},
        follow_redirects=False,
    )
    assert missing.status_code in (403, 422)  # an unticked checklist is refused by the engine
    assert engine.get(desk.item_id).state == "first_review"
    version = engine.get(desk.item_id).version
    done = c.post(
        f"/console/items/{desk.item_id}/fire",
        data={**fire, "version": str(version), "f.comment": "已核对"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    after = engine.get(desk.item_id)
    assert after.state == "second_review"
    last = engine.history(desk.item_id)[-1]
    assert (last.actor, last.form["comment"], last.form["truthful"]) == ("zhao", "已核对", True)
    # a stale page (the version before the review) is a conflict, not a second step
    stale = c.post(f"/console/items/{desk.item_id}/fire", data={**fire, "version": str(version)})
    assert stale.status_code == 409
    again = c.post(
        f"/console/items/{desk.item_id}/fire", data={**fire, "version": str(after.version)}
    )
    assert again.status_code == 403
    assert 'id="refusal-rule">distinct_reviewers<' in again.text
    assert "复审人须由他人担任" in again.text
    c.cookies.set("cmc_lang", "en", path="/console")
    english = c.post(
        f"/console/items/{desk.item_id}/fire", data={**fire, "version": str(after.version)}
    )
    assert 'id="refusal-rule">distinct_reviewers<' in english.text
    assert "复审人须由他人担任" not in english.text
    assert engine.get(desk.item_id).state == "second_review"


def test_every_page_answers_in_both_languages(engine: Engine, desk: Desk) -> None:
    c = client(engine)
    sign_in(c)
    pages = [
        "/console/tasks",
        "/console/search?q=古籍",
        f"/console/items/{desk.item_id}",
        "/console/dashboard",
        "/console/compliance",
    ]
    for lang in ("zh", "en"):
        switched = c.get(f"/console/lang/{lang}?next=/console/tasks", follow_redirects=False)
        assert switched.status_code == 303
        for path in pages:
            answer = c.get(path)
            assert answer.status_code == 200, (path, answer.text[:300])
            assert f'lang="{"zh-CN" if lang == "zh" else "en"}"' in answer.text
            product = text("product", lang)
            assert product in answer.text, path
            assert "default-src 'self'" in answer.headers["content-security-policy"]
            assert "http://" not in re.sub(r'xmlns="http://www.w3.org/2000/svg"', "", answer.text)
    assert TITLE in c.get("/console/search?q=古籍").text
    assert c.get("/console/search?q=不存在的标题").text.count("item-link") == 0
    assert c.get("/console/static/console.css").status_code == 200


def test_the_browsers_language_is_the_default_until_the_person_chooses(
    engine: Engine,
) -> None:
    c = client(engine)
    english = {"Accept-Language": "en-US,en;q=0.9,zh-CN;q=0.5"}
    page = c.get("/console/sign-in", headers=english)
    assert 'lang="en"' in page.text
    assert ">Sign in<" in page.text
    assert 'id="lang-switch"' in page.text
    assert ">中文</a>" in page.text
    assert "accept-language" in page.headers["vary"].lower()
    for accept in ("zh-Hans", "zh-TW, en;q=0.8", "*", "fr", None):
        chinese = c.get("/console/sign-in", headers={"Accept-Language": accept} if accept else {})
        assert 'lang="zh-CN"' in chinese.text, accept
        assert ">登录<" in chinese.text, accept
        assert ">English</a>" in chinese.text, accept
    form = c.get("/console/sign-in", headers=english).text
    refused = c.post(
        "/console/sign-in",
        data={"csrf": csrf_of(form), "person": "zhao", "password": "not the password"},
        headers=english,
    )
    assert refused.status_code == 401
    assert "the person or the password is wrong (password_wrong)" in refused.text
    assert sign_in(c).status_code == 303
    # the person's choice (the switch's cookie) wins over the browser's
    assert 'lang="en"' in c.get("/console/tasks", headers=english).text
    c.get("/console/lang/zh?next=/console/tasks", follow_redirects=False)
    chosen = c.get("/console/tasks", headers=english)
    assert 'lang="zh-CN"' in chosen.text
    assert ">我的任务<" in chosen.text


def test_the_dashboard_draws_its_charts_and_the_matrix_lists_every_requirement(
    engine: Engine,
) -> None:
    c = client(engine)
    sign_in(c)
    board = c.get("/console/dashboard").text
    for chart in ("sla", "open", "overdue", "publications"):
        assert f'id="chart-{chart}"' in board
    assert board.count("<svg") == 4
    assert "<rect" in board.split('id="chart-open"')[1].split("</section>")[0]
    matrix = c.get("/console/compliance").text
    assert "<code>PUB-5</code>" in matrix
    assert "<code>SEC-1</code>" in matrix
    summary = matrix.split('<p class="meta">')[1].split("</p>")[0]
    assert "已满足" in summary  # the page's language, Chinese first
    assert " met " not in summary
    c.cookies.set("cmc_lang", "en", path="/console")
    assert "Requirements met" in c.get("/console/compliance").text


def test_sign_out_and_a_new_password_end_the_session(engine: Engine) -> None:
    from cmc_workflow.console.passwords import set_password

    c = client(engine)
    sign_in(c)
    tasks = c.get("/console/tasks")
    assert tasks.status_code == 200
    out = c.post("/console/sign-out", data={"csrf": csrf_of(tasks.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert c.get("/console/tasks", follow_redirects=False).status_code == 303
    sign_in(c)
    assert c.get("/console/tasks", follow_redirects=False).status_code == 200
    set_password(engine.store, "zhao", "a brand new one", by="admin", now=engine.clock())
    assert c.get("/console/tasks", follow_redirects=False).status_code == 303


def test_an_item_hidden_or_missing_is_not_found(engine: Engine) -> None:
    c = client(engine)
    sign_in(c)
    assert c.get("/console/items/999999").status_code == 404


def test_an_oversized_form_is_refused_before_it_is_read(engine: Engine) -> None:
    c = client(engine, max_body=4096)
    page = c.get("/console/sign-in")
    answer = c.post(
        "/console/sign-in",
        data={"csrf": csrf_of(page.text), "person": "zhao", "password": "x" * 10_000},
        follow_redirects=False,
    )
    assert answer.status_code == 413
    assert sign_ins(engine) == []  # nothing was judged, nothing recorded


def test_a_task_is_claimed_from_the_queue_and_put_back(engine: Engine, desk: Desk) -> None:
    c = client(engine)
    sign_in(c)
    page = c.get(f"/console/items/{desk.item_id}")
    assert 'id="claim"' in page.text
    claimed = c.post(
        f"/console/items/{desk.item_id}/task",
        data={"csrf": csrf_of(page.text), "op": "claim"},
        follow_redirects=False,
    )
    assert claimed.status_code == 303
    mine, _ = engine.my_tasks(actor_of(engine, "zhao"))
    assert [i.id for i in mine] == [desk.item_id]
    page = c.get(f"/console/items/{desk.item_id}")
    assert 'id="unclaim"' in page.text
    qian = client(engine)
    sign_in(qian, "qian")
    other = qian.get(f"/console/items/{desk.item_id}")
    taken = qian.post(
        f"/console/items/{desk.item_id}/task", data={"csrf": csrf_of(other.text), "op": "claim"}
    )
    assert taken.status_code in (403, 409)  # zhao holds it: the engine refuses, by its rule
    assert 'id="refusal-rule"' in taken.text
    back = c.post(
        f"/console/items/{desk.item_id}/task", data={"csrf": csrf_of(page.text), "op": "unclaim"}
    )
    assert back.status_code == 200
    assert engine.my_tasks(actor_of(engine, "zhao"))[0] == []


def task_post(c: Any, item_id: int, page: Any, op: str, **fields: str) -> Any:
    """A task operation posted from ``page``'s form (its CSRF token)."""
    data = {"csrf": csrf_of(page.text), "op": op, **fields}
    return c.post(f"/console/items/{item_id}/task", data=data, follow_redirects=False)


def test_a_task_is_delegated_to_a_colleague_and_handed_back(engine: Engine, desk: Desk) -> None:
    zhao = client(engine)
    sign_in(zhao)
    page = zhao.get(f"/console/items/{desk.item_id}")
    assert 'id="delegate-form"' not in page.text  # in the queue: nothing to delegate yet
    assert task_post(zhao, desk.item_id, page, "claim").status_code == 303
    page = zhao.get(f"/console/items/{desk.item_id}")
    assert 'id="delegate-form"' in page.text
    assert '<option value="qian">钱进 (qian)</option>' in page.text  # eligible colleagues
    assert 'value="zhao"' not in page.text.split('id="delegate-form"')[1].split("</form>")[0]
    assert 'id="hand-back-form"' not in page.text  # nobody delegated it to zhao
    # the engine judges the person named: an editor holds no role of first review
    refused = task_post(zhao, desk.item_id, page, "delegate", to="wang")
    assert refused.status_code == 403
    assert 'id="refusal-rule">task_target_not_holder<' in refused.text
    assert "人员名册中 wang 今日不担任环节" in refused.text  # the engine's reason, in Chinese
    done = task_post(zhao, desk.item_id, page, "delegate", to="qian")
    assert done.status_code == 303
    assert done.headers["location"].endswith(f"/items/{desk.item_id}?done=delegate")
    assert "已办理：委派" in zhao.get(done.headers["location"]).text
    assert [i.id for i in engine.my_tasks(actor_of(engine, "qian"))[0]] == [desk.item_id]
    qian = client(engine)
    sign_in(qian, "qian")
    qian.cookies.set("cmc_lang", "en", path="/console")
    held = qian.get(f"/console/items/{desk.item_id}")
    assert 'id="hand-back-form"' in held.text
    assert "Delegated to you by：zhao" in held.text
    back = task_post(qian, desk.item_id, held, "hand_back")
    assert back.status_code == 303
    assert "Done：Hand back" in qian.get(back.headers["location"]).text
    assert [i.id for i in engine.my_tasks(actor_of(engine, "zhao"))[0]] == [desk.item_id]
    assert engine.my_tasks(actor_of(engine, "qian"))[0] == []
    # handed back, the task is zhao's again and no longer delegated: no hand-back to offer
    again = task_post(qian, desk.item_id, held, "hand_back")
    assert again.status_code == 403
    assert 'id="refusal-rule">task_claimed<' in again.text
    ops = [h.form["op"] for h in engine.history(desk.item_id) if h.kind == "task"]
    assert ops == ["claim", "delegate", "hand_back"]


def test_a_lead_reassigns_a_task(engine: Engine, desk: Desk) -> None:
    li = client(engine)
    sign_in(li, "li")
    page = li.get(f"/console/items/{desk.item_id}")
    assert 'id="reassign-form"' in page.text
    assert "当前处理人：无人：在队列中待领取" in page.text
    assert '<option value="zhao">赵敏 (zhao)</option>' in page.text
    assert 'id="delegate-form"' not in page.text  # li holds no task to delegate
    done = task_post(li, desk.item_id, page, "reassign", to="qian")
    assert done.status_code == 303
    assert done.headers["location"].endswith("?done=reassign")
    assert [i.id for i in engine.my_tasks(actor_of(engine, "qian"))[0]] == [desk.item_id]
    li.cookies.set("cmc_lang", "en", path="/console")
    after = li.get(f"/console/items/{desk.item_id}")
    assert "Held now by：qian" in after.text
    assert "Done" not in after.text
    form = after.text.split('id="reassign-form"')[1].split("</form>")[0]
    assert 'value="qian"' not in form  # she holds it already
    assert 'value="zhao"' in form


def test_reassign_is_not_offered_to_a_person_without_a_lead_role_and_is_refused_if_forged(
    engine: Engine, desk: Desk
) -> None:
    zhao = client(engine)
    sign_in(zhao)
    page = zhao.get(f"/console/items/{desk.item_id}")
    assert 'id="claim"' in page.text  # a reviewer of the state: claim, but no reassign
    assert 'id="reassign-form"' not in page.text
    forged = task_post(zhao, desk.item_id, page, "reassign", to="qian")
    assert forged.status_code == 403
    assert 'id="refusal-rule">task_not_lead<' in forged.text
    assert "负责人" in forged.text.split('id="refusal-reason">')[1].split("</span>")[0]
    zhao.cookies.set("cmc_lang", "en", path="/console")
    english = task_post(zhao, desk.item_id, page, "reassign", to="qian")
    assert "holds no lead role of publishing" in english.text
    assert engine.my_tasks(actor_of(engine, "qian"))[0] == []
    unknown = task_post(zhao, desk.item_id, page, "steal", to="zhao")
    assert unknown.status_code == 404
    with engine.store.read() as tx:
        refusals = [r["rule"] for r in tx.audit_records() if r["command"] == "task.reassign"]
    assert refusals == ["task_not_lead", "task_not_lead"]


def _created_day(engine: Engine, item_id: int) -> Any:
    """The item's creation day in the console's calendar zone (Asia/Shanghai)."""
    import zoneinfo

    return engine.get(item_id).created_at.astimezone(zoneinfo.ZoneInfo("Asia/Shanghai")).date()


def test_the_search_filters_by_creation_day_in_both_languages(engine: Engine, desk: Desk) -> None:
    import datetime as dt

    day = _created_day(engine, desk.item_id)
    before, after = day - dt.timedelta(days=1), day + dt.timedelta(days=1)
    c = client(engine)
    sign_in(c)

    def found(**dates: Any) -> bool:
        query = "&".join(f"{k}={v.isoformat()}" for k, v in dates.items())
        answer = c.get(f"/console/search?q=古籍&{query}")
        assert answer.status_code == 200, answer.text[:300]
        return TITLE in answer.text

    assert found(created_from=day, created_until=day)  # the last day is included
    assert found(created_until=day)
    assert found(created_from=before)
    assert not found(created_until=before)
    assert not found(created_from=after)
    assert not found(created_from=after, created_until=after + dt.timedelta(days=3))
    for lang, label in (("zh", "创建日期自"), ("en", "Created from")):
        c.cookies.set("cmc_lang", lang, path="/console")
        page = c.get(f"/console/search?created_from={day}&created_until={day}")
        assert label in page.text
        assert f'id="created-from" value="{day}"' in page.text  # kept in the form
        assert f'id="created-until" value="{day}"' in page.text
        assert TITLE in page.text


def test_the_next_page_of_a_search_keeps_its_days(engine: Engine, desk: Desk) -> None:
    from tests.helpers import EDITOR

    for n in range(25):
        engine.start(
            "publishing",
            actor=EDITOR,
            data={
                "title": f"分页 {n}",
                "outline": "o",
                "channels": ["pc"],
                "content_type": "other",
            },
        )
    day = _created_day(engine, desk.item_id)
    c = client(engine)
    sign_in(c)
    first = c.get(f"/console/search?created_from={day}&created_until={day}")
    assert first.text.count("item-link") == 25
    link = re.search(r'href="(/console/search\?[^"]+cursor=[^"]+)"', first.text)
    assert link is not None
    href = link.group(1).replace("&amp;", "&")
    assert f"created_from={day}&created_until={day}" in href
    second = c.get(href).text
    assert TITLE in second  # the earliest updated, past the first 25
    assert f'id="created-from" value="{day}"' in second


def test_a_bad_date_in_the_search_is_answered_in_the_pages_language(engine: Engine) -> None:
    c = client(engine)
    sign_in(c)
    bad = c.get("/console/search?created_from=2026-13-40")
    assert bad.status_code == 422
    assert "创建日期自：&#39;2026-13-40&#39; 不是日期，请按 YYYY-MM-DD 填写" in bad.text
    assert 'value="2026-13-40"' in bad.text  # the form comes back as typed
    assert "item-link" not in bad.text
    c.cookies.set("cmc_lang", "en", path="/console")
    english = c.get("/console/search?created_until=yesterday")
    assert english.status_code == 422
    expected = "Created until: &#39;yesterday&#39; is not a date; write it as YYYY-MM-DD"
    assert expected in english.text
    backwards = c.get("/console/search?created_from=2026-05-02&created_until=2026-05-01")
    assert backwards.status_code == 422
    assert "the last day (2026-05-01) is before the first (2026-05-02)" in backwards.text
