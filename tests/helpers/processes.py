"""Child processes of a test, and waits by condition.

Every process a test starts goes through :func:`start` (or :data:`CHILDREN`), and an
autouse fixture of ``tests/conftest.py`` ends them after each test, whatever the test did:
each one still running gets SIGTERM, then SIGKILL after a short grace, and is reaped. A
signal goes to the process's own pid, and only while it is unreaped (so the pid cannot
have been reused).

Waits poll a condition and give up only after a cap of minutes, with a message that says
what was awaited: a loaded machine makes a test slow, never wrong.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

CAP = 300.0
"""How long a wait may take before the test fails (seconds): far beyond any healthy run."""

GRACE = 5.0
"""How long a process has to stop after SIGTERM in teardown before it gets SIGKILL."""

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition did not hold within the cap."""


def wait_until(
    condition: Callable[[], T], what: str, *, cap: float = CAP, every: float = 0.05
) -> T:
    """Poll ``condition`` until it returns something true, and return that; fail naming
    ``what`` after ``cap`` seconds."""
    deadline = time.monotonic() + cap
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise WaitTimeout(f"waited {cap:.0f} s for {what}")
        time.sleep(every)


def wait_exit(process: subprocess.Popen[Any], what: str = "", *, cap: float = CAP) -> int:
    """The exit code of ``process`` once it has ended; fail after ``cap`` seconds."""
    try:
        return process.wait(timeout=cap)
    except subprocess.TimeoutExpired:
        name = what or f"process {process.pid} ({' '.join(map(str, _args(process)))})"
        raise WaitTimeout(f"waited {cap:.0f} s for {name} to exit") from None


def _args(process: subprocess.Popen[Any]) -> Sequence[Any]:
    args = process.args
    return [args] if isinstance(args, str | bytes) else list(args)  # type: ignore[arg-type]


def end(process: subprocess.Popen[Any], *, grace: float = GRACE) -> int:
    """Stop ``process`` by its pid (SIGTERM, then SIGKILL after ``grace`` seconds), reap
    it, and return its exit code (negative: the signal that ended it)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # only signals an unreaped pid: ours
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
    code = process.wait()  # reap: no zombie, and the pid is released only now
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    return code


class Processes:
    """The child processes of one test, ended in teardown (see the module docstring)."""

    def __init__(self, *, grace: float = GRACE) -> None:
        self.grace = grace
        self.started: list[subprocess.Popen[Any]] = []

    def start(self, args: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
        """``subprocess.Popen(args, **options)``, registered."""
        return self.add(subprocess.Popen(args, **options))

    def add(self, process: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
        """Register a process started elsewhere; returns it."""
        self.started.append(process)
        return process

    def end_all(self) -> None:
        """End every registered process: SIGTERM to all, one shared grace, SIGKILL to
        those still running, then reap them all (see :func:`end`)."""
        running = [p for p in self.started if p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        while self.started:
            end(self.started.pop(), grace=self.grace)

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.end_all()


CHILDREN = Processes()
"""The child processes of the running test; ``tests/conftest.py`` ends them after it."""


def start(args: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(args, **options)``, ended by its pid after the test."""
    return CHILDREN.start(args, **options)


def run(
    args: Sequence[str], *, cap: float = CAP, check: bool = False, **options: Any
) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run(args, **options)`` for a child registered like :func:`start`:
    its output once it has exited, failing after ``cap`` seconds (``timeout`` is not
    taken: a cap is not a speed limit). ``capture_output=True`` pipes both streams."""
    if options.pop("capture_output", False):
        options["stdout"] = options["stderr"] = subprocess.PIPE
    process = start(args, **options)
    try:
        out, err = process.communicate(timeout=cap)
    except subprocess.TimeoutExpired:
        raise WaitTimeout(f"waited {cap:.0f} s for {' '.join(map(str, args))} to exit") from None
    done = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    if check:
        done.check_returncode()
    return done
