"""The runner: the daemon process (:mod:`.daemon`), its APScheduler wake-ups
(:mod:`.wakeups`) and the one composition of an engine from loaded definitions that the
daemon and the command line share (:mod:`.assemble`)."""
