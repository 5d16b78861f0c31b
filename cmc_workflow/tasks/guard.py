"""A claimed task is its holder's: the runtime extension that refuses a fire on a user
task claimed by, delegated or reassigned to someone else (rule ``task_claimed``).

Whoever means to take such a task over asks a lead to reassign it (``task reassign``);
the engine's own steps (timers, deadline steps) are never refused here.
"""

from __future__ import annotations

from cmc_workflow.errors import PolicyDenied
from cmc_workflow.extensions import Command, Extension
from cmc_workflow.model import is_engine_actor
from cmc_workflow.store import StoreTx
from cmc_workflow.tasks.leads import Leads

RULE = "task_claimed"


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
        held = tx.assignment(row.id)  # one indexed read per fire on a user task
        if held is None or held.assignee is None:
            return
        if (held.state, held.visit) != (row.state, row.visit):
            return  # made in an earlier visit: the item is in its queue again
        if held.assignee != command.actor.id:
            raise PolicyDenied(
                RULE,
                f"item {row.id} is assigned to {held.assignee}: only they act on it now "
                "(a lead may reassign it)",
                f"事项 {row.id} 已分派给 {held.assignee}，现仅由其办理（负责人可改派）",
                item_id=str(row.id),
                trigger=command.trigger,
                state=row.state,
            )
