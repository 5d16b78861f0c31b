"""The one located-YAML reader: a file or a text -> plain values + the place of every node.

Over 400 lines on purpose: reading within limits, composing and building values are one
pipeline, and every file kind (workflow, policy, schedules, calendar) goes through it.

Stages, for every file kind:

1. :func:`read_source` reads a regular file of at most :data:`MAX_FILE_BYTES` as UTF-8
   (``E-FILE-KIND``, ``E-FILE-SIZE``, ``E-READ``), without ever blocking on a FIFO.
2. The text is composed into PyYAML's node graph with libyaml (``yaml.CSafeLoader``) when
   PyYAML was built with it (about 15x faster), else with the pure-Python composer. The
   graph is checked, identity-aware and without recursion, against :data:`MAX_NODES`,
   :data:`MAX_DEPTH` and :data:`MAX_ANCHORS` before any value is built (``E-YAML-NODES``,
   ``E-YAML-DEPTH``, ``E-YAML-ANCHORS``). libyaml refuses nesting beyond 1,000 levels by
   itself, so a deep file can never exhaust the stack. Whenever libyaml reports an error,
   or a text holds more ``&``/``*`` than anchors are allowed, the text is composed again
   by :class:`LimitedLoader` (the pure composer with the limits hooked into
   ``compose_node``), so a refusal reads and is placed exactly the same with both
   composers.
3. Values are built from the nodes by this module, never by ``yaml.load``: only the YAML
   core tags pass (``E-YAML-TAG``), duplicate keys (``E-DUPLICATE-KEY``), merge keys
   (``E-YAML-MERGE``), non-scalar keys (``E-YAML-KEY``), recursive aliases and alias
   expansion past :data:`MAX_EXPANDED` values (``E-YAML-ALIAS``) are refused.

The YAML policy, one for every file kind: PyYAML reads YAML 1.1, whose implicit typing
differs from YAML 1.2 (what editors and most tools read). A plain ``yes``/``no``/``on``/
``off``/``y``/``n`` (any case), a number with a leading zero (``010``) and a base-60 number
(``1:30``) are ambiguous: they stay the text that was written, and :class:`Located`
remembers where they are (``ambiguous``, ``ambiguous_keys``). Where a model then wants a
boolean or a number (or refuses the text), the problem carries ``E-YAML-BOOL``,
``E-YAML-OCTAL`` or ``E-YAML-SEXAGESIMAL`` with a hint to write ``true``/``false``, to drop
the zero or to quote (see :mod:`cmc_workflow.problems`). ``true``/``false`` (any case),
decimal, hexadecimal and binary integers, floats, ``~``/``null``, dates and date-times keep
their YAML core meaning.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, NamedTuple, Protocol

import yaml

from cmc_workflow.errors import Problem

Path = tuple[str | int, ...]
"""Where a value sits in a document: mapping keys and list indexes."""

MAX_FILE_BYTES = 256 << 10
"""The largest YAML file read (256 KiB; the biggest bundled file holds 16 KiB)."""

MAX_NODES = 20_000
"""The most values (scalars, mappings, lists, aliases) one document may hold; the biggest
bundled file holds 1,330."""

MAX_DEPTH = 64
"""The deepest nesting of mappings and lists (bundled files nest fewer than 10 levels)."""

MAX_ANCHORS = 1_000
"""How many anchors (``&a``) and aliases (``*a``) one document may hold, together."""

MAX_EXPANDED = 100_000
"""How many values a document may expand to once aliases are followed (a guard against
"billion laughs" documents whose few lines of anchors and aliases expand exponentially)."""

C_LOADER = bool(getattr(yaml, "__with_libyaml__", False))
"""Whether PyYAML was built with libyaml: then documents are composed in C."""


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
        self, path: Path, what: str, source: str, exc: ExpressionError, hint: str
    ) -> Problem:
        """The problem of an expression (a guard, a condition) at ``path`` that does not
        compile, placed at the offending character."""
        at = self.column_in(path, exc.offset)
        message = f"{what} {source!r}: {exc} (at character {exc.offset + 1})"
        return Problem(self.file, at.line, at.column, exc.code, message, hint)


class ExpressionError(Protocol):
    """What :meth:`Located.expression_problem` needs of an error in an expression
    (:class:`~cmc_workflow.definition.guards.GuardSyntaxError`)."""

    @property
    def offset(self) -> int: ...

    @property
    def code(self) -> str: ...


# -- reading a file within limits -------------------------------------------------------------


def _kind(mode: int) -> tuple[str, str]:
    if stat.S_ISDIR(mode):
        return "a directory", "目录"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)", "命名管道 (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket", "套接字"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device", "设备文件"
    return "not a regular file", "非普通文件"


def _kind_problem(file: str, mode: int) -> Problem:
    en, zh = _kind(mode)
    return Problem(
        file,
        1,
        1,
        "E-FILE-KIND",
        f"{en} is named like a YAML file; only regular files are read",
        "move it out of the folder or rename it (a symlink must point to a regular file)",
        message_zh=f"{zh}的名字像 YAML 文件；只读取普通文件",
        hint_zh="把它移出该目录或改名（符号链接须指向普通文件）",
    )


def _size_problem(file: str, size: int | None) -> Problem:
    got = f"{size:,} bytes" if size is not None else f"more than {MAX_FILE_BYTES:,} bytes"
    return Problem(
        file,
        1,
        1,
        "E-FILE-SIZE",
        f"the file holds {got}; a YAML source may hold at most {MAX_FILE_BYTES:,}",
        "split it into several files, or remove what does not belong in a definition",
        message_zh=f"文件过大（{got}）；YAML 文件最多 {MAX_FILE_BYTES:,} 字节",
        hint_zh="拆分为多个文件，或删去不属于定义的内容",
    )


def _read_problem(file: str, exc: OSError) -> Problem:
    return Problem(
        file,
        1,
        1,
        "E-READ",
        f"cannot read the file: {exc.strerror or exc}",
        "check that the file exists and is readable",
        message_zh=f"无法读取文件：{exc.strerror or exc}",
        hint_zh="检查文件是否存在且可读",
    )


def read_source(path: str | FsPath) -> tuple[str | None, list[Problem]]:
    """The UTF-8 text of ``path``, or None and the problem that refused it.

    Only a regular file is read (a FIFO, a device, a socket, a directory named ``x.yaml``
    is refused after ``stat``, and the file is opened with ``O_NONBLOCK`` so that a FIFO
    swapped in between never blocks); never more than :data:`MAX_FILE_BYTES` + 1 bytes.
    """
    file = str(path)
    try:
        before = os.stat(path)  # follows a symlink: its target is what would be read
    except OSError as exc:
        return None, [_read_problem(file, exc)]
    if not stat.S_ISREG(before.st_mode):
        return None, [_kind_problem(file, before.st_mode)]
    if before.st_size > MAX_FILE_BYTES:
        return None, [_size_problem(file, before.st_size)]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        return None, [_read_problem(file, exc)]
    try:
        opened = os.fstat(fd)  # the file may have been swapped since the stat above
        if not stat.S_ISREG(opened.st_mode):
            return None, [_kind_problem(file, opened.st_mode)]
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        return None, [_read_problem(file, exc)]
    finally:
        os.close(fd)
    if size > MAX_FILE_BYTES:
        return None, [_size_problem(file, None)]
    data = b"".join(chunks)
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        bad = f"0x{data[exc.start]:02X}"
        before_bad = data[: exc.start]
        line = before_bad.count(b"\n") + 1
        column = len(before_bad) - (before_bad.rfind(b"\n") + 1) + 1
        return None, [
            Problem(  # placed at 1:1 like every E-READ; the message says where
                file,
                1,
                1,
                "E-READ",
                f"the file is not UTF-8 text (byte {bad} at line {line}, column {column})",
                "save the file as UTF-8 text",
                message_zh=f"文件不是 UTF-8 文本（第 {line} 行第 {column} 列的字节 {bad}）",
                hint_zh="请以 UTF-8 编码保存文件",
            )
        ]


def text_too_big(text: str, file: str) -> Problem | None:
    """The ``E-FILE-SIZE`` problem of a YAML text given directly (not from a file)."""
    if len(text) <= MAX_FILE_BYTES // 4:  # a UTF-8 character takes at most 4 bytes
        return None
    size = len(text.encode("utf-8", "surrogatepass"))
    return _size_problem(file, size) if size > MAX_FILE_BYTES else None


# -- composing within limits ------------------------------------------------------------------


def _limit_problem(file: str, mark: yaml.Mark, code: str) -> Problem:
    line, column = mark.line + 1, mark.column + 1
    if code == "E-YAML-DEPTH":
        return Problem(
            file,
            line,
            column,
            code,
            f"mappings and lists nest more than {MAX_DEPTH} levels deep here",
            "flatten the structure: definitions never need this depth",
            message_zh=f"映射和列表在此处嵌套超过 {MAX_DEPTH} 层",
            hint_zh="请减少嵌套层级：定义文件不需要这么深的结构",
        )
    if code == "E-YAML-NODES":
        return Problem(
            file,
            line,
            column,
            code,
            f"the document holds more than {MAX_NODES:,} values",
            "split it into several files: no definition needs this many values",
            message_zh=f"文档中的取值超过 {MAX_NODES:,} 个",
            hint_zh="请拆分为多个文件：任何定义都不需要这么多取值",
        )
    return Problem(
        file,
        line,
        column,
        code,
        f"the document holds more than {MAX_ANCHORS} anchors and aliases",
        "write the values out, or split the file",
        message_zh=f"文档中的锚点和别名超过 {MAX_ANCHORS} 个",
        hint_zh="请直接写出取值，或拆分文件",
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


def _compose_pure(text: str, file: str) -> list[yaml.Node]:
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


def _compose_c(text: str) -> list[yaml.Node] | None:
    """The documents composed by libyaml, or None when the pure composer must say why not.

    libyaml composes without hooks, so the limits are checked on the graph afterwards:
    a graph over a limit, a text holding more ``&`` and ``*`` than anchors are allowed (an
    anchor never used is invisible in the graph) and any text libyaml refuses go to
    :func:`_compose_pure`, whose refusals (stopping where the limit is crossed) and
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
    if documents and not _within_limits(documents[0]):
        return None  # more documents are refused before values are built
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


