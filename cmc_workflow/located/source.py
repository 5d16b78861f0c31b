"""Reading a YAML file within limits: its kind (``E-FILE-KIND``), its size
(``E-FILE-SIZE``) and its encoding (``E-READ``), never blocking on a FIFO."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cmc_workflow.errors import Problem

MAX_FILE_BYTES = 256 << 10
"""The largest YAML file read (256 KiB; the biggest bundled file holds 16 KiB)."""


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


def read_source(path: str | Path) -> tuple[str | None, list[Problem]]:
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
        return None, [_encoding_problem(file, data, exc)]


_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def guess_encoding(data: bytes) -> str | None:
    """The encoding ``data`` (not UTF-8) was most likely saved in: ``UTF-16``/``UTF-32``
    (a byte-order mark, or the zero bytes of ASCII text in UTF-16), ``GBK`` (or
    ``GB18030``: what Chinese Windows calls ANSI), ``Big5``; None when none reads it."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    sample = data[:4096]
    if len(sample) >= 4 and sample.count(b"\x00") * 4 >= len(sample):
        return "UTF-16"  # ASCII text in UTF-16 has a zero byte in every other place
    for codec, name in (("gbk", "GBK"), ("gb18030", "GB18030"), ("big5", "Big5")):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if any("\u4e00" <= ch <= "\u9fff" for ch in text):
            return name
    return None


def _encoding_problem(file: str, data: bytes, exc: UnicodeDecodeError) -> Problem:
    bad = f"0x{data[exc.start]:02X}"
    before_bad = data[: exc.start]
    line = before_bad.count(b"\n") + 1
    column = len(before_bad) - (before_bad.rfind(b"\n") + 1) + 1
    guess = guess_encoding(data)
    seems = f"; it looks like {guess} text" if guess else ""
    seems_zh = f"，看起来是 {guess} 编码" if guess else ""
    saved = f" (it is now {guess})" if guess else ""
    saved_zh = f"（现在是 {guess}）" if guess else ""
    return Problem(  # placed at 1:1 like every E-READ; the message says where
        file,
        1,
        1,
        "E-READ",
        f"the file is not UTF-8 text (byte {bad} at line {line}, column {column}){seems}",
        f"save the file as UTF-8 text{saved}: in Notepad choose File > Save As > "
        "Encoding: UTF-8; in VS Code click the encoding in the status bar > Save with "
        "Encoding > UTF-8",
        message_zh=f"文件不是 UTF-8 文本（第 {line} 行第 {column} 列的字节 {bad}）{seems_zh}",
        hint_zh=f"请以 UTF-8 编码保存文件{saved_zh}：记事本中选“文件 > 另存为 > 编码: UTF-8”；"
        "VS Code 中点击状态栏的编码 > “通过编码保存” > UTF-8",
    )


def text_too_big(text: str, file: str) -> Problem | None:
    """The ``E-FILE-SIZE`` problem of a YAML text given directly (not from a file)."""
    if len(text) <= MAX_FILE_BYTES // 4:  # a UTF-8 character takes at most 4 bytes
        return None
    size = len(text.encode("utf-8", "surrogatepass"))
    return _size_problem(file, size) if size > MAX_FILE_BYTES else None
