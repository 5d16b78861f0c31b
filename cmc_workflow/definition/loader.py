"""Loading definition files: text -> located values -> models -> checks.

``load_workflow_text`` is the single entry for one workflow; ``load_paths`` walks files and
folders, routes each file by its top-level ``kind`` (default ``workflow``) to the loader
registered for that kind, and gathers every problem of every file.
"""

from __future__ import annotations

import difflib
import hashlib
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from cmc_workflow.definition.checks import check_workflow
from cmc_workflow.definition.links import check_link_set
from cmc_workflow.definition.loaded import LoadedSet as LoadedSet  # re-exported
from cmc_workflow.definition.loaded import LoadedWorkflow as LoadedWorkflow  # re-exported
from cmc_workflow.definition.located import Located, load_located
from cmc_workflow.definition.models import (
    IDENT_PATTERN,
    PERCENT_PATTERN,
    REQUIREMENT_PATTERN,
    Workflow,
)
from cmc_workflow.errors import DefinitionError, Problem
from cmc_workflow.sources import read_source

_TYPE_ERRORS = {
    "string_type": "text",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "dataclass_type": "a mapping",
}


KindLoader = Callable[[Located], tuple[Any, list[Problem]]]
"""Turns a located document of one kind into its model, or problems."""

_KIND_LOADERS: dict[str, KindLoader] = {}


def register_kind(kind: str, loader: KindLoader) -> None:
    """Register the loader for files whose top-level ``kind`` is ``kind``."""
    _KIND_LOADERS[kind] = loader


SetCheck = Callable[[LoadedSet], list[Problem]]
"""A check that needs every loaded file at once (e.g. policies against the workflows)."""

_SET_CHECKS: list[SetCheck] = []


def register_set_check(check: SetCheck) -> None:
    """Register a check that ``load_paths`` runs once every file loaded without problems
    (cross-file problems would only echo a broken file's own)."""
    if check not in _SET_CHECKS:
        _SET_CHECKS.append(check)


def content_hash(text: str) -> str:
    """The version identity of a definition: SHA-256 of its text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def problems_from_validation(
    exc: ValidationError, doc: Located, root: type[BaseModel] = Workflow
) -> list[Problem]:
    """Translate pydantic's errors into located problems with stable codes."""
    out: list[Problem] = []
    errors = exc.errors(include_url=False)
    # a misspelt key ('lable') also makes the real one ('label') missing: report the typo
    # once, as an unknown key with its "did you mean", not twice
    misspelt = {
        (*tuple(err["loc"])[:-1], guess)
        for err in errors
        if err["type"] == "extra_forbidden"
        and (guess := _suggestion(root, tuple(err["loc"]))) is not None
    }
    for err in errors:
        loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "missing" and loc in misspelt:
            continue
        if loc and loc[-1] == "[key]":
            # a mapping key itself is wrong (e.g. a state named 'Review'): place it at the key
            out.append(_bad_key(loc[:-1], err, doc))
            continue
        if kind == "extra_forbidden":
            out.append(_unknown_key(root, loc, doc))
        elif kind == "missing":
            out.append(
                doc.problem(
                    loc[:-1], "E-MISSING-KEY", f"required key {loc[-1]!r} is missing", key=True
                )
            )
        elif kind == "bad_duration":
            out.append(doc.problem(loc, "E-BAD-DURATION", err["msg"]))
        elif kind == "string_pattern_mismatch":
            code, hint = _pattern_hint(str(err.get("ctx", {}).get("pattern", "")))
            out.append(
                doc.problem(
                    loc,
                    code,
                    f"{_short(err['input'])} does not match {err.get('ctx', {}).get('pattern')}",
                    hint,
                )
            )
        elif kind in ("literal_error", "enum"):
            expected = err.get("ctx", {}).get("expected", "")
            out.append(
                doc.problem(
                    loc,
                    "E-BAD-VALUE",
                    f"{_short(err['input'])} is not allowed here; expected {expected}",
                )
            )
        elif kind in ("string_too_long", "string_too_short", "greater_than_equal"):
            out.append(doc.problem(loc, "E-BAD-VALUE", f"{_short(err['input'])}: {err['msg']}"))
        elif kind in _TYPE_ERRORS:
            out.append(
                doc.problem(
                    loc,
                    "E-TYPE",
                    f"expected {_TYPE_ERRORS[kind]}, got {type(err['input']).__name__} "
                    f"{_short(err['input'])}",
                    "quote text that YAML would read as a number or boolean",
                )
            )
        else:
            out.append(doc.problem(loc, "E-INVALID", err["msg"]))
    return out


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters so one bad value cannot flood a report."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pattern_hint(pattern: str) -> tuple[str, str]:
    """The code and hint for a string that does not match ``pattern``."""
    if pattern == IDENT_PATTERN:
        return "E-BAD-ID", "ids are lower_snake_case: a lowercase letter, then a-z, 0-9 or _"
    if pattern == REQUIREMENT_PATTERN:
        return "E-BAD-VALUE", "requirement ids look like PUB-5"
    if pattern == PERCENT_PATTERN:
        return "E-BAD-VALUE", "a share of the deadline, from '0%' to '100%', quoted or not"
    return "E-BAD-VALUE", ""


