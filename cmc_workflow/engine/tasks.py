"""Task operations on user tasks (issue 14, part 3; STF-5): claim and unclaim from a
role's queue, delegate and hand back, reassign by a lead, and the leave cover the
runner's pass carries out.

Assignment has one home: the ``task_assignments`` row of the item, fenced by the state
visit it was made in (an item that moves on is in its next state's queue again without
a write); the item's facts carry a copy of the assignee for the guard on every fire
(:mod:`cmc_workflow.tasks.guard`), written in the same UPDATE as the item. Each
operation is one command in one transaction: the item is locked, the assignment
written, a ``task`` row appended to the item's history (``form`` says what moved:
``op``, ``assignee``, ``previous``) and the audit record written (command
``task.<op>``). A refused operation writes only its audit record, naming the rule.

Rules (the ``rule`` of the refusal, the same in both languages):

- ``task_not_user_task``: the item is closed or its state is not a userTask;
- ``task_role_not_held``: the actor holds none of the roles that act in the state;
- ``task_claimed``: the task is someone else's (claim, unclaim, delegate);
- ``task_not_assigned``: unclaim, delegate or hand back of a task the actor does not hold;
- ``task_not_delegated``: hand back of a task nobody delegated to the actor;
- ``task_target_not_holder``: delegate or reassign to a person the register does not
  give a role of the state (or who is on leave that day);
- ``task_target_self``: delegate to oneself;
- ``task_not_lead``: reassign by someone who holds no lead role of the workflow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import replace

from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.engine import audit, checks, queries
from cmc_workflow.engine.context import Core
from cmc_workflow.errors import EngineError, TaskRefused
from cmc_workflow.i18n import Text, joined, tr
from cmc_workflow.log import get_logger
from cmc_workflow.model import SYSTEM, Actor, Item, normal_id
from cmc_workflow.staff.identity import BUSINESS_TZ
from cmc_workflow.store import ItemRow, StoreTx
from cmc_workflow.store.port import AssignmentRow
from cmc_workflow.tasks.guard import TaskGuard, task_facts
from cmc_workflow.tasks.leads import DEFAULT_LEADS

log = get_logger("cmc_workflow.engine")


def leads(core: Core, workflow: str) -> frozenset[str]:
    """The roles whose holders may reassign ``workflow``'s tasks (a policy setting,
    :mod:`cmc_workflow.tasks.leads`)."""
    return lead_roles(core.extensions, workflow)


def lead_roles(extensions: Iterable[object], workflow: str) -> frozenset[str]:
    """:func:`leads` from an engine's extensions (``Engine.extensions``): the task guard's
    setting, or the defaults without one."""
    for extension in extensions:
        if isinstance(extension, TaskGuard):
            return extension.leads.of(workflow)
    return DEFAULT_LEADS


OPS = ("claim", "unclaim", "delegate", "hand_back", "reassign")


def refused(rule: str, reason: Text, row: ItemRow | None = None) -> TaskRefused:
    """A refusal naming ``rule``: ``reason`` (a :func:`~cmc_workflow.i18n.tr` text) in
    English (the message) and Chinese (``reason_zh``)."""
    return TaskRefused(
        tr("{reason} ({rule})", reason=reason, rule=rule),
        rule=rule,
        item_id=None if row is None else str(row.id),
        state=None if row is None else row.state,
    )


def state_roles(wf: CompiledWorkflow, state: str) -> frozenset[str]:
    """The roles that act in ``state`` (whose queue an item there is in)."""
    return frozenset(role for edge in wf.edges(state) for role in edge.roles)


def current(tx: StoreTx, row: ItemRow) -> AssignmentRow | None:
    """The item's assignment if it was made in the item's present state visit."""
    found = tx.assignment(row.id)
    if found is None or found.state != row.state or found.visit != row.visit:
        return None
    return found


def business_day(now: dt.datetime) -> dt.date:
    """The local day posts and leave are counted in."""
    return now.astimezone(BUSINESS_TZ).date()


def holds_state_role(tx: StoreTx, person: str, roles: Iterable[str], day: dt.date) -> bool:
    """Whether the register gives ``person`` one of ``roles`` on ``day`` and they are
    not on leave that day."""
    if on_leave(tx, person, day):
        return False
    return any(p.person_id == person for role in roles for p in tx.holders(role, day))


def on_leave(tx: StoreTx, person: str, day: dt.date) -> bool:
    """Whether ``person`` is on a recorded leave on ``day``."""
    return any(lv.starts_on <= day <= lv.ends_on for lv in tx.leaves(person))


# a decision: (assignment now, actor, roles of the state, tx, row) -> (assignee, delegated_by)
Decide = Callable[
    [AssignmentRow | None, Actor, frozenset[str], StoreTx, ItemRow],
    tuple[str | None, str | None],
]


def run(
    core: Core,
    op: str,
    item_id: int,
    actor: Actor,
    decide: Decide,
    *,
    lead: bool = False,
) -> Item:
    """One task operation as a command (module docstring)."""
    now = core.now()
    caller: object = actor
    workflow: str | None = None
    try:
        checks.check_inputs(ids={"item_id": item_id})
        with core.write() as tx:
            actor = caller = core.resolved(actor, tx)
            row = core.load(tx, item_id, lock=True)
            workflow = row.workflow_id
            version = core.definitions.version(tx, row.definition_id)
            wf = version.workflow
            if row.closed_at is not None or wf.state(row.state).type != "userTask":
                raise refused(
                    "task_not_user_task",
                    tr("item {item_id} is not waiting in a user task", item_id=item_id),
                    row,
                )
            roles = state_roles(wf, row.state)
            lead_roles = leads(core, wf.id)
            if lead:
                if not actor.roles & lead_roles:
                    raise refused(
                        "task_not_lead",
                        tr(
                            "{actor} holds no lead role of {workflow} ({roles})",
                            actor=actor.id,
                            workflow=wf.id,
                            roles=joined(sorted(lead_roles)),
                        ),
                        row,
                    )
            elif not actor.roles & roles:
                raise refused(
                    "task_role_not_held",
                    tr(
                        "{actor} holds none of the roles of state {state} ({roles})",
                        actor=actor.id,
                        state=Text(repr(row.state), row.state),
                        roles=joined(sorted(roles)),
                    ),
                    row,
                )
            before = current(tx, row)
            assignee, delegated_by = decide(before, actor, roles, tx, row)
            new_row = write(core, tx, wf, row, op, actor, before, assignee, delegated_by, now)
    except EngineError as exc:
        audit.refusal(core, caller, f"task.{op}", workflow, item_id, None, exc, now)
        raise
    log.info("task_" + op, item_id=item_id, actor=actor.id, assignee=assignee)
    return core.item(new_row, version)


def write(
    core: Core,
    tx: StoreTx,
    wf: CompiledWorkflow,
    row: ItemRow,
    op: str,
    actor: Actor,
    before: AssignmentRow | None,
    assignee: str | None,
    delegated_by: str | None,
    now: dt.datetime,
    reason: str | None = None,
) -> ItemRow:
    """Write one task event on the locked ``row``: assignment, history row, audit record,
    and the item's version (so that a stale form sees someone acted) with the assignment in
    its facts (:data:`~cmc_workflow.tasks.guard.FACTS_KEY`)."""
    previous = before.assignee if before is not None else None
    form = {"op": op, "assignee": assignee, "previous": previous}
    roles = state_roles(wf, row.state)
    tx.insert_history(
        [
            {
                "item_id": row.id,
                "seq": row.seq + 1,
                "at": now,
                "kind": "task",
                "trigger": None,
                "from_state": row.state,
                "to_state": row.state,
                "visit": row.visit,
                "actor": actor.id,
                "roles": sorted(actor.roles & (roles | leads(core, wf.id))),
                "form": form,
            }
        ]
    )
    tx.set_assignment(AssignmentRow(row.id, row.state, row.visit, assignee, delegated_by, now))
    audit.record(
        tx,
        actor,
        f"task.{op}",
        wf.id,
        row.id,
        None,
        "accepted",
        now,
        reason=reason,
        detail={"state": row.state, **form},
    )
    values = {
        "state": row.state,
        "data": row.data,
        "visit": row.visit,
        "seq": row.seq + 1,
        "updated_at": now,
        "closed_at": None,
        # the guard's copy of the assignment rides on the item row (TaskGuard reads it
        # with the item: no read of task_assignments per fire)
        "facts": {**(tx.item_facts(row.id) or {}), **task_facts(row.state, row.visit, assignee)},
    }
    tx.update_item(row.id, row.version, values)
    return replace(row, version=row.version + 1, seq=row.seq + 1, updated_at=now)


# -- the operations --------------------------------------------------------------------
def claim(core: Core, item_id: int, actor: Actor) -> Item:
    """Take an item from the queue of a role the actor holds."""

    def decide(
        before: AssignmentRow | None, who: Actor, roles: frozenset[str], tx: StoreTx, row: ItemRow
    ) -> tuple[str | None, str | None]:
        if before is not None and before.assignee not in (None, who.id):
            raise refused(
                "task_claimed",
                tr(
                    "item {item_id} is already claimed by {assignee}",
                    item_id=row.id,
                    assignee=before.assignee,
                ),
                row,
            )
        return who.id, None

    return run(core, "claim", item_id, actor, decide)


def unclaim(core: Core, item_id: int, actor: Actor) -> Item:
    """Put a claimed item back in its role's queue."""

    def decide(
        before: AssignmentRow | None, who: Actor, roles: frozenset[str], tx: StoreTx, row: ItemRow
    ) -> tuple[str | None, str | None]:
        mine(before, who, row)
        return None, None

    return run(core, "unclaim", item_id, actor, decide)


