"""An in-memory store: the port implemented in pure Python, for tests and embedders.
(Over 400 lines: the tables, the undo log and every item/history/outbox/audit operation.)

Same semantics as the SQL store where the engine depends on them: an item written over a
stale version raises :class:`~cmc_workflow.errors.ConflictError`, so does a duplicate
unique key (definition content hash, history position, outbox idempotency key); a row
naming a missing parent raises :class:`~cmc_workflow.errors.StoreError` (a foreign key);
claims carry leases; the audit log and each item's history are hash-chained with
:mod:`cmc_workflow.store.chain`, exactly as the SQL store chains them.

Transactions: one at a time (a re-entrant lock, held for the whole block); every change
is written in place and recorded in an undo log, which an exception replays backwards, so
a failed block leaves nothing. Values are stored as the SQL store returns them: aware UTC
datetimes (a naive one is refused), JSON values copied through ``json`` (a caller's later
change to a dict it passed in does not reach the store, nor a change to a dict it read).

The clocks, timers, schedule occurrences, runners and report queries live in
:mod:`cmc_workflow.store.memory_time` (inherited by :class:`MemoryTx`).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from cmc_workflow.errors import ConflictError, DatabaseReadOnly, StoreError
from cmc_workflow.i18n import tr
from cmc_workflow.model import normal_id
from cmc_workflow.store.chain import GENESIS, chain_history, chain_of, record_hash
from cmc_workflow.store.memory_console import TABLES as CONSOLE_TABLES
from cmc_workflow.store.memory_console import MemoryConsoleQueries
from cmc_workflow.store.memory_finding import MemoryFinding
from cmc_workflow.store.memory_notices import TABLES as NOTICE_TABLES
from cmc_workflow.store.memory_notices import MemoryNoticeQueries
from cmc_workflow.store.memory_staff import TABLES as STAFF_TABLES
from cmc_workflow.store.memory_staff import MemoryStaffQueries
from cmc_workflow.store.memory_tables import Table, loaded, row_as, stored
from cmc_workflow.store.memory_tasks import TABLES as TASK_TABLES
from cmc_workflow.store.memory_tasks import MemoryTaskQueries
from cmc_workflow.store.memory_time import MemoryTimeQueries
from cmc_workflow.store.memory_webhooks import TABLES as WEBHOOK_TABLES
from cmc_workflow.store.memory_webhooks import MemoryWebhookQueries
from cmc_workflow.store.port import (
    AuditRecord,
    DefinitionRow,
    HistoryEntry,
    ItemRow,
    ItemUpdate,
    NewItem,
    OutboxMessage,
    OutboxRow,
    StorePort,
    StoreTx,
    row_values,
)

__all__ = ["MemoryStore", "MemoryTx"]


class MemoryStore:
    """The port's store in memory: nothing survives the process."""

    def __init__(self, *, read_only: bool = False) -> None:
        self.read_only = read_only
        self._lock = threading.RLock()
        self._log: list[tuple[Table, Any, Any]] = []
        names = (
            "definitions",
            "items",
            "history",
            "outbox",
            "audit",
            "audit_heads",
            "clocks",
            "timers",
            "schedule_runs",
            "schedule_cursors",
            "runners",
            *STAFF_TABLES,
            "api_tokens",
            *TASK_TABLES,
            *NOTICE_TABLES,
            *WEBHOOK_TABLES,
            *CONSOLE_TABLES,
        )
        self.tables = {name: Table(name, self._undo_log) for name in names}
        self._depth = 0

    def _undo_log(self) -> list[tuple[Table, Any, Any]]:
        if self._depth == 0:
            raise StoreError("the in-memory store was written outside a transaction")
        return self._log

    @contextmanager
    def write(self) -> Iterator[MemoryTx]:
        """One write transaction: the only one running until it ends."""
        if self.read_only:
            raise DatabaseReadOnly("the in-memory store was opened read-only")
        with self._transaction() as tx:
            yield tx

    @contextmanager
    def read(self) -> Iterator[MemoryTx]:
        """One read transaction (serialized with the writers: it sees committed state)."""
        with self._transaction() as tx:
            yield tx

    @contextmanager
    def write_series(self) -> Iterator[Callable[[], AbstractContextManager[MemoryTx]]]:
        """A series of write transactions (the SQL store shares one connection)."""
        yield self.write

    def close(self) -> None:
        """Nothing to release."""

    @contextmanager
    def _transaction(self) -> Iterator[MemoryTx]:
        with self._lock:
            mark = len(self._log)
            self._depth += 1
            try:
                yield MemoryTx(self)
            except BaseException:
                self.rollback_to(mark)
                raise
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._log.clear()

    def rollback_to(self, mark: int) -> None:
        """Undo every change logged after position ``mark``, newest first."""
        while len(self._log) > mark:
            table, key, old = self._log.pop()
            table.restore(key, old)


