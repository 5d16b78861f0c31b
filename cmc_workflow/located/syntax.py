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

_KEY_VALUE = re.compile(r"^[ ]*(?:-[ ]+)?[^\s#'\"][^#]*?:(?:[ ]+(\S.*))?$")


def syntax_problem(exc: yaml.YAMLError, text: str, file: str) -> Problem:
    """The ``E-YAML-SYNTAX`` problem of a text PyYAML refused, placed where it stopped."""
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = place(text, exc.position)
        char = ord(exc.character) if isinstance(exc.character, str) else exc.character
        return Problem(
            file,
            line,
            column,
            "E-YAML-SYNTAX",
            f"character U+{char:04X} is not allowed in YAML ({exc.reason})",
            "remove the control character (often pasted in from another program)",
            message_zh=f"YAML 中不允许出现字符 U+{char:04X}（控制字符）",
            hint_zh="删去这个控制字符（常由其他程序复制粘贴带入）",
        )
    if not isinstance(exc, yaml.MarkedYAMLError):
        return Problem(file, 1, 1, "E-YAML-SYNTAX", str(exc), message_zh=f"YAML 格式错误：{exc}")
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    started = exc.context_mark
    start = (started.line + 1, started.column + 1) if started is not None else None
    lines = text.split("\n")
    what = exc.problem or ""
    en, hint, zh, hint_zh = _explain(what, exc.context or "", lines, line, column, start)
    return Problem(file, line, column, "E-YAML-SYNTAX", en, hint, zh, hint_zh)


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
) -> tuple[str, str, str, str]:
    """(message, hint, message_zh, hint_zh) for the parser's ``what``."""
    started = f" (it started at line {start[0]}, column {start[1]})" if start else ""
    started_zh = f"（从第 {start[0]} 行第 {start[1]} 列开始）" if start else ""
    if "'\\t'" in what:
        return (
            "a tab character: YAML indents with spaces only",
            "indent with spaces: YAML does not allow tabs in indentation (set the editor "
            "to insert spaces for the Tab key)",
            "这里有制表符（Tab）：YAML 只能用空格缩进",
            "用空格缩进，不要用 Tab 键（可把编辑器设置为按 Tab 时插入空格）",
        )
    if what.startswith("mapping values are not allowed"):
        return _mapping_value(lines, line, column)
    if what.startswith("expected <block end>") or what.startswith("did not find expected"):
        return _misaligned(lines, line, start, started, started_zh)
    if what.startswith("could not find expected ':'"):
        at = start[0] if start else line
        return (
            f"line {at} holds text where a key is expected, but no colon follows it, so "
            "YAML cannot tell the key from its value",
            f"write 'key: value' on line {at} (a half-width colon and a space after the "
            "key), or indent the line further if it continues the text above",
            f"第 {at} 行应当是“键: 值”，但没有冒号，YAML 分不出键和值",
            f"在第 {at} 行的键后加上半角冒号和空格（键: 值）；"
            "如果这一行是上一行文字的延续，请把它缩进得更深",
        )
    if "end of stream" in what and "quoted" in context:
        return (
            f"a quotation mark opened{started} is never closed",
            "add the closing quotation mark (the same kind, ' or \", as the opening one)",
            f"引号{started_zh}没有闭合",
            "补上配对的右引号（与开头的 ' 或 \" 相同）",
        )
    if what.startswith("expected ',' or") or "flow" in context:
        closing = "}" if "mapping" in context else "]"
        return (
            f"a list in brackets or a mapping in braces{started} is not closed where expected",
            f"close it with '{closing}' on the same line, and separate its entries with "
            "half-width commas ','",
            f"方括号列表或花括号映射{started_zh}没有在应有的位置闭合",
            f"在同一行用“{closing}”闭合它，条目之间用半角逗号“,”分隔",
        )
    if what.startswith("found undefined alias"):
        return (
            f"{what}: '*name' repeats a value marked '&name' earlier in the file",
            "mark the value with '&name' before using '*name', or write the value out",
            "“*名称”引用了文件中不存在的“&名称”",
            "先用“&名称”标记要重复的值，再用“*名称”引用，或直接写出该值",
        )
    if "found unknown escape character" in what or "found unexpected" in what:
        return (
            f"the text here cannot be read as YAML ({what}){started}",
            'check the quotes on this line: inside "…" a backslash starts an escape; use '
            "'…' for text with backslashes",
            f"此处文字无法按 YAML 读取{started_zh}",
            "检查这一行的引号：双引号内的反斜杠表示转义，含反斜杠的文字请用单引号 '…'",
        )
    return (
        f"the file is not valid YAML here ({what or 'invalid YAML'}){started}",
        "check the indentation, the colons and the quotes on this line and the one before",
        f"此处不是有效的 YAML{started_zh}",
        "检查这一行和上一行的缩进、冒号和引号",
    )


