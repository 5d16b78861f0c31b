"""Identity (SEC-6): with the staff register (or a host's source) configured, a caller's
roles and scope come from it, not from their claim; a claim it does not back is refused
in both languages and audited; ``system`` is never a caller's; without a source the
host carries identity, as before."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from cmc_workflow import Actor, Engine
from cmc_workflow.errors import IdentityRefused, NotPermitted
from cmc_workflow.staff.identity import Identity, RegisterIdentity
from cmc_workflow.staff.register import PersonEntry, PostEntry, Register
from cmc_workflow.store import Store
from cmc_workflow.testing import FakeClock
from tests.helpers import POLICIES, TOPIC, UNGUARDED_PUBLISHING, EngineFactory

HR = Actor("hr1")
DAY = dt.date(2025, 9, 1)


def qualified(name: str, person_id: str) -> PersonEntry:
    return PersonEntry(name, person_id, education="bachelor", experience_years=5)


@pytest.fixture
def register(db_url: str, clock: FakeClock) -> Iterator[Register]:
    """The register on the test's database: wang an editor, li a channel lead (ended
    on 2025-09-30), sun an operations manager; zhou filed without a post."""
    store = Store.open(db_url)
    reg = Register(store, clock=clock)
    reg.add(HR, qualified("王芳", "wang"), [PostEntry("editor", {"channels": ["web"]}, DAY)])
    reg.add(
        HR,
        qualified("李雷", "li"),
        [PostEntry("channel_lead", {}, DAY, dt.date(2025, 9, 30))],
    )
    reg.add(HR, qualified("孙明", "sun"), [PostEntry("ops_manager", {}, DAY)])
    reg.add(HR, qualified("周杰", "zhou"))
    yield reg
    store.close()


def publishing(engine_factory: EngineFactory, **options: object) -> Engine:
    return engine_factory(
        workflows=[UNGUARDED_PUBLISHING], policies=[POLICIES / "roles.yaml"], **options
    )


def refusals(engine: Engine) -> list[dict[str, object]]:
    with engine.store.read() as tx:
        return [r for r in tx.audit_records() if r["outcome"] == "refused"]


@pytest.mark.req("SEC-6")
@pytest.mark.enforces("SEC-6", element="cmc_workflow/staff/identity.py")
def test_a_claimed_role_the_register_does_not_give_is_refused_in_both_languages_and_audited(
    register: Register, engine_factory: EngineFactory
) -> None:
    engine = publishing(engine_factory)  # identity="auto": the register holds people
    with pytest.raises(IdentityRefused) as refused:
        engine.start("publishing", actor=Actor("wang", {"channel_lead"}), data=dict(TOPIC))
    exc = refused.value
    assert exc.rule == "role_not_held"
    assert "channel_lead" in str(exc)
    assert "does not give" in str(exc)
    assert "人员名册" in exc.reason_zh
    assert "channel_lead" in exc.reason_zh
    (record,) = refusals(engine)
    assert record["actor"] == "wang"
    assert record["command"] == "start"
    assert record["rule"] == "role_not_held"
    assert record["roles"] == ["channel_lead"]  # what the caller claimed
    assert "人员名册" in record["detail"]["reason_zh"]


@pytest.mark.req("SEC-6")
def test_a_fire_with_a_role_not_held_is_refused_on_the_items_audit_trail(
    register: Register, engine_factory: EngineFactory
) -> None:
    engine = publishing(engine_factory)
    item = engine.start("publishing", actor=Actor("wang", {"editor"}), data=dict(TOPIC))
    with pytest.raises(IdentityRefused, match="role_not_held"):
        engine.fire(item.id, "approve", actor=Actor("zhou", {"channel_lead"}))
    trail = engine.audit_trail(item.id)
    assert [(r["actor"], r["outcome"], r["rule"]) for r in trail][-1] == (
        "zhou",
        "refused",
        "role_not_held",
    )
    assert engine.get(item.id).state == "proposed"
    # the lead the register names approves; claiming nothing, he acts with his post's role
    assert engine.fire(item.id, "approve", actor=Actor("li")).state == "selected"


@pytest.mark.enforces("STF-1", element="cmc_workflow/staff/identity.py")
def test_a_person_not_in_the_register_cannot_act_at_all(
    register: Register, engine_factory: EngineFactory
) -> None:
    engine = publishing(engine_factory)
    with pytest.raises(IdentityRefused) as refused:
        engine.start("publishing", actor=Actor("stranger", {"editor"}), data=dict(TOPIC))
    assert refused.value.rule == "identity_unknown"
    assert "不在人员名册" in refused.value.reason_zh
    assert [r["rule"] for r in refusals(engine)] == ["identity_unknown"]


@pytest.mark.enforces("STF-1", element="cmc_workflow/staff/identity.py")
def test_a_post_that_ended_gives_its_role_no_more(
    register: Register, engine_factory: EngineFactory, clock: FakeClock
) -> None:
    engine = publishing(engine_factory)
    item = engine.start("publishing", actor=Actor("wang"), data=dict(TOPIC))
    clock.now = dt.datetime(2025, 10, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 Shanghai, Oct 1
    with pytest.raises(IdentityRefused, match="role_not_held"):
        engine.fire(item.id, "approve", actor=Actor("li", {"channel_lead"}))
    with pytest.raises(NotPermitted):  # claiming nothing, li holds no role now
        engine.fire(item.id, "approve", actor=Actor("li"))


def test_a_role_held_through_inheritance_may_be_claimed(
    register: Register, engine_factory: EngineFactory
) -> None:
    engine = publishing(engine_factory)
    # roles.yaml: ops_manager inherits ops_assistant
    item = engine.start("publishing", actor=Actor("wang"), data=dict(TOPIC))
    allowed = engine.allowed(item.id, Actor("sun", {"ops_assistant"}))
    assert allowed  # resolved, not refused


def test_a_claimed_scope_outside_the_posts_is_refused_and_a_single_one_is_given(
    register: Register, engine_factory: EngineFactory
) -> None:
    engine = publishing(engine_factory)
    with pytest.raises(IdentityRefused) as refused:
        engine.start(
            "publishing",
            actor=Actor("wang", {"editor"}, {"channel": "weibo"}),
            data=dict(TOPIC),
        )
    assert refused.value.rule == "attribute_not_held"
    source = RegisterIdentity(engine.store)
    found = source.resolve("wang", dt.datetime(2025, 9, 26, 7, tzinfo=dt.UTC))
    assert found == Identity("wang", frozenset({"editor"}), {"channel": frozenset({"web"})})


@pytest.mark.req("SEC-6")
def test_system_can_never_be_claimed_with_or_without_a_source(
    register: Register, engine_factory: EngineFactory
) -> None:
    for identity in ("auto", None):
        engine = publishing(engine_factory, identity=identity)
        with pytest.raises(IdentityRefused) as as_id:
            engine.start("publishing", actor=Actor("system"), data=dict(TOPIC))
        assert as_id.value.rule == "actor_id_reserved"
        with pytest.raises(IdentityRefused) as as_role:
            engine.start("publishing", actor=Actor("wang", {"system"}), data=dict(TOPIC))
        assert as_role.value.rule == "role_reserved"


def test_without_a_source_the_host_carries_identity_as_before(
    register: Register, engine_factory: EngineFactory
) -> None:
    engine = publishing(engine_factory, identity=None)
    item = engine.start("publishing", actor=Actor("stranger", {"editor"}), data=dict(TOPIC))
    assert engine.fire(item.id, "approve", actor=Actor("wang", {"channel_lead"})).state == (
        "selected"
    )


def test_an_empty_register_leaves_identity_to_the_host_unless_asked(
    engine_factory: EngineFactory,
) -> None:
    engine = publishing(engine_factory)  # auto, and nobody filed
    assert engine.start("publishing", actor=Actor("wang", {"editor"}), data=dict(TOPIC))
    strict = publishing(engine_factory, identity="register")
    with pytest.raises(IdentityRefused, match="identity_unknown"):
        strict.start("publishing", actor=Actor("wang", {"editor"}), data=dict(TOPIC))


class Directory:
    """A host's own directory (what an LDAP lookup would return), counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def resolve(self, person_id: str, at: dt.datetime) -> Identity | None:
        self.calls += 1
        if person_id == "ldap-wang":
            return Identity(person_id, frozenset({"editor"}))
        return None


