"""Records that the bundled policies ask for, made through the public API.

policies/publishing.yaml assigns an editor's work only to people with a passed
``post_basics`` training record for the editor post (TRN-3, ``workflows/training.yaml``)
and releases a piece only to self-media accounts that operate with a valid
qualification (ACC-2, ``workflows/accounts.yaml``). policies/training.yaml asks the same
of every other post wherever it acts (``posts_trained``: reviewers, the operations
manager's sign-off, operations assistants, operators, integrators): tests that load it
give their cast a record per post with :func:`train_staff`. Tests that walk publishing items with
the bundled policies load these workflows too (:data:`RECORD_WORKFLOWS`) and give their
editors a record first::

    with Engine.open(url, workflows=[PUBLISHING, *RECORD_WORKFLOWS], policies=POLICIES) as e:
        train(e, EDITOR.id)
"""

from __future__ import annotations

from pathlib import Path

from cmc_workflow import Actor, Engine, Item
from tests.helpers import EDITOR, OPS, OTHER_EDITOR, WORKFLOWS

TRAINING = WORKFLOWS / "training.yaml"
TRAINING_PLAN = WORKFLOWS / "training_plan.yaml"
ACCOUNTS = WORKFLOWS / "accounts.yaml"
QUALIFICATION_RECHECK = WORKFLOWS / "inspections" / "ins_08_qualification_recheck.yaml"

RECORD_WORKFLOWS: list[Path] = [TRAINING, TRAINING_PLAN, ACCOUNTS]
"""The workflows the bundled policies read records from or speak about (load them with
``policies/``)."""

TRAINER = Actor("hu", {"trainer"})
HR = Actor("ma", {"hr"})

VALID_UNTIL = "2026-09-30"
"""A validity far enough after the tests' clock (2025-09-26) not to lapse in any test."""


def train(
    engine: Engine,
    person: str,
    *,
    post: str = "editor",
    course: str = "post_basics",
    valid_until: str = VALID_UNTIL,
    certificate: str | None = None,
    score: float = 90,
    trainer: Actor = TRAINER,
) -> Item:
    """A passed training record of ``person`` (planned, trained, assessed), resting in
    ``passed`` until ``valid_until``."""
    record = engine.start(
        "training",
        actor=trainer,
        data={"trainee": person, "post": post, "course": course, "reason": "onboarding"},
    )
    engine.fire(record.id, "begin", actor=trainer)
    engine.fire(record.id, "finish", actor=trainer)
    form: dict[str, object] = {"result": "pass", "score": score, "valid_until": valid_until}
    if certificate is not None:
        form["certificate"] = certificate
    passed = engine.fire(record.id, "assess", actor=trainer, data=form)
    assert passed.state == "passed", passed.state
    return passed


def train_editors(engine: Engine, *people: str) -> list[Item]:
    """Passed post-basics records for ``people`` (default: the publishing cast's editors)."""
    return [train(engine, person) for person in people or (EDITOR.id, OTHER_EDITOR.id)]


TRAINED_POSTS = frozenset({"reviewer", "ops_assistant", "ops_manager", "operator", "integrator"})
"""The posts policies/training.yaml (``posts_trained``) asks a passed record of."""


def train_staff(engine: Engine, *actors: Actor, valid_until: str = VALID_UNTIL) -> list[Item]:
    """Passed post-basics records for every post of :data:`TRAINED_POSTS` each of
    ``actors`` holds (TRN-3), so that they may act in those posts."""
    return [
        train(engine, actor.id, post=post, valid_until=valid_until)
        for actor in actors
        for post in sorted(actor.roles & TRAINED_POSTS)
    ]


def qualify_account(
    engine: Engine,
    account_id: str,
    *,
    qualified_until: str = VALID_UNTIL,
    platform: str = "wechat",
    custodian: Actor = OPS,
    cadence_days: int | None = None,
) -> Item:
    """A self-media account registered, certified and operating until ``qualified_until``,
    its passwords kept by ``custodian`` (who registers it); ``cadence_days`` is its own
    publishing interval (PUB-10), if it has one."""
    extra = {} if cadence_days is None else {"cadence_days": cadence_days}
    account = engine.start(
        "accounts",
        actor=custodian,
        data={
            **extra,
            "account_id": account_id,
            "platform": platform,
            "name": f"佛山市图书馆 {account_id}",
            "registrant_name": "张三",
            "registrant_id_number": "440602199001011234",
            "registrant_phone": "13800138000",
            "custodian": custodian.id,
        },
    )
    operating = engine.fire(
        account.id,
        "certify",
        actor=custodian,
        data={"certification": f"CERT-{account_id}", "qualified_until": qualified_until},
    )
    assert operating.state == "operating", operating.state
    return operating


REGISTRAR = Actor("reg-op", {"operator"})
"""The operator who keeps the application register in tests (APP-1)."""


def register_application(engine: Engine, application: str, *, live: bool = True) -> Item:
    """An entry of the application register (``workflows/applications.yaml``), put into
    operation unless ``live`` is false: policies/applications.yaml refuses faults, monthly
    findings and analyses naming an application the register does not hold (APP-1). The
    registrar gets the operator's training first when the training workflow is loaded."""
    if "training" in engine.workflows:
        train_staff(engine, REGISTRAR, valid_until="2099-12-31")
    item = engine.start(
        "applications",
        actor=REGISTRAR,
        data={"application": application, "name": f"应用 {application}", "integrator": "接入方"},
    )
    if live:
        item = engine.fire(item.id, "go_live", actor=REGISTRAR)
    return item