def delegate(core: Core, item_id: int, actor: Actor, to: str) -> Item:
    """Hand a task the actor holds to another holder of a role of the state."""
    target = normal_id(to) if isinstance(to, str) else to

    def decide(
        before: AssignmentRow | None, who: Actor, roles: frozenset[str], tx: StoreTx, row: ItemRow
    ) -> tuple[str | None, str | None]:
        mine(before, who, row)
        if target == who.id:
            raise refused(
                "task_target_self",
                tr(
                    "{actor} already holds item {item_id}: delegate it to someone else",
                    actor=who.id,
                    item_id=row.id,
                ),
                row,
            )
        eligible(tx, target, roles, row, business_day(core.now()))
        return target, who.id

    return run(core, "delegate", item_id, actor, decide)


def hand_back(core: Core, item_id: int, actor: Actor) -> Item:
    """Return a delegated task to the person who delegated it."""

    def decide(
        before: AssignmentRow | None, who: Actor, roles: frozenset[str], tx: StoreTx, row: ItemRow
    ) -> tuple[str | None, str | None]:
        held = mine(before, who, row)
        if held.delegated_by is None:
            raise refused(
                "task_not_delegated",
                tr("nobody delegated item {item_id} to {actor}", item_id=row.id, actor=who.id),
                row,
            )
        return held.delegated_by, None

    return run(core, "hand_back", item_id, actor, decide)