def _bad_key(path: tuple[Any, ...], err: Any, doc: Located) -> Problem:
    if err["type"] == "string_pattern_mismatch":
        code, hint = _pattern_hint(str(err.get("ctx", {}).get("pattern", "")))
        message = f"{_short(err['input'])} is not a valid name here"
    elif err["type"] == "string_too_long":
        code, hint = "E-BAD-ID", "ids are at most 64 characters"
        message = f"{_short(err['input'])} is too long for a name"
    else:
        code, hint, message = "E-BAD-ID", "", f"{_short(err['input'])}: {err['msg']}"
    return doc.problem(path, code, message, hint, key=True)


def _suggestion(root: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """The known key closest to the unknown key at ``loc``, if one is close."""
    model = _model_at(root, loc[:-1])
    if model is None:
        return None
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return close[0] if close else None


def _unknown_key(root: type[BaseModel], loc: tuple[Any, ...], doc: Located) -> Problem:
    key = str(loc[-1])
    hint = ""
    model = _model_at(root, loc[:-1])
    if model is not None:
        close = _suggestion(root, loc)
        known = ", ".join(model.model_fields)
        hint = f"did you mean {close!r}?" if close else f"known keys: {known}"
    return doc.problem(loc, "E-UNKNOWN-KEY", f"unknown key {key!r}", hint, key=True)


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class whose fields apply at ``loc``, found by walking the annotations."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            current = info.annotation
        elif typing.get_origin(current) in (list, dict):
            current = typing.get_args(current)[-1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to the interesting type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation


def load_workflow_doc(doc: Located) -> tuple[Workflow | None, list[Problem]]:
    """Validate and check one located workflow document."""
    if doc.data is None:
        return None, [Problem(doc.file, 1, 1, "E-EMPTY", "the file is empty")]
    if not isinstance(doc.data, dict):
        return None, [
            doc.problem(
                (), "E-TYPE", "a workflow file is a mapping with id, label, roles, start, states"
            )
        ]
    try:
        wf = Workflow.model_validate(doc.data)
    except ValidationError as exc:
        return None, problems_from_validation(exc, doc)
    return wf, check_workflow(wf, doc)


register_kind("workflow", load_workflow_doc)


def load_workflow_text(text: str, file: str = "<string>") -> LoadedWorkflow:
    """Load one workflow from YAML text or raise :class:`DefinitionError` with every problem."""
    doc, problems = load_located(text, file)
    if problems:
        raise DefinitionError(problems)
    wf, problems = load_workflow_doc(doc)
    if problems or wf is None:
        raise DefinitionError(problems)
    return LoadedWorkflow(wf, text, file, content_hash(text))


def iter_yaml_files(paths: Iterable[str | Path]) -> list[Path]:
    """The ``*.yaml``/``*.yml`` entries named or found (recursively) under ``paths``, sorted.

    Every entry named like YAML is listed, whatever its kind: a directory, a FIFO or a
    device named ``x.yaml`` is refused by :func:`~cmc_workflow.sources.read_source` with
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
    for path in iter_yaml_files(paths):
        file = str(path)
        text, problems = read_source(path)  # a FIFO, a device or a huge file is refused
        if text is None:
            result.problems += problems
            continue
        doc, problems = load_located(text, file)
        if problems:
            result.problems += problems
            continue
        if doc.data is None:
            result.problems.append(Problem(file, 1, 1, "E-EMPTY", "the file is empty"))
            continue
        kind = doc.data.get("kind", "workflow") if isinstance(doc.data, dict) else "workflow"
        loader = _KIND_LOADERS.get(kind) if isinstance(kind, str) else None
        if loader is None:
            result.problems.append(
                doc.problem(
                    ("kind",),
                    "E-BAD-VALUE",
                    f"unknown kind {kind!r}",
                    f"known kinds: {', '.join(sorted(_KIND_LOADERS))}",
                )
            )
            continue
        model, problems = loader(doc)
        result.problems += problems
        if problems or model is None:
            continue
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
                continue
            result.workflows[model.id] = LoadedWorkflow(model, text, file, content_hash(text))
            result.located[model.id] = doc
        else:
            result.others.setdefault(kind, []).append((doc, model))
    if not result.problems and across:
        result.problems += check_link_set(result.workflows, result.located)
    if not result.problems and across:
        for check in _SET_CHECKS:
            result.problems += check(result)
    return result
