"""The restricted guard language: small boolean expressions over an item's data.

Guards are parsed with :mod:`ast` (Python expression syntax) and compiled into closures
over a whitelist of node kinds; nothing is ever passed to ``eval``. What a guard may say::

    data.monetization == true
    data.kind in ['consultation', 'complaint'] and not data.urgent
    len(data.channels) >= 1 and form.approve
    data.score >= 60 or data['retake'] == null

Names: ``data`` (the item's data with the submitted form merged over it), ``form`` (only
the submitted form), ``actor`` (``actor.id``, ``actor.roles``), and the constants
``true``, ``false``, ``null`` (Python's ``True``/``False``/``None`` work too). Functions:
``len``, ``lower``, ``upper``, ``person`` (an id as people read it,
:func:`~cmc_workflow.model.normal_id`, also each id of a list, so that ``ＳＵＮ`` and
`` sun`` are ``sun``). A missing field reads as ``null``. Comparisons between
values that cannot be ordered (``null < 3``) are false rather than an error.
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cmc_workflow.i18n import Text, joined, tr
from cmc_workflow.model import normal_id

Scope = Mapping[str, Any]
Evaluator = Callable[[Scope], Any]

ROOT_NAMES = frozenset({"data", "form", "actor"})
VALUE_ROOT_NAMES = ROOT_NAMES | {"item", "each"}
"""Names a value expression (``starts: data:``) may also read: the item and the element."""
CONDITION_ROOT_NAMES = ROOT_NAMES | {"before"}
"""Names a policy condition (``forbid_data: when:``) may also read: ``before``, the item's
data as it was before the command (a resubmission compared with the last draft, PUB-4)."""
_ALL_ROOT_NAMES = VALUE_ROOT_NAMES | CONDITION_ROOT_NAMES
_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None}
_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "len": lambda v: len(v) if v is not None else 0,
    "lower": lambda v: v.lower() if isinstance(v, str) else v,
    "upper": lambda v: v.upper() if isinstance(v, str) else v,
    "person": lambda v: (
        normal_id(v)
        if isinstance(v, str)
        else [normal_id(x) if isinstance(x, str) else x for x in v]
        if isinstance(v, list)
        else v
    ),
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: b is not None and a in b,
    ast.NotIn: lambda a, b: b is None or a not in b,
}
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
}


class GuardSyntaxError(ValueError):
    """A guard cannot be compiled; ``offset`` is the 0-based column inside the expression,
    ``text`` says why in English and Chinese (the message is the English)."""

    def __init__(self, message: Text, offset: int, code: str = "E-GUARD-SYNTAX") -> None:
        super().__init__(message.en)
        self.text = message
        self.offset = offset
        self.code = code


@dataclass(frozen=True, slots=True)
class Guard:
    """A compiled guard. Call :meth:`evaluate` with a scope of ``data``/``form``/``actor``."""

    source: str
    fields: frozenset[str]
    _fn: Evaluator

    def evaluate(self, scope: Scope) -> bool:
        """Evaluate to a bool; type mismatches inside comparisons count as false."""
        return bool(self._fn(scope))

    def value(self, scope: Scope) -> Any:
        """Evaluate to the expression's value (a missing field reads as None)."""
        return self._fn(scope)


def compile_guard(source: str) -> Guard:
    """Compile ``source`` or raise :class:`GuardSyntaxError` with the offending offset."""
    return _compile_source(source, ROOT_NAMES)


def compile_condition(source: str) -> Guard:
    """Compile a policy condition: the guard language plus ``before`` (the item's data
    before the command: ``form.draft_version > before.draft_version``)."""
    return _compile_source(source, CONDITION_ROOT_NAMES)


def compile_expression(source: str) -> Guard:
    """Compile a value expression (its :meth:`Guard.value` is what it reads): the guard
    language plus ``item`` (``item.id``, ``item.workflow``) and ``each`` (the element of a
    ``for_each`` list)."""
    return _compile_source(source, VALUE_ROOT_NAMES)


@functools.lru_cache(maxsize=4096)  # a guard is immutable; checks compile each one again
def _compile_source(source: str, roots: frozenset[str]) -> Guard:
    text = source.strip()
    if not text:
        raise GuardSyntaxError(tr("the guard is empty"), 0)
    lead = len(source) - len(source.lstrip())  # offsets count from the source as written
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        # Python reports offset 0 (or none) when the text ends too early: point past the end
        offset = exc.offset - 1 if exc.offset and exc.lineno == 1 else len(text)
        raise GuardSyntaxError(_not_valid(exc.msg), lead + offset) from None
    except (RecursionError, MemoryError):  # CPython's parser gives up on deep nesting
        raise GuardSyntaxError(_too_deep(), lead) from None
    _check_depth(tree, lead)
    fields: set[str] = set()
    try:
        _check_names(tree, roots)
        fn = _compile(tree.body, fields)
    except GuardSyntaxError as exc:
        raise GuardSyntaxError(exc.text, lead + exc.offset, exc.code) from None
    return Guard(source, frozenset(fields), fn)


MAX_DEPTH = 32
"""How deeply an expression may nest (``not not ...``, ``-(-(...))``, ``a + b + ...``): the
compiler and the evaluator recurse once per level, and 3,000 levels exhausted the stack."""


def _too_deep() -> Text:
    return tr("the expression nests more than {depth} levels deep", depth=MAX_DEPTH)


