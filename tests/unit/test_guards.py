"""The restricted guard language: what it accepts, what it refuses (and where), no eval."""

from __future__ import annotations

import builtins
from types import MappingProxyType
from typing import Any

import pytest

from cmc_workflow.definition.guards import GuardSyntaxError, compile_guard

SCOPE: dict[str, Any] = {
    "data": {
        "kind": "complaint",
        "urgent": False,
        "score": 72,
        "ratio": 0.5,
        "channels": ["wechat", "weibo"],
        "name": "Wang",
        "nested": {"level": 2},
        "empty": None,
    },
    "form": {"approve": True, "reason": ""},
    "actor": {"id": "wang", "roles": ["editor", "reviewer"]},
}


def ev(source: str, scope: dict[str, Any] | None = None) -> bool:
    return compile_guard(source).evaluate(SCOPE if scope is None else scope)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # constants and the three names
        ("true", True),
        ("false", False),
        ("null == null", True),
        ("True and not False", True),
        ("None == null", True),
        ("'text' == \"text\"", True),
        ("1.5 > 1", True),
        # attribute and subscript access
        ("data.kind == 'complaint'", True),
        ("data['kind'] == 'complaint'", True),
        ("data.nested.level == 2", True),
        ("data.channels[0] == 'wechat'", True),
        ("data.channels[-1] == 'weibo'", True),
        ("form.approve", True),
        ("actor.id == 'wang'", True),
        ("'reviewer' in actor.roles", True),
        # boolean operators
        ("data.urgent or form.approve", True),
        ("data.urgent and form.approve", False),
        ("not data.urgent", True),
        # every comparison, chained comparisons
        ("data.score == 72", True),
        ("data.score != 72", False),
        ("data.score < 80", True),
        ("data.score <= 72", True),
        ("data.score > 72", False),
        ("data.score >= 72", True),
        ("60 <= data.score < 80", True),
        ("60 <= data.score < 70", False),
        ("data.kind in ['consultation', 'complaint']", True),
        ("data.kind in ('consultation', 'complaint')", True),
        ("data.kind in {'consultation'}", False),
        ("data.kind not in ['consultation']", True),
        ("'weibo' in data.channels", True),
        # arithmetic and unary minus
        ("data.score + 8 == 80", True),
        ("data.score - 2 == 70", True),
        ("data.ratio * 4 == 2", True),
        ("-data.score == -72", True),
        # the functions
        ("len(data.channels) >= 2", True),
        ("lower(data.name) == 'wang'", True),
        ("upper(data.name) == 'WANG'", True),
        ("person('ＷＡＮＧ ') == person(data.name)", True),
        ("person(' Wang  Fei') == 'wang fei'", True),
        ("'wang' in person(['ＷＡＮＧ', 'li'])", True),
        # blanks around the guard are fine
        ("  data.score > 1  ", True),
    ],
)
def test_allowed_constructs(source: str, expected: bool) -> None:
    assert ev(source) is expected


@pytest.mark.parametrize(
    "source",
    [
        "data.missing == null",
        "data.nested.missing.deeper == null",
        "form.missing == null",
        "data.channels[9] == null",
        "data.empty == null",
        "len(data.missing) == 0",
        "lower(data.missing) == null",
        "person(data.missing) == null",
        "data['no such key'] == null",
    ],
)
def test_missing_fields_read_as_null(source: str) -> None:
    assert ev(source) is True


def test_an_empty_scope_reads_everything_as_null() -> None:
    assert ev("data.x == null and form.y == null and actor.id == null", {}) is True


@pytest.mark.parametrize(
    "source",
    [
        "data.empty < 3",
        "data.missing >= 0",
        "data.kind > 3",
        "data.score < 'a'",
        "'a' in data.score",
        "data.kind + 1 == 1",
        "-data.kind == 0",
        "len(data.score) == 0",
        "data.kind in data.missing",
    ],
)
def test_comparisons_of_mismatched_types_are_false_not_errors(source: str) -> None:
    assert ev(source) is False


def test_not_in_a_missing_collection_is_true() -> None:
    assert ev("'x' not in data.missing") is True


def test_attribute_access_never_reaches_python_objects() -> None:
    # attributes are dictionary look-ups: dunder names find nothing
    assert ev("data.__class__ == null") is True
    assert ev("data.kind.__class__ == null") is True
    assert ev("data.__dict__ == null and data.kind.upper == null") is True


