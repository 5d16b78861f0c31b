"""Validating submitted values against declared fields (item data and transition forms).

Values are stored as JSON, so dates and datetimes come back as ISO 8601 strings.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from cmc_workflow.definition.models import FieldSpec
from cmc_workflow.errors import FieldError
from cmc_workflow.i18n import Text, tr


class _Bad(ValueError):
    """A value the field cannot take, with what to tell the person in both languages."""

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text


def validate_values(
    spec: Mapping[str, FieldSpec], values: Mapping[str, Any], *, partial: bool = False
) -> tuple[dict[str, Any], list[FieldError]]:
    """Check ``values`` against ``spec``; return the cleaned values and every field error.

    Unknown fields are errors. With ``partial`` a missing required field is not an error
    (used when a form edits some of the item's data).
    """
    clean: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name in values:
        if name not in spec:
            known = tr("none") if not spec else Text(", ".join(spec), "、".join(spec))
            errors.append(
                FieldError(name, *tr("not a field of this form (fields: {known})", known=known))
            )
    for name, field in spec.items():
        value = values.get(name)
        if value is None or value == "" or value == []:
            if field.required and not partial:
                errors.append(FieldError(name, *tr("is required")))
            elif name in values:
                clean[name] = value
            continue
        try:
            clean[name] = _coerce(field, value)
        except ValueError as exc:
            text = exc.text if isinstance(exc, _Bad) else Text(str(exc), str(exc))
            errors.append(FieldError(name, *text))
    return clean, errors


def _coerce(field: FieldSpec, value: Any) -> Any:
    kind = field.type
    if kind in ("string", "text", "choice"):
        if not isinstance(value, str):
            raise _Bad(tr("expected text, got {kind}", kind=type(value).__name__))
        if kind == "choice" and field.choices and value not in field.choices:
            raise _Bad(
                tr("{value} is not one of {choices}", value=repr(value), choices=field.choices)
            )
        _bounds(field, len(value), "characters")
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(tr("expected a whole number, got {value}", value=repr(value)))
        _bounds(field, value, "")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Bad(tr("expected a number, got {value}", value=repr(value)))
        if not math.isfinite(value):  # NaN compares false with every bound: refuse it first
            raise _Bad(tr("expected a finite number, got {value}", value=repr(value)))
        _bounds(field, value, "")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _Bad(tr("expected true or false, got {value}", value=repr(value)))
        return value
    if kind == "date":
        if isinstance(value, dt.datetime):
            raise _Bad(tr("expected a date without a time"))
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise _Bad(
                tr("expected a date like 2025-09-26, got {value}", value=repr(value))
            ) from None
    if kind == "datetime":
        parsed = value if isinstance(value, dt.datetime) else _parse_datetime(value)
        if parsed.tzinfo is None:
            raise _Bad(tr("a datetime needs a time zone offset, e.g. 2025-09-26T15:00+08:00"))
        return parsed.isoformat()
    if kind == "list":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _Bad(tr("expected a list of text values"))
        if field.choices:
            bad = [v for v in value if v not in field.choices]
            if bad:
                raise _Bad(tr("{values} not among {choices}", values=bad, choices=field.choices))
        _bounds(field, len(value), "entries")
        return list(value)
    raise _Bad(
        tr("unsupported field type {kind}", kind=repr(kind))
    )  # pragma: no cover - models forbid it


def read_moment(value: Any) -> dt.date | dt.datetime | None:
    """A stored date or datetime value (a Python value, or the ISO 8601 text JSON keeps)
    as Python: a date, an aware datetime, or None when it is neither (naive included)."""
    if isinstance(value, str):
        try:
            value = (
                dt.date.fromisoformat(value)
                if len(value) == 10
                else dt.datetime.fromisoformat(value)
            )
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else None
    return value if isinstance(value, dt.date) else None


def _parse_datetime(value: Any) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise _Bad(
            tr("expected a datetime like 2025-09-26T15:00+08:00: {value}", value=repr(value))
        ) from None


def _bounds(field: FieldSpec, size: float, unit: str) -> None:
    """``unit`` is "characters", "entries" or "" (a number's own value)."""
    if field.min is not None and size < field.min:
        raise _Bad(_bound("at least", field.min, unit))
    if field.max is not None and size > field.max:
        raise _Bad(_bound("at most", field.max, unit))


def _bound(side: str, limit: float, unit: str) -> Text:
    n = f"{limit:g}"
    if side == "at least":
        if unit == "characters":
            return tr("must be at least {n} characters", n=n)
        if unit == "entries":
            return tr("must be at least {n} entries", n=n)
        return tr("must be at least {n}", n=n)
    if unit == "characters":
        return tr("must be at most {n} characters", n=n)
    if unit == "entries":
        return tr("must be at most {n} entries", n=n)
    return tr("must be at most {n}", n=n)
