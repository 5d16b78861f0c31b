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
            known = ", ".join(spec) or "none"
            errors.append(FieldError(name, f"not a field of this form (fields: {known})"))
    for name, field in spec.items():
        value = values.get(name)
        if value is None or value == "" or value == []:
            if field.required and not partial:
                errors.append(FieldError(name, "is required"))
            elif name in values:
                clean[name] = value
            continue
        try:
            clean[name] = _coerce(field, value)
        except ValueError as exc:
            errors.append(FieldError(name, str(exc)))
    return clean, errors


def _coerce(field: FieldSpec, value: Any) -> Any:
    kind = field.type
    if kind in ("string", "text", "choice"):
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {type(value).__name__}")
        if kind == "choice" and field.choices and value not in field.choices:
            raise ValueError(f"{value!r} is not one of {field.choices}")
        _bounds(field, len(value), "characters")
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        _bounds(field, value, "")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        if not math.isfinite(value):  # NaN compares false with every bound: refuse it first
            raise ValueError(f"expected a finite number, got {value!r}")
        _bounds(field, value, "")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if kind == "date":
        if isinstance(value, dt.datetime):
            raise ValueError("expected a date without a time")
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ValueError(f"expected a date like 2025-09-26, got {value!r}") from None
    if kind == "datetime":
        parsed = value if isinstance(value, dt.datetime) else _parse_datetime(value)
        if parsed.tzinfo is None:
            raise ValueError("a datetime needs a time zone offset, e.g. 2025-09-26T15:00+08:00")
        return parsed.isoformat()
    if kind == "list":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of text values")
        if field.choices:
            bad = [v for v in value if v not in field.choices]
            if bad:
                raise ValueError(f"{bad} not among {field.choices}")
        _bounds(field, len(value), "entries")
        return list(value)
    raise ValueError(f"unsupported field type {kind!r}")  # pragma: no cover - models forbid it


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
        raise ValueError(f"expected a datetime like 2025-09-26T15:00+08:00: {value!r}") from None


def _bounds(field: FieldSpec, size: float, unit: str) -> None:
    suffix = f" {unit}" if unit else ""
    if field.min is not None and size < field.min:
        raise ValueError(f"must be at least {field.min:g}{suffix}")
    if field.max is not None and size > field.max:
        raise ValueError(f"must be at most {field.max:g}{suffix}")
