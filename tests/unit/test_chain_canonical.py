"""The hash of a chain row skips the JSON round trip of values that are plain JSON already
(issue 12): the text hashed must be the same as with the round trip, for every value."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given

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