def test_a_hosts_identity_source_replaces_the_register_and_is_asked_once_per_command(
    register: Register, engine_factory: EngineFactory
) -> None:
    directory = Directory()
    engine = publishing(engine_factory, identity=directory)
    item = engine.start("publishing", actor=Actor("ldap-wang"), data=dict(TOPIC))
    assert directory.calls == 1
    with pytest.raises(IdentityRefused, match="identity_unknown"):
        engine.start("publishing", actor=Actor("wang", {"editor"}), data=dict(TOPIC))
    assert directory.calls == 2
    assert engine.get(item.id).created_by == "ldap-wang"


def test_a_batch_resolves_each_actor_once(
    register: Register, engine_factory: EngineFactory
) -> None:
    directory = Directory()
    engine = publishing(engine_factory, identity=directory)
    outcomes = engine.start_many(
        "publishing", [dict(TOPIC), dict(TOPIC), dict(TOPIC)], actor=Actor("ldap-wang")
    )
    assert all(o.accepted for o in outcomes)
    assert directory.calls == 1


def test_an_inbox_is_the_queue_of_the_roles_the_register_gives(
    register: Register, engine_factory: EngineFactory
) -> None:
    engine = publishing(engine_factory)
    item = engine.start("publishing", actor=Actor("wang"), data=dict(TOPIC))
    assert [i.id for i in engine.inbox(Actor("li"))] == [item.id]  # the channel lead's queue
    assert engine.inbox(Actor("zhou")) == []  # filed, but holds no post
    with pytest.raises(IdentityRefused, match="role_not_held"):
        engine.inbox(Actor("zhou", {"channel_lead"}))
    assert refusals(engine)[-1]["command"] == "inbox"
