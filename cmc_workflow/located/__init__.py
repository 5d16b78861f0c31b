"""The one located-YAML reader: a file or a text -> plain values + the place of every node.

Stages, for every file kind:

1. :func:`read_source` (:mod:`.source`) reads a regular file of at most
   :data:`MAX_FILE_BYTES` as UTF-8 (``E-FILE-KIND``, ``E-FILE-SIZE``, ``E-READ``), without
   ever blocking on a FIFO.
2. The text is composed (:mod:`.limits`) into PyYAML's node graph with libyaml
   (``yaml.CSafeLoader``) when PyYAML was built with it (about 15x faster), else with the
   pure-Python composer. The
   graph is checked, identity-aware and without recursion, against :data:`MAX_NODES`,
   :data:`MAX_DEPTH` and :data:`MAX_ANCHORS` before any value is built (``E-YAML-NODES``,
   ``E-YAML-DEPTH``, ``E-YAML-ANCHORS``). libyaml refuses nesting beyond 1,000 levels by
   itself, so a deep file can never exhaust the stack. Whenever libyaml reports an error,
   or a text holds more ``&``/``*`` than anchors are allowed, the text is composed again
   by :class:`LimitedLoader` (the pure composer with the limits hooked into
   ``compose_node``), so a refusal reads and is placed exactly the same with both
   composers.
3. Values are built from the nodes (:mod:`.values`), never by ``yaml.load``: only the YAML
   core tags pass (``E-YAML-TAG``), duplicate keys (``E-DUPLICATE-KEY``), merge keys
   (``E-YAML-MERGE``), non-scalar keys (``E-YAML-KEY``), recursive aliases and alias
   expansion past :data:`MAX_EXPANDED` values (``E-YAML-ALIAS``) are refused.

The YAML policy, one for every file kind: PyYAML reads YAML 1.1, whose implicit typing
differs from YAML 1.2 (what editors and most tools read). A plain ``yes``/``no``/``on``/
``off`` (any case), a number with a leading zero (``010``) and a base-60 number
(``1:30``) are ambiguous: they stay the text that was written, and :class:`Located`
remembers where they are (``ambiguous``, ``ambiguous_keys``). Where a model then wants a
boolean or a number (or refuses the text), the problem carries ``E-YAML-BOOL``,
``E-YAML-OCTAL`` or ``E-YAML-SEXAGESIMAL`` with a hint to write ``true``/``false``, to drop
the zero or to quote (see :mod:`cmc_workflow.problems`). ``true``/``false`` (any case),
decimal, hexadecimal and binary integers, floats, ``~``/``null``, dates and date-times keep
their YAML core meaning.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import yaml

from cmc_workflow.errors import Problem
from cmc_workflow.i18n import tr
from cmc_workflow.located.document import ExpressionError, Located, Mark, Path
from cmc_workflow.located.limits import (
    MAX_ANCHORS,
    MAX_DEPTH,
    MAX_NODES,
    LimitedLoader,
    LimitExceeded,
    compose_c,
    compose_pure,
)
from cmc_workflow.located.slips import find_slips, quote_errors
from cmc_workflow.located.source import MAX_FILE_BYTES, read_source, text_too_big
from cmc_workflow.located.syntax import syntax_problem
from cmc_workflow.located.values import MAX_EXPANDED, Builder, mark_of

__all__ = [
    "C_LOADER",
    "MAX_ANCHORS",
    "MAX_DEPTH",
    "MAX_EXPANDED",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "ExpressionError",
    "LimitExceeded",
    "LimitedLoader",
    "Located",
    "Mark",
    "Path",
    "forget_parsed",
    "load_located",
    "parse_located",
    "read_source",
    "text_too_big",
]

C_LOADER = bool(getattr(yaml, "__with_libyaml__", False))
"""Whether PyYAML was built with libyaml: then documents are composed in C."""


def _compose(text: str, file: str, *, pure: bool) -> list[yaml.Node]:
    if not pure and C_LOADER:
        documents = compose_c(text)
        if documents is not None:
            return documents
    return compose_pure(text, file)


_CACHE_SIZE = 512
"""How many parsed documents :func:`load_located` keeps (a bundle has about sixty files)."""
_cache: OrderedDict[tuple[str, bool, str], tuple[Located, tuple[Problem, ...]]] = OrderedDict()
_cache_lock = threading.Lock()


def load_located(text: str, file: str, *, pure: bool = False) -> tuple[Located, list[Problem]]:
    """Parse one YAML document into plain values and marks (see :func:`parse_located`).

    The answer is a function of ``text``, ``file`` and the loader alone, so the last
    :data:`_CACHE_SIZE` answers are kept: a process that loads the same files again
    (every ``Engine.open`` of a test suite, a daemon's reload of unchanged files, the
    checks that read a workflow's marks again) parses each text once. The located
    document is shared and must be treated as read-only, as every reader does; the list
    of problems is the caller's own.
    """
    key = (file, pure or not C_LOADER, text)  # the loader that would compose it
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
    if hit is None:
        located, problems = parse_located(text, file, pure=pure)
        hit = (located, tuple(problems))
        with _cache_lock:
            _cache[key] = hit
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return hit[0], list(hit[1])


def forget_parsed() -> None:
    """Drop the documents :func:`load_located` keeps (a test that counts parses)."""
    with _cache_lock:
        _cache.clear()


def parse_located(text: str, file: str, *, pure: bool = False) -> tuple[Located, list[Problem]]:
    """Parse one YAML document into plain values and marks.

    Returns the located document and the problems found; a syntax error yields one
    ``E-YAML-SYNTAX`` problem and ``data`` None. An empty file yields ``data`` None. A text
    over the limits yields ``E-FILE-SIZE``, ``E-YAML-NODES``, ``E-YAML-DEPTH`` or
    ``E-YAML-ANCHORS`` and ``data`` None. A full-width slip where YAML needs punctuation
    (:mod:`.slips`: ``E-FULLWIDTH-COLON``, ...) is reported instead of what it made the
    parser say, and ``data`` is None; a full-width quote that may be meant is only a
    warning, kept in ``located.warnings``. ``pure`` composes with the pure-Python loader
    even where libyaml is installed (the two give the same values, marks and problems).
    """
    builder = Builder(file)
    too_big = text_too_big(text, file)
    if too_big is not None:
        return builder.located, [too_big]
    slips = find_slips(text, file)
    errors = [p for p in slips if p.is_error]
    builder.located.warnings = [p for p in slips if not p.is_error]
    try:
        documents = _compose(text, file, pure=pure)
    except LimitExceeded as exc:
        return builder.located, [exc.located]
    except yaml.YAMLError as exc:
        problem = syntax_problem(exc, text, file)
        # a slip at or before the parser's stop explains it better than the parser can
        explaining = [p for p in errors if p.line <= problem.line]
        explaining += quote_errors(builder.located.warnings, problem.line)
        return builder.located, sorted(explaining, key=_order) or [problem]
    if errors:
        return builder.located, errors
    if len(documents) > 1:
        at = mark_of(documents[1])
        return builder.located, [
            Problem.of(
                file,
                at.line,
                at.column,
                "E-YAML-MULTIDOC",
                tr("a definition file holds exactly one YAML document"),
                tr("split the documents into separate files"),
            )
        ]
    if documents:
        builder.located.data = builder.build(documents[0], ())
    return builder.located, builder.problems


def _order(problem: Problem) -> tuple[int, int]:
    return problem.line, problem.column
