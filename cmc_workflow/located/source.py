"""Reading a YAML file within limits: its kind (``E-FILE-KIND``), its size
(``E-FILE-SIZE``) and its encoding (``E-READ``), never blocking on a FIFO."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cmc_workflow.errors import Problem
from cmc_workflow.i18n import Text, tr

MAX_FILE_BYTES = 256 << 10
"""The largest YAML file read (256 KiB; the biggest bundled file holds 16 KiB)."""


def _kind(mode: int) -> Text:
    if stat.S_ISDIR(mode):
        return tr("a directory")
    if stat.S_ISFIFO(mode):
        return tr("a named pipe (FIFO)")
    if stat.S_ISSOCK(mode):
        return tr("a socket")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return tr("a device")
    return tr("not a regular file")


def _kind_problem(file: str, mode: int) -> Problem:
    return Problem.of(
        file,
        1,
        1,
        "E-FILE-KIND",
        tr("{kind} is named like a YAML file; only regular files are read", kind=_kind(mode)),
        tr("move it out of the folder or rename it (a symlink must point to a regular file)"),
    )


def _size_problem(file: str, size: int | None) -> Problem:
    if size is None:
        got = tr("more than {size:,} bytes", size=MAX_FILE_BYTES)
    else:
        got = tr("{size:,} bytes", size=size)
    return Problem.of(
        file,
        1,
        1,
        "E-FILE-SIZE",
        tr(
            "the file holds {got}; a YAML source may hold at most {limit:,}",
            got=got,
            limit=MAX_FILE_BYTES,
        ),
        tr("split it into several files, or remove what does not belong in a definition"),
    )


def _read_problem(file: str, exc: OSError) -> Problem:
    return Problem.of(
        file,
        1,
        1,
        "E-READ",
        tr("cannot read the file: {error}", error=exc.strerror or exc),
        tr("check that the file exists and is readable"),
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
        if any(0x4E00 <= ord(ch) <= 0x9FFF for ch in text):  # a CJK ideograph
            return name
    return None


def _encoding_problem(file: str, data: bytes, exc: UnicodeDecodeError) -> Problem:
    bad = f"0x{data[exc.start]:02X}"
    before_bad = data[: exc.start]
    line = before_bad.count(b"\n") + 1
    column = len(before_bad) - (before_bad.rfind(b"\n") + 1) + 1
    guess = guess_encoding(data)
    nothing = Text("", "")
    seems = tr("; it looks like {encoding} text", encoding=guess) if guess else nothing
    saved = tr(" (it is now {encoding})", encoding=guess) if guess else nothing
    return Problem.of(  # placed at 1:1 like every E-READ; the message says where
        file,
        1,
        1,
        "E-READ",
        tr(
            "the file is not UTF-8 text (byte {byte} at line {line}, column {column}){seems}",
            byte=bad,
            line=line,
            column=column,
            seems=seems,
        ),
        tr(
            "save the file as UTF-8 text{saved}: in Notepad choose File > Save As > "
            "Encoding: UTF-8; in VS Code click the encoding in the status bar > Save with "
            "Encoding > UTF-8",
            saved=saved,
        ),
    )


def text_too_big(text: str, file: str) -> Problem | None:
    """The ``E-FILE-SIZE`` problem of a YAML text given directly (not from a file)."""
    if len(text) <= MAX_FILE_BYTES // 4:  # a UTF-8 character takes at most 4 bytes
        return None
    size = len(text.encode("utf-8", "surrogatepass"))
    return _size_problem(file, size) if size > MAX_FILE_BYTES else None
