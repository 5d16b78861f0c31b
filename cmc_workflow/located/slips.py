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
from cmc_workflow.i18n import tr

# The characters looked for are data, written as escapes: the full-width colon and comma,
# the ideographic space, the opening double and single quotation marks.
FULLWIDTH_COLON = "\uff1a"
FULLWIDTH_COMMA = "\uff0c"
IDEOGRAPHIC_SPACE = "\u3000"
OPENING_QUOTES = "\u201c\u2018"
_PAIRS = {"\u201c": "\u201c\u2026\u201d", "\u2018": "\u2018\u2026\u2019"}
"""Each opening quotation mark with its closing one, around an ellipsis."""

_KEY_AT_START = re.compile(r"^[ \u3000]*(?:-[ \u3000]+)?([A-Za-z_][\w.-]*)[ \u3000]*\uff1a")
_KEY_IN_FLOW = re.compile(r"[{,][ \u3000]*([A-Za-z_][\w.-]*)[ \u3000]*\uff1a")
_NEXT_KEY = re.compile(r"[A-Za-z_][\w.-]*[ \u3000]*[:\uff1a]")
_BLOCK_SCALAR = re.compile(r"(?:^|[:\-]\s)[ ]*[|>][+-]?[0-9]?[+-]?\s*$")
_QUOTE_VALUE = re.compile(r"(?:^[ ]*-[ ]+|:[ ]+|[\[{,][ ]*)([\u201c\u2018])")


def find_slips(text: str, file: str) -> list[Problem]:
    """Every full-width slip of ``text`` at a place where YAML needs punctuation, in file
    order; ``E-`` codes are errors, ``W-FULLWIDTH-QUOTE`` is a warning."""
    if not any(
        ch in text for ch in FULLWIDTH_COLON + FULLWIDTH_COMMA + IDEOGRAPHIC_SPACE + OPENING_QUOTES
    ):
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


_WORTH_READING = re.compile(r"[|>\uff1a\uff0c\u3000\u201c\u2018]")
"""A character a slip needs (or one that opens a block scalar): a line without any has
nothing to report and starts no block, so it is not blanked out character by character
(most lines of a file, even one with Chinese text in it)."""


def _code_lines(text: str) -> Iterator[tuple[int, str, str]]:
    """Each line outside block scalars that may hold a slip: its number, its text, and its
    text with comments and ASCII-quoted parts blanked out (same length, so columns stay)."""
    block_indent: int | None = None
    worth_reading = _WORTH_READING.search
    for number, line in enumerate(text.split("\n"), start=1):
        if block_indent is None and worth_reading(line) is None:
            continue
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if block_indent is not None:
            if not stripped.strip() or indent > block_indent:
                continue
            block_indent = None
            if worth_reading(line) is None:
                continue
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
        elif ch == FULLWIDTH_COMMA and open_:
            before = code[:i].rstrip(" \u3000")
            after = code[i + 1 :].lstrip(" \u3000")
            next_key = _NEXT_KEY.match(after) is not None and open_[-1] == "{"
            if before and after and (next_key or (before[-1].isascii() and after[0].isascii())):
                found.append(_comma(file, number, i + 1, in_list=open_[-1] == "["))
    return found


def _colon(file: str, line: int, column: int, key: str) -> Problem:
    return Problem.of(
        file,
        line,
        column,
        "E-FULLWIDTH-COLON",
        tr(
            "the key '{key}' is followed by a full-width colon '{colon}'; YAML only knows "
            "the half-width colon ':', so it reads the key and its value as one piece of text",
            key=key,
            colon=FULLWIDTH_COLON,
        ),
        tr(
            "replace the full-width colon '{colon}' with a half-width colon ':' followed by "
            "a space (switch the input method to half-width/English punctuation first)",
            colon=FULLWIDTH_COLON,
        ),
    )


def _comma(file: str, line: int, column: int, *, in_list: bool) -> Problem:
    """In ``[...]`` an error (entries are ids); in ``{...}`` a warning, since YAML may read
    the value as text with a comma in it (``en: Editor，Reviewer``); where the parser
    fails on that line it becomes the error (:func:`quote_errors`)."""
    return Problem.of(
        file,
        line,
        column,
        "E-FULLWIDTH-COMMA" if in_list else "W-FULLWIDTH-COMMA",
        tr(
            "a full-width comma '{comma}' separates two entries; YAML only separates entries "
            "with the half-width comma ',', so it reads both as one entry",
            comma=FULLWIDTH_COMMA,
        ),
        tr(
            "replace the full-width comma '{comma}' with a half-width comma ','",
            comma=FULLWIDTH_COMMA,
        ),
        severity="error" if in_list else "warning",
    )


def _space(file: str, line: int, column: int) -> Problem:
    return Problem.of(
        file,
        line,
        column,
        "E-FULLWIDTH-SPACE",
        tr(
            "a full-width space (U+3000) where YAML needs an ordinary space; YAML indents "
            "and separates with half-width spaces only"
        ),
        tr(
            "delete the full-width space and type ordinary spaces in half-width mode (one "
            "full-width space looks as wide as two ordinary ones)"
        ),
    )


def _quote(file: str, line: int, column: int, mark: str) -> Problem:
    return Problem.of(
        file,
        line,
        column,
        "W-FULLWIDTH-QUOTE",
        tr(
            "the value starts with a full-width quote {pair}, which YAML does not take as "
            "quotes: the marks stay part of the text",
            pair=_PAIRS[mark],
        ),
        tr(
            "if you meant to quote the text, use half-width quotes '…' or \"…\"; if the "
            "marks belong to the text, leave them"
        ),
        severity="warning",
    )