@pytest.mark.parametrize(
    ("source", "offset", "code"),
    [
        ("", 0, "E-GUARD-SYNTAX"),
        ("   ", 0, "E-GUARD-SYNTAX"),
        ("data.score >=", 13, "E-GUARD-SYNTAX"),
        ("data.x == = 3", 10, "E-GUARD-SYNTAX"),
        ("  data.$x", 7, "E-GUARD-SYNTAX"),
        ("data.x / 2 == 1", 0, "E-GUARD-SYNTAX"),
        ("data.a and data.x % 2", 11, "E-GUARD-SYNTAX"),
        ("data.x ** 2 > 3", 0, "E-GUARD-SYNTAX"),
        ("~data.x", 0, "E-GUARD-SYNTAX"),
        ("+data.x", 0, "E-GUARD-SYNTAX"),
        ("data.x is None", 0, "E-GUARD-SYNTAX"),
        ("data.a and data.x is not None", 11, "E-GUARD-SYNTAX"),
        ("lambda: true", 0, "E-GUARD-SYNTAX"),
        ("[x for x in data.l]", 0, "E-GUARD-SYNTAX"),
        ("data.a if data.b else data.c", 0, "E-GUARD-SYNTAX"),
        ("{'a': 1} == data.x", 0, "E-GUARD-SYNTAX"),
        ("f'{data.x}' == 'a'", 0, "E-GUARD-SYNTAX"),
        ("(y := 1) == 1", 1, "E-GUARD-SYNTAX"),
        ("data.x == b'raw'", 10, "E-GUARD-SYNTAX"),
        ("data.x == ...", 10, "E-GUARD-SYNTAX"),
        ("data.l[1:2] == []", 7, "E-GUARD-SYNTAX"),
        ("[*data.l] == []", 1, "E-GUARD-SYNTAX"),
        ("len(data.a, data.b) == 1", 0, "E-GUARD-SYNTAX"),
        ("len(x=data.a) == 1", 0, "E-GUARD-SYNTAX"),
        ("__import__('os')", 0, "E-GUARD-NAME"),
        ("data.ok and __import__('os').system('ls')", 12, "E-GUARD-NAME"),
        ("open('/etc/passwd')", 0, "E-GUARD-NAME"),
        ("eval('1') == 1", 0, "E-GUARD-NAME"),
        ("data.items() == []", 0, "E-GUARD-NAME"),
        ("item.score > 3", 0, "E-GUARD-NAME"),
        ("data.score > limit", 13, "E-GUARD-NAME"),
        ("__builtins__", 0, "E-GUARD-NAME"),
    ],
)
def test_refused_constructs_name_their_offset(source: str, offset: int, code: str) -> None:
    with pytest.raises(GuardSyntaxError) as caught:
        compile_guard(source)
    assert caught.value.offset == offset
    assert caught.value.code == code
    assert str(caught.value)


def test_guards_never_use_eval_or_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("guards must not call eval/exec")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    guard = compile_guard("data.kind in ['complaint'] and len(data.channels) > 1")
    assert guard.evaluate(SCOPE) is True


def test_fields_lists_the_data_and_form_fields_read() -> None:
    guard = compile_guard("data.a == 1 and form.b and actor.id == 'x' and data['c'] == 2")
    assert guard.fields == frozenset({"a", "b"})
    assert guard.source == "data.a == 1 and form.b and actor.id == 'x' and data['c'] == 2"


def test_evaluate_returns_a_bool() -> None:
    assert compile_guard("data.score").evaluate(SCOPE) is True
    assert compile_guard("data.missing").evaluate(SCOPE) is False


READING = [
    "data.kind == 'complaint'",
    "data['kind'] in ['a', 'complaint'] and not data.urgent",
    "data.steps[data.i] == 'fast'",
    "len(data.items) >= 1 and form.approve",
    "data.score >= 60 or data['retake'] == null",
    "'editor' in actor.roles",
]
SCOPES = [
    {"data": {"kind": "complaint", "urgent": False}, "form": {}, "actor": {"roles": ["editor"]}},
    {"data": {"steps": ["slow", "fast"], "i": 1, "items": [1]}, "form": {"approve": True}},
    {"data": {"steps": ["slow", "fast"], "i": 1.0, "score": 60}, "form": {}, "actor": {}},
    {"data": {"kind": None, "retake": None, "score": "60"}, "form": None, "actor": None},
]


@pytest.mark.parametrize("source", READING)
def test_a_scope_of_dicts_reads_as_any_other_mapping(source: str) -> None:
    """Fields are read from a dict by a fast path of their own: the answers are those
    of the same scope held in read-only mappings (the general path)."""
    guard = compile_guard(source)
    for scope in SCOPES:
        proxied = MappingProxyType(
            {k: MappingProxyType(v) if isinstance(v, dict) else v for k, v in scope.items()}
        )
        assert guard.value(scope) == guard.value(proxied), scope
