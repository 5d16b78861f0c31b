"""The library is quiet in a host that configured no logging (issue 17: 21 info lines on
stdout at every ``Engine.open``), reaches a host's standard ``logging`` when it has one,
and structlog's configuration when the host (or the command line) made one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

OPEN = """
import sys
{setup}
from cmc_workflow import Engine
with Engine.open(sys.argv[1], workflows={workflows!r}, policies={policies!r}):
    pass
"""


def _open_in_a_host(tmp_path: Path, setup: str) -> subprocess.CompletedProcess[str]:
    script = OPEN.format(
        setup=setup, workflows=str(ROOT / "workflows"), policies=str(ROOT / "policies")
    )
    return subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{tmp_path / 'host.db'}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )


def test_an_unconfigured_host_hears_nothing_of_an_ordinary_open(tmp_path: Path) -> None:
    done = _open_in_a_host(tmp_path, "")
    assert done.stdout == ""
    assert done.stderr == ""


def test_a_host_with_standard_logging_gets_the_events_under_the_librarys_names(
    tmp_path: Path,
) -> None:
    setup = (
        "import logging\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(name)s %(message)s')"
    )
    done = _open_in_a_host(tmp_path, setup)
    lines = [line for line in done.stdout.splitlines() if "workflow_loaded" in line]
    assert len(lines) >= 20, done.stdout
    assert all(line.startswith("cmc_workflow.registry event='workflow_loaded'") for line in lines)
    assert done.stderr == ""


def test_a_host_that_configured_structlog_gets_the_events_through_it(tmp_path: Path) -> None:
    setup = (
        "import structlog\n"
        "structlog.configure(processors=[structlog.processors.JSONRenderer()],"
        " logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))"
    )
    done = _open_in_a_host(tmp_path, setup)
    assert done.stdout == ""
    assert '"event": "workflow_loaded"' in done.stderr


CONFIGURED_BY_THE_COMMAND_LINE = """
import json, sys
from cmc_workflow.log import Threshold, configure_logging, get_logger
threshold = Threshold()
configure_logging(json=True, threshold=threshold)
log = get_logger("cmc_workflow.probe")
log.info("below the threshold")
waited = "structlog" not in sys.modules
{then}
print(json.dumps(waited))
"""


def _configured_in_a_fresh_process(then: str) -> tuple[bool, str]:
    """configure_logging as the command line calls it, in a process that has not imported
    structlog: whether an event below the threshold left structlog unimported, and stderr."""
    done = subprocess.run(
        [sys.executable, "-c", CONFIGURED_BY_THE_COMMAND_LINE.format(then=then)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    return json.loads(done.stdout), done.stderr


def test_the_command_lines_configuration_is_made_by_the_first_event_that_passes() -> None:
    """A cold validate logs nothing: it need not import structlog (50-60 ms). The events
    that pass come out as configured, the threshold still moved per event."""
    then = (
        "log.warning('first', n=1)\n"
        "threshold.set('info', explicit=True)\n"
        "log.info('then', n=2)\n"
        "log.debug('below')"
    )
    waited, stderr = _configured_in_a_fresh_process(then)
    assert waited is True
    lines = [json.loads(line) for line in stderr.splitlines()]
    assert [(e["event"], e["level"], e.get("n")) for e in lines] == [
        ("first", "warning", 1),
        ("then", "info", 2),
    ]
    assert all(e["timestamp"].endswith("Z") for e in lines)


def test_a_configuration_made_after_the_command_lines_is_kept() -> None:
    """Who configures structlog last wins, as when the command line configured it at once."""
    then = (
        "import structlog\n"
        "structlog.configure(processors=[structlog.processors.KeyValueRenderer()],"
        " logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))\n"
        "log.warning('mine', n=1)"
    )
    waited, stderr = _configured_in_a_fresh_process(then)
    assert waited is True
    assert stderr.strip() == "n=1 event='mine'"
