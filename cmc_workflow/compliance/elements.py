"""Elements of the definition files, named ``file#yaml.path``, and copies without one.

An element is what a test marked ``@pytest.mark.enforces("ID", element=...)`` says it
fails without: a node of a workflow or policy file, named by the file (relative to the
folder holding ``workflows/`` and ``policies/``) and a path of mapping keys and list
indexes, ``policies/statistics.yaml#workflows.self_media_statistics.forbid_data[0]`` or
``workflows/inspections/ins_05_self_media_statistics.yaml#states.collecting.transitions[0].guard``.

:func:`knockout_copy` writes a copy of the definition folders with that one node removed
(the mapping key deleted, or the list entry taken out): the knockout check
(:mod:`cmc_workflow.compliance.knockout`) runs the marked test against it. The changed
file is read with the project's own located reader and written back with
``yaml.safe_dump`` (comments and layout of that one file are lost in the copy; every
other file is copied as it is).
"""

from __future__ import annotations

import copy
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cmc_workflow.located import load_located

DEFINITION_FOLDERS: tuple[str, ...] = ("workflows", "policies")
"""The folders a knockout copy holds (the tests load both through ``tests.helpers``)."""

_SEGMENT = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")

Segment = str | int


class ElementError(ValueError):
    """An element that cannot be read or is not in its file."""


@dataclass(frozen=True, slots=True)
class Element:
    """A node of a definition file: ``file`` relative to the definitions' folder, and the
    keys and indexes that lead to it."""

    file: str
    path: tuple[Segment, ...]

    def __str__(self) -> str:
        text = ""
        for segment in self.path:
            text += f"[{segment}]" if isinstance(segment, int) else f".{segment}"
        return f"{self.file}#{text.removeprefix('.')}"


def parse_element(text: str) -> Element:
    """``file#a.b[0].c`` as an :class:`Element` (:class:`ElementError` when malformed)."""
    file, hash_, path = text.partition("#")
    if not hash_ or not file or not path:
        raise ElementError(
            f"element {text!r} is not 'file#yaml.path' (e.g. policies/x.yaml#a.b[0])"
        )
    if not file.startswith(tuple(f"{f}/" for f in DEFINITION_FOLDERS)) or ".." in file:
        raise ElementError(
            f"element {text!r} names {file!r}, which is not under "
            f"{' or '.join(f + '/' for f in DEFINITION_FOLDERS)}"
        )
    segments: list[Segment] = []
    position = 0
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None or match.end() == position:
            raise ElementError(f"element {text!r}: cannot read the path at {path[position:]!r}")
        key, index = match.groups()
        segments.append(int(index) if index is not None else key)
        position = match.end()
    return Element(file, tuple(segments))


def read_data(file: Path) -> Any:
    """The plain values of a definition file, read as the project reads it."""
    located, problems = load_located(file.read_text(encoding="utf-8"), str(file))
    if problems:
        raise ElementError(f"{file}: {problems[0]}")
    return located.data


def resolve(data: Any, element: Element) -> Any:
    """The node ``element`` names in ``data`` (:class:`ElementError` when it is not there)."""
    node = data
    for depth, segment in enumerate(element.path):
        try:
            fits = (isinstance(segment, int) and isinstance(node, list)) or (
                isinstance(segment, str) and isinstance(node, dict)
            )
            if fits:
                node = node[segment]
            else:
                raise LookupError(segment)
        except LookupError:
            walked = Element(element.file, element.path[: depth + 1])
            raise ElementError(f"{element}: {walked} is not in the file") from None
    return node


def without(data: Any, element: Element) -> Any:
    """A deep copy of ``data`` with the node ``element`` names removed."""
    if not element.path:
        raise ElementError(f"{element}: name a node inside the file, not the whole file")
    out = copy.deepcopy(data)
    parent = resolve(out, Element(element.file, element.path[:-1]))
    resolve(out, element)  # it exists
    last = element.path[-1]
    del parent[last]
    return out


def exists(root: Path, element: Element) -> bool:
    """Whether ``element`` names a node of its file under ``root``."""
    try:
        resolve(read_data(root / element.file), element)
    except (ElementError, OSError):
        return False
    return True


def knockout_copy(root: Path, element: Element, dest: Path) -> Path:
    """Copy ``root``'s definition folders into ``dest`` with ``element`` removed; returns
    ``dest`` (what ``CMC_TEST_DEFINITIONS`` then names)."""
    for folder in DEFINITION_FOLDERS:
        if (root / folder).is_dir():
            shutil.copytree(root / folder, dest / folder)
    target = dest / element.file
    if not target.is_file():
        raise ElementError(f"{element}: no file {element.file} under {root}")
    data = without(read_data(target), element)
    target.write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=4096), encoding="utf-8"
    )
    return dest
