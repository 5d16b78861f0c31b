"""The hash-chained audit log (SEC-1, SEC-2): appending, verifying, reading for export.

Chaining. Every audit record belongs to one chain and carries its position in it
(``chain_seq`` from 1), the hash of the chain's previous record (``prev_hash``; 64 zeros
for the first) and its own ``hash``: SHA-256 over ``prev_hash`` and the record's content
in canonical JSON. There is one chain per item (``item:<id>``) and, for records that name
no item (a refused start, a command on an item that does not exist), one chain per actor
(``actor:<id>``).

Why not one chain for the whole log: a single chain makes every command of every runner
wait for the previous command's hash — one global lock on the hottest write path. Per
item, the commands on one item are serialized already (the engine holds the item's row
lock, or SQLite's database lock), so appending to the item's chain adds no waiting;
records without an item are rare and spread over actors. On PostgreSQL the append takes a
transaction-scoped advisory lock on the chain's key, because some records (refusals,
clock events) are written without the item's row lock; two writers of one chain queue
for microseconds instead of colliding on ``unique(chain, chain_seq)``.

History. Each item's history rows form a chain of their own (``prev_hash``/``hash`` on
the row, the position ``seq`` included in the hash), appended under the item's row lock
that the command holds anyway; the item row keeps the last row's hash (``history_head``)
next to the count it already kept (``seq``).

Anchors. A chain's last record has no successor to vouch for it, so each chain's end is
also written outside the chain, in the same transaction: ``audit_heads`` holds one row per
audit chain (its last position and hash), written under the chain's advisory lock, and
``items.history_head`` under the item's row lock: no new lock, no new lock order. The next
record is chained to the anchor, not to whatever record is last: a record deleted from
the end leaves a gap that stays visible.

Verification walks every chain and names what it finds, with the table and the row: a
row whose content no longer matches its hash (**edited**), a break where a chain's link
points to a row that is not there, or an anchor beyond the chain's end (**deleted**), a row
the next row was not chained to, one written after its successor, or one past the anchor
(**inserted**), a row outside any chain (**unchained**); and an item row whose state,
visit or count disagrees with its history (**edited**, table ``items``). Accepted steps of
items without their audit record are found by comparing the history with the log. A
single changed, deleted or inserted row of ``history`` or ``audit`` is always named. What
the chains cannot catch is someone who can write the database and rewrites a chain *and*
its anchor together: keep exported chain heads (``cmc-workflow audit verify --json``)
elsewhere to compare.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, bindparam, cast, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cmc_workflow._exports import lazy
from cmc_workflow.errors import StoreError
from cmc_workflow.i18n import tr
from cmc_workflow.store.chain import (
    AUDITED_KINDS,
    GENESIS,
    HASHED_FIELDS,
    HISTORY_HASHED_FIELDS,
    HISTORY_LAYOUT,
    HISTORY_NAMES,
    RECORD_LAYOUT,
    RECORD_NAMES,
    canonical_fields,
    chain_history,
    chain_of,
    history_hash,
    record_hash,
    sealed,
)
from cmc_workflow.store.tables import JSONText, audit, audit_heads, definitions, history, items

if TYPE_CHECKING:  # verification, for type checkers; loaded on first use below
    from cmc_workflow.store.verification import KINDS as KINDS
    from cmc_workflow.store.verification import Finding as Finding
    from cmc_workflow.store.verification import Verification as Verification
    from cmc_workflow.store.verification import verify as verify

_VERIFYING = dict.fromkeys(
    ("KINDS", "Finding", "Verification", "verify"), "cmc_workflow.store.verification"
)
"""Verifying the chains is a command of its own (``audit verify``, the backup check): an
engine that only appends to them loads it on first use."""

__getattr__ = lazy(globals(), _VERIFYING)

__all__ = [
    "AUDITED_KINDS",
    "GENESIS",
    "HASHED_FIELDS",
    "HISTORY_HASHED_FIELDS",
    "KINDS",
    "Finding",
    "Verification",
    "append",
    "chain_history",
    "chain_history_row",
    "chain_of",
    "definition_sources",
    "history_hash",
    "item_data",
    "item_forms",
    "occupied",
    "overtaken",
    "record_hash",
    "records",
    "tail",
    "verify",
]


def _lock_key(chain: str) -> int:
    digest = hashlib.sha256(f"cmc-audit:{chain}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


Head = tuple[int, str]
"""A chain's anchor: the position and hash of its last record."""