def _race(what: str) -> ConflictError:
    return ConflictError(tr("a concurrent command won the race: duplicate {what}", what=what))


class MemoryTx(
    MemoryTimeQueries,
    MemoryStaffQueries,
    MemoryFinding,
    MemoryTaskQueries,
    MemoryNoticeQueries,
    MemoryWebhookQueries,
    MemoryConsoleQueries,
):
    """The operations of one transaction of a :class:`MemoryStore`, as
    :class:`~cmc_workflow.store.port.StoreTx` documents them."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._t = store.tables

    def _require(self, table: str, key: Any, what: str) -> None:
        """A foreign key: the SQL store refuses a row naming a missing parent."""
        if key is not None and key not in self._t[table].rows:
            raise StoreError(f"the database refused the write: {what} {key} does not exist")

    def _insert(self, table: str, values: Mapping[str, Any]) -> int:
        rows = self._t[table]
        new_id = rows.next_id()
        rows.insert(new_id, {"id": new_id, **values})
        return new_id

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an error inside rolls back only what it wrote."""
        mark = len(self._store._log)
        try:
            yield
        except BaseException:
            self._store.rollback_to(mark)
            raise

    # -- definitions ---------------------------------------------------------------------
    def find_definition(self, workflow_id: str, content_hash: str) -> DefinitionRow | None:
        for row in self._t["definitions"].values():
            if row["workflow_id"] == workflow_id and row["content_hash"] == content_hash:
                return row_as(DefinitionRow, row)
        return None

    def insert_definition(
        self,
        workflow_id: str,
        content_hash: str,
        version_label: int | None,
        source_file: str,
        source_text: str,
        now: dt.datetime,
    ) -> DefinitionRow:
        if self.find_definition(workflow_id, content_hash) is not None:
            raise _race(f"definition {workflow_id} {content_hash}")
        revisions = [
            r["revision"]
            for r in self._t["definitions"].values()
            if r["workflow_id"] == workflow_id
        ]
        values = {
            "workflow_id": workflow_id,
            "revision": max(revisions, default=0) + 1,
            "version_label": version_label,
            "content_hash": content_hash,
            "source_file": source_file,
            "source_text": source_text,
            "loaded_at": now,
        }
        new_id = self._insert("definitions", values)
        return row_as(DefinitionRow, self._t["definitions"].rows[new_id])

    def definition(self, definition_id: int) -> DefinitionRow | None:
        row = self._t["definitions"].rows.get(definition_id)
        return row_as(DefinitionRow, row) if row is not None else None

    def definitions_of(self, workflow_id: str) -> list[tuple[DefinitionRow, int]]:
        live: dict[int, int] = {}
        for item in self._t["items"].rows.values():
            if item["closed_at"] is None:
                live[item["definition_id"]] = live.get(item["definition_id"], 0) + 1
        found = [r for r in self._t["definitions"].values() if r["workflow_id"] == workflow_id]
        found.sort(key=lambda r: r["revision"])
        return [(row_as(DefinitionRow, r), live.get(r["id"], 0)) for r in found]

    # -- items ---------------------------------------------------------------------------
    def insert_item(self, values: NewItem | Mapping[str, Any]) -> int:
        row = row_values(NewItem, values)
        self._require("definitions", row["definition_id"], "definition")
        self._require("items", row["parent_id"], "parent item")
        return self._insert("items", {**row, "history_head": None})

    def item(self, item_id: int, *, lock: bool = False) -> ItemRow | None:
        """``lock`` is moot: transactions run one at a time."""
        row = self._t["items"].rows.get(item_id)
        return row_as(ItemRow, row) if row is not None else None

    def update_item(
        self, item_id: int, expected_version: int, values: ItemUpdate | Mapping[str, Any]
    ) -> None:
        row = self._t["items"].rows.get(item_id)
        if row is None or row["version"] != expected_version:
            raise ConflictError(
                tr(
                    "item {item_id} was changed by another command (expected version "
                    "{expected_version}); reload it and try again",
                    item_id=item_id,
                    expected_version=expected_version,
                ),
                item_id=str(item_id),
            )
        changes = row_values(ItemUpdate, values)
        if changes["facts"] is None:
            del changes["facts"]  # kept as stored
        self._t["items"].update(item_id, **changes, version=expected_version + 1)

    def set_item_definition(self, item_id: int, expected_version: int, definition_id: int) -> None:
        row = self._t["items"].rows.get(item_id)
        if row is None or row["version"] != expected_version:
            raise ConflictError(
                tr(
                    "item {item_id} was changed by another command (expected version "
                    "{expected_version}); reload it and try again",
                    item_id=item_id,
                    expected_version=expected_version,
                ),
                item_id=str(item_id),
            )
        self._t["items"].update(item_id, definition_id=definition_id)

    def item_facts(self, item_id: int) -> dict[str, Any] | None:
        row = self._t["items"].rows.get(item_id)
        facts: dict[str, Any] | None = loaded(row["facts"]) if row is not None else None
        return facts

    def _items(self, keep: Callable[[dict[str, Any]], bool]) -> list[ItemRow]:
        return [row_as(ItemRow, r) for r in self._t["items"].values() if keep(r)]

    def open_definition_ids(self) -> list[int]:
        items = self._t["items"].values()
        return sorted({r["definition_id"] for r in items if r["closed_at"] is None})

    def open_items(self, pairs: Sequence[tuple[str, str]]) -> list[ItemRow]:
        wanted = set(pairs)
        return self._items(
            lambda r: r["closed_at"] is None and (r["workflow_id"], r["state"]) in wanted
        )

    def children(self, item_id: int) -> list[ItemRow]:
        return self._items(lambda r: r["parent_id"] == item_id)

    def open_children(self, item_id: int) -> list[ItemRow]:
        return self._items(lambda r: r["parent_id"] == item_id and r["closed_at"] is None)

    def records(
        self, workflow_id: str, states: Sequence[str], field: str, value: str
    ) -> list[dict[str, Any]]:
        wanted = normal_id(value)
        found = []
        for row in self._t["items"].values():
            if row["workflow_id"] != workflow_id or row["state"] not in states:
                continue
            data = row["data"]
            if isinstance(data.get(field), str | int) and normal_id(str(data[field])) == wanted:
                found.append(loaded(data))
        return found

    def key_records(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        return []  # records compares every row in Python: no keys to keep

    def unkeyed_records(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        return []

    def last_entries(
        self,
        workflow_id: str,
        states: Sequence[str],
        *,
        source: Sequence[str] | None = None,
        resting_in: Sequence[str] | None = None,
    ) -> list[tuple[dict[str, Any], dt.datetime]]:
        last: dict[int, dt.datetime] = {}
        items = self._t["items"].rows
        for h in self._t["history"].rows.values():
            item = items[h["item_id"]]
            came = h["from_state"]
            if item["workflow_id"] != workflow_id or h["to_state"] not in states:
                continue
            if came is not None and came in states:
                continue
            if source is not None and (came is None or came not in source):
                continue
            if resting_in is not None and item["state"] not in resting_in:
                continue
            if h["item_id"] not in last or h["at"] > last[h["item_id"]]:
                last[h["item_id"]] = h["at"]
        return [(loaded(items[i]["data"]), last[i]) for i in sorted(last)]

    # -- history -------------------------------------------------------------------------
    def insert_history(self, rows: Sequence[HistoryEntry | Mapping[str, Any]]) -> None:
        table = self._t["history"]
        taken = {(h["item_id"], h["seq"]) for h in table.rows.values()}
        heads: dict[int, str] = {}
        for entry in rows:
            values = {k: stored(v) for k, v in row_values(HistoryEntry, entry).items()}
            item_id = values["item_id"]
            self._require("items", item_id, "item")
            if (item_id, values["seq"]) in taken:
                raise _race(f"history row {values['seq']} of item {item_id}")
            taken.add((item_id, values["seq"]))
            prev = heads.get(item_id) or self._history_head(item_id, values["seq"])
            (row,) = chain_history(prev, [values])
            heads[item_id] = row["hash"]
            self._insert("history", row)
        for item_id, head in heads.items():
            self._t["items"].update(item_id, history_head=head)

    def _history_head(self, item_id: int, seq: int) -> str:
        """The hash the item's row number ``seq`` chains to."""
        if seq == 1:
            return GENESIS
        head: str | None = self._t["items"].rows[item_id]["history_head"]
        if head is None:  # no anchor (a damaged item row): continue from its last row
            mine = [h for h in self._t["history"].rows.values() if h["item_id"] == item_id]
            head = max(mine, key=lambda h: h["seq"])["hash"] if mine else None
        return head if head is not None else GENESIS

    def _history_of(self, item_id: int) -> list[dict[str, Any]]:
        mine = [h for h in self._t["history"].rows.values() if h["item_id"] == item_id]
        return sorted(mine, key=lambda h: h["seq"])

    def history(self, item_id: int) -> list[dict[str, Any]]:
        return [{k: loaded(v) for k, v in h.items()} for h in self._history_of(item_id)]

    def last_command(self, item_id: int) -> dict[str, Any] | None:
        names = ("kind", "trigger", "from_state", "to_state", "actor", "form", "seq")
        for h in reversed(self._history_of(item_id)):
            if h["kind"] != "route":
                return {name: loaded(h[name]) for name in names}
        return None

    # -- outbox --------------------------------------------------------------------------
    def insert_outbox(self, rows: Sequence[OutboxMessage | Mapping[str, Any]]) -> list[int]:
        keys = {r["idempotency_key"] for r in self._t["outbox"].rows.values()}
        ids = []
        for message in rows:
            values = row_values(OutboxMessage, message)
            self._require("items", values["item_id"], "item")
            if values["idempotency_key"] in keys:
                raise _race(f"outbox idempotency key {values['idempotency_key']!r}")
            keys.add(values["idempotency_key"])
            ids.append(self._insert("outbox", {**values, "delivered_at": None, "last_error": None}))
        return ids

    def queue_outbox(self, rows: Sequence[MutableMapping[str, Any]]) -> None:
        for row, new_id in zip(rows, self.insert_outbox(rows), strict=True):
            row["id"] = new_id

    def _due_outbox(self, now: dt.datetime, handler_names: Sequence[str]) -> list[dict[str, Any]]:
        due = [
            r
            for r in self._t["outbox"].values()
            if (r["kind"] == "notify" or (r["kind"] == "handler" and r["name"] in handler_names))
            and r["delivered_at"] is None
            and r["available_at"] <= now
            and (r["claimed_until"] is None or r["claimed_until"] < now)
        ]
        return sorted(due, key=lambda r: (r["available_at"], r["id"]))

    def claim_outbox(
        self,
        now: dt.datetime,
        runner: str,
        lease: dt.timedelta,
        limit: int,
        *,
        handler_names: Sequence[str],
    ) -> list[OutboxRow]:
        rows = self._due_outbox(now, handler_names)[:limit]
        for r in rows:
            self._t["outbox"].update(r["id"], claimed_by=runner, claimed_until=now + lease)
        return [row_as(OutboxRow, r) for r in rows]

    def has_due_outbox(self, now: dt.datetime, *, handler_names: Sequence[str]) -> bool:
        return bool(self._due_outbox(now, handler_names))

    def finish_outbox(self, outbox_id: int, runner: str, now: dt.datetime) -> bool:
        row = self._t["outbox"].rows.get(outbox_id)
        if row is None or row["claimed_by"] != runner or row["delivered_at"] is not None:
            return False
        self._t["outbox"].update(
            outbox_id, delivered_at=now, claimed_until=None, attempts=row["attempts"] + 1
        )
        return True

    def finish_outbox_many(self, delivered: Sequence[tuple[int, dt.datetime]], runner: str) -> None:
        for outbox_id, at in delivered:
            self.finish_outbox(outbox_id, runner, at)

    def retry_outbox(
        self, outbox_id: int, runner: str, error: str, available_at: dt.datetime
    ) -> None:
        row = self._t["outbox"].rows.get(outbox_id)
        if row is None or row["claimed_by"] != runner:
            return
        self._t["outbox"].update(
            outbox_id,
            attempts=row["attempts"] + 1,
            last_error=error[:4000],
            available_at=available_at,
            claimed_by=None,
            claimed_until=None,
        )

    def outbox_of(self, item_id: int) -> list[OutboxRow]:
        return [row_as(OutboxRow, r) for r in self._t["outbox"].values() if r["item_id"] == item_id]

    def count_pending_outbox(self) -> int:
        return sum(1 for r in self._t["outbox"].rows.values() if r["delivered_at"] is None)

    # -- audit ---------------------------------------------------------------------------
    def insert_audit(self, values: AuditRecord | Mapping[str, Any]) -> None:
        record = {k: stored(v) for k, v in row_values(AuditRecord, values).items()}
        chain = chain_of(record)
        heads = self._t["audit_heads"]
        head = heads.rows.get(chain)
        if head is None:  # a new chain (or one whose head is gone: continue from its end)
            mine = [r for r in self._t["audit"].rows.values() if r["chain"] == chain]
            head = max(mine, key=lambda r: r["chain_seq"]) if mine else None
        record["chain"] = chain
        record["chain_seq"] = 1 if head is None else head["chain_seq"] + 1
        record["prev_hash"] = GENESIS if head is None else head["hash"]
        record["hash"] = record_hash(record["prev_hash"], record)
        self._insert("audit", record)
        heads.insert(
            chain, {"chain": chain, "chain_seq": record["chain_seq"], "hash": record["hash"]}
        )

    def _audit(self) -> list[dict[str, Any]]:
        return [{k: loaded(v) for k, v in r.items()} for r in self._t["audit"].values()]

    def audit_of(self, item_id: int) -> list[dict[str, Any]]:
        return [r for r in self._audit() if r["item_id"] == item_id]

    def audit_records(self, *, batch: int = 2000) -> Iterator[dict[str, Any]]:
        return iter(self._audit())

    def item_data(self, item_ids: Sequence[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        items = self._t["items"].rows
        return {
            i: (items[i]["workflow_id"], loaded(items[i]["data"])) for i in item_ids if i in items
        }

    def item_forms(self, item_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        found: dict[int, list[dict[str, Any]]] = {}
        for item_id in sorted(set(item_ids)):
            for h in self._history_of(item_id):
                if h["form"]:
                    found.setdefault(item_id, []).append(loaded(h["form"]))
        return found

    def definition_sources(self) -> list[tuple[str, str, str]]:
        return [
            (r["workflow_id"], r["source_file"], r["source_text"])
            for r in self._t["definitions"].values()
        ]


def _conforms(tx: MemoryTx, store: MemoryStore) -> tuple[StoreTx, StorePort]:
    """Never called: mypy checks here that the memory classes implement the port."""
    return tx, store
