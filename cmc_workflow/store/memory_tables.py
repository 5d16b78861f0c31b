"""The tables of the in-memory store: rows by key, every change logged for undo, values
stored as the SQL store would give them back (times in UTC, JSON copied)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["Table", "loaded", "row_as", "stored"]


_MISSING: Any = object()


def stored(value: Any) -> Any:
    """A value as a column holds it: aware UTC times, JSON values copied."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass an aware datetime")
        return value.astimezone(dt.UTC)
    if isinstance(value, Mapping | list | tuple):
        return json.loads(json.dumps(value))
    return value


def loaded(value: Any) -> Any:
    """A stored value handed out: JSON values copied, the rest as is (immutable)."""
    if isinstance(value, dict | list):
        return json.loads(json.dumps(value))
    return value


_R = TypeVar("_R")


def row_as(kind: type[_R], row: Mapping[str, Any]) -> _R:
    """A stored row handed out as the frozen row ``kind`` (its fields only, JSON copied)."""
    return kind(**{name: loaded(row[name]) for name in kind.__slots__})  # type: ignore[attr-defined]  # the port's rows are slotted dataclasses


class Table:
    """Rows by key; every change goes through :meth:`put`/:meth:`delete`, which log undo."""

    def __init__(self, name: str, undo: Callable[[], list[tuple[Table, Any, Any]]]) -> None:
        self.name = name
        self.rows: dict[Any, dict[str, Any]] = {}
        self.last_id = 0
        self._undo = undo

    def next_id(self) -> int:
        """A new id (never reused, like a sequence: a rollback does not give it back)."""
        self.last_id += 1
        return self.last_id

    def put(self, key: Any, row: dict[str, Any]) -> None:
        """Insert or replace the row under ``key`` (rows are never changed in place)."""
        self._undo().append((self, key, self.rows.get(key, _MISSING)))
        self.rows[key] = row

    def insert(self, key: Any, values: Mapping[str, Any]) -> None:
        """Add a row under ``key`` with its values stored (times in UTC, JSON copied)."""
        self.put(key, {k: stored(v) for k, v in values.items()})

    def update(self, key: Any, **changes: Any) -> None:
        """Replace the row under ``key`` with ``changes`` applied."""
        self.put(key, {**self.rows[key], **{k: stored(v) for k, v in changes.items()}})

    def delete(self, key: Any) -> None:
        """Remove the row under ``key``."""
        self._undo().append((self, key, self.rows[key]))
        del self.rows[key]

    def restore(self, key: Any, old: Any) -> None:
        if old is _MISSING:
            self.rows.pop(key, None)
        else:
            self.rows[key] = old

    def values(self) -> list[dict[str, Any]]:
        """Every row, in key order (ids ascend as they were given)."""
        return [self.rows[k] for k in sorted(self.rows)]
