"""Whether what a person reads has its Chinese (issue 17): the check each file kind's
broken cases run on the problems they raise."""

from __future__ import annotations

import re
from collections.abc import Iterable

from cmc_workflow.errors import Problem

CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")
"""A Chinese character (CJK unified ideographs and extension A)."""


def lacking_chinese(problems: Iterable[Problem]) -> list[str]:
    """The problems with no Chinese message, or a hint with no Chinese hint."""
    return [
        f"{p.file}:{p.line}:{p.column}: {p.code} {p.message!r} / {p.message_zh!r} / "
        f"hint {p.hint!r} / {p.hint_zh!r}"
        for p in problems
        if not CJK.search(p.message_zh) or (p.hint and not CJK.search(p.hint_zh))
    ]


def assert_reads_in_chinese(problems: Iterable[Problem]) -> None:
    """Fail, naming each one, when a problem lacks its Chinese."""
    lacking = lacking_chinese(problems)
    assert not lacking, "no Chinese:\n" + "\n".join(lacking)
