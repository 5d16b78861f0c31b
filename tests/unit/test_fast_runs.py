"""``fast._runs``: a batch's kept rows cut into executemanys (one statement, one set of
keys each), compared the cheap way first (issue 12, round 7): the same runs as cutting
them where the statement or the set of keys changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cmc_workflow.store.fast import _runs

KEYS = ["id", "item_id", "at", "form", "hash"]
rows = st.lists(
    st.tuples(
        st.sampled_from(["insert history", "insert audit"]),
        st.permutations(KEYS).flatmap(lambda keys: st.integers(3, 5).map(lambda n: keys[:n])),
    ),
    max_size=30,
)


def _cut_before(kept: list[tuple[Any, Mapping[str, Any]]]) -> list[tuple[Any, list[Any]]]:
    """The runs as flush_appends cut them before: by the statement and the keys as sets."""
    runs = []
    start = 0
    for end in range(1, len(kept) + 1):
        if (
            end == len(kept)
            or kept[end][0] is not kept[start][0]
            or kept[end][1].keys() != kept[start][1].keys()
        ):
            runs.append((kept[start][0], [row for _s, row in kept[start:end]]))
            start = end
    return runs


@given(rows)
def test_the_runs_are_those_cut_by_the_statement_and_the_set_of_keys(
    given_rows: list[tuple[str, list[str]]],
) -> None:
    kept: list[tuple[Any, Mapping[str, Any]]] = [
        (statement, dict.fromkeys(keys, n)) for n, (statement, keys) in enumerate(given_rows)
    ]
    found = _runs(kept)
    assert found == _cut_before(kept)
    for (statement, run), (before_statement, _run) in zip(found, _cut_before(kept), strict=True):
        assert statement is before_statement
        assert all(a is b for a, b in zip(run, _run, strict=True))  # the rows themselves


def test_rows_of_the_same_keys_in_another_order_stay_in_one_run() -> None:
    one, two = {"a": 1, "b": 2}, {"b": 3, "a": 4}
    assert _runs([("s", one), ("s", two), ("t", one)]) == [("s", [one, two]), ("t", [one])]
