"""The file kinds of the definition language, in one table, and the one loader for them all.

A definition folder holds YAML files of several kinds, told apart by their top-level
``kind`` (``workflow`` when absent). Each kind is listed once in :data:`KINDS`, with the
function that turns its located document into a model (or problems) and, optionally, the
check that needs every loaded file at once (policies against the workflows, schedules
against the workflows they start). Nothing registers itself on import. A ``kind:
migration`` plan is checked for its shape here; what it means against a database is
judged by :mod:`cmc_workflow.migration.judge`.

Calendar files (``calendars/*.yaml``) have no ``kind``: they live in their own folder and
are read by :func:`cmc_workflow.calendar.load_calendar_dir` through the same located-YAML
reader (:mod:`cmc_workflow.located`). A file given here whose only keys are ``arrangement``
and ``local`` is recognised as one and checked the same way (``validate calendars/``).

:func:`load_isolated` loads for the commands that must go on when one workflow file is
broken: that file's workflows are disabled, not the others.
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cmc_workflow.calendar.files import check_across_files, parse_calendar_file
from cmc_workflow.definition.links import check_link_set
from cmc_workflow.definition.loader import (
    LoadedSet,
    LoadedWorkflow,
    content_hash,
    load_workflow_doc,
)
from cmc_workflow.definition.models import Workflow
from cmc_workflow.errors import DefinitionError, Problem
from cmc_workflow.i18n import joined, tr
from cmc_workflow.located import MAX_FILE_BYTES, Located, load_located, read_source
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


def _migration_plan(doc: Located) -> tuple[Any, list[Problem]]:
    """:func:`cmc_workflow.migration.plan.load_plan_doc`, imported with the first plan read
    (its models are built on import: an engine opening without one need not build them)."""
    from cmc_workflow.migration.plan import load_plan_doc

    return load_plan_doc(doc)


def _notifications(doc: Located) -> tuple[Any, list[Problem]]:
    """:func:`cmc_workflow.notify.config.load_notifications_doc`, imported with the first
    notifications file read (as :func:`_migration_plan`)."""
    from cmc_workflow.notify.config import load_notifications_doc

    return load_notifications_doc(doc)


def _one_notifications(loaded: LoadedSet) -> list[Problem]:
    """At most one notifications file in a set (who gets what must not depend on order)."""
    files = loaded.others.get("notifications", [])
    return [
        doc.problem(
            ("kind",),
            "E-NOTIFY-DUPLICATE",
            tr("a second notifications file"),
            tr("keep one: the first is {file}", file=files[0][0].file),
        )
        for doc, _ in files[1:]
    ]


KINDS: Mapping[str, FileKind] = MappingProxyType(
    {
        "workflow": FileKind("workflow", load_workflow_doc),
        "schedules": FileKind("schedules", load_schedules_doc, _schedule_problems),
        "policy": FileKind("policy", load_policy_doc, _policy_problems),
        "migration": FileKind("migration", _migration_plan),
        "notifications": FileKind("notifications", _notifications, _one_notifications),
    }
)
"""Every kind of definition file, by the name its ``kind:`` gives (checks run in this order)."""


YAML_SUFFIXES = (".yaml", ".yml")
"""The names of definition files: exactly these endings, in lower case."""

CALENDAR_KEYS = frozenset({"arrangement", "local"})
"""The top-level keys of a calendar file (``calendars/*.yaml``), which has no ``kind``."""


def iter_yaml_files(paths: Iterable[str | Path]) -> list[Path]:
    """The ``*.yaml``/``*.yml`` entries named or found (recursively) under ``paths``, sorted,
    each file once: the same file reached twice (a folder given as ``--workflows`` and
    ``--policies``, ``a/`` and ``a/x.yaml``, a symlinked folder) is listed at its first
    name. A symlink to a file is an entry of its own (it may point at a FIFO).

    Every entry named like YAML is listed, whatever its kind: a directory, a FIFO or a
    device named ``x.yaml`` is refused by :func:`~cmc_workflow.located.read_source` with
    ``E-FILE-KIND`` rather than silently skipped."""
    found: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            named = sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES)
        else:
            named = [path]
        for entry in named:
            try:  # the folder resolved, not the file: a symlinked file is its own entry
                real = entry.parent.resolve() / entry.name
            except (OSError, RuntimeError):  # a symlink loop: read_source reports it
                real = entry.absolute()
            if real not in seen:
                seen.add(real)
                found.append(entry)
    return found


def near_misses(paths: Iterable[str | Path]) -> list[Path]:
    """The files under the folders of ``paths`` named almost like definition files but not
    read: ``x.YAML``, ``x.Yml``, ``x.yaml.txt``, ``x.yaml.example`` ..."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            continue
        for entry in sorted(path.rglob("*")):
            name = entry.name.lower()
            if entry.suffix in YAML_SUFFIXES or not (".yaml" in name or ".yml" in name):
                continue
            found.append(entry)
    return found


def no_files_problem(paths: Sequence[str | Path]) -> Problem:
    """``E-NO-FILES``: nothing under ``paths`` is a definition file; near misses named."""
    where = ", ".join(str(p) for p in paths)
    misses = near_misses(paths)
    named = ", ".join(str(m) for m in misses[:10])
    if misses and all(m.name.lower().endswith(".example") for m in misses):
        hint = tr("an example is not read: copy it to a name ending in .yaml and edit the copy")
    else:
        hint = tr(
            "definition files end in .yaml or .yml, in lower case: rename x.YAML to x.yaml "
            "and x.yaml.txt to x.yaml (Windows may hide the .txt ending)"
        )
    message = (
        tr(
            "no definition file (*.yaml or *.yml) found in {where}; not read: {names}",
            where=where,
            names=named,
        )
        if misses
        else tr("no definition file (*.yaml or *.yml) found in {where}", where=where)
    )
    return Problem.of(where, 1, 1, "E-NO-FILES", message, hint)


def near_miss_warnings(paths: Sequence[str | Path]) -> list[Problem]:
    """``W-FILE-NAME`` for each near miss that is probably meant to be read (not a
    ``.example``, which is left out on purpose)."""
    out = []
    for miss in near_misses(paths):
        if miss.name.lower().endswith(".example"):
            continue
        stem = miss.name.split(".")[0]
        out.append(
            Problem.of(
                str(miss),
                1,
                1,
                "W-FILE-NAME",
                tr("this file is not read: definition files end in .yaml or .yml, in lower case"),
                tr("rename it to {stem}.yaml if it is a definition", stem=stem),
                severity="warning",
            )
        )
    return out


def load_paths(
    paths: Sequence[str | Path],
    *,
    across: bool = True,
    disabled: Mapping[str, str] | None = None,
) -> LoadedSet:
    """Load every definition file under ``paths``; problems are collected, never raised.

    With ``across`` false, only each file's own problems are looked for, not those between
    files (a ``starts:`` naming a workflow not loaded): for drawing one workflow alone.
    ``disabled`` names workflows (id -> file) set aside on purpose (:func:`load_isolated`):
    a policy naming one of them is not a problem, its rules are left out."""
    result = LoadedSet()
    result.disabled.update(disabled or {})
    with _collector_paused():
        for path in iter_yaml_files(paths):
            result.files.append(str(path))
            _load_file(path, result)
    if not result.problems and across:
        result.problems += check_link_set(result.workflows, result.located)
    if not result.problems and across:
        for kind in KINDS.values():
            if kind.check_set is not None:
                result.problems += kind.check_set(result)
    if not result.problems and across and "calendar" in result.others:
        calendars = [model for _, model in result.others["calendar"]]
        result.problems += check_across_files(calendars)
    return result


def load_isolated(paths: Sequence[str | Path]) -> LoadedSet:
    """Load ``paths`` so that a broken workflow (or schedules) file disables only what it
    holds: its workflows are listed in ``disabled`` (id -> file), its problems in
    ``set_aside``, and a ``W-DISABLED`` warning per file in ``warnings``; the other files
    load as usual. A workflow that needs a disabled one (a link, a guarded effect left
    without its policy) is disabled in turn.

    Policy files are never set aside (fail closed: a rule that cannot be read must not
    silently stop applying): a broken policy file, or a policy rule that reads the records
    of a disabled workflow (``cadence`` reads ``publishing``), leaves its problems in
    ``problems``, as :func:`load_paths` does, after those of the files set aside."""
    files = iter_yaml_files(paths)
    aside: dict[str, list[Problem]] = {}
    disabled: dict[str, str] = {}
    while True:
        loaded = load_paths([f for f in files if str(f) not in aside], disabled=disabled)
        if not loaded.problems:
            break
        by_file: dict[str, list[Problem]] = {}
        for problem in loaded.problems:
            by_file.setdefault(problem.file, []).append(problem)
        kinds = {file: loaded.kinds.get(file) or _guessed_kind(file) for file in by_file}
        stuck = any(file in aside or file not in loaded.files for file in by_file)
        if stuck or any(kind not in ("workflow", "schedules") for kind in kinds.values()):
            # a policy (or calendar) file is broken, or a policy reads the records of a
            # disabled workflow: everything stops, as before (fail closed), and the files
            # set aside on the way are named first, being the likely cause
            loaded.problems[:0] = [p for problems in aside.values() for p in problems]
            return loaded
        for file, problems in by_file.items():
            aside[file] = problems
            for wf_id in loaded.ids_in.get(file) or _guessed_ids(file):
                disabled[wf_id] = file
    loaded.set_aside = [p for problems in aside.values() for p in problems]
    loaded.disabled = {**loaded.disabled, **disabled}
    for file, problems in aside.items():
        ids = sorted(i for i, f in loaded.disabled.items() if f == file)
        loaded.warnings.append(_disabled_warning(file, problems, ids))
    return loaded


def _disabled_warning(file: str, problems: Sequence[Problem], ids: Sequence[str]) -> Problem:
    first = min(problems, key=lambda p: (p.line, p.column))
    what = (
        tr("the workflows it holds or that need it ({ids}) are", ids=joined(ids))
        if ids
        else tr("what it defines is")
    )
    return Problem.of(
        file,
        first.line,
        first.column,
        "W-DISABLED",
        tr(
            "this file has {count} problem(s), so {what} disabled until it is fixed; "
            "the other workflows work as usual",
            count=len(problems),
            what=what,
        ),
        tr("fix it (cmc-workflow validate {file} lists the problems)", file=file),
        severity="warning",
    )


_KIND_LINE = re.compile(rb"^kind[ \t]*(?::|\xef\xbc\x9a)[ \t]*['\"]?([A-Za-z_]+)", re.MULTILINE)
_ID_LINE = re.compile(rb"^id[ \t]*(?::|\xef\xbc\x9a)[ \t]*['\"]?([a-z][a-z0-9_]*)", re.MULTILINE)


def _head(file: str) -> bytes:
    """The first bytes of a regular file (never blocks on a FIFO), or nothing."""
    try:
        if not Path(file).is_file():
            return b""
        with open(file, "rb") as handle:
            return handle.read(MAX_FILE_BYTES)
    except OSError:
        return b""


def _guessed_kind(file: str) -> str:
    """The kind a file that could not be read as YAML declares (``workflow`` without
    ``kind:``), read from its raw bytes."""
    found = _KIND_LINE.search(_head(file))
    return found.group(1).decode() if found else "workflow"


def _guessed_ids(file: str) -> list[str]:
    """The workflow id a file that could not be loaded declares, from its raw bytes."""
    found = _ID_LINE.search(_head(file))
    return [found.group(1).decode()] if found else []


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
    result.warnings += doc.warnings
    if problems:
        result.problems += problems
        return
    if doc.data is None:
        result.problems.append(Problem.of(file, 1, 1, "E-EMPTY", tr("the file is empty")))
        return
    if _is_calendar(doc.data):
        result.kinds[file] = "calendar"
        try:
            calendar = parse_calendar_file(text, file)
        except DefinitionError as exc:
            result.problems += exc.problems
            return
        result.others.setdefault("calendar", []).append((doc, calendar))
        return
    name = doc.data.get("kind", "workflow") if isinstance(doc.data, dict) else "workflow"
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        result.problems.append(
            doc.problem(
                ("kind",),
                "E-BAD-VALUE",
                tr("unknown kind {name}", name=repr(name)),
                tr(
                    "known kinds: {kinds} (calendar files have no kind: only arrangement: and "
                    "local:)",
                    kinds=joined(sorted(KINDS)),
                ),
            )
        )
        return
    result.kinds[file] = kind.name
    ident = doc.data.get("id") if kind.name == "workflow" and isinstance(doc.data, dict) else None
    if isinstance(ident, str):
        result.ids_in[file] = [ident]
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
                    tr(
                        "workflow id {id} is already defined in {first}",
                        id=repr(model.id),
                        first=first,
                    ),
                )
            )
            result.ids_in[file] = []  # the id stays the first file's
            return
        result.workflows[model.id] = LoadedWorkflow(model, text, file, content_hash(text))
        result.located[model.id] = doc
    else:
        result.others.setdefault(kind.name, []).append((doc, model))


def _is_calendar(data: Any) -> bool:
    """A calendar file: a mapping without ``kind`` whose keys are calendar keys only."""
    return (
        isinstance(data, dict) and "kind" not in data and bool(data) and set(data) <= CALENDAR_KEYS
    )
