"""Stage 1 of loading: YAML text -> plain Python values plus the place of every node.

PyYAML speaks YAML 1.1, whose implicit typing surprises people who write YAML by hand:
``on``/``no``/``yes`` become booleans, ``010`` becomes 8 and ``1:30`` becomes 90; duplicate
keys are silently accepted. We compose the node tree (which keeps line/column marks),
refuse those forms with a located problem, and build the values ourselves, so nothing
outside the YAML core (no ``!!python/...`` tags, no merge keys) ever reaches the models.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from cmc_workflow.definition.guards import GuardSyntaxError
from cmc_workflow.errors import Problem
from cmc_workflow.sources import MAX_DEPTH, LimitedLoader, LimitExceeded, text_too_big

Path = tuple[str | int, ...]

_BOOL_TRUE = {"true"}
_BOOL_FALSE = {"false"}
_BOOL_11 = re.compile(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")
_OCTAL_11 = re.compile(r"^[-+]?0[0-7_]+$")
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")
_CORE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based place in a file."""

    line: int
    column: int


@dataclass(slots=True)
class Located:
    """The plain value of a YAML document and the marks of its nodes by path.

    ``values[path]`` is where the value at ``path`` starts; ``keys[path]`` is where the
    mapping key that leads to ``path`` starts (useful for "unknown key" problems).
    """

    file: str
    data: Any
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)
    inline: dict[Path, int] = field(default_factory=dict)
    """For a one-line scalar whose characters appear in the file as they are (plain, or
    quoted without escapes): how far its text starts after its mark (0, or 1 for the
    quote). Lets a problem point at a character inside the value, e.g. in a guard."""

    def column_in(self, path: Path, offset: int) -> Mark:
        """The place of character ``offset`` of the string at ``path`` (else its start)."""
        at = self.mark(path)
        shift = self.inline.get(tuple(path))
        if shift is None:
            return at
        return Mark(at.line, at.column + shift + offset)

    def mark(self, path: Path, *, key: bool = False) -> Mark:
        """The mark nearest to ``path``: the path itself, else its closest ancestor."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while True:
            found = table.get(probe) or (self.values.get(probe) if key else None)
            if found is not None:
                return found
            if not probe:
                return Mark(1, 1)
            probe = probe[:-1]

    def problem(
        self, path: Path, code: str, message: str, hint: str = "", *, key: bool = False
    ) -> Problem:
        """A :class:`Problem` placed at ``path``."""
        at = self.mark(path, key=key)
        return Problem(self.file, at.line, at.column, code, message, hint)

    def expression_problem(
        self, path: Path, what: str, source: str, exc: GuardSyntaxError, hint: str
    ) -> Problem:
        """The problem of an expression (a guard, a condition) at ``path`` that does not
        compile, placed at the offending character."""
        at = self.column_in(path, exc.offset)
        message = f"{what} {source!r}: {exc} (at character {exc.offset + 1})"
        return Problem(self.file, at.line, at.column, exc.code, message, hint)


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


MAX_NODES = 100_000
"""How many nodes a document may expand to once aliases are followed (a guard against
"billion laughs" documents whose few lines of anchors and aliases expand exponentially)."""


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.located = Located(file, None)
        self._open: set[int] = set()  # ids of the collection nodes being built (alias cycles)
        self._count = 0
        self._too_big = False
        self._depth = 0  # collections being built; aliases can nest deeper than the text
        self._too_deep = False

    def problem(self, node: yaml.Node, code: str, message: str, hint: str = "") -> None:
        at = _mark(node)
        self.problems.append(Problem(self.file, at.line, at.column, code, message, hint))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._count += 1
        if self._count > MAX_NODES:
            if not self._too_big:
                self._too_big = True
                self.problem(
                    node,
                    "E-YAML-ALIAS",
                    f"the document expands to more than {MAX_NODES} values through aliases",
                    "write the values out instead of nesting aliases",
                )
            return None
        self.located.values[path] = _mark(node)
        if node.tag not in _CORE_TAGS:
            self.problem(
                node,
                "E-YAML-TAG",
                f"tag {node.tag!r} is not allowed",
                "definitions use plain YAML: remove the tag",
            )
            return None
        if isinstance(node, yaml.ScalarNode):
            shift = _inline_shift(node)
            if shift is not None:
                self.located.inline[path] = shift
            return self._scalar(node)
        if id(node) in self._open:
            self.problem(
                node,
                "E-YAML-ALIAS",
                "an alias refers to a mapping or list that contains it (a recursive structure)",
                "an alias may only repeat a value defined before and outside it",
            )
            return None
        if self._depth >= MAX_DEPTH:
            # each anchor nests under MAX_DEPTH, but an alias inside an anchored list
            # repeats the nesting: 100 anchors of 60 levels expanded to 6,000 levels
            if not self._too_deep:
                self._too_deep = True
                limit = self._depth_problem(node)
                self.problems.append(limit)
            return None
        self._open.add(id(node))
        self._depth += 1
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            assert isinstance(node, yaml.SequenceNode)
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        finally:
            self._depth -= 1
            self._open.discard(id(node))

    def _depth_problem(self, node: yaml.Node) -> Problem:
        at = _mark(node)
        return Problem(
            self.file,
            at.line,
            at.column,
            "E-YAML-DEPTH",
            f"through aliases, mappings and lists nest more than {MAX_DEPTH} levels deep here",
            "write the values out instead of nesting aliases",
            message_zh=f"经别名展开后，映射和列表在此处嵌套超过 {MAX_DEPTH} 层",
            hint_zh="请直接写出取值，不要嵌套使用别名",
        )

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problem(
                    key_node,
                    "E-YAML-MERGE",
                    "merge keys (<<) are not allowed",
                    "write the keys out; definitions must read the same to every tool",
                )
                continue
            key = self._key(key_node)
            if key is None:
                continue
            if key in seen:
                first = seen[key]
                self.problem(
                    key_node,
                    "E-DUPLICATE-KEY",
                    f"key {key!r} appears twice in one mapping (first at line {first.line})",
                    "YAML keeps only the last one silently; remove or rename one of them",
                )
                continue
            seen[key] = _mark(key_node)
            self.located.keys[(*path, key)] = _mark(key_node)
            result[key] = self.build(value_node, (*path, key))
        return result

    def _key(self, node: yaml.Node) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, "E-YAML-KEY", "a mapping key must be a plain name")
            return None
        if node.style is None and node.tag == "tag:yaml.org,2002:bool":
            if node.value in ("true", "false", "True", "False", "TRUE", "FALSE"):
                return str(node.value)
            self.problem(
                node,
                "E-YAML-BOOL",
                f"key {node.value!r} would be read as a boolean by YAML 1.1 tools",
                f"quote it: '{node.value}'",
            )
            return str(node.value)
        return str(node.value)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        value: str = node.value
        if node.style is not None:  # quoted or block scalar: always a string
            return value
        tag = node.tag
        if tag == "tag:yaml.org,2002:str":
            return value
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag == "tag:yaml.org,2002:bool":
            if value.lower() in _BOOL_TRUE:
                return True
            if value.lower() in _BOOL_FALSE:
                return False
            if _BOOL_11.match(value):
                self.problem(
                    node,
                    "E-YAML-BOOL",
                    f"{value!r} is a boolean in YAML 1.1 but a string in YAML 1.2",
                    f"write true/false, or quote it ('{value}') if you mean the word",
                )
            return value
        if tag == "tag:yaml.org,2002:int":
            if _SEXAGESIMAL.match(value):
                self.problem(
                    node,
                    "E-YAML-SEXAGESIMAL",
                    f"{value!r} is a base-60 number in YAML 1.1",
                    f"quote it ('{value}') if you mean a time of day",
                )
                return value
            if _OCTAL_11.match(value):
                self.problem(
                    node,
                    "E-YAML-OCTAL",
                    f"{value!r} is an octal number in YAML 1.1 but decimal in YAML 1.2",
                    f"drop the leading zero, or quote it ('{value}') if you mean a code",
                )
                return value
            text = value.replace("_", "")
            try:
                return int(text, 0)
            except ValueError:
                return value
        if tag == "tag:yaml.org,2002:float":
            if _SEXAGESIMAL.match(value):
                self.problem(
                    node,
                    "E-YAML-SEXAGESIMAL",
                    f"{value!r} is a base-60 number in YAML 1.1",
                    f"quote it ('{value}') if you mean a time of day",
                )
                return value
            try:
                return float(value.replace("_", ""))
            except ValueError:
                return value
        if tag == "tag:yaml.org,2002:timestamp":
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
    if node.style is None and span == len(node.value):
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


def load_located(text: str, file: str) -> tuple[Located, list[Problem]]:
    """Parse one YAML document into plain values and marks.

    Returns the located document and the problems found; a syntax error yields one
    ``E-YAML-SYNTAX`` problem and ``data`` None. An empty file yields ``data`` None. A text
    over the limits of :mod:`cmc_workflow.sources` yields ``E-FILE-SIZE``,
    ``E-YAML-DEPTH`` or ``E-YAML-ANCHORS`` and ``data`` None.
    """
    builder = _Builder(file)
    too_big = text_too_big(text, file)
    if too_big is not None:
        return builder.located, [too_big]
    try:
        documents = list(_compose_all(text, file))
    except LimitExceeded as exc:
        return builder.located, [exc.located]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        what = exc.problem or "invalid YAML"
        context = f" {exc.context}" if exc.context else ""
        started = exc.context_mark
        if started is not None and mark is not None and started.line != mark.line:
            context += f" (started at line {started.line + 1}, column {started.column + 1})"
        hint = "check indentation, colons and quotes"
        if "'\\t'" in what:
            hint = "indent with spaces: YAML does not allow tabs in indentation"
        elif what.startswith("mapping values are not allowed"):
            hint = (
                "a key on an earlier line may lack its colon, "
                "or a value containing ': ' needs quotes"
            )
        return builder.located, [
            Problem(file, line, column, "E-YAML-SYNTAX", f"{what}{context}", hint)
        ]
    except yaml.reader.ReaderError as exc:
        line, column = _place(text, exc.position)
        char = ord(exc.character) if isinstance(exc.character, str) else exc.character
        return builder.located, [
            Problem(
                file,
                line,
                column,
                "E-YAML-SYNTAX",
                f"character U+{char:04X} is not allowed in YAML ({exc.reason})",
                "remove the control character",
            )
        ]
    except yaml.YAMLError as exc:
        return builder.located, [Problem(file, 1, 1, "E-YAML-SYNTAX", str(exc))]
    if len(documents) > 1:
        at = _mark(documents[1])
        return builder.located, [
            Problem(
                file,
                at.line,
                at.column,
                "E-YAML-MULTIDOC",
                "a definition file holds exactly one YAML document",
                "split the documents into separate files",
            )
        ]
    if documents:
        builder.located.data = builder.build(documents[0], ())
    return builder.located, builder.problems


def _place(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of the character at ``position`` in ``text``."""
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def _compose_all(text: str, file: str) -> Iterator[yaml.Node]:
    loader = LimitedLoader(text, file)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node
    finally:
        loader.dispose()
