"""Task operations for small teams (issue 14, part 3): the runtime extension that keeps
a claimed task its holder's (:class:`~cmc_workflow.tasks.guard.TaskGuard`). The
operations themselves are commands of the engine (:mod:`cmc_workflow.engine.tasks`)."""
