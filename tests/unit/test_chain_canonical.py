"""The hash of a chain row skips the JSON round trip of values that are plain JSON already
(issue 12): the text hashed must be the same as with the round trip, for every value."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cmc_workflow.store import chain
from tests.helpers.json_values import json_values

values = json_values()


def text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@given(values)
def test_the_canonical_text_is_that_of_the_json_round_trip(value: Any) -> None:
    round_trip = json.loads(json.dumps(value, ensure_ascii=False))
    assert text(chain._canonical(value)) == text(round_trip)


def test_values_that_need_the_round_trip_still_get_it() -> None:
    assert chain._canonical({1: "a"}) == {"1": "a"}  # keys as a JSON column gives them
    assert chain._canonical({"a": (1, 2)}) == {"a": (1, 2)}  # plain: encodes as a list
    assert not chain._plain({"a": {2: 3}})


flat_values = st.dictionaries(
    st.text(),
    st.one_of(st.text(), st.integers(), st.booleans(), st.none(), st.floats()),
    max_size=8,
)


@given(flat_values)
def test_a_flat_mapping_is_written_as_the_encoder_writes_it(value: dict[str, Any]) -> None:
    """A form or a detail of names and scalars is written without the encoder (issue 12,
    round 6): the same text, floats and nested values left to the encoder."""
    assert chain.canonical_json(value) == text(chain._canonical(value))


def test_a_mapping_with_other_keys_is_left_to_the_encoder() -> None:
    assert chain._flat({1: "a"}) is None
    assert chain._flat({"a": 1.5}) is None
    assert chain._flat({"a": [1]}) is None
    assert (
        chain._flat({"b": True, "a": None, "c": 'q"\u2028'})
        == '{"a":null,"b":true,"c":"q\\"\u2028"}'
    )


class _Name(str):
    """A role name of a ``str`` subclass: JSON writes its text."""


list_values = st.lists(
    st.one_of(st.text(), st.text().map(_Name), st.integers(), st.none(), st.floats()),
    max_size=6,
)


@given(list_values)
def test_a_list_is_written_as_the_encoder_writes_it(value: list[Any]) -> None:
    """Roles (a list of names) are joined without the encoder (issue 12, round 9); a
    list with anything but strings in it still goes to the encoder: the same text."""
    assert chain.canonical_json(value) == text(chain._canonical(value))


times = st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8))]))


@given(st.dictionaries(st.sampled_from(chain.HISTORY_NAMES), st.one_of(values, times)))
def test_a_rows_fields_are_each_their_canonical_text(row: dict[str, Any]) -> None:
    """:func:`chain.canonical_fields` writes strings, None, integers and times itself (round 9):
    each field as :func:`chain.canonical_json` writes it, a missing one as null."""
    expected = [chain.canonical_json(row.get(name)) for name in chain.HISTORY_NAMES]
    assert chain.canonical_fields(chain.HISTORY_NAMES, row) == expected
