"""The runner: passes over due work on this process's APScheduler clock (:mod:`.core`,
run by the daemon and in-process by an application that embeds the engine), the daemon
process (:mod:`.daemon`), the wake-ups (:mod:`.wakeups`) and the one composition of an
engine from loaded definitions that the daemon and the command line share
(:mod:`.assemble`)."""