def _mapping_value(lines: list[str], line: int, column: int) -> tuple[str, str, str, str]:
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    before = _previous(lines, line)
    prior = lines[before - 1] if before is not None else ""
    if before is not None and _indent(here) >= _indent(prior):
        body = prior.split("#")[0].strip()
        if ":" not in body and not body.startswith(("-", "[", "{", "'", '"')):
            return (
                f"line {before} has no colon after its key, so YAML reads line {line} as "
                f"part of its text",
                f"add a colon after the key on line {before} (for example '{_key_fix(body)}')",
                f"第 {before} 行的键后面缺少冒号，YAML 把第 {line} 行当成它的文字的一部分",
                f"在第 {before} 行的键后加上半角冒号（例如“{_key_fix(body)}”）",
            )
        match = _KEY_VALUE.match(prior)
        if _indent(here) > _indent(prior) and match is not None and match.group(1):
            return (
                f"line {line} is indented further than line {before}, so YAML reads it as "
                f"part of the value on line {before}, and a key cannot start there",
                f"line up line {line} with line {before} (start it at column "
                f"{_indent(prior) + 1}, with {_indent(prior)} spaces)",
                f"第 {line} 行比第 {before} 行缩进得更深，YAML 把它当成第 {before} 行的值的一部分，"
                "而值里不能再写“键: 值”",
                f"让第 {line} 行与第 {before} 行对齐（从第 {_indent(prior) + 1} 列开始，"
                f"即缩进 {_indent(prior)} 个空格）",
            )
    return (
        f"a second ': ' (colon and space) on line {line}, at column {column}: YAML takes "
        "it as the start of another key, which cannot stand inside a value",
        "put the value in quotes ('…') when it contains ': ', or split the line into one "
        "key per line",
        f"第 {line} 行第 {column} 列又出现了“: ”（冒号加空格）：YAML 把它当成新键的开始，"
        "而值里不能再出现键",
        "值中含有“: ”时请用引号把值括起来（'…'），或把这一行拆成每行一个键",
    )


def _key_fix(body: str) -> str:
    """``type userTask`` -> ``type: userTask``; ``draft`` -> ``draft:``."""
    key, _, rest = body.partition(" ")
    return f"{key}: {rest.strip()}" if rest.strip() else f"{key}:"


def _misaligned(
    lines: list[str], line: int, start: tuple[int, int] | None, started: str, started_zh: str
) -> tuple[str, str, str, str]:
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    spaces = _indent(here)
    columns = sorted(
        {_indent(lines[n - 1]) + 1 for n in [_previous(lines, line)] if n is not None}
        | ({start[1]} if start else set())
    )
    where = " or ".join(f"column {c}" for c in columns) or "the column of the keys above"
    where_zh = "或".join(f"第 {c} 列" for c in columns) or "上面各键所在的列"
    return (
        f"line {line} is indented by {spaces} spaces, which lines up with no key above "
        f"it: the keys of one block must start in the same column{started}",
        f"start line {line} in {where}, like the keys it belongs with (line up keys of the "
        "same level exactly, with spaces)",
        f"第 {line} 行缩进了 {spaces} 个空格，与上面任何一个键都对不齐：同一层的键必须从"
        f"同一列开始{started_zh}",
        f"让第 {line} 行从{where_zh}开始，与同层的键对齐（用空格对齐同一层的键）",
    )
