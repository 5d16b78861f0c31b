"""The committed API reference (``docs/api-reference.md``) is exactly what
``cmc-workflow serve --openapi-markdown`` generates from the OpenAPI document of the
code: a new or changed route that is not regenerated fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the API reference needs the api extra")

from cmc_workflow.api.app import create_app
from cmc_workflow.api.reference import markdown
from cmc_workflow.engine import assemble
from cmc_workflow.runner.assemble import load_definitions
from cmc_workflow.store.memory import MemoryStore

ROOT = Path(__file__).resolve().parents[2]


def generated() -> str:
    loaded = load_definitions([])
    with assemble(MemoryStore(), loaded) as engine:
        return markdown(create_app(engine, loaded=loaded).openapi())


def test_the_committed_reference_is_the_generated_one() -> None:
    committed = (ROOT / "docs" / "api-reference.md").read_text(encoding="utf-8")
    assert committed == generated(), (
        "docs/api-reference.md is stale: run "
        "`cmc-workflow serve --openapi-markdown > docs/api-reference.md`"
    )


def test_the_reference_names_every_operation_and_schema() -> None:
    loaded = load_definitions([])
    with assemble(MemoryStore(), loaded) as engine:
        document = create_app(engine, loaded=loaded).openapi()
    page = markdown(document)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert f"#### `{method.upper()} {path}`" in page
            assert f"`{operation['operationId']}`" in page
    for name in document["components"]["schemas"]:
        assert f"### {name}\n" in page
