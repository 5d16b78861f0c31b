"""The tests' own process handling (tests/helpers/processes.py): a child is ended by its
pid and reaped whatever it does, and a wait that cannot succeed says what it waited for."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.helpers.processes import Processes, WaitTimeout, run, wait_exit, wait_until

STUBBORN = """\
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(600)
"""


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_and_reaped() -> None:
    with Processes(grace=0.2) as children:
        stubborn = children.start(
            [sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True
        )
        polite = children.start([sys.executable, "-c", "import time; time.sleep(600)"])
        assert stubborn.stdout is not None
        assert stubborn.stdout.readline() == "ready\n"  # its handler is in place
    assert stubborn.returncode == -signal.SIGKILL
    assert polite.returncode == -signal.SIGTERM
    assert stubborn.stdout.closed
    assert children.started == []


def test_a_wait_that_never_holds_fails_naming_what_it_waited_for() -> None:
    with pytest.raises(WaitTimeout, match="waited 0 s for the moon"):
        wait_until(lambda: False, "the moon", cap=0.2)
    assert wait_until(lambda: 42, "an answer") == 42
    with Processes() as children:
        sleeper = children.start([sys.executable, "-c", "import time; time.sleep(600)"])
        with pytest.raises(WaitTimeout, match="to exit"):
            wait_exit(sleeper, cap=0.2)


def test_run_returns_the_output_of_a_registered_child() -> None:
    done = run([sys.executable, "-c", "print('hi')"], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "hi\n", "")
