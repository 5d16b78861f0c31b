"""The composition root: the one place an engine is put together from a store, a loaded
definition set and its options (policies, SLA clocks, schedules, handlers, calendar).

:meth:`Engine.open` loads the files and calls :func:`assemble`; the command line and
the daemon call it with the :class:`LoadedSet` they loaded already, so nothing is read
twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.definition.loader import LoadedSet
from cmc_workflow.engine.context import Clock
from cmc_workflow.engine.facade import Engine, system_clock
from cmc_workflow.extensions import Extension
from cmc_workflow.handlers import Handler, HandlerRegistry
from cmc_workflow.policy import policy_extensions
from cmc_workflow.schedules import Schedules
from cmc_workflow.store import Store


def runtime_extensions(
    loaded: LoadedSet,
    extensions: Sequence[Extension] = (),
    *,
    calendar: WorkingCalendar | None = None,
) -> list[Extension]:
    """Every extension an engine over ``loaded`` runs, in judging order: the policies
    first, then the SLA clocks and the schedules (unless ``extensions`` holds a
    :class:`Clocks` or :class:`Schedules` of its own), then ``extensions``. Raises
    :class:`DefinitionError` when the policies or schedules do not fit the workflows."""
    calendar = calendar if calendar is not None else WorkingCalendar()
    given = {type(extension) for extension in extensions}
    time: list[Extension] = []
    if Clocks not in given:
        time.append(Clocks(calendar))
    if Schedules not in given:
        time.append(Schedules.from_loaded(loaded, calendar))
    # the policies judge first; the clocks follow what was accepted
    return [*policy_extensions(loaded), *time, *extensions]


def assemble(
    store: Store | Callable[[], Store],
    loaded: LoadedSet,
    *,
    clock: Clock = system_clock,
    handlers: HandlerRegistry | Mapping[str, Handler] | None = None,
    deliver_inline: bool = True,
    runner: str | None = None,
    extensions: Sequence[Extension] = (),
    calendar: WorkingCalendar | None = None,
) -> Engine:
    """The engine over ``loaded`` (checked: call ``loaded.raise_for_problems()`` first)
    with every extension of :func:`runtime_extensions`.

    ``store`` is an open :class:`Store`, or a function that opens one: it is called only
    once the policies and schedules are known to fit, so that definitions that cannot run
    leave no database behind. A store opened here is closed again if the engine cannot be
    built; a store passed in stays the caller's to close.
    """
    everything = runtime_extensions(loaded, extensions, calendar=calendar)
    opened = store() if callable(store) else store
    try:
        return Engine(
            opened,
            loaded.workflows,
            clock=clock,
            handlers=handlers,
            deliver_inline=deliver_inline,
            runner=runner,
            extensions=everything,
        )
    except BaseException:
        if opened is not store:
            opened.close()
        raise
