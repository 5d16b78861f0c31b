"""The chains' hashes are computed field by field with a prebuilt encoder (issue 12), and
a field's canonical JSON is shared with the column that stores it: every hash must stay
the one the code before computed (``json.dumps`` of the whole body), so that every chain
written before still verifies, and every shared text must read back as the value."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmc_workflow.store import chain
from tests.helpers.chain_before import canonical as _old_canonical
from tests.helpers.chain_before import digest as _old_hash
from tests.helpers.json_values import json_values

# -- values a record may hold -------------------------------------------------------------
nested = json_values(st.integers(min_value=-(2**63), max_value=2**63 - 1))
zones = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=8)), dt.timezone(dt.timedelta(hours=-5, minutes=-30))]
)
times = st.datetimes(timezones=zones)
texts = st.none() | st.text()
roles = st.lists(st.text(max_size=8), max_size=3) | st.lists(st.text(max_size=8)).map(tuple)
ints = st.integers(min_value=0, max_value=2**63 - 1)

history_rows = st.fixed_dictionaries(
    {
        "item_id": ints,
        "seq": ints,
        "at": times,
        "kind": st.sampled_from(["start", "fire", "route", "timer"]),
        "trigger": texts,
        "from_state": texts,
        "to_state": st.text(),
        "visit": ints,
        "actor": st.text(),
        "roles": roles,
        "form": st.dictionaries(st.text(max_size=6), nested, max_size=4),
    }
)
audit_records = st.fixed_dictionaries(
    {
        "chain": st.text(max_size=20),
        "at": times,
        "actor": st.text(),
        "roles": roles,
        "command": st.text(max_size=10),
        "workflow_id": texts,
        "item_id": st.none() | ints,
        "trigger": texts,
        "outcome": st.sampled_from(["accepted", "refused"]),
        "rule": texts,
        "reason": texts,
        "detail": st.dictionaries(st.text(max_size=6), nested, max_size=4),
    }
)
prev_hashes = st.sampled_from([chain.GENESIS, "ab" * 32])


@given(prev_hashes, history_rows)
def test_a_history_hash_is_the_one_the_code_before_computed(prev: str, row: dict[str, Any]) -> None:
    old = _old_hash(prev, row, chain.HISTORY_HASHED_FIELDS)
    assert chain.history_hash(prev, row) == old
    shared = {name: chain.canonical_json(row[name]) for name in ("roles", "form")}
    assert chain.history_hash(prev, row, shared) == old


@given(prev_hashes, audit_records)
def test_an_audit_hash_is_the_one_the_code_before_computed(
    prev: str, record: dict[str, Any]
) -> None:
    old = _old_hash(prev, record, chain.HASHED_FIELDS)
    assert chain.record_hash(prev, record) == old
    shared = {name: chain.canonical_json(record[name]) for name in ("roles", "detail")}
    assert chain.record_hash(prev, record, shared) == old


@given(nested | times)
def test_a_fields_canonical_json_is_that_of_the_body_and_reads_back_as_the_column_did(
    value: Any,
) -> None:
    text = chain.canonical_json(value)
    body = json.dumps(
        _old_canonical(value), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    assert text == body
    if not isinstance(value, dt.datetime):
        # what a JSON column gave back for the value before (json.dumps, then json.loads)
        assert json.loads(text) == json.loads(json.dumps(value))


def test_the_same_datetime_again_and_a_naive_one() -> None:
    at = dt.datetime(2026, 12, 2, 22, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert chain.canonical_json(at) == '"2026-12-02T14:05:00.000000"'
    assert chain.canonical_json(at) == '"2026-12-02T14:05:00.000000"'
    with pytest.raises(ValueError, match="aware"):
        chain.canonical_json(dt.datetime(2026, 12, 2))  # naive: refused, as before


def test_a_hash_known_from_before_the_change() -> None:
    """A fixed row and its hash as computed by the code before (pins the layout)."""
    row = {
        "item_id": 7,
        "seq": 2,
        "at": dt.datetime(2026, 12, 2, 14, 5, 6, 789, tzinfo=dt.UTC),
        "kind": "fire",
        "trigger": "approve",
        "from_state": "审核",
        "to_state": "assigned",
        "visit": 3,
        "actor": "wang",
        "roles": ["editor", "desk"],
        "form": {"note": 'a "quote"\n', "n": [1, 2.5, None, True], "z": {"b": 1, "a": 2}},
    }
    known = "79bd1efb9e2fe270ae8716834813a1afab89f759533d81b060b2306ecc4e968f"  # main, e6ebdf1
    assert _old_hash(chain.GENESIS, row, chain.HISTORY_HASHED_FIELDS) == known
    assert chain.history_hash(chain.GENESIS, row) == known


class _NoConversion(dt.datetime):
    """A time the hash must write without converting it (already in UTC)."""

    def astimezone(self, tz: dt.tzinfo | None = None) -> dt.datetime:
        raise AssertionError("converted")


@given(st.datetimes())
def test_a_time_in_utc_is_written_without_a_conversion(naive: dt.datetime) -> None:
    at = _NoConversion.combine(naive.date(), naive.time(), tzinfo=dt.UTC)
    same = dt.datetime.combine(naive.date(), naive.time(), tzinfo=dt.UTC)
    expected = same.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    assert chain.canonical_json(at) == f'"{expected}"'