_INSERT = insert(audit)
_HEAD = select(audit_heads.c.chain_seq, audit_heads.c.hash).where(
    audit_heads.c.chain == bindparam("b_chain")
)
_TAIL = (
    select(audit.c.chain_seq, audit.c.hash)
    .where(audit.c.chain == bindparam("b_chain"))
    .order_by(audit.c.chain_seq.desc())
    .limit(1)
)
_INSERT_HEAD = insert(audit_heads)
_UPDATE_HEAD = (
    update(audit_heads)
    .where(audit_heads.c.chain == bindparam("b_chain"))
    .values(chain_seq=bindparam("b_seq"), hash=bindparam("b_hash"))
)
_LOCK = select(func.pg_advisory_xact_lock(cast(bindparam("b_key"), BigInteger)))


def occupied(exc: IntegrityError, constraint: str, columns: str) -> bool:
    """Whether ``exc`` is a duplicate key on ``constraint`` (PostgreSQL names it; SQLite
    names the columns, ``table.column, ...``)."""
    text = str(exc.orig)
    return constraint in text or f"UNIQUE constraint failed: {columns}" in text


_HISTORY_JSON = (HISTORY_NAMES.index("roles"), HISTORY_NAMES.index("form"))
_AUDIT_JSON = (RECORD_NAMES.index("roles"), RECORD_NAMES.index("detail"))
"""Where the JSON columns of a history row and of an audit record are among their hashed
fields (:data:`~cmc_workflow.store.chain.HISTORY_NAMES`, ``RECORD_NAMES``): hashed and
stored as one text (:func:`_sealed`)."""


def _sealed(
    values: dict[str, Any],
    prev_hash: str,
    names: tuple[str, ...],
    layout: str,
    json: tuple[int, int],
) -> str:
    """Set ``values``' ``prev_hash`` and ``hash`` (after ``prev_hash``, over its fields
    ``names``, laid out by ``layout``), in place, and return the hash. Its two JSON
    columns (at ``json`` among ``names``) become the canonical JSON their hash covered
    (:class:`~cmc_workflow.store.tables.JSONText`), so that the columns store that text
    instead of encoding the values again: it reads back as the values did (the JSON of
    the same data, its keys sorted, without spaces)."""
    texts = canonical_fields(names, values)
    first, second = json  # (two columns each: written out, without a loop)
    values[names[first]] = JSONText(texts[first])
    values[names[second]] = JSONText(texts[second])
    values["prev_hash"] = prev_hash
    values["hash"] = digest = sealed(layout, prev_hash, texts)
    return digest


def chain_history_row(prev_hash: str, values: dict[str, Any]) -> str:
    """Put one history row on its item's chain after ``prev_hash``, in place (``values``
    is the store's own copy of the row, written next): ``prev_hash`` and ``hash`` set,
    the JSON columns encoded once for the hash and the INSERT. Returns the row's hash."""
    return _sealed(values, prev_hash, HISTORY_NAMES, HISTORY_LAYOUT, _HISTORY_JSON)


