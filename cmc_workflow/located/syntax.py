"""The YAML parser's errors in plain words (``E-YAML-SYNTAX``), Chinese and English.

PyYAML says what its grammar expected (``expected <block end>, but found '<block mapping
start>'``, ``mapping values are not allowed here``); the people who edit these files are
not programmers. :func:`syntax_problem` keeps the parser's place and says instead what is
wrong with the lines around it and how to fix it, looking at their indentation and
colons. The full-width slips that cause most of these errors are found first by
:mod:`.slips`.
"""

from __future__ import annotations

import re

import yaml

from cmc_workflow.errors import Problem
from cmc_workflow.i18n import Text, tr

_KEY_VALUE = re.compile(r"^[ ]*(?:-[ ]+)?[^\s#'\"][^#]*?:(?:[ ]+(\S.*))?$")


def syntax_problem(exc: yaml.YAMLError, text: str, file: str) -> Problem:
    """The ``E-YAML-SYNTAX`` problem of a text PyYAML refused, placed where it stopped."""
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = place(text, exc.position)
        char = ord(exc.character) if isinstance(exc.character, str) else exc.character
        return Problem.of(
            file,
            line,
            column,
            "E-YAML-SYNTAX",
            tr(
                "character U+{code:04X} is not allowed in YAML ({reason})",
                code=char,
                reason=exc.reason,
            ),
            tr("remove the control character (often pasted in from another program)"),
        )
    if not isinstance(exc, yaml.MarkedYAMLError):
        message = tr("the file is not valid YAML: {error}", error=str(exc))
        return Problem.of(file, 1, 1, "E-YAML-SYNTAX", Text(str(exc), message.zh))
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    started = exc.context_mark
    start = (started.line + 1, started.column + 1) if started is not None else None
    lines = text.split("\n")
    what = exc.problem or ""
    message, hint = _explain(what, exc.context or "", lines, line, column, start)
    return Problem.of(file, line, column, "E-YAML-SYNTAX", message, hint)


def place(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of the character at ``position`` in ``text``."""
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _previous(lines: list[str], line: int) -> int | None:
    """The 1-based number of the last line before ``line`` holding more than a comment."""
    for number in range(line - 1, 0, -1):
        body = lines[number - 1].strip()
        if body and not body.startswith("#"):
            return number
    return None


def _explain(
    what: str,
    context: str,
    lines: list[str],
    line: int,
    column: int,
    start: tuple[int, int] | None,
) -> tuple[Text, Text]:
    """The message and hint for the parser's ``what``."""
    started = (
        tr(" (it started at line {line}, column {column})", line=start[0], column=start[1])
        if start
        else Text("", "")
    )
    if "'\\t'" in what:
        return (
            tr("a tab character: YAML indents with spaces only"),
            tr(
                "indent with spaces: YAML does not allow tabs in indentation (set the editor "
                "to insert spaces for the Tab key)"
            ),
        )
    if what.startswith("mapping values are not allowed"):
        return _mapping_value(lines, line, column)
    if what.startswith("expected <block end>") or what.startswith("did not find expected"):
        return _misaligned(lines, line, start, started)
    if what.startswith("could not find expected ':'"):
        at = start[0] if start else line
        return (
            tr(
                "line {line} holds text where a key is expected, but no colon follows it, so "
                "YAML cannot tell the key from its value",
                line=at,
            ),
            tr(
                "write 'key: value' on line {line} (a half-width colon and a space after the "
                "key), or indent the line further if it continues the text above",
                line=at,
            ),
        )
    if "end of stream" in what and "quoted" in context:
        return (
            tr("a quotation mark opened{started} is never closed", started=started),
            tr("add the closing quotation mark (the same kind, ' or \", as the opening one)"),
        )
    if what.startswith("expected ',' or") or "flow" in context:
        closing = "}" if "mapping" in context else "]"
        return (
            tr(
                "a list in brackets or a mapping in braces{started} is not closed where expected",
                started=started,
            ),
            tr(
                "close it with '{closing}' on the same line, and separate its entries with "
                "half-width commas ','",
                closing=closing,
            ),
        )
    if what.startswith("found undefined alias"):
        return (
            tr("{what}: '*name' repeats a value marked '&name' earlier in the file", what=what),
            tr("mark the value with '&name' before using '*name', or write the value out"),
        )
    if "found unknown escape character" in what or "found unexpected" in what:
        return (
            tr(
                "the text here cannot be read as YAML ({what}){started}", what=what, started=started
            ),
            tr(
                'check the quotes on this line: inside "…" a backslash starts an escape; use '
                "'…' for text with backslashes"
            ),
        )
    return (
        tr(
            "the file is not valid YAML here ({what}){started}",
            what=what or "invalid YAML",
            started=started,
        ),
        tr("check the indentation, the colons and the quotes on this line and the one before"),
    )


def _mapping_value(lines: list[str], line: int, column: int) -> tuple[Text, Text]:
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    before = _previous(lines, line)
    prior = lines[before - 1] if before is not None else ""
    if before is not None and _indent(here) >= _indent(prior):
        body = prior.split("#")[0].strip()
        if ":" not in body and not body.startswith(("-", "[", "{", "'", '"')):
            return (
                tr(
                    "line {before} has no colon after its key, so YAML reads line {line} as "
                    "part of its text",
                    before=before,
                    line=line,
                ),
                tr(
                    "add a colon after the key on line {before} (for example '{fix}')",
                    before=before,
                    fix=_key_fix(body),
                ),
            )
        match = _KEY_VALUE.match(prior)
        if _indent(here) > _indent(prior) and match is not None and match.group(1):
            return (
                tr(
                    "line {line} is indented further than line {before}, so YAML reads it as "
                    "part of the value on line {before}, and a key cannot start there",
                    line=line,
                    before=before,
                ),
                tr(
                    "line up line {line} with line {before} (start it at column {column}, "
                    "with {spaces} spaces)",
                    line=line,
                    before=before,
                    column=_indent(prior) + 1,
                    spaces=_indent(prior),
                ),
            )
    return (
        tr(
            "a second ': ' (colon and space) on line {line}, at column {column}: YAML takes "
            "it as the start of another key, which cannot stand inside a value",
            line=line,
            column=column,
        ),
        tr(
            "put the value in quotes ('…') when it contains ': ', or split the line into one "
            "key per line"
        ),
    )


def _key_fix(body: str) -> str:
    """``type userTask`` -> ``type: userTask``; ``draft`` -> ``draft:``."""
    key, _, rest = body.partition(" ")
    return f"{key}: {rest.strip()}" if rest.strip() else f"{key}:"


def _misaligned(
    lines: list[str], line: int, start: tuple[int, int] | None, started: Text
) -> tuple[Text, Text]:
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    spaces = _indent(here)
    columns = sorted(
        {_indent(lines[n - 1]) + 1 for n in [_previous(lines, line)] if n is not None}
        | ({start[1]} if start else set())
    )
    places = [tr("column {column}", column=c) for c in columns]
    separator = tr(" or ")
    where = (
        Text(separator.en.join(p.en for p in places), separator.zh.join(p.zh for p in places))
        if places
        else tr("the column of the keys above")
    )
    return (
        tr(
            "line {line} is indented by {spaces} spaces, which lines up with no key above "
            "it: the keys of one block must start in the same column{started}",
            line=line,
            spaces=spaces,
            started=started,
        ),
        tr(
            "start line {line} in {where}, like the keys it belongs with (line up keys of the "
            "same level exactly, with spaces)",
            line=line,
            where=where,
        ),
    )
