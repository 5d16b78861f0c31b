"""Validating submitted values against declared fields (item data and transition forms)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow.definition import load_workflow_text
from cmc_workflow.definition.forms import validate_values
from cmc_workflow.definition.models import FieldSpec


def spec(**fields: dict[str, Any]) -> dict[str, FieldSpec]:
    return {name: FieldSpec.model_validate(body) for name, body in fields.items()}


def errors_of(fields: dict[str, FieldSpec], values: dict[str, Any]) -> dict[str, str]:
    _, errors = validate_values(fields, values)
    return {e.field: e.message for e in errors}


@pytest.mark.parametrize(
    ("field", "value", "clean"),
    [
        ({"type": "string"}, "标题", "标题"),
        ({"type": "text"}, "line one\nline two", "line one\nline two"),
        ({"type": "integer"}, 3, 3),
        ({"type": "number"}, 2.5, 2.5),
        ({"type": "number"}, 2, 2),
        ({"type": "boolean"}, True, True),
        ({"type": "boolean"}, False, False),
        ({"type": "date"}, "2025-09-26", "2025-09-26"),
        ({"type": "date"}, dt.date(2025, 9, 26), "2025-09-26"),
        ({"type": "datetime"}, "2025-09-26T15:00+08:00", "2025-09-26T15:00:00+08:00"),
        (
            {"type": "datetime"},
            dt.datetime(2025, 9, 26, 7, tzinfo=dt.UTC),
            "2025-09-26T07:00:00+00:00",
        ),
        ({"type": "choice", "choices": ["wechat", "weibo"]}, "weibo", "weibo"),
        ({"type": "list"}, ["a", "b"], ["a", "b"]),
        ({"type": "list"}, ("a",), ["a"]),
        ({"type": "list", "choices": ["pc", "app"]}, ["app"], ["app"]),
    ],
)
def test_each_type_accepts_its_values(field: dict[str, Any], value: Any, clean: Any) -> None:
    result, errors = validate_values(spec(f=field), {"f": value})
    assert errors == []
    assert result == {"f": clean}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ({"type": "string"}, 5, "expected text"),
        ({"type": "text"}, ["a"], "expected text"),
        ({"type": "integer"}, 2.5, "whole number"),
        ({"type": "integer"}, "3", "whole number"),
        ({"type": "integer"}, True, "whole number"),
        ({"type": "number"}, "2.5", "a number"),
        ({"type": "number"}, False, "a number"),
        ({"type": "boolean"}, "yes", "true or false"),
        ({"type": "boolean"}, 1, "true or false"),
        ({"type": "date"}, "26/09/2025", "a date like"),
        ({"type": "date"}, dt.datetime(2025, 9, 26, 8), "without a time"),
        ({"type": "datetime"}, "2025-09-26T15:00", "time zone"),
        ({"type": "datetime"}, "tomorrow", "a datetime like"),
        ({"type": "choice", "choices": ["wechat"]}, "douyin", "is not one of"),
        ({"type": "choice", "choices": ["wechat"]}, 3, "expected text"),
        ({"type": "list"}, "a", "list of text"),
        ({"type": "list"}, ["a", 2], "list of text"),
        ({"type": "list", "choices": ["pc"]}, ["pc", "fax"], "not among"),
    ],
)
def test_each_type_refuses_wrong_values(field: dict[str, Any], value: Any, message: str) -> None:
    assert message in errors_of(spec(f=field), {"f": value})["f"]


@pytest.mark.parametrize("missing", [{}, {"f": None}, {"f": ""}, {"f": []}])
def test_a_required_field_must_be_given(missing: dict[str, Any]) -> None:
    assert errors_of(spec(f={"type": "string"}), missing) == {"f": "is required"}


def test_an_optional_field_may_be_left_out_or_blank() -> None:
    fields = spec(f={"type": "string", "required": False})
    assert validate_values(fields, {}) == ({}, [])
    assert validate_values(fields, {"f": ""}) == ({"f": ""}, [])


@pytest.mark.req("PUB-5")
def test_an_explicit_false_answers_a_required_checklist_question() -> None:
    fields = spec(truthful={"type": "boolean"})
    assert validate_values(fields, {"truthful": False}) == ({"truthful": False}, [])


@pytest.mark.req("PUB-5")
def test_an_unanswered_required_checklist_question_is_an_error() -> None:
    fields = spec(truthful={"type": "boolean"})
    clean, errors = validate_values(fields, {})
    assert clean == {}
    assert [(e.field, e.message) for e in errors] == [("truthful", "is required")]


def test_partial_skips_missing_required_fields_but_checks_given_ones() -> None:
    fields = spec(a={"type": "string"}, b={"type": "integer"})
    clean, errors = validate_values(fields, {"b": "x"}, partial=True)
    assert clean == {}
    assert [(e.field, "whole number" in e.message) for e in errors] == [("b", True)]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ({"type": "integer", "min": 1}, 0, "at least 1"),
        ({"type": "integer", "max": 10}, 11, "at most 10"),
        ({"type": "number", "min": 0.5}, 0.25, "at least 0.5"),
        ({"type": "string", "max": 3}, "abcd", "at most 3 characters"),
        ({"type": "text", "min": 10}, "short", "at least 10 characters"),
        ({"type": "list", "min": 1}, ["a", "b", "c"], None),
        ({"type": "list", "max": 2}, ["a", "b", "c"], "at most 2 entries"),
        ({"type": "integer", "min": 1, "max": 3}, 2, None),
    ],
)
def test_min_and_max_bound_numbers_lengths_and_counts(
    field: dict[str, Any], value: Any, message: str | None
) -> None:
    found = errors_of(spec(f=field), {"f": value})
    if message is None:
        assert found == {}
    else:
        assert message in found["f"]


def test_an_empty_list_counts_as_missing_for_a_required_list() -> None:
    assert errors_of(spec(f={"type": "list", "min": 1}), {"f": []}) == {"f": "is required"}


def test_unknown_fields_are_errors_that_name_the_known_ones() -> None:
    found = errors_of(spec(a={"type": "string"}), {"a": "x", "b": 1})
    assert list(found) == ["b"]
    assert "fields: a" in found["b"]
    assert "fields: none" in errors_of({}, {"x": 1})["x"]


def test_every_bad_field_is_reported_at_once() -> None:
    fields = spec(a={"type": "string"}, b={"type": "integer"}, c={"type": "date"})
    found = errors_of(fields, {"b": "x", "c": "never", "d": 1})
    assert sorted(found) == ["a", "b", "c", "d"]


@pytest.mark.req("PUB-5")
def test_the_review_checklist_of_publishing(publishing_review_form: dict[str, FieldSpec]) -> None:
    answers = {
        "truthful": True,
        "repost_authorized": True,
        "copyright_cleared": True,
        "nothing_confidential": True,
    }
    clean, errors = validate_values(publishing_review_form, answers)
    assert errors == []
    assert clean == answers
    _, errors = validate_values(publishing_review_form, {**answers, "truthful": "yes"})
    assert [e.field for e in errors] == ["truthful"]


@pytest.fixture
def publishing_review_form() -> dict[str, FieldSpec]:
    path = Path(__file__).resolve().parents[2] / "workflows" / "publishing.yaml"
    wf = load_workflow_text(path.read_text(encoding="utf-8"), str(path)).definition
    return dict(wf.states["first_review"].transitions[0].form)


def test_every_field_error_reads_in_chinese_and_the_refusal_too() -> None:
    """The people who fill the forms read Chinese first: each kind of field error has its
    Chinese, and a refused form's reason names every bad field in Chinese."""
    from cmc_workflow.errors import FormInvalid

    fields = spec(
        title={"type": "string", "required": True},
        words={"type": "text", "max": 3},
        count={"type": "integer", "min": 1},
        due={"type": "date"},
        at={"type": "datetime"},
        ok={"type": "boolean"},
        kind={"type": "choice", "choices": ["活动", "通知"]},
        tags={"type": "list", "choices": ["a"], "min": 1},
    )
    bad = {
        "words": "一二三四",
        "count": 0,
        "due": "明天",
        "at": "2025-09-26T15:00",
        "ok": "是",
        "kind": "其他",
        "tags": ["b"],
        "extra": 1,
    }
    _, errors = validate_values(fields, bad)
    assert {e.field for e in errors} == {"title", *bad}
    lacking = [e for e in errors if not e.message_zh or e.message_zh == e.message]
    assert not lacking, lacking
    assert {e.field: e.message_zh for e in errors}["title"] == "必填"
    refusal = FormInvalid(errors, trigger="submit")
    assert refusal.reason_zh.startswith("'submit' 的表单填写有误：")
    assert "title：必填" in refusal.reason_zh
    assert "; " not in refusal.reason_zh
    assert "is required" not in refusal.reason_zh
