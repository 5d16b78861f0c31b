"""What an engine runs besides its workflows: the policies, the SLA clocks and the
periodic schedules of a loaded definition set, in judging order.

The composition root, :func:`cmc_workflow.engine.assemble` (in
:mod:`~cmc_workflow.engine.facade`, beside the class it builds), takes these and a store;
:meth:`Engine.open` loads the files and calls it; the command line and the daemon call it
with the :class:`LoadedSet` they loaded already, so nothing is read twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks.extension import Clocks
from cmc_workflow.definition.loader import LoadedSet
from cmc_workflow.errors import DefinitionError
from cmc_workflow.extensions import Extension
from cmc_workflow.policy.extension import policy_extensions
from cmc_workflow.schedules.extension import Schedules
from cmc_workflow.staff.staffing import ACCOUNTS, ALERT_WORKFLOW, StaffingCheck
from cmc_workflow.tasks.guard import TaskGuard
from cmc_workflow.tasks.leads import leads_of
from cmc_workflow.webhooks.extension import Webhooks


def runtime_extensions(
    loaded: LoadedSet,
    extensions: Sequence[Extension] = (),
    *,
    calendar: WorkingCalendar | None = None,
) -> list[Extension]:
    """Every extension an engine over ``loaded`` runs, in judging order: the policies
    first, then the SLA clocks and the schedules (unless ``extensions`` holds a
    :class:`Clocks` or :class:`Schedules` of its own), the staffing check (STF-3) when
    both ``accounts`` and ``staffing_gap`` are loaded, then ``extensions``, then the
    notifications to people when a ``kind: notifications`` file is loaded, then the
    host systems' webhooks (:class:`~cmc_workflow.webhooks.extension.Webhooks`); the task
    guard (:class:`~cmc_workflow.tasks.guard.TaskGuard`) follows the policies. Raises
    :class:`DefinitionError` when the policies or schedules do not fit the workflows."""
    calendar = calendar if calendar is not None else WorkingCalendar()
    given = {type(extension) for extension in extensions}
    time: list[Extension] = []
    if Clocks not in given:
        time.append(Clocks(calendar))
    for clocks in (*time, *extensions):
        if isinstance(clocks, Clocks):
            clocks.disabled = dict(loaded.disabled)  # their timers wait for the fixed file
    if Schedules not in given:
        time.append(Schedules.from_loaded(loaded, calendar))
    staffing: list[Extension] = []
    if StaffingCheck not in given and {ACCOUNTS, ALERT_WORKFLOW} <= set(loaded.workflows):
        staffing.append(StaffingCheck())  # STF-3: accounts without their posts raise alerts
    leads, problems = leads_of(loaded)  # who may reassign: a policy setting per workflow
    if problems:
        raise DefinitionError(problems)
    notify: list[Extension] = []
    if loaded.others.get("notifications"):
        from cmc_workflow.notify.extension import Notifications  # only where configured

        if not any(isinstance(e, Notifications) for e in extensions):
            # the secrets come from the environment here; a host that keeps them elsewhere
            # passes its own Notifications(config, senders) in ``extensions``
            doc, config = loaded.others["notifications"][0]
            notify.append(Notifications.from_file(config, doc))
    # host systems' webhooks (issue 15): a host passes Webhooks(master_key) to sign with
    hooks: list[Extension] = [] if Webhooks in given else [Webhooks()]
    # the policies judge first; the clocks follow what was accepted
    # a claimed task is its holder's (issue 14, part 3): judged before the clocks follow
    return [
        *policy_extensions(loaded),
        TaskGuard(leads),
        *time,
        *staffing,
        *extensions,
        *notify,
        *hooks,
    ]