def _not_valid(python_says: str) -> Text:
    """Python's complaint about an expression it cannot parse, in plain words: its
    usual "invalid syntax" says nothing to a person who does not program."""
    if python_says == "invalid syntax":
        return tr(
            "not a valid expression: something is missing or out of place here "
            "(a value after an operator, a closing bracket or quote)"
        )
    if python_says.startswith(("'(' was never closed", "'[' was never closed")):
        return tr("not a valid expression: a bracket is opened but never closed")
    if python_says.startswith("unterminated string literal"):
        return tr("not a valid expression: a quote is opened but never closed")
    if python_says.startswith("unmatched"):
        return tr("not a valid expression: a closing bracket has no opening one")
    return tr("not a valid expression: {python_says}", python_says=python_says)


def _check_depth(tree: ast.Expression, lead: int) -> None:
    """Refuse an expression nested deeper than :data:`MAX_DEPTH`, without recursing."""
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise GuardSyntaxError(_too_deep(), lead + getattr(node, "col_offset", 0))
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _compile(node: ast.expr, fields: set[str]) -> Evaluator:
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, str | int | float | bool | type(None)):
            only = tr("only strings, numbers, true, false and null")
            raise GuardSyntaxError(only, node.col_offset)
        value = node.value
        return lambda _s: value
    if isinstance(node, ast.Name):
        return _name(node)
    if isinstance(node, ast.Attribute):
        base = _compile(node.value, fields)
        attr = node.attr
        _note_field(node, fields)
        return lambda s: _get(base(s), attr)
    if isinstance(node, ast.Subscript):
        base = _compile(node.value, fields)
        key = _compile(node.slice, fields)
        return lambda s: _get(base(s), key(s))
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, fields) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda s: all(p(s) for p in parts)
        return lambda s: any(p(s) for p in parts)
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand, fields)
        if isinstance(node.op, ast.Not):
            return lambda s: not operand(s)
        if isinstance(node.op, ast.USub):
            return lambda s: _safe(operator.neg, operand(s))
        raise GuardSyntaxError(tr("only not and - may stand before a value"), node.col_offset)
    if isinstance(node, ast.Compare):
        return _comparison(node, fields)
    if isinstance(node, ast.BinOp):
        op = _ARITH.get(type(node.op))
        if op is None:
            raise GuardSyntaxError(tr("only +, - and * are allowed"), node.col_offset)
        left, right = _compile(node.left, fields), _compile(node.right, fields)
        return lambda s: _safe(op, left(s), right(s))
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        items = [_compile(e, fields) for e in node.elts]
        return lambda s: [i(s) for i in items]
    if isinstance(node, ast.Call):
        return _call(node, fields)
    not_allowed = tr(
        "{kind} expressions are not allowed in guards (only comparisons, and, or, not, "
        "+, -, *, lists and the functions)",
        kind=type(node).__name__,
    )
    raise GuardSyntaxError(not_allowed, node.col_offset)


def _check_names(tree: ast.Expression, roots: frozenset[str]) -> None:
    """Refuse the value-only names (``item``, ``each``) where only a guard may stand."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in _ALL_ROOT_NAMES - roots:
            only_starts = tr(
                "{name} may only be read in the data of `starts:`; "
                "a guard reads data.<field>, form.<field>, actor.<attr>",
                name=repr(node.id),
            )
            raise GuardSyntaxError(only_starts, node.col_offset, "E-GUARD-NAME")


def _name(node: ast.Name) -> Evaluator:
    name = node.id
    if name in _CONSTANTS:
        const = _CONSTANTS[name]
        return lambda _s: const
    if name in _ALL_ROOT_NAMES:
        return lambda s: s.get(name)
    unknown = tr(
        "unknown name {name}: use data.<field>, form.<field>, actor.<attr>, true, false, null",
        name=repr(name),
    )
    raise GuardSyntaxError(unknown, node.col_offset, "E-GUARD-NAME")


def _note_field(node: ast.Attribute, fields: set[str]) -> None:
    if isinstance(node.value, ast.Name) and node.value.id in ("data", "form", "before"):
        fields.add(node.attr)


def _comparison(node: ast.Compare, fields: set[str]) -> Evaluator:
    left = _compile(node.left, fields)
    ops: list[Callable[[Any, Any], bool]] = []
    for op in node.ops:
        fn = _COMPARE.get(type(op))
        if fn is None:
            raise GuardSyntaxError(tr("use ==, !=, <, <=, >, >=, in, not in"), node.col_offset)
        ops.append(fn)
    rights = [_compile(c, fields) for c in node.comparators]

    def evaluate(scope: Scope) -> bool:
        current = left(scope)
        for fn, right in zip(ops, rights, strict=True):
            nxt = right(scope)
            try:
                if not fn(current, nxt):
                    return False
            except TypeError:
                return False
            current = nxt
        return True

    return evaluate


def _call(node: ast.Call, fields: set[str]) -> Evaluator:
    if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
        only = tr("only the functions {names} may be called", names=joined(sorted(_FUNCTIONS)))
        raise GuardSyntaxError(only, node.col_offset, "E-GUARD-NAME")
    if len(node.args) != 1 or node.keywords:
        one = tr("{function}() takes exactly one argument", function=node.func.id)
        raise GuardSyntaxError(one, node.col_offset)
    fn = _FUNCTIONS[node.func.id]
    arg = _compile(node.args[0], fields)
    return lambda s: _safe(fn, arg(s))


def _get(base: Any, key: Any) -> Any:
    if type(base) is dict:  # a scope's own (as isinstance says, without the ABC's check)
        return base.get(key)
    if isinstance(base, Mapping):
        return base.get(key)
    if isinstance(base, list | tuple) and isinstance(key, int):
        return base[key] if -len(base) <= key < len(base) else None
    return None


def _safe(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except (TypeError, ValueError, AttributeError):
        return None
