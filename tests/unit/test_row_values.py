"""``row_values``: a store's row from a mapping, as ``values_of(typed(kind, value))``
gives it, without building the frozen row (issue 12)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from cmc_workflow.store import port
from cmc_workflow.store.port import row_values, typed, values_of

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)

KINDS = [
    port.NewItem,
    port.ItemUpdate,
    port.HistoryEntry,
    port.OutboxMessage,
    port.AuditRecord,
    port.NewTimer,
    port.NewClock,
]


def sample(kind: type[Any], *, defaults: bool) -> dict[str, Any]:
    """A mapping of ``kind``'s required fields (and, with ``defaults``, every field)."""
    values: dict[str, Any] = {}
    for n, field in enumerate(dataclasses.fields(kind)):
        has_default = (
            field.default is not dataclasses.MISSING
            or field.default_factory is not dataclasses.MISSING
        )
        if has_default and not defaults:
            continue
        values[field.name] = f"value {n}" if n % 2 else n
    return values


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("defaults", [False, True], ids=["required", "all"])
def test_the_same_dict_as_building_the_row(kind: type[Any], defaults: bool) -> None:
    given = dict(reversed(sample(kind, defaults=defaults).items()))  # any order given
    expected = values_of(typed(kind, given))
    found = row_values(kind, given)
    assert found == expected
    assert list(found) == list(expected)  # the row's order: the prepared statement's keys
    assert row_values(kind, typed(kind, given)) == expected  # a row as it is


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_an_unknown_or_a_missing_field_is_the_rows_type_error(kind: type[Any]) -> None:
    given = sample(kind, defaults=False)
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        row_values(kind, {**given, "colour": "red"})
    first = next(iter(given))
    with pytest.raises(TypeError, match=first):
        row_values(kind, {k: v for k, v in given.items() if k != first})


def test_a_default_factory_gives_each_row_its_own() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Row:
        name: str
        tags: list[str] = dataclasses.field(default_factory=list)
        at: dt.datetime = NOW

    one, two = row_values(Row, {"name": "a"}), row_values(Row, {"name": "b"})
    assert one == {"name": "a", "tags": [], "at": NOW}
    assert one["tags"] is not two["tags"]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_an_unknown_field_in_a_missing_ones_stead_is_the_rows_type_error(kind: type[Any]) -> None:
    # as many keys as the row has fields: the count alone does not tell them all given
    given = sample(kind, defaults=True)
    first = next(iter(given))
    swapped = {"colour" if k == first else k: v for k, v in given.items()}
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'|" + first):
        row_values(kind, swapped)
    assert row_values(kind, given) == values_of(typed(kind, given))


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_every_field_in_the_rows_order_is_copied(kind: type[Any]) -> None:
    """A mapping of every field in the row's order (what the engine writes) is copied as
    it is (round 9): a new dict, equal to the row's, that the store may change."""
    given = sample(kind, defaults=True)
    found = row_values(kind, given)
    assert found == values_of(typed(kind, given))
    assert list(found) == list(given)
    assert found is not given
