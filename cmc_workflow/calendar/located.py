"""Located YAML for calendar files: text -> plain values plus the place of every node.

We never call ``yaml.load``. ``yaml.compose`` (with the safe loader's resolver) gives the
node tree with 0-based marks and constructs no objects; this module builds the plain
values itself, so no tag outside the YAML core (``!!python/...``, ``!!binary``, custom
``!tags``) and no alias can reach the models. Duplicate keys, which PyYAML silently
accepts, are reported. YAML 1.1 implicit typing is neutralised: only decimal integers
become ints, only ``YYYY-MM-DD`` timestamps become dates, and every other scalar (``on``,
``no``, ``1:30``, ``010``) stays the text that was written.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import yaml

from cmc_workflow.errors import Problem
from cmc_workflow.sources import LimitedLoader, LimitExceeded, text_too_big

Path = tuple[str | int, ...]
"""Where a value sits in the document: mapping keys and sequence indexes."""

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_TAG}{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")}
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(slots=True)
class LocatedDocument:
    """The plain value of one YAML document and the 1-based place of its nodes.

    ``values[path]`` is where the value at ``path`` starts; ``keys[path]`` is where the
    mapping key leading to ``path`` starts. ``problems`` lists what could not be read.
    """

    file: str
    data: object = None
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def place(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The place of ``path`` (its key if ``key``), else of its nearest known ancestor."""
        probe = tuple(path)
        while True:
            found = (self.keys.get(probe) if key else None) or self.values.get(probe)
            if found is not None:
                return found
            if not probe:
                return (1, 1)
            probe = probe[:-1]

    def problem(
        self, path: Path, code: str, message: str, hint: str = "", *, key: bool = False
    ) -> Problem:
        """A :class:`Problem` placed at ``path``."""
        line, column = self.place(path, key=key)
        return Problem(self.file, line, column, code, message, hint)


def _place(mark: yaml.Mark) -> tuple[int, int]:
    # PyYAML marks are 0-based; problems are 1-based.
    return (mark.line + 1, mark.column + 1)


def load_located(text: str, file: str) -> LocatedDocument:
    """Compose ``text`` (one YAML document) into plain values with places and problems."""
    doc = LocatedDocument(file=file)
    too_big = text_too_big(text, file)
    if too_big is not None:
        doc.problems.append(too_big)
        return doc
    loader = LimitedLoader(text, file)
    try:
        root = loader.get_single_node()
    except LimitExceeded as exc:
        doc.problems.append(exc.located)
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = _place(mark) if mark is not None else (1, 1)
        reason = exc.problem or exc.context or "not well-formed YAML"
        doc.problems.append(
            Problem(
                file,
                line,
                column,
                "E-CALENDAR-YAML",
                f"cannot read the YAML: {reason}",
                "check indentation and quoting; one document per file",
            )
        )
        return doc
    except yaml.YAMLError as exc:
        doc.problems.append(
            Problem(file, 1, 1, "E-CALENDAR-YAML", f"cannot read the YAML: {exc}", "")
        )
        return doc
    finally:
        loader.dispose()
    if root is not None:
        doc.data = _Builder(doc).build(root, ())
    return doc


class _Builder:
    """Turns composed nodes into plain values, recording places and problems."""

    def __init__(self, doc: LocatedDocument) -> None:
        self.doc = doc
        self.seen: set[int] = set()

    def refuse(self, node: yaml.Node, code: str, message: str, hint: str) -> None:
        line, column = _place(node.start_mark)
        self.doc.problems.append(Problem(self.doc.file, line, column, code, message, hint))

    def build(self, node: yaml.Node, path: Path) -> object:
        self.doc.values[path] = _place(node.start_mark)
        if id(node) in self.seen:
            self.refuse(
                node,
                "E-CALENDAR-TAG",
                "anchors and aliases are not supported",
                "write the value out in full",
            )
            return None
        self.seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            if node.tag != f"{_TAG}map":
                self.refuse(
                    node, "E-CALENDAR-TAG", f"tag {node.tag!r} is not allowed", "remove the tag"
                )
                return None
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != f"{_TAG}seq":
                self.refuse(
                    node, "E-CALENDAR-TAG", f"tag {node.tag!r} is not allowed", "remove the tag"
                )
                return None
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self.scalar(node)

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, object]:
        result: dict[str, object] = {}
        first_at: dict[str, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.refuse(
                    key_node,
                    "E-CALENDAR-TYPE",
                    "a key must be plain text",
                    "use a simple word as the key",
                )
                continue
            key = str(key_node.value)
            here = _place(key_node.start_mark)
            if key in first_at:
                line, _column = first_at[key]
                self.refuse(
                    key_node,
                    "E-CALENDAR-DUPLICATE-KEY",
                    f"duplicate key {key!r}",
                    f"the key is already given at line {line}; keep one",
                )
                continue
            first_at[key] = here
            self.doc.keys[(*path, key)] = here
            result[key] = self.build(value_node, (*path, key))
        return result

    def scalar(self, node: yaml.ScalarNode) -> object:
        text = str(node.value)
        if node.tag not in _SCALAR_TAGS:
            self.refuse(
                node,
                "E-CALENDAR-TAG",
                f"tag {node.tag!r} is not allowed",
                "remove the tag; write plain text, numbers and dates",
            )
            return None
        if node.tag == f"{_TAG}null":
            return None
        if node.tag == f"{_TAG}int" and _DECIMAL.fullmatch(text):
            return int(text)
        if node.tag == f"{_TAG}timestamp" and _ISO_DATE.fullmatch(text):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                return text  # the model reports "not a real date" at this place
        return text
