"""The unguarded publishing copy (``tests.helpers``): a file of this test run's own,
written again when something cleaned the temporary folder during the run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import (
    PUBLISHING,
    UNGUARDED_ENV,
    UNGUARDED_PUBLISHING,
    _run_folder,
    unguarded,
)


def test_the_copy_is_the_workflow_without_its_effects() -> None:
    text = UNGUARDED_PUBLISHING.read_text(encoding="utf-8")
    assert "effects:" not in text
    assert text.count("\n") < PUBLISHING.read_text(encoding="utf-8").count("\n")


def test_the_copy_lives_in_this_runs_folder_not_a_name_shared_by_every_run() -> None:
    folder = Path(os.environ[UNGUARDED_ENV])  # set for the processes the run starts
    assert UNGUARDED_PUBLISHING.parents[1] == folder
    assert folder.name.startswith("cmc-unguarded-run-")


def test_a_cleaned_copy_is_written_again(tmp_path: Path) -> None:
    first = unguarded(PUBLISHING, tmp_path / "run")
    shutil.rmtree(tmp_path / "run")  # what a clean of /tmp during a run did
    again = unguarded(PUBLISHING, tmp_path / "run")
    assert again == first
    assert again.read_text(encoding="utf-8") == UNGUARDED_PUBLISHING.read_text(encoding="utf-8")


def test_a_run_makes_its_folder_once_and_its_children_inherit_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(UNGUARDED_ENV)
    made = _run_folder()  # removed when this process exits
    assert made.is_dir()
    assert os.environ[UNGUARDED_ENV] == str(made)
    assert _run_folder() == made  # what a child (an xdist worker, a command) reads