def reassign(core: Core, item_id: int, actor: Actor, to: str) -> Item:
    """A lead gives the task to a holder of a role of the state."""
    target = normal_id(to) if isinstance(to, str) else to

    def decide(
        before: AssignmentRow | None, who: Actor, roles: frozenset[str], tx: StoreTx, row: ItemRow
    ) -> tuple[str | None, str | None]:
        eligible(tx, target, roles, row, business_day(core.now()))
        return target, None

    return run(core, "reassign", item_id, actor, decide, lead=True)


def mine(before: AssignmentRow | None, who: Actor, row: ItemRow) -> AssignmentRow:
    """The assignment, when the actor holds it (or a refusal)."""
    if before is None or before.assignee is None:
        raise refused(
            "task_not_assigned",
            tr(
                "item {item_id} is in the queue, not assigned to {actor}",
                item_id=row.id,
                actor=who.id,
            ),
            row,
        )
    if before.assignee != who.id:
        raise refused(
            "task_claimed",
            tr(
                "item {item_id} is assigned to {assignee}, not {actor}",
                item_id=row.id,
                assignee=before.assignee,
                actor=who.id,
            ),
            row,
        )
    return before


def eligible(
    tx: StoreTx, target: object, roles: frozenset[str], row: ItemRow, day: dt.date
) -> None:
    """Refuse a target the register does not give a role of the state on ``day``."""
    if not isinstance(target, str) or not holds_state_role(tx, target, roles, day):
        raise refused(
            "task_target_not_holder",
            tr(
                "{person} does not hold a role of state {state} ({roles}) in the staff "
                "register today, or is on leave",
                person=target,
                state=Text(repr(row.state), row.state),
                roles=joined(sorted(roles)),
            ),
            row,
        )


# -- leave cover (STF-5) ---------------------------------------------------------------
def cover_due(core: Core) -> int:
    """Move the open work of people on leave (leave starting) or gone (no post left for
    the state's roles) to another holder: the leave's named substitute when they hold a
    role of the state, else the holder with the least open work. Returns the tasks moved.
    One transaction; each move is a ``task`` history row (op ``cover``) and an audit
    record by ``system``."""
    now = core.now()
    day = business_day(now)
    moved = 0
    with core.store.read() as tx:  # most passes have nothing to move: no write for them
        if not tx.leaves_due(day) and not any(open_work(tx, who) for who in gone(tx, day)):
            return 0
    with core.write() as tx:
        leaves = tx.leaves_due(day)
        substitutes: dict[str, str | None] = {lv.person_id: lv.substitute for lv in leaves}
        for leave in leaves:
            tx.mark_leave_covered(leave.id, now)
        people = set(substitutes) | gone(tx, day)
        for person in sorted(people):
            for held in tx.assigned_to(person):
                moved += cover_one(core, tx, held, substitutes.get(person), day, now)
    if moved:
        log.info("tasks_covered", moved=moved)
    return moved


