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

Verification walks every chain and names what it finds: a record whose content no
longer matches its hash (**edited**), a break where a chain's link points to a record
that is not there (**deleted**), a record the next record was not chained to, or that
was written after its successor (**inserted**), a record outside any chain
(**unchained**). Accepted steps of items without their audit record are found by
comparing the history with the log, which also catches a deleted last record of an
item's chain. What a hash chain cannot catch by itself is a whole chain recomputed by
someone who can write the database, or records cut off the end of an actor's chain:
keep exported chain heads (``cmc-workflow audit verify --json``) elsewhere to compare.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Row, bindparam, cast, func, insert, select
from sqlalchemy.engine import Connection

from cmc_workflow.store.tables import audit, definitions, history, items

GENESIS = "0" * 64
"""The ``prev_hash`` of the first record of every chain."""

HASHED_FIELDS = (
    "chain",
    "at",
    "actor",
    "roles",
    "command",
    "workflow_id",
    "item_id",
    "trigger",
    "outcome",
    "rule",
    "reason",
    "detail",
)
"""The columns a record's hash covers. ``chain_seq`` is left out on purpose: renumbering
records to hide an insertion or a deletion then breaks a link (and names the record)
instead of only failing every later hash."""

AUDITED_KINDS = ("start", "fire", "handler", "timer")
"""History kinds that the engine audits one-to-one as accepted commands."""

_MAX_CHAIN = 100


def chain_of(record: Mapping[str, Any]) -> str:
    """The chain a record joins: its item's, else its actor's."""
    item_id = record.get("item_id")
    if item_id is not None:
        return f"item:{item_id}"
    actor = str(record.get("actor", ""))
    name = f"actor:{actor}"
    if len(name) > _MAX_CHAIN:
        name = "actor:#" + hashlib.sha256(actor.encode("utf-8")).hexdigest()[:40]
    return name


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("audit times are aware datetimes")
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    if isinstance(value, Mapping | list | tuple):
        # what the JSON column gives back: string keys, lists for tuples
        return json.loads(json.dumps(value, ensure_ascii=False))
    return value


def record_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``prev_hash`` and the record's hashed fields in canonical JSON."""
    body = {name: _canonical(record.get(name)) for name in HASHED_FIELDS}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest()


