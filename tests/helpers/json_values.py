"""Values a history row or an audit record may hold (hypothesis strategies), for the
tests of the chains' canonical JSON and hashes."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def json_values(integers: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[Any]:
    """Scalars (unicode, escapes, floats without NaN) nested in lists, tuples and dicts
    with text or integer keys; ``integers`` (default: any) for what the store can hold."""
    scalars = (
        st.none()
        | st.booleans()
        | (integers if integers is not None else st.integers())
        | st.floats(allow_nan=False)
        | st.text()  # unicode, escapes, quotes
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.lists(inner, max_size=3).map(tuple)
            | st.dictionaries(st.text(max_size=5), inner, max_size=4)
            | st.dictionaries(st.integers(), inner, max_size=2)
        ),
        max_leaves=12,
    )