def _compose(text: str, file: str, *, pure: bool) -> list[yaml.Node]:
    if not pure and C_LOADER:
        documents = _compose_c(text)
        if documents is not None:
            return documents
    return _compose_pure(text, file)


# -- building values --------------------------------------------------------------------------

_BOOL_11 = re.compile(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")
_OCTAL_11 = re.compile(r"^[-+]?0[0-7_]+$")
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")
_TAG = "tag:yaml.org,2002:"
_CORE_TAGS = {
    f"{_TAG}{name}" for name in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")
}


_new_mark = tuple.__new__  # Mark(...) without the generated __new__: one call per node


def _mark(node: yaml.Node) -> Mark:
    at = node.start_mark
    return _new_mark(Mark, (at.line + 1, at.column + 1))


class _Builder:
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

    def problem(self, node: yaml.Node, code: str, message: str, hint: str = "") -> None:
        at = _mark(node)
        self.problems.append(Problem(self.file, at.line, at.column, code, message, hint))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._count += 1
        if self._count > MAX_EXPANDED:
            if not self._too_big:
                self._too_big = True
                self.problem(
                    node,
                    "E-YAML-ALIAS",
                    f"the document expands to more than {MAX_EXPANDED} values through aliases",
                    "write the values out instead of nesting aliases",
                )
            return None
        self.located.values[path] = _mark(node)
        ident = id(node)
        if ident in self._built:
            self.located.aliases.add(path)
        else:
            self._built.add(ident)
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
            return self._scalar(node, path)
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
                at = _mark(node)
                self.problems.append(
                    Problem(
                        self.file,
                        at.line,
                        at.column,
                        "E-YAML-DEPTH",
                        f"through aliases, mappings and lists nest more than {MAX_DEPTH} "
                        "levels deep here",
                        "write the values out instead of nesting aliases",
                        message_zh=f"经别名展开后，映射和列表在此处嵌套超过 {MAX_DEPTH} 层",
                        hint_zh="请直接写出取值，不要嵌套使用别名",
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
        for key_node, value_node in node.value:
            if key_node.tag == f"{_TAG}merge":
                self.problem(
                    key_node,
                    "E-YAML-MERGE",
                    "merge keys (<<) are not allowed",
                    "write the keys out; definitions must read the same to every tool",
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, "E-YAML-KEY", "a mapping key must be a plain name")
                continue
            key = str(key_node.value)
            if key in seen:
                first = seen[key]
                self.problem(
                    key_node,
                    "E-DUPLICATE-KEY",
                    f"key {key!r} appears twice in one mapping (first at line {first.line})",
                    "YAML keeps only the last one silently; remove or rename one of them",
                )
                continue
            here = _mark(key_node)
            seen[key] = here
            self.located.keys[(*path, key)] = here
            plain_bool = not key_node.style and key_node.tag == f"{_TAG}bool"
            if plain_bool and key.lower() not in ("true", "false"):
                self.located.ambiguous_keys[(*path, key)] = "E-YAML-BOOL"
            result[key] = self.build(value_node, (*path, key))
        return result

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        value: str = node.value
        tag = node.tag
        if node.style or tag == f"{_TAG}str":  # quoted or block (libyaml: plain is ""): text
            return value
        if tag == f"{_TAG}null":
            return None
        if tag == f"{_TAG}bool":
            if value.lower() in ("true", "false"):
                return value.lower() == "true"
            if _BOOL_11.match(value):
                self.located.ambiguous[path] = "E-YAML-BOOL"
            return value
        if tag in (f"{_TAG}int", f"{_TAG}float") and _SEXAGESIMAL.match(value):
            self.located.ambiguous[path] = "E-YAML-SEXAGESIMAL"
            return value
        if tag == f"{_TAG}int":
            if _OCTAL_11.match(value):
                self.located.ambiguous[path] = "E-YAML-OCTAL"
                return value
            try:
                return int(value.replace("_", ""), 0)
            except ValueError:
                return value
        if tag == f"{_TAG}float":
            try:
                return float(value.replace("_", ""))
            except ValueError:
                return value
        if tag == f"{_TAG}timestamp":
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


# -- the reader -------------------------------------------------------------------------------


def load_located(text: str, file: str, *, pure: bool = False) -> tuple[Located, list[Problem]]:
    """Parse one YAML document into plain values and marks.

    Returns the located document and the problems found; a syntax error yields one
    ``E-YAML-SYNTAX`` problem and ``data`` None. An empty file yields ``data`` None. A text
    over the limits yields ``E-FILE-SIZE``, ``E-YAML-NODES``, ``E-YAML-DEPTH`` or
    ``E-YAML-ANCHORS`` and ``data`` None. ``pure`` composes with the pure-Python loader
    even where libyaml is installed (the two give the same values, marks and problems).
    """
    builder = _Builder(file)
    too_big = text_too_big(text, file)
    if too_big is not None:
        return builder.located, [too_big]
    try:
        documents = _compose(text, file, pure=pure)
    except LimitExceeded as exc:
        return builder.located, [exc.located]
    except yaml.YAMLError as exc:
        return builder.located, [_syntax_problem(exc, text, file)]
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


def read_located(path: str | FsPath) -> tuple[str | None, Located | None, list[Problem]]:
    """Read and parse the file at ``path``: its text, its located document, its problems.

    The text is None when the file was refused; the document is None when it was refused
    or is not YAML (``data`` None with no problem: the file is empty)."""
    file = str(path)
    text, problems = read_source(path)
    if text is None:
        return None, None, problems
    doc, problems = load_located(text, file)
    return text, (None if problems else doc), problems


def _syntax_problem(exc: yaml.YAMLError, text: str, file: str) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
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
        return Problem(file, line, column, "E-YAML-SYNTAX", f"{what}{context}", hint)
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = _place(text, exc.position)
        char = ord(exc.character) if isinstance(exc.character, str) else exc.character
        return Problem(
            file,
            line,
            column,
            "E-YAML-SYNTAX",
            f"character U+{char:04X} is not allowed in YAML ({exc.reason})",
            "remove the control character",
        )
    return Problem(file, 1, 1, "E-YAML-SYNTAX", str(exc))


def _place(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of the character at ``position`` in ``text``."""
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1
