"""The runner builds its engine from definitions it read once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cmc_workflow import Engine
from cmc_workflow.definition.loader import LoadedSet
from cmc_workflow.errors import StoreError
from cmc_workflow.runner import assemble
from cmc_workflow.runner.daemon import DaemonConfig, build_engine
from tests.helpers import POLICIES, WORKFLOWS


def test_the_daemon_reads_its_definitions_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[list[Any]] = []
    load_paths = assemble.load_paths

    def counted(paths: list[Any], **options: Any) -> LoadedSet:
        reads.append(list(paths))
        return load_paths(paths, **options)

    def refused(*_args: Any, **_options: Any) -> Engine:
        raise AssertionError("Engine.open reads the definitions again")

    monkeypatch.setattr(assemble, "load_paths", counted)
    monkeypatch.setattr(Engine, "open", refused)
    config = DaemonConfig(
        db=f"sqlite:///{tmp_path / 'cmc.db'}", workflows=(WORKFLOWS,), policies=(POLICIES,)
    )
    engine, _clocks, schedules = build_engine(config)
    try:
        assert reads == [[WORKFLOWS, POLICIES]]
        assert "publishing" in engine.workflows
        assert schedules.schedules  # the schedules come from the same read
    finally:
        engine.close()


def test_a_read_only_command_never_creates_a_missing_sqlite_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    with (
        pytest.raises(StoreError, match="no database file"),
        assemble.existing_store(f"sqlite:///{missing}"),
    ):
        pass
    assert not missing.exists()
