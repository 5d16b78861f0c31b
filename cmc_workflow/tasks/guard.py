"""A claimed task is its holder's: the runtime extension that refuses a fire on a user
task claimed by, delegated or reassigned to someone else (rule ``task_claimed``).

Whoever means to take such a task over asks a lead to reassign it (``task reassign``);
the engine's own steps (timers, deadline steps) are never refused here.

The guard judges by the item's facts (``FACTS_KEY``: the state, visit and assignee of the
last task operation), which the task operations write with the item row in the same
statement as their ``task_assignments`` row: the facts come with the item the command
reads anyway, so a fire on a user task reads nothing more (the ``task_assignments``
table stays the home the queues and inboxes are queried from).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cmc_workflow.errors import PolicyDenied
from cmc_workflow.extensions import Command, Extension
from cmc_workflow.i18n import tr
from cmc_workflow.model import is_engine_actor
from cmc_workflow.store import StoreTx
from cmc_workflow.tasks.leads import Leads

RULE = "task_claimed"

FACTS_KEY = "task"
"""The key of the item's facts that mirrors its assignment (migration 0013 wrote it for
the assignments made before)."""


def task_facts(state: str, visit: int, assignee: str | None) -> dict[str, Any]:
    """The facts a task operation writes with the item row (:data:`FACTS_KEY`)."""
    return {FACTS_KEY: {"state": state, "visit": visit, "assignee": assignee}}


def assignee_of(facts: Mapping[str, Any] | None, state: str, visit: int) -> str | None:
    """Who holds the task of the state visit ``(state, visit)`` by the item's ``facts``
    (None: nobody; an assignment of an earlier visit is void: the item is in its queue
    again)."""
    held = (facts or {}).get(FACTS_KEY)
    if not isinstance(held, Mapping) or held.get("assignee") is None:
        return None
    if (held.get("state"), held.get("visit")) != (state, visit):
        return None
    return str(held["assignee"])


class TaskGuard(Extension):
    """Refuses a person's fire on a task assigned to another person in this state visit;
    holds the lead roles of each workflow (:class:`~cmc_workflow.tasks.leads.Leads`)."""

    def __init__(self, leads: Leads | None = None) -> None:
        self.leads = leads if leads is not None else Leads()

    def check(self, command: Command, tx: StoreTx) -> None:
        row = command.item
        if command.kind != "fire" or row is None or is_engine_actor(command.actor):
            return
        if command.workflow.state(row.state).type != "userTask":
            return
        # read with the item row: no statement of its own
        assignee = assignee_of(tx.item_facts(row.id), row.state, row.visit)
        if assignee is None or assignee == command.actor.id:
            return
        raise PolicyDenied(
            RULE,
            tr(
                "item {item_id} is assigned to {assignee}: only they act on it now (a lead may "
                "reassign it)",
                item_id=row.id,
                assignee=assignee,
            ),
            item_id=str(row.id),
            trigger=command.trigger,
            state=row.state,
        )
