"""Finding items and keeping API tokens in the in-memory store (semantics:
:mod:`cmc_workflow.store.port`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from cmc_workflow.errors import ConflictError
from cmc_workflow.i18n import tr
from cmc_workflow.store.memory_tables import Table, row_as
from cmc_workflow.store.port import ItemFilter, ItemRow, NewToken, TokenRow

__all__ = ["MemoryFinding"]


def same_json(stored: Any, wanted: Any) -> bool:
    """JSON equality: ``True`` is not ``1``, ``1`` equals ``1.0`` (as JSON numbers do)."""
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if isinstance(stored, int | float) and isinstance(wanted, int | float):
        return stored == wanted
    return type(stored) is type(wanted) and bool(stored == wanted)


def _sla(clocks: list[dict[str, Any]], status: str) -> bool:
    if status in ("running", "paused"):
        return any(c["status"] == status for c in clocks)
    if status == "warned":
        return any(c["warned_at"] is not None and c["status"] != "stopped" for c in clocks)
    if status == "breached":
        return any(c["breached_at"] is not None for c in clocks)
    return any(c["status"] == "stopped" and c["outcome"] == "met" for c in clocks)


def _names(value: Any, people: set[str]) -> bool:
    if isinstance(value, list):
        return any(isinstance(v, str) and v in people for v in value)
    return isinstance(value, str) and value in people


class MemoryFinding:
    """:meth:`find_items` and the token operations of the in-memory store."""

    _t: dict[str, Table]

    def find_items(self, query: ItemFilter) -> list[ItemRow]:
        q = query
        clocks_of: dict[int, list[dict[str, Any]]] = {}
        if q.due_before is not None or q.sla is not None:
            for c in self._t["clocks"].values():
                clocks_of.setdefault(c["item_id"], []).append(c)
        pairs = None if q.pairs is None else set(q.pairs)
        people = set(q.people)

        def keep(r: dict[str, Any]) -> bool:
            if q.workflows and r["workflow_id"] not in q.workflows:
                return False
            if q.states and r["state"] not in q.states:
                return False
            if pairs is not None and (r["workflow_id"], r["state"]) not in pairs:
                return False
            if q.assigned is not None and not any(
                r["workflow_id"] == w and r["state"] == s and _names(r["data"].get(f), people)
                for w, s, f in q.assigned
            ):
                return False
            if q.open is not None and (r["closed_at"] is None) != q.open:
                return False
            if q.parent_id is not None and r["parent_id"] != q.parent_id:
                return False
            mine = clocks_of.get(r["id"], [])
            if q.due_before is not None and not any(
                c["status"] == "running" and c["due_at"] < q.due_before for c in mine
            ):
                return False
            if q.sla is not None and not _sla(mine, q.sla):
                return False
            for name, wanted in q.data:
                if name not in r["data"] or not same_json(r["data"][name], wanted):
                    return False
            if q.title is not None:
                title = r["data"].get("title")
                if not isinstance(title, str) or q.title.lower() not in title.lower():
                    return False
            return _within(r, q)

        found = [r for r in self._t["items"].values() if keep(r)]
        found.sort(key=lambda r: (r[q.sort], r["id"]), reverse=q.descending)
        if q.after is not None:
            mark = (_as_key(q.after[0], q.sort), q.after[1])
            if q.descending:
                found = [r for r in found if (r[q.sort], r["id"]) < mark]
            else:
                found = [r for r in found if (r[q.sort], r["id"]) > mark]
        return [row_as(ItemRow, r) for r in found[: q.limit]]

    # -- API tokens ----------------------------------------------------------------------
    def insert_token(self, values: NewToken) -> None:
        table = self._t["api_tokens"]
        if values.key in table.rows:
            raise ConflictError(tr("an API token with key {key} exists", key=repr(values.key)))
        table.insert(
            values.key,
            {
                "key": values.key,
                "secret_hash": values.secret_hash,
                "system": values.system,
                "label": values.label,
                "created_at": values.created_at,
                "created_by": values.created_by,
                "revoked_at": None,
                "last_used_at": None,
            },
        )

    def token(self, key: str) -> TokenRow | None:
        row = self._t["api_tokens"].rows.get(key)
        return None if row is None else row_as(TokenRow, row)

    def tokens(self, system: str | None = None) -> list[TokenRow]:
        rows = self._t["api_tokens"].values()
        return [
            row_as(TokenRow, r)
            for r in sorted(rows, key=lambda r: (r["created_at"], r["key"]))
            if system is None or r["system"] == system
        ]

    def revoke_token(self, key: str, now: dt.datetime) -> bool:
        table = self._t["api_tokens"]
        row = table.rows.get(key)
        if row is None or row["revoked_at"] is not None:
            return False
        table.update(key, revoked_at=now)
        return True

    def token_used(self, key: str, now: dt.datetime) -> None:
        table = self._t["api_tokens"]
        if key in table.rows:
            table.update(key, last_used_at=now)


def _within(r: Mapping[str, Any], q: ItemFilter) -> bool:
    checks: Sequence[tuple[str, dt.datetime | None, bool]] = (
        ("created_at", q.created_from, True),
        ("created_at", q.created_until, False),
        ("updated_at", q.updated_from, True),
        ("updated_at", q.updated_until, False),
    )
    for column, bound, lower in checks:
        if bound is None:
            continue
        if lower and r[column] < bound:
            return False
        if not lower and r[column] >= bound:
            return False
    return True


def _as_key(value: Any, sort: str) -> Any:
    if sort == "id":
        return int(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return dt.datetime.fromisoformat(str(value)).astimezone(dt.UTC)
