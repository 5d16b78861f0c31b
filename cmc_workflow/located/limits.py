"""Composing YAML within limits, with libyaml where PyYAML was built with it.

The pure-Python composer checks the limits in ``compose_node``, before it recurses; libyaml
composes without hooks, so the composed graph is checked afterwards, and anything over a
limit or refused by libyaml is composed again by the pure composer, whose refusals (placed
where the limit is crossed) are the reference.
"""

from __future__ import annotations

from typing import Any

import yaml

from cmc_workflow.errors import Problem
from cmc_workflow.i18n import tr

MAX_NODES = 20_000
"""The most values (scalars, mappings, lists, aliases) one document may hold; the biggest
bundled file holds 1,330."""

MAX_DEPTH = 64
"""The deepest nesting of mappings and lists (bundled files nest fewer than 10 levels)."""

MAX_ANCHORS = 1_000
"""How many anchors (``&a``) and aliases (``*a``) one document may hold, together."""


def _limit_problem(file: str, mark: yaml.Mark, code: str) -> Problem:
    line, column = mark.line + 1, mark.column + 1
    if code == "E-YAML-DEPTH":
        return Problem.of(
            file,
            line,
            column,
            code,
            tr("mappings and lists nest more than {limit} levels deep here", limit=MAX_DEPTH),
            tr("flatten the structure: definitions never need this depth"),
        )
    if code == "E-YAML-NODES":
        return Problem.of(
            file,
            line,
            column,
            code,
            tr("the document holds more than {limit:,} values", limit=MAX_NODES),
            tr("split it into several files: no definition needs this many values"),
        )
    return Problem.of(
        file,
        line,
        column,
        code,
        tr("the document holds more than {limit} anchors and aliases", limit=MAX_ANCHORS),
        tr("write the values out, or split the file"),
    )


class LimitExceeded(yaml.MarkedYAMLError):
    """A document crossed :data:`MAX_NODES`, :data:`MAX_DEPTH` or :data:`MAX_ANCHORS`."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem=problem.message)
        self.located = problem


class LimitedLoader(yaml.SafeLoader):
    """PyYAML's pure-Python safe composer with a depth, a value and an anchor budget.

    The check sits in ``compose_node``, before PyYAML recurses into a collection, so a
    deep document stops at level :data:`MAX_DEPTH` + 1 instead of exhausting the stack.
    """

    def __init__(self, stream: str, file: str = "<string>") -> None:
        super().__init__(stream)
        self.file = file
        self._depth = 0
        self._anchors = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML is untyped
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise LimitExceeded(_limit_problem(self.file, event.start_mark, "E-YAML-NODES"))
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            self._anchors += 1
            if self._anchors > MAX_ANCHORS:
                raise LimitExceeded(_limit_problem(self.file, event.start_mark, "E-YAML-ANCHORS"))
        nested = isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent)
        if nested:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise LimitExceeded(_limit_problem(self.file, event.start_mark, "E-YAML-DEPTH"))
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1


def compose_pure(text: str, file: str) -> list[yaml.Node]:
    """The documents of ``text``, composed in Python; raises :class:`LimitExceeded` at the
    node that crosses a limit, and PyYAML's errors as they are."""
    loader = LimitedLoader(text, file)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                documents.append(node)
        return documents
    finally:
        loader.dispose()


def compose_c(text: str) -> list[yaml.Node] | None:
    """The documents composed by libyaml, or None when the pure composer must say why not.

    libyaml composes without hooks, so the limits are checked on the graph afterwards:
    a graph over a limit, a text holding more ``&`` and ``*`` than anchors are allowed (an
    anchor never used is invisible in the graph) and any text libyaml refuses go to
    :func:`compose_pure`, whose refusals (stopping where the limit is crossed) and
    places are the reference."""
    if text.count("&") + text.count("*") > MAX_ANCHORS:
        return None
    loader = yaml.CSafeLoader(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                documents.append(node)
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    if len(documents) > 1 or (documents and not _within_limits(documents[0])):
        return None  # several documents are refused: the pure composer says how, exactly
    return documents


def _within_limits(root: yaml.Node) -> bool:
    """Whether the composed document stays within :data:`MAX_NODES` and :data:`MAX_DEPTH`.

    Counts like the pure composer does (every key, value and alias once; an alias is not
    entered again, so an alias bomb costs no more than its text), without recursion."""
    seen: set[int] = set()
    nodes = 1
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    scalar = yaml.ScalarNode
    while stack:  # collections in document order: an anchor is met before its aliases
        node, depth = stack.pop()
        if type(node) is scalar or id(node) in seen:
            continue
        seen.add(id(node))
        if depth > MAX_DEPTH:
            return False
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = node.value
        nodes += len(children)
        if nodes > MAX_NODES:
            return False
        for child in reversed(children):
            if type(child) is not scalar:
                stack.append((child, depth + 1))
    return True
