"""The port and the in-memory store stay free of SQLAlchemy: the domain may import them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

STORE = Path(__file__).resolve().parents[2] / "cmc_workflow" / "store"
SQL_MODULES = ("audit", "database", "reports", "repository", "schema", "tables", "timers")


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports at run time (``TYPE_CHECKING`` blocks left out)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                names.update(alias.name for alias in inner.names)
            elif isinstance(inner, ast.ImportFrom) and inner.module:
                names.add(inner.module)
    return names


@pytest.mark.parametrize("module", ["port", "memory", "memory_time", "chain"])
def test_the_port_and_the_memory_store_import_no_sql(module: str) -> None:
    names = imported(STORE / f"{module}.py")
    assert not {n for n in names if n.split(".")[0] in ("sqlalchemy", "alembic")}
    assert not {n for n in names if n.removeprefix("cmc_workflow.store.") in SQL_MODULES}
    assert all(
        n.split(".")[0] != "cmc_workflow"
        # the message catalogue is standard library only, and errors imports it already
        or n in ("cmc_workflow.errors", "cmc_workflow.i18n", "cmc_workflow.model")
        or n.startswith("cmc_workflow.store.")
        for n in names
    )
