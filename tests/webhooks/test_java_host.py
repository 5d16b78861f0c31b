"""The Java host of ``docs/how-to-host-java-php.md``, run as written (``java
HostExample.java``, the JDK's single-file launch) against a live ``cmc-workflow serve``
on loopback: it starts an item, fires with ``If-Match``, gets 412 for a stale ETag, and
receives and verifies a signed webhook the runner sends. Skipped where ``java`` is absent.

Slow by nature (the JDK compiles the file at launch: a few seconds); it is the one test
that keeps the how-to from rotting."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cmc_workflow import Engine  # after the extras' skip
from cmc_workflow.webhooks.subscriptions import add_subscription
from tests.api.conftest import definitions, free_port, start_server
from tests.helpers.processes import Processes, wait_until

ROOT = Path(__file__).resolve().parents[2]
HOWTO = ROOT / "docs" / "how-to-host-java-php.md"

pytestmark = [
    pytest.mark.skipif(shutil.which("java") is None, reason="java is not installed"),
    pytest.mark.slow,
]


def java_source() -> str:
    """The one Java block of the how-to that declares ``class HostExample``."""
    blocks = re.findall(r"```java\n(.*?)```", HOWTO.read_text(encoding="utf-8"), re.S)
    (source,) = [b for b in blocks if "public class HostExample" in b]
    return source


def test_the_java_host_of_the_how_to_calls_the_api_and_verifies_a_webhook(
    sqlite_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "HostExample.java"
    source.write_text(java_source(), encoding="utf-8")
    port = free_port()
    with Processes() as processes:
        server = start_server(processes, sqlite_url, tmp_path)
        workflows, policies = definitions(tmp_path)
        # the runner keeps real time, as the server that writes the deliveries does
        with Engine.open(sqlite_url, workflows=workflows, policies=policies) as runner:
            added = add_subscription(
                runner.store,
                f"http://127.0.0.1:{port}/cmc-hook",
                events=["item.created"],
                created_by="pytest",
                now=runner.clock(),
            )
            env = {**os.environ, "CMC_TOKEN": server.token, "CMC_WEBHOOK_SECRET": added.secret}
            host = processes.start(
                ["java", str(source), server.url, "article", str(port)],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )

            def delivered() -> bool:
                # the runner's pass, as the daemon would make it, until the host has it
                runner.run_due()
                return host.poll() is not None

            wait_until(delivered, "the Java host to receive its webhook", every=0.5)
            output = host.communicate(timeout=60)[0]
    assert host.returncode == 0, output
    lines = output.splitlines()
    assert re.fullmatch(r'STARTED (\d+) "v1"', lines[0]), output
    item_id = lines[0].split()[1]
    assert lines[1] == 'FIRED 200 moved to review "v2"', output
    assert lines[2] == 'STALE 412 precondition_failed: reload, now "v2"', output
    assert lines[3] == f"WEBHOOK item.created item {item_id}", output
