"""The knockout check: a test marked ``enforces`` must fail without its element.

For each :class:`~cmc_workflow.compliance.markers.Proof` (a test marked
``@pytest.mark.enforces("ID", element="file#yaml.path")``):

1. the test runs on the intact definitions: it must pass (a test that fails anyway proves
   nothing);
2. the definition folders are copied to a temporary folder with the element removed
   (:func:`~cmc_workflow.compliance.elements.knockout_copy`), and the test runs again with
   ``CMC_TEST_DEFINITIONS`` naming that folder (``tests.helpers`` then loads
   ``WORKFLOWS``/``POLICIES`` from it): it must fail.

Each run is ``python -m pytest -n 0 <node id>`` in a subprocess of its own session, with a
time cap; on time-out its whole process group is killed (by its id) and waited for. The
runs go one after another: the check costs a few seconds per proof.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cmc_workflow.compliance.elements import ElementError, knockout_copy, parse_element
from cmc_workflow.compliance.markers import Proof

DEFINITIONS_ENV = "CMC_TEST_DEFINITIONS"
"""The variable ``tests/helpers/__init__.py`` reads: the folder holding the definitions."""

TIMEOUT = 300.0
"""Seconds one test run may take before its process group is killed."""

Outcome = Literal["proven", "code", "passes without it", "fails intact", "bad element", "error"]
"""``proven``: passes intact, fails without the element; ``code``: the element is a module
of the engine (``cmc_workflow/....py``), which a copy of the definitions cannot take
out: not knocked out; the others: not proven."""

CODE_PREFIX = "cmc_workflow/"

_COUNTS = re.compile(r"(\d+) (passed|failed|error|errors|skipped)\b")


@dataclass(frozen=True, slots=True)
class Run:
    """One pytest run: its exit code, the counts of its summary line, and its tail."""

    code: int | None
    passed: int
    failed: int
    skipped: int
    seconds: float
    tail: str

    @property
    def passes(self) -> bool:
        """The test ran and passed (not only skipped)."""
        return self.code == 0 and self.passed > 0 and self.failed == 0

    @property
    def fails(self) -> bool:
        """The test ran and failed (pytest's exit code 1: tests failed)."""
        return self.code == 1 and self.failed > 0


@dataclass(frozen=True, slots=True)
class Result:
    """What the knockout of one proof showed."""

    proof: Proof
    outcome: Outcome
    detail: str
    seconds: float

    @property
    def proven(self) -> bool:
        return self.outcome == "proven"


def run_test(
    node_id: str,
    cwd: Path,
    definitions: Path | None = None,
    *,
    timeout: float = TIMEOUT,
    python: str = sys.executable,
) -> Run:
    """Run one test (node id) with pytest in a subprocess in ``cwd``; ``definitions``
    names the folder the tests load their definitions from (None: the bundled ones)."""
    env = {k: v for k, v in os.environ.items() if k != DEFINITIONS_ENV}
    if definitions is not None:
        env[DEFINITIONS_ENV] = str(definitions)
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", node_id]
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group: killed whole on time-out
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        output, code = f"killed after {timeout:.0f} s", None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    counts: dict[str, int] = {}
    for number, word in _COUNTS.findall(output.splitlines()[-1] if output.strip() else ""):
        counts[word.rstrip("s") if word != "passed" else word] = int(number)
    tail = "\n".join(output.strip().splitlines()[-5:])
    return Run(
        code,
        counts.get("passed", 0),
        counts.get("failed", 0) + counts.get("error", 0),
        counts.get("skipped", 0),
        time.monotonic() - started,
        tail,
    )


def knockout(
    proofs: Iterable[Proof],
    root: Path,
    *,
    timeout: float = TIMEOUT,
    progress: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Run the knockout of every proof (the repository at ``root``: its definitions and
    its tests); ``progress`` is told each result as it comes."""
    intact: dict[str, Run] = {}
    results: list[Result] = []
    for proof in proofs:
        result = _one(proof, root, intact, timeout)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def _one(proof: Proof, root: Path, intact: dict[str, Run], timeout: float) -> Result:
    started = time.monotonic()
    if proof.element.startswith(CODE_PREFIX) and proof.element.endswith(".py"):
        if (root / proof.element).is_file():
            return Result(proof, "code", "a module of the engine: not knocked out", 0.0)
        return Result(proof, "bad element", f"no module {proof.element} under {root}", 0.0)
    try:
        element = parse_element(proof.element)
    except ElementError as exc:
        return Result(proof, "bad element", str(exc), 0.0)
    if proof.node_id not in intact:
        intact[proof.node_id] = run_test(proof.node_id, root, timeout=timeout)
    before = intact[proof.node_id]
    if not before.passes:
        return Result(proof, "fails intact", before.tail, time.monotonic() - started)
    with tempfile.TemporaryDirectory(prefix="cmc-knockout-") as folder:
        try:
            copy = knockout_copy(root, element, Path(folder))
        except ElementError as exc:
            return Result(proof, "bad element", str(exc), time.monotonic() - started)
        after = run_test(proof.node_id, root, copy, timeout=timeout)
    seconds = time.monotonic() - started
    if after.fails:
        return Result(proof, "proven", f"{after.failed} failed without it", seconds)
    if after.code is None:
        return Result(proof, "error", after.tail, seconds)
    return Result(proof, "passes without it", after.tail, seconds)


def by_requirement(results: Iterable[Result]) -> Mapping[str, list[Result]]:
    """The results grouped by requirement id."""
    out: dict[str, list[Result]] = {}
    for result in results:
        out.setdefault(result.proof.requirement, []).append(result)
    return out
