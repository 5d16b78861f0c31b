"""A located YAML document: its plain value and the 1-based place of every key and value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from cmc_workflow.errors import Problem
from cmc_workflow.i18n import Text, tr

Path = tuple[str | int, ...]
"""Where a value sits in a document: mapping keys and list indexes."""


class Mark(NamedTuple):
    """A 1-based place in a file (a ``(line, column)`` pair)."""

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
    ambiguous: dict[Path, str] = field(default_factory=dict)
    """The plain scalars that YAML 1.1 reads as a boolean or a number and YAML 1.2 as text,
    kept as text, with the code of their trap (``E-YAML-BOOL``, ...)."""
    ambiguous_keys: dict[Path, str] = field(default_factory=dict)
    """The same for mapping keys (``on:``), by the path they lead to."""
    aliases: set[Path] = field(default_factory=set)
    """The paths whose value repeats an anchored one (``*name``)."""
    warnings: list[Problem] = field(default_factory=list)
    """What looks like a slip but is used as written (``W-`` codes, e.g. a value that
    starts with a full-width quote); never a reason to refuse the file."""

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
        self,
        path: Path,
        code: str,
        message: Text | str,
        hint: Text | str = "",
        *,
        key: bool = False,
    ) -> Problem:
        """A :class:`Problem` placed at ``path``; ``message`` and ``hint`` are
        :func:`~cmc_workflow.i18n.tr` texts (both languages) or plain English."""
        at = self.mark(path, key=key)
        return Problem.of(self.file, at.line, at.column, code, message, hint)

    def expression_problem(
        self, path: Path, what: Text, source: str, exc: ExpressionError, hint: Text
    ) -> Problem:
        """The problem of an expression (``what``: a guard, a condition) at ``path`` that
        does not compile, placed at the offending character."""
        at = self.column_in(path, exc.offset)
        message = tr(
            "{what} {source}: {why} (at character {position})",
            what=what,
            source=repr(source),
            why=exc.text,
            position=exc.offset + 1,
        )
        return Problem.of(self.file, at.line, at.column, exc.code, message, hint)


class ExpressionError(Protocol):
    """What :meth:`Located.expression_problem` needs of an error in an expression
    (:class:`~cmc_workflow.definition.guards.GuardSyntaxError`)."""

    @property
    def offset(self) -> int: ...

    @property
    def code(self) -> str: ...

    @property
    def text(self) -> Text: ...
