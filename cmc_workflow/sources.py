"""Reading YAML sources within limits: what any file in a watched folder may cost us.

Every definition, policy, schedule and calendar file goes through :func:`read_source`
before a byte is parsed, and every YAML text is composed by :class:`LimitedLoader`:

- only a regular file is read (``E-FILE-KIND``): a FIFO, a device, a socket, a directory
  named ``x.yaml`` (or a symlink to one) is refused after ``stat``, and the file is opened
  with ``O_NONBLOCK`` so that a FIFO swapped in between never blocks the reader;
- at most :data:`MAX_FILE_BYTES` are read (``E-FILE-SIZE``): a 50 MB file took 40 to 65 s
  to load before, which froze a daemon's clock for as long;
- at most :data:`MAX_NODES` values are composed (``E-YAML-NODES``): pure-Python PyYAML
  composes about 10,000 values a second on a busy machine, so 1 MiB of dense flow YAML
  (240,000 values) took 20 s even under the size limit;
- nesting deeper than :data:`MAX_DEPTH` is refused at the node that crosses it
  (``E-YAML-DEPTH``): PyYAML composes recursively, and ~490 levels raised RecursionError;
- more than :data:`MAX_ANCHORS` anchors and aliases are refused (``E-YAML-ANCHORS``):
  200,000 anchors took 14 s to compose.

Each refusal is a located :class:`~cmc_workflow.errors.Problem` in English and Chinese.
This module is domain code: it reads files, nothing else.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from cmc_workflow.errors import Problem

MAX_FILE_BYTES = 256 << 10
"""The largest YAML file read (256 KiB; the biggest bundled file holds 16 KiB)."""

MAX_NODES = 20_000
"""The most values (scalars, mappings, lists, aliases) one document may hold; the biggest
bundled file holds 1,330."""

MAX_DEPTH = 64
"""The deepest nesting of mappings and lists (bundled files nest fewer than 10 levels)."""

MAX_ANCHORS = 1_000
"""How many anchors (``&a``) and aliases (``*a``) one document may hold, together."""


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


def read_source(path: str | Path) -> tuple[str | None, list[Problem]]:
    """The UTF-8 text of ``path``, or None and the problem that refused it.

    Never blocks and never reads more than :data:`MAX_FILE_BYTES` + 1 bytes.
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


def text_too_big(text: str, file: str) -> Problem | None:
    """The ``E-FILE-SIZE`` problem of a YAML text given directly (not from a file)."""
    if len(text) <= MAX_FILE_BYTES // 4:  # a UTF-8 character takes at most 4 bytes
        return None
    size = len(text.encode("utf-8", "surrogatepass"))
    return _size_problem(file, size) if size > MAX_FILE_BYTES else None


class LimitExceeded(yaml.MarkedYAMLError):
    """A document crossed :data:`MAX_DEPTH` or :data:`MAX_ANCHORS` (raised while composing)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem=problem.message)
        self.located = problem


class LimitedLoader(yaml.SafeLoader):
    """PyYAML's safe composer with a depth, a value and an anchor budget.

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
            raise LimitExceeded(self._nodes_problem(event.start_mark))
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            self._anchors += 1
            if self._anchors > MAX_ANCHORS:
                raise LimitExceeded(self._anchor_problem(event.start_mark))
        nested = isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent)
        if nested:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise LimitExceeded(self._depth_problem(event.start_mark))
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1

    def _depth_problem(self, mark: yaml.Mark) -> Problem:
        return Problem(
            self.file,
            mark.line + 1,
            mark.column + 1,
            "E-YAML-DEPTH",
            f"mappings and lists nest more than {MAX_DEPTH} levels deep here",
            "flatten the structure: definitions never need this depth",
            message_zh=f"映射和列表在此处嵌套超过 {MAX_DEPTH} 层",
            hint_zh="请减少嵌套层级：定义文件不需要这么深的结构",
        )

    def _nodes_problem(self, mark: yaml.Mark) -> Problem:
        return Problem(
            self.file,
            mark.line + 1,
            mark.column + 1,
            "E-YAML-NODES",
            f"the document holds more than {MAX_NODES:,} values",
            "split it into several files: no definition needs this many values",
            message_zh=f"文档中的取值超过 {MAX_NODES:,} 个",
            hint_zh="请拆分为多个文件：任何定义都不需要这么多取值",
        )

    def _anchor_problem(self, mark: yaml.Mark) -> Problem:
        return Problem(
            self.file,
            mark.line + 1,
            mark.column + 1,
            "E-YAML-ANCHORS",
            f"the document holds more than {MAX_ANCHORS} anchors and aliases",
            "write the values out, or split the file",
            message_zh=f"文档中的锚点和别名超过 {MAX_ANCHORS} 个",
            hint_zh="请直接写出取值，或拆分文件",
        )