def append(
    conn: Connection,
    sqlite: bool,
    values: dict[str, Any],
    head: Head | None = None,
    *,
    insert: Callable[[Any, Sequence[Mapping[str, Any]]], None] | None = None,
) -> dict[str, Any]:
    """Append one record to its chain; returns the values written (hash included):
    ``values`` itself, the caller's own copy, with its chain fields set and its JSON
    columns encoded once for the hash and the INSERT (:func:`_sealed`).

    ``head`` is the chain's anchor as the caller holds it under the item's row lock
    (``items.audit_seq``/``audit_head``, read with the item; ``(0, GENESIS)`` for a chain
    that has no record yet): the caller moves the anchor on the item row. ``insert`` runs
    the record's INSERT (the store's fast path), else the connection does. Without it the
    chain is anchored in ``audit_heads`` (an actor's chain, or an item id that names no
    item): the head row is read and moved here, and PostgreSQL takes an advisory lock on
    the chain until commit, since no row lock orders such a chain.

    A record already at the next position can only have been inserted behind the
    engine's back (writers of one chain are serialized): that raises
    :class:`~cmc_workflow.errors.StoreError`, not a retryable conflict. The previous hash
    comes from the anchor, not from the last record: a record deleted from the end then
    leaves a gap the next record points across.
    """
    chain = chain_of(values)
    anchored_here = head is None
    had_head_row = False
    if head is None:
        if not sqlite:
            conn.execute(_LOCK, {"b_key": _lock_key(chain)})
        row = conn.execute(_HEAD, {"b_chain": chain}).first()
        head = (row.chain_seq, row.hash) if row is not None else None
        had_head_row = head is not None
    if head is None:
        # no anchor: a new chain (or one whose anchor is gone: continue from its last record)
        head = tail(conn, chain)
    record = values
    record["chain"] = chain
    record["chain_seq"] = head[0] + 1
    _sealed(record, head[1], RECORD_NAMES, RECORD_LAYOUT, _AUDIT_JSON)
    try:
        if insert is not None:
            insert(_INSERT, [record])
        else:
            conn.execute(_INSERT, record)
    except IntegrityError as exc:
        if not occupied(exc, "uq_audit_chain_seq", "audit.chain"):
            raise
        raise overtaken(chain, record["chain_seq"]) from exc
    if anchored_here:
        moved = {"b_chain": chain, "b_seq": record["chain_seq"], "b_hash": record["hash"]}
        if had_head_row:
            conn.execute(_UPDATE_HEAD, moved)
        else:
            conn.execute(
                _INSERT_HEAD,
                {"chain": chain, "chain_seq": record["chain_seq"], "hash": record["hash"]},
            )
    return record


def overtaken(chain: str, n: int) -> StoreError:
    """The error for a record of ``chain`` at position ``n`` that another record holds."""
    why = tr(
        "the audit chain {chain} already holds a record at #{seq}, past its head "
        "(#{head}): a record was inserted behind the engine's back; run "
        "`cmc-workflow audit verify`",
        chain=chain,
        seq=n,
        head=n - 1,
    )
    return StoreError(str(why))


def tail(conn: Connection, chain: str) -> Head:
    """The position and hash of the chain's last record (``(0, GENESIS)`` when empty):
    where to continue a chain whose anchor is missing."""
    last = conn.execute(_TAIL, {"b_chain": chain}).first()
    return (last.chain_seq, last.hash) if last is not None else (0, GENESIS)


# -- reading for export -------------------------------------------------------------------


def records(conn: Connection, *, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Every audit record, in id order, as a plain mapping."""
    from cmc_workflow.store.verification import streamed

    rows = conn.execute(select(audit).order_by(audit.c.id), execution_options=streamed(batch))
    for row in rows:
        yield dict(row._mapping)


def item_data(conn: Connection, item_ids: Sequence[int]) -> dict[int, tuple[str, dict[str, Any]]]:
    """(workflow, data) of the given items, for masking their personal values."""
    if not item_ids:
        return {}
    rows = conn.execute(
        select(items.c.id, items.c.workflow_id, items.c.data).where(items.c.id.in_(item_ids))
    )
    return {r.id: (r.workflow_id, r.data) for r in rows}


def item_forms(conn: Connection, item_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Every form submitted on the given items (their start data included), oldest first:
    values an item held once and no longer holds still need masking."""
    if not item_ids:
        return {}
    rows = conn.execute(
        select(history.c.item_id, history.c.form)
        .where(history.c.item_id.in_(item_ids))
        .order_by(history.c.item_id, history.c.seq)
    )
    found: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        if r.form:
            found.setdefault(r.item_id, []).append(dict(r.form))
    return found


def definition_sources(conn: Connection) -> list[tuple[str, str, str]]:
    """(workflow, source file, source text) of every stored definition version."""
    rows = conn.execute(
        select(definitions.c.workflow_id, definitions.c.source_file, definitions.c.source_text)
    )
    return [(r.workflow_id, r.source_file, r.source_text) for r in rows]
