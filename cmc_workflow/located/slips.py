"""Chinese-keyboard slips: full-width punctuation where YAML needs its ASCII twin.

An input method left in full-width mode types ``：`` for ``:``, ``，`` for ``,``, the
ideographic space U+3000 for a space and ``“”‘’`` for quotes. YAML takes all four as
ordinary text, so the parser either reads a key and its value as one string or fails a
line later with a message that never names the character. :func:`find_slips` looks for
them where the structure of the file needs punctuation, never in comments, quoted text or
block scalars (``|``/``>``), where Chinese punctuation is what the author meant:

- ``E-FULLWIDTH-COLON``: ``：`` right after a key (``type： userTask``, ``{zh： 编辑}``);
- ``E-FULLWIDTH-COMMA``: ``，`` between two entries of a ``[...]`` with ASCII on both sides
  (``[PUB-1， PUB-2]``); in a ``{...}``, before a key (``{zh: 编辑， en: Editor}``) or
  with ASCII on both sides, the warning ``W-FULLWIDTH-COMMA`` (the value may be
  English text with a comma), an error where the parser fails on that line; between
  Chinese words it is Chinese punctuation and left alone;
- ``E-FULLWIDTH-SPACE``: U+3000 in the indentation, or right after a key's colon;
- ``W-FULLWIDTH-QUOTE`` (a warning): a value that starts with ``“`` or ``‘``: the marks
  stay part of the text, which is right when they are meant as text. Where the parser
  fails on that line, the quote is the likely cause and becomes ``E-FULLWIDTH-QUOTE``.

Every slip is placed at its character (1-based line and column) and says the fix in
Chinese and English.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from cmc_workflow.errors import Problem

IDEOGRAPHIC_SPACE = "\u3000"

_KEY_AT_START = re.compile(r"^[ \u3000]*(?:-[ \u3000]+)?([A-Za-z_][\w.-]*)[ \u3000]*：")
_KEY_IN_FLOW = re.compile(r"[{,][ \u3000]*([A-Za-z_][\w.-]*)[ \u3000]*：")
_NEXT_KEY = re.compile(r"[A-Za-z_][\w.-]*[ \u3000]*[:：]")
_BLOCK_SCALAR = re.compile(r"(?:^|[:\-]\s)[ ]*[|>][+-]?[0-9]?[+-]?\s*$")
_QUOTE_VALUE = re.compile(r"(?:^[ ]*-[ ]+|:[ ]+|[\[{,][ ]*)([“‘])")


def find_slips(text: str, file: str) -> list[Problem]:
    """Every full-width slip of ``text`` at a place where YAML needs punctuation, in file
    order; ``E-`` codes are errors, ``W-FULLWIDTH-QUOTE`` is a warning."""
    if not any(ch in text for ch in "：，\u3000“‘"):
        return []  # the common case costs one scan
    found: list[Problem] = []
    for number, line, code in _code_lines(text):
        found += _line_slips(file, number, line, code)
    return found


def quote_errors(slips: list[Problem], line: int) -> list[Problem]:
    """The warnings of ``slips`` on ``line`` or the line before it, as errors (``W-`` ->
    ``E-``): the parser failed there, and a quote or a comma that is not YAML's is the
    likely cause."""
    return [
        replace(p, code="E-" + p.code.removeprefix("W-"), severity="error")
        for p in slips
        if not p.is_error and line - 1 <= p.line <= line
    ]


def _code_lines(text: str) -> Iterator[tuple[int, str, str]]:
    """Each line outside block scalars: its number, its text, and its text with comments
    and ASCII-quoted parts blanked out (same length, so columns stay)."""
    block_indent: int | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if block_indent is not None:
            if not stripped.strip() or indent > block_indent:
                continue
            block_indent = None
        code = _blank_quotes_and_comment(line)
        if _BLOCK_SCALAR.search(code.rstrip()):
            block_indent = indent
        yield number, line, code


def _blank_quotes_and_comment(line: str) -> str:
    out: list[str] = []
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            out.append(" ")
            if ch == quote:
                quote = ""
        elif ch == "#" and (i == 0 or line[i - 1] in " \t\u3000"):
            break
        elif ch in "'\"" and (i == 0 or line[i - 1] in " \t[{,:-"):
            quote = ch
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out).ljust(len(line))


def _line_slips(file: str, number: int, line: str, code: str) -> list[Problem]:
    found: list[Problem] = []
    indent = len(code) - len(code.lstrip(" \u3000-"))
    if IDEOGRAPHIC_SPACE in code[:indent]:
        found.append(_space(file, number, code.index(IDEOGRAPHIC_SPACE) + 1))
    else:
        after_colon = code.find(":" + IDEOGRAPHIC_SPACE)
        if after_colon >= 0:
            found.append(_space(file, number, after_colon + 2))
    for pattern in (_KEY_AT_START, _KEY_IN_FLOW):
        for match in pattern.finditer(code):
            found.append(_colon(file, number, match.end(), match.group(1)))
    found += _commas(file, number, code)
    for match in _QUOTE_VALUE.finditer(code):
        found.append(_quote(file, number, match.start(1) + 1, line[match.start(1)]))
    return sorted(found, key=lambda p: p.column)


def _commas(file: str, number: int, code: str) -> list[Problem]:
    found: list[Problem] = []
    open_: list[str] = []
    for i, ch in enumerate(code):
        if ch in "[{":
            open_.append(ch)
        elif ch in "]}":
            if open_:
                open_.pop()
        elif ch == "，" and open_:
            before = code[:i].rstrip(" \u3000")
            after = code[i + 1 :].lstrip(" \u3000")
            next_key = _NEXT_KEY.match(after) is not None and open_[-1] == "{"
            if before and after and (next_key or (before[-1].isascii() and after[0].isascii())):
                found.append(_comma(file, number, i + 1, in_list=open_[-1] == "["))
    return found


def _colon(file: str, line: int, column: int, key: str) -> Problem:
    return Problem(
        file,
        line,
        column,
        "E-FULLWIDTH-COLON",
        f"the key {key!r} is followed by a full-width colon '：'; YAML only knows the "
        "half-width colon ':', so it reads the key and its value as one piece of text",
        "replace the full-width colon '：' with a half-width colon ':' followed by a space "
        "(switch the input method to half-width/English punctuation first)",
        message_zh=f"键“{key}”后面是全角冒号“：”；YAML 只认半角冒号“:”，会把键和值当成一段文字",
        hint_zh="把全角冒号“：”改成半角冒号“:”，冒号后再空一格（先把输入法切换到半角/英文标点）",
    )


def _comma(file: str, line: int, column: int, *, in_list: bool) -> Problem:
    """In ``[...]`` an error (entries are ids); in ``{...}`` a warning, since YAML may read
    the value as text with a comma in it (``en: Editor，Reviewer``); where the parser
    fails on that line it becomes the error (:func:`quote_errors`)."""
    return Problem(
        file,
        line,
        column,
        "E-FULLWIDTH-COMMA" if in_list else "W-FULLWIDTH-COMMA",
        "a full-width comma '，' separates two entries; YAML only separates entries with "
        "the half-width comma ',', so it reads both as one entry",
        "replace the full-width comma '，' with a half-width comma ','",
        message_zh="两个条目之间用了全角逗号“，”；YAML 只认半角逗号“,”，会把两项读成一项",
        hint_zh="把全角逗号“，”改成半角逗号“,”",
        severity="error" if in_list else "warning",
    )


def _space(file: str, line: int, column: int) -> Problem:
    return Problem(
        file,
        line,
        column,
        "E-FULLWIDTH-SPACE",
        "a full-width space (U+3000) where YAML needs an ordinary space; YAML indents "
        "and separates with half-width spaces only",
        "delete the full-width space and type ordinary spaces in half-width mode (one "
        "full-width space looks as wide as two ordinary ones)",
        message_zh="此处有全角空格（U+3000）；YAML 的缩进和分隔只能用半角空格",
        hint_zh="删去全角空格，在半角状态下用空格键重新输入（一个全角空格看上去约等于两个半角空格）",
    )


def _quote(file: str, line: int, column: int, mark: str) -> Problem:
    pair = "“…”" if mark == "“" else "‘…’"
    return Problem(
        file,
        line,
        column,
        "W-FULLWIDTH-QUOTE",
        f"the value starts with a full-width quote {pair}, which YAML does not take as "
        "quotes: the marks stay part of the text",
        "if you meant to quote the text, use half-width quotes '…' or \"…\"; if the marks "
        "belong to the text, leave them",
        message_zh=f"值以全角引号 {pair} 开头，YAML 不把它当作引号：引号会成为文字的一部分",
        hint_zh="如需给文字加引号，请改用半角引号 '…' 或 \"…\"；如果引号本就是文字内容，可保留",
        severity="warning",
    )
