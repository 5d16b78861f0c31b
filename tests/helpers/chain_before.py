"""The chains' hashing as it was before issue 12's round 3 (one ``json.dumps`` of a row's
whole body, every JSON value through a round trip): the reference that every hash the
store computes now must equal, so that the chains written before still verify."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cmc_workflow.store.chain import HASHED_FIELDS, HISTORY_HASHED_FIELDS


def canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("audit times are aware datetimes")
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    if isinstance(value, Mapping | list | tuple):
        return json.loads(json.dumps(value, ensure_ascii=False))
    return value


def digest(prev_hash: str, row: Mapping[str, Any], names: tuple[str, ...]) -> str:
    body = {name: canonical(row.get(name)) for name in names}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest()


def history_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    return digest(prev_hash, row, HISTORY_HASHED_FIELDS)


def record_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    return digest(prev_hash, record, HASHED_FIELDS)


def column(value: Any) -> Any:
    """A JSON column's value as it read back before (``json.dumps`` on the way in)."""
    return json.loads(json.dumps(value))
