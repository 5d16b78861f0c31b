"""The file kinds of the definition language, in one table, and the one loader for them all.

A definition folder holds YAML files of several kinds, told apart by their top-level
``kind`` (``workflow`` when absent). Each kind is listed once in :data:`KINDS`, with the
function that turns its located document into a model (or problems) and, optionally, the
check that needs every loaded file at once (policies against the workflows, schedules
against the workflows they start). Nothing registers itself on import. A ``kind:
migration`` plan is checked for its shape here; what it means against a database is
judged by :mod:`cmc_workflow.migration.run`.

Calendar files (``calendars/*.yaml``) have no ``kind``: they live in their own folder and
are read by :func:`cmc_workflow.calendar.load_calendar_dir` through the same located-YAML
reader (:mod:`cmc_workflow.located`).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cmc_workflow.definition.links import check_link_set
from cmc_workflow.definition.loader import (
    LoadedSet,
    LoadedWorkflow,
    content_hash,
    load_workflow_doc,
)
from cmc_workflow.definition.models import Workflow
from cmc_workflow.errors import Problem
from cmc_workflow.located import Located, load_located, read_source
from cmc_workflow.migration.plan import load_plan_doc
from cmc_workflow.policy.checks import build_policy_set
from cmc_workflow.policy.load import load_policy_doc
from cmc_workflow.schedules.language import check_set as _schedule_problems
from cmc_workflow.schedules.language import load_schedules_doc


@dataclass(frozen=True, slots=True)
class FileKind:
    """One kind of definition file."""

    name: str
    load: Callable[[Located], tuple[Any, list[Problem]]]
    """The located document -> its model, or the problems of the file alone."""
    check_set: Callable[[LoadedSet], list[Problem]] | None = None
    """The problems between files, run once every file loaded without problems."""


def _policy_problems(loaded: LoadedSet) -> list[Problem]:
    return build_policy_set(loaded)[1]


KINDS: Mapping[str, FileKind] = MappingProxyType(
    {
        "workflow": FileKind("workflow", load_workflow_doc),
        "schedules": FileKind("schedules", load_schedules_doc, _schedule_problems),
        "policy": FileKind("policy", load_policy_doc, _policy_problems),
        "migration": FileKind("migration", load_plan_doc),
    }
)
"""Every kind of definition file, by the name its ``kind:`` gives (checks run in this order)."""


def iter_yaml_files(paths: Iterable[str | Path]) -> list[Path]:
    """The ``*.yaml``/``*.yml`` entries named or found (recursively) under ``paths``, sorted.

    Every entry named like YAML is listed, whatever its kind: a directory, a FIFO or a
    device named ``x.yaml`` is refused by :func:`~cmc_workflow.located.read_source` with
    ``E-FILE-KIND`` rather than silently skipped."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            found.append(path)
    return found


def load_paths(paths: Sequence[str | Path], *, across: bool = True) -> LoadedSet:
    """Load every definition file under ``paths``; problems are collected, never raised.

    With ``across`` false, only each file's own problems are looked for, not those between
    files (a ``starts:`` naming a workflow not loaded): for drawing one workflow alone."""
    result = LoadedSet()
    with _collector_paused():
        for path in iter_yaml_files(paths):
            _load_file(path, result)
    if not result.problems and across:
        result.problems += check_link_set(result.workflows, result.located)
    if not result.problems and across:
        for kind in KINDS.values():
            if kind.check_set is not None:
                result.problems += kind.check_set(result)
    return result


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while files load.

    Reading a folder allocates some 100,000 small objects (nodes, marks, paths, values)
    that live on, so the collector ran again and again over the whole heap and took half
    of the loading time; none of them forms a cycle (a recursive alias is refused). Only
    a collector this call paused is resumed."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _load_file(path: Path, result: LoadedSet) -> None:
    file = str(path)
    text, problems = read_source(path)  # a FIFO, a device or a huge file is refused
    if text is None:
        result.problems += problems
        return
    doc, problems = load_located(text, file)
    if problems:
        result.problems += problems
        return
    if doc.data is None:
        result.problems.append(Problem(file, 1, 1, "E-EMPTY", "the file is empty"))
        return
    name = doc.data.get("kind", "workflow") if isinstance(doc.data, dict) else "workflow"
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        result.problems.append(
            doc.problem(
                ("kind",),
                "E-BAD-VALUE",
                f"unknown kind {name!r}",
                f"known kinds: {', '.join(sorted(KINDS))}",
            )
        )
        return
    model, problems = kind.load(doc)
    result.problems += problems
    if problems or model is None:
        return
    if isinstance(model, Workflow):
        if model.id in result.workflows:
            first = result.workflows[model.id].file
            result.problems.append(
                doc.problem(
                    ("id",),
                    "E-DUPLICATE-WORKFLOW",
                    f"workflow id {model.id!r} is already defined in {first}",
                )
            )
            return
        result.workflows[model.id] = LoadedWorkflow(model, text, file, content_hash(text))
        result.located[model.id] = doc
    else:
        result.others.setdefault(kind.name, []).append((doc, model))