def gone(tx: StoreTx, day: dt.date) -> set[str]:
    """People with a post ended before ``day`` and no post held on it."""
    posts = tx.posts()
    ended = {p.person_id for p in posts if p.ends_on is not None and p.ends_on < day}
    return {who for who in ended if not any(p.active_on(day) for p in posts if p.person_id == who)}


def cover_one(
    core: Core,
    tx: StoreTx,
    held: AssignmentRow,
    substitute: str | None,
    day: dt.date,
    now: dt.datetime,
) -> int:
    """Move one assignment, when it is still live and someone can take it."""
    row = tx.item(held.item_id, lock=True)
    if row is None or row.closed_at is not None:
        return 0
    if (row.state, row.visit) != (held.state, held.visit) or held.assignee is None:
        return 0
    wf = core.definitions.version(tx, row.definition_id).workflow
    roles = state_roles(wf, row.state)
    person = held.assignee
    if holds_state_role(tx, person, roles, day):
        return 0  # back from leave, or still holds the post
    chosen = None
    if substitute is not None and holds_state_role(tx, substitute, roles, day):
        chosen = substitute
    else:
        chosen = least_loaded(tx, roles, day, exclude=person)
    reason = f"cover for {person}" + (f" (substitute {chosen})" if chosen == substitute else "")
    write(core, tx, wf, row, "cover", SYSTEM, held, chosen, None, now, reason)
    return 1


def escalate(
    core: Core, tx: StoreTx, item_id: int, role: str, state: str, visit: int, reason: str
) -> str | None:
    """A deadline step's reassign (``action: reassign, to: <role>``): the task goes to the
    holder of ``role`` with the least open work, as the engine (a ``task`` history row,
    op ``escalate``, and an audit record). None when the item left the state visit or
    nobody holds the role today (the item stays as it is)."""
    now = core.now()
    row = tx.item(item_id, lock=True)
    if row is None or row.closed_at is not None or (row.state, row.visit) != (state, visit):
        return None
    day = business_day(now)
    before = current(tx, row)
    exclude = before.assignee if before is not None and before.assignee is not None else ""
    chosen = least_loaded(tx, frozenset({role}), day, exclude=exclude)
    if chosen is None:
        return None
    wf = core.definitions.version(tx, row.definition_id).workflow
    write(core, tx, wf, row, "escalate", SYSTEM, before, chosen, None, now, reason)
    return chosen


def least_loaded(tx: StoreTx, roles: frozenset[str], day: dt.date, exclude: str) -> str | None:
    """The holder of one of ``roles`` with the least open work (None: nobody; the task
    goes back to the queue)."""
    candidates = sorted({p.person_id for role in roles for p in tx.holders(role, day)} - {exclude})
    best: tuple[int, str] | None = None
    for who in candidates:
        if on_leave(tx, who, day):
            continue
        load = open_work(tx, who)
        if best is None or (load, who) < best:
            best = (load, who)
    return None if best is None else best[1]


def open_work(tx: StoreTx, person: str) -> int:
    """How many live assignments ``person`` holds."""
    count = 0
    for held in tx.assigned_to(person):
        row = tx.item(held.item_id)
        if (
            row is not None
            and row.closed_at is None
            and (row.state, row.visit)
            == (
                held.state,
                held.visit,
            )
        ):
            count += 1
    return count


def split_inbox(core: Core, actor: Actor) -> tuple[list[Item], list[Item]]:
    """The actor's inbox as (mine: assigned to them, queue: waiting on their roles)."""
    found = queries.inbox(core, actor)
    person = normal_id(actor.id)
    mine_: list[Item] = []
    queue: list[Item] = []
    with core.store.read() as tx:
        held = tx.assignments([item.id for item in found])
        for item in found:
            assigned = held.get(item.id)
            live = assigned is not None and (assigned.state, assigned.visit) == (
                item.state,
                item.visit,
            )
            by_claim = live and assigned is not None and assigned.assignee == person
            named = not live and named_assignee(core, item, person)
            (mine_ if by_claim or named else queue).append(item)
    return mine_, queue


def named_assignee(core: Core, item: Item, person: str) -> bool:
    """Whether the item's state's ``assignee`` data field names ``person``."""
    found = core.definitions.current(item.workflow)
    wf = found.workflow if found is not None else None
    if wf is None or item.state not in wf.definition.states:
        return False
    state = wf.state(item.state)
    if state.assignee is None:
        return False
    value = item.data.get(state.assignee)
    people = value if isinstance(value, list) else [value] if value else []
    return any(isinstance(p, str) and normal_id(p) == normal_id(person) for p in people)
