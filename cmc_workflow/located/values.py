"""Building plain values from composed YAML nodes, with one YAML policy (see the package)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import yaml

from cmc_workflow.errors import Problem
from cmc_workflow.i18n import Text, tr
from cmc_workflow.located.document import Located, Mark, Path
from cmc_workflow.located.limits import MAX_DEPTH

MAX_EXPANDED = 100_000
"""How many values a document may expand to once aliases are followed (a guard against
"billion laughs" documents whose few lines of anchors and aliases expand exponentially)."""


_OCTAL_11 = re.compile(r"^[-+]?0[0-7_]+$")
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")
_TAG = "tag:yaml.org,2002:"
_CORE_TAGS = {
    f"{_TAG}{name}" for name in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")
}
_STR, _INT, _FLOAT, _BOOL = f"{_TAG}str", f"{_TAG}int", f"{_TAG}float", f"{_TAG}bool"
_NULL, _TIMESTAMP, _MERGE = f"{_TAG}null", f"{_TAG}timestamp", f"{_TAG}merge"


_new_mark = tuple.__new__  # Mark(...) without the generated __new__: one call per node


def mark_of(node: yaml.Node) -> Mark:
    at = node.start_mark
    return _new_mark(Mark, (at.line + 1, at.column + 1))


class Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.located = Located(file, None)
        self._open: set[int] = set()  # ids of the collection nodes being built (alias cycles)
        self._built: set[int] = set()  # ids of the nodes built once (a second time: an alias)
        self._count = 0
        self._too_big = False
        self._depth = 0  # collections being built; aliases can nest deeper than the text
        self._too_deep = False

    def problem(self, node: yaml.Node, code: str, message: Text, hint: Text | str = "") -> None:
        at = mark_of(node)
        self.problems.append(Problem.of(self.file, at.line, at.column, code, message, hint))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._count += 1
        if self._count > MAX_EXPANDED:
            if not self._too_big:
                self._too_big = True
                self.problem(
                    node,
                    "E-YAML-ALIAS",
                    tr(
                        "the document expands to more than {limit} values through aliases",
                        limit=MAX_EXPANDED,
                    ),
                    tr("write the values out instead of nesting aliases"),
                )
            return None
        self.located.values[path] = mark_of(node)
        ident = id(node)
        if ident in self._built:
            self.located.aliases.add(path)
        else:
            self._built.add(ident)
        if node.tag not in _CORE_TAGS:
            self.problem(
                node,
                "E-YAML-TAG",
                tr("tag {tag} is not allowed", tag=repr(node.tag)),
                tr("definitions use plain YAML: remove the tag"),
            )
            return None
        if isinstance(node, yaml.ScalarNode):
            shift = _inline_shift(node)
            if shift is not None:
                self.located.inline[path] = shift
            return self._scalar(node, path)
        if id(node) in self._open:
            self.problem(
                node,
                "E-YAML-ALIAS",
                tr("an alias refers to a mapping or list that contains it (a recursive structure)"),
                tr("an alias may only repeat a value defined before and outside it"),
            )
            return None
        if self._depth >= MAX_DEPTH:
            # each anchor nests under MAX_DEPTH, but an alias inside an anchored list
            # repeats the nesting: 100 anchors of 60 levels expanded to 6,000 levels
            if not self._too_deep:
                self._too_deep = True
                at = mark_of(node)
                self.problems.append(
                    Problem.of(
                        self.file,
                        at.line,
                        at.column,
                        "E-YAML-DEPTH",
                        tr(
                            "through aliases, mappings and lists nest more than {limit} "
                            "levels deep here",
                            limit=MAX_DEPTH,
                        ),
                        tr("write the values out instead of nesting aliases"),
                    )
                )
            return None
        self._open.add(id(node))
        self._depth += 1
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        finally:
            self._depth -= 1
            self._open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, Mark] = {}
        keys = self.located.keys
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.problem(
                    key_node,
                    "E-YAML-MERGE",
                    tr("merge keys (<<) are not allowed"),
                    tr("write the keys out; definitions must read the same to every tool"),
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(
                    key_node,
                    "E-YAML-KEY",
                    tr("a mapping key must be a plain name"),
                    tr("write the key as a name (text), not as a list or a mapping"),
                )
                continue
            key = str(key_node.value)
            if key in seen:
                first = seen[key]
                self.problem(
                    key_node,
                    "E-DUPLICATE-KEY",
                    tr(
                        "key {key} appears twice in one mapping (first at line {line})",
                        key=repr(key),
                        line=first.line,
                    ),
                    tr("YAML keeps only the last one silently; remove or rename one of them"),
                )
                continue
            here = mark_of(key_node)
            seen[key] = here
            at = (*path, key)
            keys[at] = here
            plain_bool = not key_node.style and key_node.tag == _BOOL
            if plain_bool and key.lower() not in ("true", "false"):
                self.located.ambiguous_keys[at] = "E-YAML-BOOL"
            result[key] = self.build(value_node, at)
        return result

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        value: str = node.value
        tag = node.tag
        if node.style or tag == _STR:  # quoted or block (libyaml: plain is ""): text
            return value
        if tag == _NULL:
            return None
        if tag == _BOOL:
            if value.lower() in ("true", "false"):
                return value.lower() == "true"
            self.located.ambiguous[path] = "E-YAML-BOOL"  # yes/no/on/off, any case
            return value
        if tag in (_INT, _FLOAT) and _SEXAGESIMAL.match(value):
            self.located.ambiguous[path] = "E-YAML-SEXAGESIMAL"
            return value
        if tag == _INT:
            if _OCTAL_11.match(value):
                self.located.ambiguous[path] = "E-YAML-OCTAL"
                return value
            try:
                return int(value.replace("_", ""), 0)
            except ValueError:
                return value
        if tag == _FLOAT:
            try:
                return float(value.replace("_", ""))
            except ValueError:
                return value
        if tag == _TIMESTAMP:
            return _timestamp(value)
        return value


def _inline_shift(node: yaml.ScalarNode) -> int | None:
    """0 or 1 when the scalar's text appears verbatim on one line after its mark, else None.

    Verbatim means the source span is exactly the value (plus the quotes): no escapes,
    no folding.
    """
    if node.start_mark.line != node.end_mark.line:
        return None
    span = node.end_mark.column - node.start_mark.column
    if not node.style and span == len(node.value):
        return 0
    if node.style in ("'", '"') and span == len(node.value) + 2:
        return 1
    return None


def _timestamp(value: str) -> dt.date | dt.datetime | str:
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        return dt.datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        return value