def _lock_key(chain: str) -> int:
    digest = hashlib.sha256(f"cmc-audit:{chain}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_INSERT = insert(audit)
_TAIL = (
    select(audit.c.chain_seq, audit.c.hash)
    .where(audit.c.chain == bindparam("b_chain"))
    .order_by(audit.c.chain_seq.desc())
    .limit(1)
)
_LOCK = select(func.pg_advisory_xact_lock(cast(bindparam("b_key"), BigInteger)))


def append(conn: Connection, sqlite: bool, values: Mapping[str, Any]) -> dict[str, Any]:
    """Append one record to its chain; returns the values written (hash included).

    Call inside the command's write transaction. SQLite's ``BEGIN IMMEDIATE`` serializes
    writers already; PostgreSQL takes an advisory lock on the chain until commit.
    """
    chain = chain_of(values)
    if not sqlite:
        conn.execute(_LOCK, {"b_key": _lock_key(chain)})
    last = conn.execute(_TAIL, {"b_chain": chain}).first()
    record = dict(values)
    record["chain"] = chain
    record["chain_seq"] = 1 if last is None else last.chain_seq + 1
    record["prev_hash"] = GENESIS if last is None else last.hash
    record["hash"] = record_hash(record["prev_hash"], record)
    conn.execute(_INSERT, record)
    return record


# -- verification -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with the audit log, naming the record(s) concerned.

    ``kind`` is ``edited``, ``deleted``, ``inserted``, ``unchained`` or ``unaudited``.
    """

    kind: str
    message: str
    audit_id: int | None = None
    chain: str | None = None
    chain_seq: int | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(slots=True)
class Verification:
    """The outcome of :func:`verify`: what was checked, what was found, the chain heads."""

    records: int = 0
    chains: int = 0
    findings: list[Finding] = field(default_factory=list)
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings


@dataclass(slots=True)
class _Chain:
    name: str
    last: Row[Any] | None = None
    before_last: Row[Any] | None = None


def verify(conn: Connection, *, batch: int = 2000) -> Verification:
    """Walk every chain of the audit log and compare the log with the items' history."""
    result = Verification()
    query = select(audit).order_by(audit.c.chain, audit.c.chain_seq, audit.c.id)
    current: _Chain | None = None
    rows = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
    for row in rows:
        result.records += 1
        if row.chain is None or row.chain_seq is None or row.hash is None:
            result.findings.append(
                Finding(
                    "unchained",
                    f"record id {row.id} ({row.command} by {row.actor} at {row.at}) belongs to "
                    "no chain: inserted outside the engine, or written before chaining",
                    row.id,
                )
            )
            continue
        if current is None or current.name != row.chain:
            _close(current, result)
            current = _Chain(row.chain)
            result.chains += 1
        _check(current, row, result)
    _close(current, result)
    result.findings += _unaudited(conn)
    return result


def _close(chain: _Chain | None, result: Verification) -> None:
    if chain is not None and chain.last is not None:
        result.heads[chain.name] = (chain.last.chain_seq, chain.last.hash)


def _check(chain: _Chain, row: Row[Any], result: Verification) -> None:
    """Check ``row`` against its own hash and against the record before it in ``chain``."""
    found = result.findings
    where = f"record id {row.id} (#{row.chain_seq} of {row.chain})"
    content_ok = record_hash(row.prev_hash or "", dict(row._mapping)) == row.hash
    if not content_ok:
        found.append(
            Finding(
                "edited",
                f"{where}: its content no longer matches its hash (changed after it was written)",
                row.id,
                row.chain,
                row.chain_seq,
            )
        )
    prev, before = chain.last, chain.before_last
    expected = GENESIS if prev is None else prev.hash
    if row.prev_hash != expected:
        if prev is not None and before is not None and row.prev_hash == before.hash:
            found.append(
                Finding(
                    "inserted",
                    f"record id {prev.id} (#{prev.chain_seq} of {row.chain}) was inserted: "
                    f"record id {row.id} is chained to id {before.id}, the record before it",
                    prev.id,
                    row.chain,
                    prev.chain_seq,
                )
            )
        else:
            gap = row.chain_seq - (prev.chain_seq if prev is not None else 0) - 1
            if prev is None:
                message = (
                    f"{where} is the first of its chain but is chained to another record: "
                    "the records before it were deleted, or it was inserted"
                )
            elif gap > 0:
                message = (
                    f"{gap} record(s) of {row.chain} deleted between record id {prev.id} "
                    f"(#{prev.chain_seq}) and record id {row.id} (#{row.chain_seq})"
                )
            else:
                message = (
                    f"the link between record id {prev.id} (#{prev.chain_seq}) and record id "
                    f"{row.id} (#{row.chain_seq}) of {row.chain} is broken: one of them was "
                    "inserted (or changed and re-hashed), or records between them were deleted "
                    "and the rest renumbered"
                )
            kind = "deleted" if prev is None or gap > 0 else "inserted"
            found.append(Finding(kind, message, row.id, row.chain, row.chain_seq))
    elif prev is not None and row.chain_seq != prev.chain_seq + 1:
        found.append(
            Finding(
                "edited",
                f"{where}: numbered #{row.chain_seq} after #{prev.chain_seq} although chained "
                "to it (its number was changed)",
                row.id,
                row.chain,
                row.chain_seq,
            )
        )
    elif prev is not None and row.id < prev.id and content_ok:
        found.append(
            Finding(
                "inserted",
                f"record id {prev.id} (#{prev.chain_seq} of {row.chain}) was written after "
                f"its successor, record id {row.id}",
                prev.id,
                row.chain,
                prev.chain_seq,
            )
        )
    chain.before_last, chain.last = prev, row


def _unaudited(conn: Connection) -> list[Finding]:
    """Accepted steps in the history without their audit record (e.g. a deleted last one)."""
    key = (history.c.item_id, history.c.kind, history.c.trigger, history.c.at)
    steps = Counter(
        {
            (r.item_id, r.kind, r.trigger, _canonical(r.at)): r.n
            for r in conn.execute(
                select(*key, func.count().label("n"))
                .where(history.c.kind.in_(AUDITED_KINDS))
                .group_by(*key)
            )
        }
    )
    akey = (audit.c.item_id, audit.c.command, audit.c.trigger, audit.c.at)
    audited = Counter(
        {
            (r.item_id, r.command, r.trigger, _canonical(r.at)): r.n
            for r in conn.execute(
                select(*akey, func.count().label("n"))
                .where(audit.c.outcome == "accepted", audit.c.command.in_(AUDITED_KINDS))
                .group_by(*akey)
            )
        }
    )
    out = []
    for (item_id, kind, trigger, at), n in sorted(
        (steps - audited).items(), key=lambda kv: (kv[0][0], kv[0][3])
    ):
        what = f"{kind} {trigger!r}" if trigger else kind
        out.append(
            Finding(
                "deleted",
                f"item {item_id}: {n} accepted step(s) ({what} at {at}) have no audit record",
                None,
                f"item:{item_id}",
            )
        )
    return out


# -- reading for export -------------------------------------------------------------------


def records(conn: Connection, *, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Every audit record, in id order, as a plain mapping."""
    rows = conn.execution_options(stream_results=True, yield_per=batch).execute(
        select(audit).order_by(audit.c.id)
    )
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
