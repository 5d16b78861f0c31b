"""The SQL store: every item, history, outbox and audit operation of the port.
(Over 400 lines: one method per operation; time and report queries are mixed in.)

A :class:`Store` opens transactions; a :class:`Tx` runs the statements of one command
inside one of them. Driver errors are translated here into :mod:`cmc_workflow.errors`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Engine,
    Integer,
    Row,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from cmc_workflow.errors import (
    CmcWorkflowError,
    ConflictError,
    DatabaseReadOnly,
    SchemaOutOfDate,
    StoreError,
)
from cmc_workflow.i18n import tr
from cmc_workflow.model import normal_id
from cmc_workflow.store import audit as audit_log
from cmc_workflow.store import carried, schema
from cmc_workflow.store import records as records_sql
from cmc_workflow.store.chain import GENESIS
from cmc_workflow.store.console import ConsoleQueries
from cmc_workflow.store.database import (
    READ_ONLY,
    KeptConnections,
    is_read_only,
    is_sqlite,
    open_database,
)
from cmc_workflow.store.fast import KeptUpdate, Statements
from cmc_workflow.store.finding_sql import SqlFinding
from cmc_workflow.store.notices import NoticeQueries
from cmc_workflow.store.port import (
    PAUSED,
    RUNNING,
    AuditRecord,
    ClockRow,
    DefinitionRow,
    HistoryEntry,
    ItemRow,
    ItemUpdate,
    NewClock,
    NewItem,
    OutboxMessage,
    OutboxRow,
    StorePort,
    StoreTx,
    row_values,
)
from cmc_workflow.store.reports import ReportQueries
from cmc_workflow.store.staff import StaffQueries
from cmc_workflow.store.tables import (
    UTCDateTime,
    audit,
    clocks,
    definitions,
    history,
    items,
    outbox,
)
from cmc_workflow.store.tasks import TaskQueries
from cmc_workflow.store.timers import TimeQueries
from cmc_workflow.store.webhooks import WebhookQueries

if TYPE_CHECKING:  # verification is loaded by its first use (store.audit)
    from cmc_workflow.store.verification import Verification


def _unique_violation(exc: IntegrityError) -> bool:
    """True for a duplicate key (a lost race); False for other constraints (foreign keys,
    NOT NULL), which no retry can satisfy."""
    if getattr(exc.orig, "sqlstate", None) == "23505":  # PostgreSQL unique_violation
        return True
    return "UNIQUE constraint failed" in str(exc.orig)  # SQLite's text for the same


def _item(row: Row[Any]) -> ItemRow:
    return ItemRow(**row._mapping)


def _definition(row: Row[Any]) -> DefinitionRow:
    return DefinitionRow(**row._mapping)


@dataclass(slots=True)
class _Anchors:
    """An item's chain anchors as one transaction knows them: read with the item (under
    its row lock when ``locked``) and moved by the rows it appends (``moved``: not written
    yet; the item's next UPDATE or :meth:`SqlTx.flush` writes them)."""

    history: str | None
    audit_seq: int | None
    audit_head: str | None
    locked: bool
    moved: bool = False


_Held = tuple[Any, str, Mapping[str, Any], MutableMapping[str, Any] | None]
"""A row a PostgreSQL transaction holds (:attr:`SqlTx._held`): its INSERT, its table, its
values, and the caller's row its new id is set in (None: nobody asks for it)."""

_ITEM_COLUMNS = [items.c[name] for name in ItemRow.__slots__]
_ITEM_FIELDS = itemgetter(*ItemRow.__slots__)
"""An item row's fields in ``ItemRow``'s order, from a row read with its anchors and facts."""
_OUTBOX_COLUMNS = [outbox.c[name] for name in OutboxRow.__slots__]

# The statements of every command, built once: values travel as parameters, so
# SQLAlchemy neither rebuilds the statement nor recomputes its cache key per call
# (that cost more than SQLite's own work; see docs/performance.md).
# the item's chain anchors and its facts ride along with it (the last columns): for
# chaining its next history rows and audit records, and the policy's summary of its history
_ANCHORS = (items.c.history_head, items.c.audit_seq, items.c.audit_head)
_SELECT_ITEM = select(*_ITEM_COLUMNS, *_ANCHORS, items.c.facts).where(
    items.c.id == bindparam("b_id")
)
_ITEM_FACTS = select(items.c.facts).where(items.c.id == bindparam("b_id"))


def _items_among(ids: Any) -> Any:
    """The items whose id is among ``ids`` (an IN list's binds), with their anchors and
    whether their workflow has a registered record pair (SQLite only: ``items_ahead``)."""
    return select(*_ITEM_COLUMNS, *_ANCHORS, items.c.facts, records_sql.HAS_PAIR).where(
        items.c.id.in_(ids)
    )


def _active_clocks_among(ids: Any) -> Any:
    """The running and paused clocks of the items among ``ids``, each item's in id order
    (as ``TimeQueries.active_clocks`` reads one item's)."""
    return (
        select(*(clocks.c[name] for name in ClockRow.__slots__))
        .where(
            clocks.c.item_id.in_(ids),
            or_(clocks.c.status == RUNNING, clocks.c.status == PAUSED),
        )
        .order_by(clocks.c.item_id, clocks.c.id)
    )


_SELECT_ITEMS_AHEAD = _items_among(bindparam("b_ids", expanding=True))
_ACTIVE_CLOCKS_AHEAD = _active_clocks_among(bindparam("b_ids", expanding=True))
_AHEAD_CHUNK = 500
"""Items read ahead per SELECT: within SQLite's oldest limit of bound values (999)."""
_AHEAD_SIZES = (1, 10, 100, _AHEAD_CHUNK)
"""The lengths of the IN lists a read ahead binds on the driver's cursor (a chunk is
padded to the next with its last id): a prepared statement has a fixed number of binds."""


@functools.cache
def _ahead(among: Callable[[Any], Any], size: int) -> Any:
    """``among`` (:func:`_items_among`, :func:`_active_clocks_among`) with an IN list of
    ``size`` binds ``b_id0``, ``b_id1``, ... instead of an expanding one (rendered per
    call), so that it runs prepared on the driver's cursor (store/fast.py)."""
    return among([bindparam(f"b_id{n}", type_=Integer) for n in range(size)])


def _padded(chunk: Sequence[int]) -> tuple[int, dict[str, int]]:
    """The IN list's length for ``chunk`` (:data:`_AHEAD_SIZES`) and its binds' values,
    the last id repeated to fill it (an id twice in an IN list is found once)."""
    size = next(n for n in _AHEAD_SIZES if n >= len(chunk))
    values = {f"b_id{n}": item_id for n, item_id in enumerate(chunk)}
    for n in range(len(chunk), size):
        values[f"b_id{n}"] = chunk[-1]
    return size, values


_SELECT_ITEM_LOCKED = _SELECT_ITEM.with_for_update()
_SELECT_ANCHORS = select(*_ANCHORS).where(items.c.id == bindparam("b_id"))
_SELECT_ANCHORS_LOCKED = _SELECT_ANCHORS.with_for_update()
_INSERT_ITEM = insert(items).returning(items.c.id)
# SQLite: whether the item's workflow has a registered record pair rides on its read and
# its INSERT (the store keeps its record keys, store/records.py): no statement of its own
_SELECT_ITEM_SQLITE = _SELECT_ITEM.add_columns(records_sql.HAS_PAIR)
_INSERT_ITEM_SQLITE = insert(items).returning(items.c.id, records_sql.HAS_PAIR_RETURNED)
_INSERT_ITEMS = insert(items)  # with their ids, reserved ahead (a batch's kept appends)
_LARGEST_ITEM_ID = select(func.max(items.c.id).label("largest"))
_PAIRED_WORKFLOWS = records_sql.PAIRED_WORKFLOWS
_UPDATE_ITEM = update(items).where(
    items.c.id == bindparam("b_id"), items.c.version == bindparam("b_version")
)
_KEPT_UPDATE_ITEM = KeptUpdate(_UPDATE_ITEM, "items", checked=True)
"""A fire's item UPDATE kept with a batch's appends (SQLite), its version check counted."""
_FIND_DEFINITION = select(definitions).where(
    definitions.c.workflow_id == bindparam("b_workflow"),
    definitions.c.content_hash == bindparam("b_hash"),
)
_INSERT_HISTORY = insert(history)
_LAST_COMMAND = (
    select(history.c.kind, history.c.trigger, history.c.from_state, history.c.to_state)
    .add_columns(history.c.actor, history.c.form, history.c.seq)
    .where(history.c.item_id == bindparam("b_item"), history.c.kind != "route")
    .order_by(history.c.seq.desc())
    .limit(1)
)
_HISTORY = select(history).where(history.c.item_id == bindparam("b_id")).order_by(history.c.seq)
_RECORDS = (
    select(items.c.data)
    .where(
        items.c.workflow_id == bindparam("b_workflow"),
        items.c.state.in_(bindparam("b_states", expanding=True)),
    )
    .order_by(items.c.id)
)
_LAST_HISTORY_HASH = (
    select(history.c.hash)
    .where(history.c.item_id == bindparam("b_id"))
    .order_by(history.c.seq.desc())
    .limit(1)
)
_SET_ANCHORS = (
    update(items)
    .where(items.c.id == bindparam("b_id"))
    .values(
        history_head=bindparam("b_history", type_=items.c.history_head.type),
        audit_seq=bindparam("b_audit_seq", type_=items.c.audit_seq.type),
        audit_head=bindparam("b_audit_head", type_=items.c.audit_head.type),
    )
)
_INSERT_OUTBOX = insert(outbox).returning(outbox.c.id, sort_by_parameter_order=True)
_INSERT_ONE_OUTBOX = insert(outbox).returning(outbox.c.id)
_DUE_OUTBOX = (
    select(*_OUTBOX_COLUMNS)
    .where(
        or_(
            outbox.c.kind == "notify",
            and_(
                outbox.c.kind == "handler",
                outbox.c.name.in_(bindparam("b_names", expanding=True)),
            ),
        ),
        outbox.c.delivered_at.is_(None),
        outbox.c.available_at <= bindparam("b_now", type_=UTCDateTime),
        or_(
            outbox.c.claimed_until.is_(None),
            outbox.c.claimed_until < bindparam("b_now", type_=UTCDateTime),
        ),
    )
    .order_by(outbox.c.available_at, outbox.c.id)
    .limit(bindparam("b_limit", type_=Integer))
)
_DUE_OUTBOX_LOCKED = _DUE_OUTBOX.with_for_update(skip_locked=True)
_CLAIM_OUTBOX = (
    update(outbox)
    .where(outbox.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(
        claimed_by=bindparam("b_runner", type_=outbox.c.claimed_by.type),
        claimed_until=bindparam("b_until", type_=UTCDateTime),
    )
)
_FINISH_OUTBOX = (
    update(outbox)
    .where(
        outbox.c.id == bindparam("b_id"),
        outbox.c.claimed_by == bindparam("b_runner"),
        outbox.c.delivered_at.is_(None),
    )
    .values(
        delivered_at=bindparam("b_now", type_=UTCDateTime),
        claimed_until=None,
        attempts=outbox.c.attempts + 1,
    )
)
_RETRY_OUTBOX = (
    update(outbox)
    .where(outbox.c.id == bindparam("b_id"), outbox.c.claimed_by == bindparam("b_runner"))
    .values(
        attempts=outbox.c.attempts + 1,
        last_error=bindparam("b_error", type_=outbox.c.last_error.type),
        available_at=bindparam("b_available", type_=UTCDateTime),
        claimed_by=None,
        claimed_until=None,
    )
)


class SqlTx(
    TimeQueries,
    ReportQueries,
    StaffQueries,
    SqlFinding,
    TaskQueries,
    NoticeQueries,
    WebhookQueries,
    ConsoleQueries,
):
    """The statements of one command, inside one transaction: every operation of
    :class:`~cmc_workflow.store.port.StoreTx`, as documented there (the time and report
    queries are inherited from :mod:`~cmc_workflow.store.timers` and
    :mod:`~cmc_workflow.store.reports`)."""

    def __init__(
        self,
        conn: Connection,
        sqlite: bool,
        fast: Statements | None = None,
        keyed: set[tuple[str, str]] | None = None,
    ) -> None:
        self._db = conn
        self.sqlite = sqlite
        # the store's (workflow, field) pairs whose records are found by key (records.py),
        # as this process has seen them registered (a pair is never unregistered)
        self._keyed = set() if keyed is None else keyed
        self._unkeyed: set[tuple[str, str]] = set()
        # the pairs this transaction registered: keyed here, told to the store only when
        # a later transaction reads them back (this one may still roll back)
        self._keyed_here: set[tuple[str, str]] = set()
        # SQLite, the record keys the store keeps (store/records.py): item id -> whether
        # its workflow has a registered pair, as read in this transaction (under BEGIN
        # IMMEDIATE nobody registers one before the commit; True is never wrong, the
        # keying SQL finds the pairs itself); the workflows with a pair, when read (a
        # batch's new items); the kept items whose keys wait for their row to be written
        # (item id -> whether it may have keys to forget first)
        self._paired_items: dict[int, bool] = {}
        self._paired: frozenset[str] | None = None
        self._rekeyed: dict[int, bool] = {}
        # PostgreSQL: the history rows, item-chain audit records and queued outbox rows
        # not written yet, (INSERT, table, row, the caller's row that takes the new id or
        # None) in their order: the item's next UPDATE (or :meth:`flush`) carries them
        # (store/carried.py); any other statement writes them first (:attr:`_conn`), but
        # for the operations that read none of those tables (``_passing``)
        self._held: list[_Held] = []
        # PostgreSQL: the marks of delivered outbox rows (id, delivered at, runner) not
        # written yet: the next carrying statement or :meth:`flush` writes them (the
        # statements before them in the transaction find the rows as they would before a
        # mark written at its end)
        self._marks: list[tuple[int, dt.datetime, str]] = []
        self._holds = not sqlite
        self._passing = False
        # the command's statements on the driver's cursor (store/fast.py), or None to run
        # everything through SQLAlchemy's execution
        self._fast = fast
        # item id -> its chain anchors as read (under its lock) or moved in this transaction
        self._anchors: dict[int, _Anchors] = {}
        # item id -> its facts, as read or written in this transaction
        self._facts: dict[int, dict[str, Any] | None] = {}
        # item id -> its row read ahead (items_ahead), taken by the next item() of it
        self._ahead: dict[int, dict[str, Any]] = {}
        # item id -> its active clocks read ahead (clocks_ahead), taken by the next
        # active_clocks() of it; clock id -> its item, for the changes that name a clock
        self._clocks_ahead: dict[int, list[ClockRow]] = {}
        self._clock_items: dict[int, int] = {}

    @property
    def conn(self) -> Connection:
        """The raw connection: for the store package's own audit verification and for
        tests that stage damaged rows. Not part of the port; code outside the store
        uses the methods. (The held appends and marks are written first.)"""
        self._write_marks()
        return self._conn

    @property
    def _conn(self) -> Connection:
        """The transaction's connection, for a statement about to run: the held appends
        are written first, so that no statement finds them missing (unless the running
        operation reads neither history nor audit: ``_passing``)."""
        if self._held and not self._passing:
            self._write_held()
        return self._db

    @_conn.setter
    def _conn(self, conn: Connection) -> None:
        self._db = conn

    def _append(self, statement: Any, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """PostgreSQL, a single command: history rows and audit records are held for the
        item's next UPDATE to carry (:mod:`~cmc_workflow.store.carried`)."""
        if self._holds and self._appending is None and table in _CARRIED:
            self._held.extend((statement, table, row, None) for row in rows)
            return
        super()._append(statement, table, rows)

    def _write_held(self) -> None:
        """Insert the held rows on their own (one INSERT per run of rows alike; an outbox
        row alone, its new id set in the caller's row)."""
        held, self._held = self._held, []
        with _overtaken(held):
            start = 0
            for end in range(1, len(held) + 1):
                if (
                    end == len(held)
                    or held[end][0] is not held[start][0]
                    or held[end][2].keys() != held[start][2].keys()
                    or held[start][3] is not None
                ):
                    statement, _t, row, target = held[start]
                    if target is not None:
                        target["id"] = self._insert_returning_id(statement, row)
                    else:
                        self._insert(statement, [row for _s, _t, row, _x in held[start:end]])
                    start = end

    def _write_marks(self) -> None:
        """Write the held marks on their own (one executemany)."""
        if self._marks:
            marks, self._marks = self._marks, []
            self._finish_many([{"b_id": i, "b_runner": r, "b_now": at} for i, at, r in marks])

    def _carried(self, update: Any, keys: Sequence[str] | None, values: dict[str, Any]) -> int:
        """Run ``update`` of one item row (setting ``keys`` from ``u_<key>`` values, or
        its own) with the held rows as CTEs of the same statement, inserted only if the
        UPDATE changed the row (an outbox row's new id set in the caller's row), and the
        held marks (up to :data:`carried.MAX_MARKS`), written whatever it changed; the
        rows it changed. Rows not inserted stay held."""
        held, self._held = self._held, []
        marks = self._marks[: carried.MAX_MARKS]
        del self._marks[: carried.MAX_MARKS]
        statement = carried.carrying(
            update, keys, [(_CARRIED[table], list(row)) for _s, table, row, _x in held], len(marks)
        )
        values.update(carried.parameters([row for _s, _t, row, _x in held]))
        if marks:
            values.update(carried.marks(marks))
        with _overtaken(held):
            found = self._first(statement, values)
        if found is None or not found["n"]:
            self._held = held
            return 0
        for n, (_s, _t, _row, target) in enumerate(held):
            if target is not None:
                target["id"] = int(found[f"r{n}_id"])
        return int(found["n"])

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an error inside rolls back only what it wrote (and what
        this transaction keeps of it: the anchors it moved, the facts it wrote)."""
        self.flush_appends()  # what was appended before belongs to the transaction
        self._write_marks()  # (and the marks held before)
        kept = {item_id: replace(a) for item_id, a in self._anchors.items()}
        facts = dict(self._facts)
        try:
            with self._conn.begin_nested():
                yield
                self.flush_appends()
                if self._held:
                    self._write_held()
                self._write_marks()
        except BaseException:
            self.drop_appends()  # the appends kept since it began roll back with it
            self._held = []  # and those held since (all before were written when it began)
            self._marks = []
            self._clocks_changed(None)  # what was read ahead may have been changed inside
            self._anchors, self._facts = kept, facts
            raise

    def flush(self) -> None:
        """Write the chain anchors moved since the item's row was last written (one
        executemany for every such item; nothing when the command's own item UPDATE
        carried them), after the appends a batch kept (:meth:`flush_appends`). On
        PostgreSQL the held appends ride on that UPDATE when it is one item's. The store
        calls it before commit."""
        self.flush_appends()
        moved = [
            {
                "b_id": item_id,
                "b_history": anchors.history,
                "b_audit_seq": anchors.audit_seq,
                "b_audit_head": anchors.audit_head,
            }
            for item_id, anchors in self._anchors.items()
            if anchors.moved
        ]
        held = self._held
        if (held or self._marks) and len(moved) == 1 and len(held) <= carried.MAX_ROWS:
            if self._carried(_SET_ANCHORS, None, moved[0]) == 0:
                self._write_held()  # (the item's row is gone: the rows fail as they would)
        elif moved:  # (the held rows first: _conn)
            if self._fast is not None:
                self._fast(_SET_ANCHORS).run_many(self._conn, moved)
            else:
                self._conn.execute(_SET_ANCHORS, moved)
        elif held:
            self._write_held()
        self._write_marks()  # those no statement carried
        if not moved:
            return
        for anchors in self._anchors.values():
            anchors.moved = False

    def _completed(
        self, table: str, rows: list[tuple[Any, Mapping[str, Any]]]
    ) -> list[tuple[Any, Mapping[str, Any]]]:
        """A batch's new items, and the items its kept UPDATEs change, are written with
        their chain anchors as moved since (their history rows and audit records), so
        that no UPDATE of the anchors follows for them (:meth:`flush`)."""
        if table != "items":
            return rows
        completed = []
        for statement, row in rows:
            anchors = self._anchors.get(row["b_id" if statement is _KEPT_UPDATE_ITEM else "id"])
            if anchors is not None and anchors.moved:
                row = {
                    **row,
                    "history_head": anchors.history,
                    "audit_seq": anchors.audit_seq,
                    "audit_head": anchors.audit_head,
                }
                anchors.moved = False
            completed.append((statement, row))
        return completed

    def _missed(self, kept: KeptUpdate, rows: Sequence[Mapping[str, Any]]) -> Exception:
        """The item of a kept UPDATE whose version check missed, by the versions its
        items have now (each at the version its last kept UPDATE set, had none missed)."""
        if kept is not _KEPT_UPDATE_ITEM:
            return super()._missed(kept, rows)
        wanted = {row["b_id"]: row for row in rows}  # (the last of each item)
        for item_id, row in wanted.items():
            query = select(items.c.version).where(items.c.id == item_id)
            if self._conn.execute(query).scalar() != row["version"]:
                break
        return StoreError(
            tr(
                "item {item_id} was changed by another command (expected version "
                "{expected_version}); reload it and try again",
                item_id=item_id,
                expected_version=row["b_version"],
            )
        )

    # -- definitions -------------------------------------------------------------------
    def find_definition(self, workflow_id: str, content_hash: str) -> DefinitionRow | None:
        row = self._first(_FIND_DEFINITION, {"b_workflow": workflow_id, "b_hash": content_hash})
        return DefinitionRow(**row) if row is not None else None

    def insert_definition(
        self,
        workflow_id: str,
        content_hash: str,
        version_label: int | None,
        source_file: str,
        source_text: str,
        now: dt.datetime,
    ) -> DefinitionRow:
        revision = (
            self._conn.execute(
                select(func.coalesce(func.max(definitions.c.revision), 0)).where(
                    definitions.c.workflow_id == workflow_id
                )
            ).scalar_one()
            + 1
        )
        values = {
            "workflow_id": workflow_id,
            "revision": revision,
            "version_label": version_label,
            "content_hash": content_hash,
            "source_file": source_file,
            "source_text": source_text,
            "loaded_at": now,
        }
        new_id = self._conn.execute(
            insert(definitions).values(values).returning(definitions.c.id)
        ).scalar_one()
        return DefinitionRow(id=new_id, **values)

    def definition(self, definition_id: int) -> DefinitionRow | None:
        row = self._conn.execute(
            select(definitions).where(definitions.c.id == definition_id)
        ).first()
        return _definition(row) if row is not None else None

    def definitions_of(self, workflow_id: str) -> list[tuple[DefinitionRow, int]]:
        live = (
            select(items.c.definition_id, func.count().label("n"))
            .where(items.c.closed_at.is_(None))
            .group_by(items.c.definition_id)
            .subquery()
        )
        rows = self._conn.execute(
            select(definitions, func.coalesce(live.c.n, 0).label("live"))
            .outerjoin(live, live.c.definition_id == definitions.c.id)
            .where(definitions.c.workflow_id == workflow_id)
            .order_by(definitions.c.revision)
        ).all()
        return [
            (DefinitionRow(**{k: v for k, v in r._mapping.items() if k != "live"}), r.live)
            for r in rows
        ]

    # -- items -------------------------------------------------------------------------
    def insert_item(self, values: NewItem | Mapping[str, Any]) -> int:
        row = row_values(NewItem, values)
        if row["facts"] is None:
            del row["facts"]  # SQL NULL, not a JSON null
        new_id = self._reserved_id("items", _LARGEST_ITEM_ID)
        if new_id is None and self.sqlite:
            new_id = self._insert_keyed(row)
        elif new_id is None:
            new_id = self._insert_returning_id(_INSERT_ITEM, row)
        else:  # a batch's new item, kept with its appends (SQLite): written before them
            self._append(_INSERT_ITEMS, "items", [{"id": new_id, **row}])
            paired = self._paired_items[new_id] = row["workflow_id"] in self._paired_workflows()
            if paired:
                self._rekeyed[new_id] = False  # keyed once its row is written
        # a new item: both chains are empty, and nobody else sees the row before commit
        self._anchors[new_id] = _Anchors(None, 0, GENESIS, locked=True)
        self._facts[new_id] = row.get("facts")
        return new_id

    def _insert_keyed(self, row: Mapping[str, Any]) -> int:
        """SQLite: INSERT one item, then key it when its workflow has a registered pair
        (the INSERT's RETURNING says); its new id."""
        if self._fast is not None:
            found = self._fast(_INSERT_ITEM_SQLITE, list(row)).first(self._conn, row)
            assert found is not None
        else:
            found = dict(self._conn.execute(_INSERT_ITEM_SQLITE, row).one()._mapping)
        new_id = int(found["id"])
        if found["keyed"]:
            self._key_items([new_id], forget=False)
        self._paired_items[new_id] = bool(found["keyed"])
        return new_id

    def _paired_workflows(self) -> frozenset[str]:
        """SQLite: the workflows with a registered record pair, read once per transaction
        (for a batch's new items, which no statement of their own reads)."""
        if self._paired is None:
            self._paired = frozenset(r["workflow_id"] for r in self._rows(_PAIRED_WORKFLOWS, {}))
        return self._paired

    def _key_items(self, item_ids: Sequence[int], *, forget: bool) -> None:
        """SQLite: write the record keys of ``item_ids`` as their rows are now, after
        forgetting those they had (``forget``)."""
        rows = [{"b_id": item_id} for item_id in item_ids]
        for statement in (records_sql.UNKEY_ITEM, records_sql.KEY_ITEM)[0 if forget else 1 :]:
            if self._fast is not None:
                prepared = self._fast(statement)
                if len(rows) == 1:
                    prepared.run(self._conn, rows[0])
                else:
                    prepared.run_many(self._conn, rows)
            else:
                self._conn.execute(statement, rows)

    def flush_appends(self, tables: Sequence[str] | None = None) -> None:
        """The kept appends (:meth:`Appends.flush_appends`), then, once a batch's kept
        items are written, their record keys (SQLite)."""
        super().flush_appends(tables)
        if self._rekeyed and "items" not in (self._appending or ()):
            rekeyed, self._rekeyed = self._rekeyed, {}
            forget = [item_id for item_id, had in rekeyed.items() if had]
            if forget:
                self._key_items(forget, forget=True)
            new = [item_id for item_id, had in rekeyed.items() if not had]
            if new:
                self._key_items(new, forget=False)

    def drop_appends(self) -> None:
        """(The keys of the kept items are dropped with them.)"""
        super().drop_appends()
        self._rekeyed.clear()

    def item(self, item_id: int, *, lock: bool = False) -> ItemRow | None:
        """``lock`` takes a row lock on PostgreSQL (SQLite holds a database lock already
        under BEGIN IMMEDIATE)."""
        row = self._ahead.pop(item_id, None) if self._ahead else None
        if row is None:
            self.flush_appends(("items",))  # a batch's kept items and item UPDATEs
            if self.sqlite:
                query = _SELECT_ITEM_SQLITE
            else:
                query = _SELECT_ITEM_LOCKED if lock else _SELECT_ITEM
            row = self._first(query, {"b_id": item_id})
        if row is None:
            return None
        if self.sqlite:
            self._paired_items[item_id] = bool(row["keyed"])
        known = self._anchors.get(item_id)
        if known is None or not known.locked:  # anchors moved here stay as moved
            locked = lock or self.sqlite  # SQLite: BEGIN IMMEDIATE holds every row
            self._anchors[item_id] = _Anchors(
                row["history_head"], row["audit_seq"], row["audit_head"], locked=locked
            )
        self._facts[item_id] = row["facts"]
        return ItemRow(*_ITEM_FIELDS(row))

    def item_facts(self, item_id: int) -> dict[str, Any] | None:
        if item_id not in self._facts:
            self.flush_appends(("items",))
            found = self._first(_ITEM_FACTS, {"b_id": item_id})
            self._facts[item_id] = None if found is None else found["facts"]
        return self._facts[item_id]

    def items_ahead(self, item_ids: Sequence[int]) -> None:
        """Read the items a batch is about to act on (``fire_many``) in one SELECT, each
        then taken once by :meth:`item` instead of a SELECT of its own; a write to an item
        here drops its row read ahead (:meth:`update_item`, :meth:`set_item_definition`).
        SQLite only, where ``BEGIN IMMEDIATE`` holds every row already; on PostgreSQL
        each item is locked when its command reads it (``FOR UPDATE``), in the batch's
        order, as single commands lock them."""
        if not self.sqlite or not item_ids:
            return
        for row in self._read_ahead(_items_among, _SELECT_ITEMS_AHEAD, item_ids):
            self._ahead[row["id"]] = row

    def clocks_ahead(self, item_ids: Sequence[int]) -> None:
        """Read the running and paused clocks of the items a batch is about to act on
        (``fire_many``) in one SELECT per :data:`_AHEAD_CHUNK` items: each item's are then
        taken once by :meth:`active_clocks` (as a command leaving a state with a deadline
        reads them) instead of a SELECT of its own. A change of an item's clocks here
        drops what was read ahead for it (:meth:`_clocks_changed`); a rolled-back
        savepoint drops all of it. SQLite only, where ``BEGIN IMMEDIATE`` holds every row
        already; on PostgreSQL a command reads and stops the clocks it leaves in one
        statement, under its item's row lock."""
        if not self.sqlite or not item_ids:
            return
        self.flush_appends(["clocks"])
        ahead: dict[int, list[ClockRow]] = {item_id: [] for item_id in item_ids}
        clock_items = self._clock_items
        # the rows come in ClockRow's fields' order (_active_clocks_among): built positionally
        for row in self._read_ahead(
            _active_clocks_among, _ACTIVE_CLOCKS_AHEAD, item_ids, ordered=True
        ):
            clock = ClockRow(*row)
            ahead[clock.item_id].append(clock)
            clock_items[clock.id] = clock.item_id
        self._clocks_ahead.update(ahead)

    def _read_ahead(
        self,
        among: Callable[[Any], Any],
        expanding: Any,
        item_ids: Sequence[int],
        *,
        ordered: bool = False,
    ) -> Iterator[Any]:
        """The rows of ``among`` the items ``item_ids``, one SELECT per
        :data:`_AHEAD_CHUNK` of them: prepared on the driver's cursor (:func:`_ahead`),
        else ``expanding`` through SQLAlchemy; as mappings, or (``ordered``) as the
        sequences of their selected columns' values in the statement's order."""
        ids = sorted(set(item_ids))
        for first in range(0, len(ids), _AHEAD_CHUNK):
            chunk = ids[first : first + _AHEAD_CHUNK]
            if self._fast is not None:
                size, values = _padded(chunk)
                prepared = self._fast(_ahead(among, size))
                if ordered:
                    yield from prepared.ordered(self._conn, values)
                else:
                    yield from prepared.rows(self._conn, values)
            else:
                for found in self._conn.execute(expanding, {"b_ids": chunk}):
                    yield tuple(found) if ordered else dict(found._mapping)

    def active_clocks(self, item_id: int) -> list[ClockRow]:
        kept = self._clocks_ahead.pop(item_id, None) if self._clocks_ahead else None
        if kept is not None:
            return list(kept)
        self.flush_appends(("clocks",))  # a batch's kept clocks and clock UPDATEs
        return super().active_clocks(item_id)

    def _clocks_changed(self, item_id: int | None) -> None:
        """Forget the clocks read ahead of ``item_id`` (None: of every item)."""
        if item_id is None:
            self._clocks_ahead.clear()
            self._clock_items.clear()
        else:
            self._clocks_ahead.pop(item_id, None)

    def _clock_changed(self, clock_id: int) -> None:
        """Forget the clocks read ahead of the item of ``clock_id`` (of every item when
        the clock is none of theirs: it may be one of theirs started since)."""
        if self._clocks_ahead:
            self._clocks_changed(self._clock_items.get(clock_id))

    def insert_clock(self, values: NewClock | Mapping[str, Any]) -> int:
        item_id = self._clock_started(values)
        clock_id = super().insert_clock(values)
        if item_id is not None:
            self._clock_items[clock_id] = item_id
        return clock_id

    def start_clock(
        self, values: NewClock | Mapping[str, Any], timers: Sequence[Mapping[str, Any]]
    ) -> int:
        """(Reads neither history nor audit: the held appends wait.)"""
        item_id = self._clock_started(values)
        self._passing = True
        try:
            clock_id = super().start_clock(values, timers)
        finally:
            self._passing = False
        if item_id is not None:
            self._clock_items[clock_id] = item_id
        return clock_id

    def _clock_started(self, values: NewClock | Mapping[str, Any]) -> int | None:
        """Forget the clocks read ahead of the item a clock starts for; its item (None:
        nothing is read ahead), so that the new clock's later changes name it."""
        if not self._clocks_ahead:
            return None
        item_id = int(values["item_id"] if isinstance(values, Mapping) else values.item_id)
        self._clocks_changed(item_id)
        return item_id

    def stop_clock(
        self, clock_id: int, outcome: str, now: dt.datetime, breached: bool = False
    ) -> int:
        self._clock_changed(clock_id)
        self.flush_appends(("clocks", "timers"))  # kept before: written in their order
        return super().stop_clock(clock_id, outcome, now, breached)

    def update_clock(self, clock_id: int, values: Mapping[str, Any]) -> None:
        self._clock_changed(clock_id)
        super().update_clock(clock_id, values)

    def mark_clock_once(self, clock_id: int, column: str, now: dt.datetime) -> None:
        self._clock_changed(clock_id)
        super().mark_clock_once(clock_id, column, now)

    def update_item(
        self, item_id: int, expected_version: int, values: ItemUpdate | Mapping[str, Any]
    ) -> None:
        """In a batch that keeps its appends (SQLite), the UPDATE is kept with them
        (:meth:`~cmc_workflow.store.fast.Appends._keep_update`): written by one
        executemany with the batch's other item UPDATEs, each with the chain anchors its
        item has then (:meth:`_completed`), before any read of the items here
        (:meth:`item`, :meth:`item_facts`, a SELECT of a batch's records) and at
        commit. Its version check counts there; one that misses (nobody else writes
        under ``BEGIN IMMEDIATE``: the batch's own state is broken) fails the whole
        batch with a :class:`~cmc_workflow.errors.StoreError`, not the command of the
        moment."""
        self._ahead.pop(item_id, None)
        changes = row_values(ItemUpdate, values)
        if changes["facts"] is None:
            del changes["facts"]  # kept as stored
        params = {
            "b_id": item_id,
            "b_version": expected_version,
            **changes,
            "version": expected_version + 1,
        }
        # SQLite: its record keys follow its data when its workflow has a pair (not read
        # here: rewritten by the SQL that finds the pairs itself)
        rekey = self.sqlite and "data" in changes and self._paired_items.get(item_id, True)
        if self._keeps_updates():
            self._keep_update(_KEPT_UPDATE_ITEM, params)
            if rekey:
                self._rekeyed[item_id] = True
            if "facts" in changes:
                self._facts[item_id] = changes["facts"]
            return
        self.flush_appends(("items",))  # (kept items and UPDATEs first, in their order)
        anchors = self._anchors.get(item_id)
        if anchors is not None and anchors.moved:  # the anchors ride along: no own UPDATE
            params["history_head"] = anchors.history
            params["audit_seq"] = anchors.audit_seq
            params["audit_head"] = anchors.audit_head
        if (self._held or self._marks) and len(self._held) <= carried.MAX_ROWS:  # and the held
            keys = [key for key in params if not key.startswith("b_")]
            values = {f"u_{key}": params[key] for key in keys}
            values["b_id"], values["b_version"] = item_id, expected_version
            changed = self._carried(_UPDATE_ITEM, keys, values)
        else:
            changed = self._changed(_UPDATE_ITEM, params)
        if anchors is not None and changed == 1:
            anchors.moved = False
        if changed != 1:
            raise ConflictError(
                tr(
                    "item {item_id} was changed by another command (expected version "
                    "{expected_version}); reload it and try again",
                    item_id=item_id,
                    expected_version=expected_version,
                ),
                item_id=str(item_id),
            )
        if rekey:
            self._key_items([item_id], forget=True)
        if "facts" in changes:
            self._facts[item_id] = changes["facts"]

    def set_item_definition(self, item_id: int, expected_version: int, definition_id: int) -> None:
        self._ahead.pop(item_id, None)
        changed = self._conn.execute(
            update(items)
            .where(items.c.id == item_id, items.c.version == expected_version)
            .values(definition_id=definition_id)
        ).rowcount
        if changed != 1:
            raise ConflictError(
                tr(
                    "item {item_id} was changed by another command (expected version "
                    "{expected_version}); reload it and try again",
                    item_id=item_id,
                    expected_version=expected_version,
                ),
                item_id=str(item_id),
            )

    def open_definition_ids(self) -> list[int]:
        query = select(items.c.definition_id).where(items.c.closed_at.is_(None)).distinct()
        return list(self._conn.execute(query).scalars())

    def open_items(self, pairs: Sequence[tuple[str, str]]) -> list[ItemRow]:
        if not pairs:
            return []
        condition = or_(*(and_(items.c.workflow_id == w, items.c.state == s) for w, s in pairs))
        rows = self._conn.execute(
            select(*_ITEM_COLUMNS)
            .where(items.c.closed_at.is_(None), condition)
            .order_by(items.c.id)
        ).all()
        return [_item(r) for r in rows]

    def children(self, item_id: int) -> list[ItemRow]:
        rows = self._conn.execute(
            select(*_ITEM_COLUMNS).where(items.c.parent_id == item_id).order_by(items.c.id)
        ).all()
        return [_item(r) for r in rows]

    def open_children(self, item_id: int) -> list[ItemRow]:
        rows = self._conn.execute(
            select(*_ITEM_COLUMNS)
            .where(items.c.parent_id == item_id, items.c.closed_at.is_(None))
            .order_by(items.c.id)
        ).all()
        return [_item(r) for r in rows]

    def records(
        self, workflow_id: str, states: Sequence[str], field: str, value: str
    ) -> list[dict[str, Any]]:
        """The comparison is made here, not in SQL (no database folds Unicode the same way),
        over the records in ``states`` the database cannot rule out (:mod:`.records`)."""
        wanted = normal_id(value)
        if not states:
            return []
        return [
            dict(data)
            for data in self._record_data(workflow_id, list(states), field, wanted)
            if isinstance(data.get(field), str | int) and normal_id(str(data[field])) == wanted
        ]

    def key_records(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        self.flush_appends()  # (a batch's kept items are keyed by the fill)
        new = records_sql.key_pairs(self._conn, pairs)
        if new:  # what this transaction read of the pairs is stale
            self._paired_items.clear()
            self._paired = None
        self._keyed_here.update(new)
        self._unkeyed.difference_update(new)
        return new

    def unkeyed_records(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        known = self._registered()
        return [p for p in dict.fromkeys(pairs) if p not in known and records_sql.keyable(p[1])]

    def _registered(self) -> set[tuple[str, str]]:
        """The registered pairs; those another transaction committed become the store's."""
        known = records_sql.registered(self._conn)
        self._keyed.update(known - self._keyed_here)
        return known

    def _is_keyed(self, workflow_id: str, field: str) -> bool:
        """Whether ``field``'s records of ``workflow_id`` are found by key (asked of the
        database once per transaction until it says yes, then known to the store)."""
        pair = (workflow_id, field)
        if pair in self._keyed or pair in self._keyed_here:
            return True
        if pair in self._unkeyed:
            return False
        if pair in self._registered():
            return True
        self._unkeyed.add(pair)
        return False

    def _record_data(
        self, workflow_id: str, states: list[str], field: str, wanted: str
    ) -> Iterable[Any]:
        """The data of the records in ``states`` whose ``field`` may name ``wanted``."""
        query = (
            records_sql.keyed(workflow_id, states, field, wanted)
            if self._is_keyed(workflow_id, field)
            else None
        )
        if query is not None:
            if len(states) == 1:
                return [r["data"] for r in self._rows(*query)]
            return list(self._conn.execute(*query).scalars())
        query = records_sql.candidates(self.sqlite, workflow_id, states, field, wanted)
        if query is not None:
            try:
                if len(states) == 1:  # the usual case (records rest in one state): on the cursor
                    return [r["data"] for r in self._rows(*query)]
                return list(self._conn.execute(*query).scalars())
            except OperationalError:  # SQLite: a row's JSON it cannot parse (NaN)
                if not self.sqlite:
                    raise
        params = {"b_workflow": workflow_id, "b_states": states}
        return list(self._conn.execute(_RECORDS, params).scalars())

    def last_entries(
        self,
        workflow_id: str,
        states: Sequence[str],
        *,
        source: Sequence[str] | None = None,
        resting_in: Sequence[str] | None = None,
    ) -> list[tuple[dict[str, Any], dt.datetime]]:
        came_from = history.c.from_state
        outside = or_(came_from.is_(None), came_from.not_in(list(states)))
        condition = [
            items.c.workflow_id == workflow_id,
            history.c.to_state.in_(list(states)),
            outside if source is None else and_(outside, came_from.in_(list(source))),
        ]
        if resting_in is not None:
            condition.append(items.c.state.in_(list(resting_in)))
        last = (
            select(history.c.item_id, func.max(history.c.at).label("at"))
            .join(items, items.c.id == history.c.item_id)
            .where(*condition)
            .group_by(history.c.item_id)
            .subquery()
        )
        rows = self._conn.execute(
            select(items.c.data, last.c.at)
            .join(last, last.c.item_id == items.c.id)
            .order_by(items.c.id)
        ).all()
        return [(dict(r.data), r.at) for r in rows]

    # -- history -----------------------------------------------------------------------
    def insert_history(self, rows: Sequence[HistoryEntry | Mapping[str, Any]]) -> None:
        """The item row's lock (or SQLite's write lock) serializes the chain; the anchor
        moves with the item's next UPDATE (or :meth:`flush`)."""
        if not rows:
            return
        chained: list[dict[str, Any]] = []
        held = self._anchors
        for entry in rows:
            values = row_values(HistoryEntry, entry)
            item_id = values["item_id"]
            anchors = held.get(item_id)
            if anchors is None or not anchors.locked:
                anchors = self._anchors_of(item_id)
            seq = values["seq"]
            if seq == 1:
                prev = audit_log.GENESIS
            else:  # (the head held, the usual case, without the call)
                prev = anchors.history or self._history_head(item_id, seq, anchors)
            anchors.history = audit_log.chain_history_row(prev, values)
            anchors.moved = True
            chained.append(values)
        self._append(_INSERT_HISTORY, "history", chained)

    def _anchors_of(self, item_id: int) -> _Anchors:
        """The item's anchors under its row lock (read and locked here if not held yet)."""
        anchors = self._anchors.get(item_id)
        if anchors is None or not anchors.locked:
            query = _SELECT_ANCHORS if self.sqlite else _SELECT_ANCHORS_LOCKED
            row = self._first(query, {"b_id": item_id})
            if row is None:
                raise StoreError(tr("no item {item} to chain to", item=item_id))
            anchors = self._anchors[item_id] = _Anchors(
                row["history_head"], row["audit_seq"], row["audit_head"], locked=True
            )
        return anchors

    def _history_head(self, item_id: int, seq: int, anchors: _Anchors) -> str:
        """The hash the item's row number ``seq`` chains to."""
        if seq == 1:
            return audit_log.GENESIS
        head = anchors.history
        if head is None:  # no anchor (a damaged item row): continue from its last row
            self.flush_appends(["history"])
            head = self._conn.execute(_LAST_HISTORY_HASH, {"b_id": item_id}).scalar()
        return head if head is not None else audit_log.GENESIS

    def history(self, item_id: int) -> list[dict[str, Any]]:
        if self._fast is not None:
            return self._fast(_HISTORY).rows(self._conn, {"b_id": item_id})
        return [dict(r._mapping) for r in self._conn.execute(_HISTORY, {"b_id": item_id})]

    def last_command(self, item_id: int) -> dict[str, Any] | None:
        return self._first(_LAST_COMMAND, {"b_item": item_id})

    # -- outbox ------------------------------------------------------------------------
    def insert_outbox(self, rows: Sequence[OutboxMessage | Mapping[str, Any]]) -> list[int]:
        if not rows:
            return []
        values = [row_values(OutboxMessage, r) for r in rows]
        # reads neither history nor audit: the held rows wait (but outbox rows queued
        # before, which take their ids first)
        self._passing = not any(table == "outbox" for _s, table, _r, _x in self._held)
        try:
            if self._fast is not None:  # one row at a time: executemany returns nothing
                return [self._insert_returning_id(_INSERT_ONE_OUTBOX, row) for row in values]
            return list(self._conn.execute(_INSERT_OUTBOX, values).scalars())
        finally:
            self._passing = False

    def queue_outbox(self, rows: Sequence[MutableMapping[str, Any]]) -> None:
        """PostgreSQL, a single command: the rows are held for the item's next UPDATE to
        carry (:mod:`~cmc_workflow.store.carried`), which sets their ids; elsewhere
        inserted at once, as :meth:`insert_outbox` does."""
        if not rows:
            return
        if self._holds and self._appending is None:
            self._held.extend(
                (_INSERT_ONE_OUTBOX, "outbox", row_values(OutboxMessage, row), row) for row in rows
            )
            return
        for row, new_id in zip(rows, self.insert_outbox(rows), strict=True):
            row["id"] = new_id

    def claim_outbox(
        self,
        now: dt.datetime,
        runner: str,
        lease: dt.timedelta,
        limit: int,
        *,
        handler_names: Sequence[str],
    ) -> list[OutboxRow]:
        due = _DUE_OUTBOX if self.sqlite else _DUE_OUTBOX_LOCKED
        params = {"b_names": list(handler_names), "b_now": now, "b_limit": limit}
        rows = [OutboxRow(**r._mapping) for r in self._conn.execute(due, params).all()]
        if rows:
            self._conn.execute(
                _CLAIM_OUTBOX,
                {"b_ids": [r.id for r in rows], "b_runner": runner, "b_until": now + lease},
            )
        return rows

    def has_due_outbox(self, now: dt.datetime, *, handler_names: Sequence[str]) -> bool:
        """A read: no lock taken."""
        params = {"b_names": list(handler_names), "b_now": now, "b_limit": 1}
        return self._conn.execute(_DUE_OUTBOX, params).first() is not None

    def finish_outbox(self, outbox_id: int, runner: str, now: dt.datetime) -> bool:
        marks = {"b_id": outbox_id, "b_runner": runner, "b_now": now}
        return self._changed(_FINISH_OUTBOX, marks) == 1

    def finish_outbox_many(self, delivered: Sequence[tuple[int, dt.datetime]], runner: str) -> None:
        """One executemany of the prebuilt statement; on PostgreSQL the marks are held
        for the transaction's next carrying statement (:meth:`_carried`) or its
        :meth:`flush`, whichever comes first."""
        if not delivered:
            return
        if self._holds:
            self._marks.extend((i, at, runner) for i, at in delivered)
            return
        self._finish_many([{"b_id": i, "b_runner": runner, "b_now": at} for i, at in delivered])

    def _finish_many(self, marks: list[dict[str, Any]]) -> None:
        if self._fast is not None:
            self._fast(_FINISH_OUTBOX).run_many(self._conn, marks)
        else:
            self._conn.execute(_FINISH_OUTBOX, marks)

    def retry_outbox(
        self, outbox_id: int, runner: str, error: str, available_at: dt.datetime
    ) -> None:
        self._conn.execute(
            _RETRY_OUTBOX,
            {
                "b_id": outbox_id,
                "b_runner": runner,
                "b_error": error[:4000],
                "b_available": available_at,
            },
        )

    def outbox_of(self, item_id: int) -> list[OutboxRow]:
        rows = self._conn.execute(
            select(*_OUTBOX_COLUMNS).where(outbox.c.item_id == item_id).order_by(outbox.c.id)
        ).all()
        return [OutboxRow(**r._mapping) for r in rows]

    # -- audit -------------------------------------------------------------------------
    def insert_audit(self, values: AuditRecord | Mapping[str, Any]) -> None:
        """An item's chain is anchored on its row (ordered by its row lock); a chain that
        names no item, in ``audit_heads``."""
        record = row_values(AuditRecord, values)
        item_id = record["item_id"]
        anchors = None
        if item_id is not None:
            anchors = self._anchors.get(item_id)
            if anchors is None or not anchors.locked:  # not held yet (None: no such item)
                anchors = self._item_anchors(item_id)
        if anchors is None:
            self.flush_appends(["audit"])  # the log's ids keep the order of the records
            audit_log.append(self._conn, self.sqlite, record)
            return
        if anchors.audit_seq is None or anchors.audit_head is None:
            # no anchor (a damaged item row): continue from the chain's last record
            self.flush_appends(["audit"])
            head = audit_log.tail(self._conn, audit_log.chain_of(record))
        else:
            head = (anchors.audit_seq, anchors.audit_head)
        # (with its head given, append runs no statement but the INSERT: held on PostgreSQL)
        written = audit_log.append(self._db, self.sqlite, record, head, insert=self._append_audit)
        anchors.audit_seq = written["chain_seq"]
        anchors.audit_head = written["hash"]
        anchors.moved = True

    def _append_audit(self, statement: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        self._append(statement, "audit", rows)

    def _item_anchors(self, item_id: int) -> _Anchors | None:
        """The anchors of an item that exists, else None (its chain is anchored apart)."""
        try:
            return self._anchors_of(item_id)
        except StoreError:
            return None

    def audit_of(self, item_id: int) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            select(audit).where(audit.c.item_id == item_id).order_by(audit.c.id)
        ).all()
        return [dict(r._mapping) for r in rows]

    def audit_records(self, *, batch: int = 2000) -> Iterator[dict[str, Any]]:
        """Streamed in batches of ``batch`` rows."""
        return audit_log.records(self._conn, batch=batch)

    def item_data(self, item_ids: Sequence[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        return audit_log.item_data(self._conn, item_ids)

    def item_forms(self, item_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        return audit_log.item_forms(self._conn, item_ids)

    def definition_sources(self) -> list[tuple[str, str, str]]:
        return audit_log.definition_sources(self._conn)

    def verify_audit(self) -> Verification:
        """Walk every hash chain of the audit log and of the items' history (read only)."""
        return audit_log.verify(self._conn)


_CARRIED: dict[str, Table] = {"history": history, "audit": audit, "outbox": outbox}
"""The appends a single command's item UPDATE carries on PostgreSQL (store/carried.py)."""


@contextmanager
def _overtaken(held: Sequence[_Held]) -> Iterator[None]:
    """Held audit records inserted later than their append: a record already at one's
    position raises what :func:`audit_log.append` raises for it."""
    try:
        yield
    except IntegrityError as exc:
        records = [row for _s, table, row, _x in held if table == "audit"]
        if not records or not audit_log.occupied(exc, "uq_audit_chain_seq", "audit.chain"):
            raise
        raise audit_log.overtaken(records[0]["chain"], records[0]["chain_seq"]) from exc


Tx = SqlTx
"""The SQL transaction under its first name (``from cmc_workflow.store import Tx``)."""

__all__ = ["DefinitionRow", "ItemRow", "OutboxRow", "SqlStore", "SqlTx", "Store", "Tx"]


def _retryable(exc: OperationalError) -> bool:
    """A lock the transaction lost and may win on a retry: SQLite busy, PostgreSQL
    serialization failure (40001) or deadlock (40P01)."""
    if getattr(exc.orig, "sqlstate", None) in ("40001", "40P01"):
        return True
    text = str(exc.orig)
    return "locked" in text or "could not serialize" in text or "deadlock detected" in text


class SqlStore:
    """The database behind the engine: opening, migrating and transactions."""

    def __init__(self, engine: Engine, *, fast: bool = True) -> None:
        self.engine = engine
        self.sqlite = is_sqlite(engine)
        self.fast = Statements(engine.dialect) if fast else None
        """The command's statements on the driver's cursor (store/fast.py); None runs
        every statement through SQLAlchemy's execution (the contract tests run both)."""
        self.keyed: set[tuple[str, str]] = set()
        """The (workflow, field) pairs whose records are found by key (store/records.py),
        as this store has seen them registered; its transactions add to it."""
        self.read_only = is_read_only(engine)
        """True for a SQLite file this process may not write: reads work, writes raise
        :class:`~cmc_workflow.errors.DatabaseReadOnly`."""
        # the connections kept between transactions, the writers' and the readers' (whose
        # BEGIN is deferred on SQLite): store/database.py
        self._writers = KeptConnections(engine)
        self._readers = KeptConnections(engine, READ_ONLY)

    @classmethod
    def open(
        cls, url: str, *, migrate: bool | None = None, read_only: bool | None = None
    ) -> SqlStore:
        """Open ``url``; migrate a fresh SQLite file (or always with ``migrate=True``).

        An out-of-date database raises :class:`~cmc_workflow.errors.SchemaOutOfDate`
        unless ``migrate`` is true; a database migrated by a newer release raises
        :class:`~cmc_workflow.errors.SchemaTooNew` either way.

        A SQLite file this process may not write is opened read-only (``read_only`` None;
        True forces it): it is never migrated, and its schema must be at head.
        """
        try:
            store = cls(open_database(url, read_only=read_only))
        except (SQLAlchemyError, ValueError) as exc:
            raise StoreError(
                tr("cannot open the database {url}: {exc}", url=repr(url), exc=exc)
            ) from exc
        try:
            if store.read_only and migrate:
                raise DatabaseReadOnly("it cannot be migrated")
            fresh = migrate is None and store.sqlite and not store.read_only
            if migrate or (fresh and schema.is_empty(store.engine)):
                schema.upgrade(store.engine)
            else:
                current = schema.current_revision(store.engine)
                schema.refuse_unknown(current)  # a newer release's database: not "upgrade"
                if current != schema.head_revision():
                    raise SchemaOutOfDate(
                        tr(
                            "the database is at schema {current}, this version needs {head}: "
                            "run `cmc-workflow db upgrade --db URL`",
                            current=current or "none",
                            head=schema.head_revision(),
                        )
                    )
        except BaseException as exc:
            store.close()  # a refused open must not leave pooled connections behind
            if isinstance(exc, SQLAlchemyError | ValueError):
                raise StoreError(
                    tr("cannot open the database {url}: {exc}", url=repr(url), exc=exc)
                ) from exc
            raise
        return store

    def close(self) -> None:
        """Release every pooled connection, the kept ones first."""
        self._writers.close()
        self._readers.close()
        self.engine.dispose()

    def write(self) -> AbstractContextManager[SqlTx]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        return _Transaction(self, self._writers, flush=True)

    def read(self) -> AbstractContextManager[SqlTx]:
        """One read-only transaction."""
        return _Transaction(self, self._readers, flush=False)

    @contextmanager
    def snapshot(self) -> Iterator[SqlTx]:
        """One read-only transaction over one snapshot of the database (audit
        verification and export): SQLite's read transaction is one snapshot already;
        PostgreSQL's default (READ COMMITTED) takes a new one per statement, so this asks
        for REPEATABLE READ."""
        if self.sqlite:
            with self.read() as tx:
                yield tx
            return
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        with (
            self._translated(),
            self.engine.connect().execution_options(**options, **READ_ONLY) as conn,
            conn.begin(),
        ):
            yield SqlTx(conn, self.sqlite, self.fast, self.keyed)

    @contextmanager
    def write_series(self) -> Iterator[Callable[[], AbstractContextManager[SqlTx]]]:
        """One pooled connection for a series of write transactions (one per timer), so a
        batch does not check a connection out, and ping it, once per timer. Each call of
        the yielded function opens one transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        with self._translated(), self.engine.connect() as conn:

            @contextmanager
            def transaction() -> Iterator[SqlTx]:
                with conn.begin():
                    tx = SqlTx(conn, self.sqlite, self.fast, self.keyed)
                    yield tx
                    tx.flush()

            yield transaction

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            raise self.translated(exc) from exc

    def translated(self, exc: DBAPIError) -> CmcWorkflowError:
        """The store's error for a driver's error (raise it ``from exc``)."""
        if isinstance(exc, IntegrityError):
            if _unique_violation(exc):
                return ConflictError(tr("a concurrent command won the race: {orig}", orig=exc.orig))
            return StoreError(tr("the database refused the write: {orig}", orig=exc.orig))
        if isinstance(exc, OperationalError):
            if self.read_only and "readonly" in str(exc.orig):
                return DatabaseReadOnly(str(exc.orig))
            if _retryable(exc):  # the loser of a race or of a deadlock: try again
                return ConflictError(tr("the database is busy: {orig}", orig=exc.orig))
        return StoreError(tr("database error: {orig}", orig=exc.orig))


class _Transaction:
    """One transaction of a :class:`SqlStore` on a connection it keeps between
    transactions (:class:`~cmc_workflow.store.database.KeptConnections`), as one
    ``try``: ``with`` yields its :class:`SqlTx`; a clean exit flushes (a write) and
    commits, and keeps the connection; any exception, or a failed commit, rolls back and
    gives the connection back to the pool. Driver errors come out translated
    (:meth:`SqlStore.translated`), from taking the connection to the commit."""

    __slots__ = ("_conn", "_flush", "_kept", "_since", "_store", "_trans", "_tx")

    def __init__(self, store: SqlStore, kept: KeptConnections, *, flush: bool) -> None:
        self._store = store
        self._kept = kept
        self._flush = flush

    def __enter__(self) -> SqlTx:
        store = self._store
        try:
            conn, self._since = self._kept.take()
            try:
                self._trans = conn.begin()  # BEGIN IMMEDIATE (SQLite) by the engine's listener
            except BaseException:
                conn.close()
                raise
        except DBAPIError as exc:
            raise store.translated(exc) from exc
        self._conn = conn
        self._tx = tx = SqlTx(conn, store.sqlite, store.fast, store.keyed)
        return tx

    def __exit__(self, kind: object, exc: BaseException | None, _tb: object) -> None:
        if exc is None:
            try:
                if self._flush:
                    self._tx.flush()
                self._trans.commit()
            except BaseException as error:
                self._abandon(error)
                raise  # (_abandon raised a driver's error translated)
            self._kept.keep(self._conn, self._since)
            return
        self._abandon(exc)  # the exception goes on, translated when the driver's

    def _abandon(self, exc: BaseException) -> None:
        """Roll back and give the connection back to the pool; a driver's error is raised
        as the store's."""
        try:
            try:
                self._trans.rollback()
            finally:
                self._conn.close()
        except DBAPIError as failed:  # the rollback itself failed: the connection is gone
            if not isinstance(exc, DBAPIError):
                raise self._store.translated(failed) from exc
        if isinstance(exc, DBAPIError):
            raise self._store.translated(exc) from exc


Store = SqlStore
"""The SQL store under its first name (``from cmc_workflow.store import Store``)."""


def _conforms(tx: SqlTx, store: SqlStore) -> tuple[StoreTx, StorePort]:
    """Never called: mypy checks here that the SQL classes implement the port."""
    return tx, store
