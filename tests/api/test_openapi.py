"""The OpenAPI document the server serves has an endpoint for every public Engine
operation (derived from the class, with a justified exclusion list), and the reference
in docs/api.md names every operation it serves."""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

import httpx

from cmc_workflow.engine import Engine
from tests.api.conftest import Server, definitions
from tests.helpers.processes import run

ROOT = Path(__file__).resolve().parents[2]

NOT_OVER_HTTP = {
    "open": "lifecycle: the server opens its one engine at start (cmc-workflow serve)",
    "close": "lifecycle: the server closes its engine when it stops",
    "reload": "the daemon's hot reload of definition files; a host system does not load YAML",
    "run_due": "the daemon's pass (timers, outbox); a host must not drive the clock",
    "deliver_outbox": "the daemon's delivery pass, as run_due",
    "run_due_work": "lifecycle: runs the due work inside the calling process (embedders)",
    "flush_delivery_marks": "the runner's stop writes its pending delivery marks; close does",
    "fire_system": "the engine's own steps (timers, deadlines) as the reserved system actor",
    "store": "the engine's parts, for the command line, the daemon and tests",
    "extensions": "the engine's parts, as store",
    "clock": "the engine's parts, as store",
    "handlers": "the engine's parts, as store (serviceTask handlers are Python callables)",
    "runner": "the engine's parts, as store",
    "deliver_inline": "the engine's parts, as store",
    "definitions": "the engine's parts; workflows, workflow and versions serve them",
}
"""Public Engine members with no endpoint, each with the reason."""


def public_operations() -> set[str]:
    return {name for name, _ in inspect.getmembers(Engine) if not name.startswith("_")}


def served_operations(document: dict[str, Any]) -> set[str]:
    return {
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def test_every_public_engine_operation_has_an_endpoint(server: Server) -> None:
    document = httpx.get(f"{server.url}/openapi.json", timeout=60.0).json()
    public = public_operations()
    assert set(NOT_OVER_HTTP) <= public, "an excluded name is no longer an Engine member"
    missing = public - set(NOT_OVER_HTTP) - served_operations(document)
    assert not missing, f"Engine operations without an endpoint: {sorted(missing)}"
    extra = {"report", "compliance", "add_days", "working_day", "who_can", "health"}
    assert extra <= served_operations(document)
    problem = document["components"]["schemas"]["ProblemOut"]
    assert {"type", "title", "status", "detail", "code"} <= set(problem["properties"])


def test_serve_openapi_prints_the_served_document(server: Server, tmp_path: Path) -> None:
    workflows, policies = definitions(tmp_path)
    printed = run(
        [
            sys.executable,
            "-m",
            "cmc_workflow",
            "serve",
            "--openapi",
            "--workflows",
            str(workflows),
            "--policies",
            str(policies),
        ],
        capture_output=True,
    )
    assert printed.returncode == 0, printed.stderr
    offline = json.loads(printed.stdout)
    served = httpx.get(f"{server.url}/openapi.json", timeout=60.0).json()
    assert offline == served


def test_the_reference_names_every_served_operation(server: Server) -> None:
    document = httpx.get(f"{server.url}/openapi.json", timeout=60.0).json()
    reference = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert f"`{method.upper()} {path}`" in reference, f"docs/api.md lacks {method} {path}"
            assert f"`{operation['operationId']}`" in reference
