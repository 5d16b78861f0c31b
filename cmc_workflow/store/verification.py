"""Verifying the chains (SEC-2): every audit chain and every item's history chain, each
against its anchor, and the log against the history. Reads only; what it finds names
the table and the row, in Chinese and English. See :mod:`cmc_workflow.store.audit` for
how the chains and their anchors are written.

Over 400 lines because most of it is the findings' text: one message for each way a
chain can break, written in English with its Chinese in the catalogue
(:mod:`cmc_workflow.i18n`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.engine import Connection

from cmc_workflow.i18n import N_, Text, tr, zh
from cmc_workflow.store.chain import (
    AUDITED_KINDS,
    GENESIS,
    _canonical,
    history_hash,
    record_hash,
)
from cmc_workflow.store.tables import audit, audit_heads, history, items

KINDS = {
    "edited": N_("a row was changed"),
    "deleted": N_("a row was deleted"),
    "inserted": N_("a row was inserted"),
    "unchained": N_("a row in no chain"),
}
"""What each finding kind means (catalogue msgids); the kind itself is the code, the same
in both languages."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with the audit log or the items' history, naming the row(s) concerned.

    ``kind`` (the code, the same in both languages) is ``edited``, ``deleted``,
    ``inserted`` or ``unchained``; ``table`` is the table whose row is named (``audit``,
    ``audit_heads``, ``history`` or ``items``) and ``row_id`` that row's id (``audit_id``
    repeats it for ``audit`` rows). ``chain`` and ``chain_seq`` place it in its chain
    (``item:<id>`` for an item's history); ``missing`` is the range of positions a
    deletion left empty. ``message`` is English, ``message_zh`` Chinese.
    """

    kind: str
    message: str
    audit_id: int | None = None
    chain: str | None = None
    chain_seq: int | None = None
    table: str = "audit"
    row_id: int | None = None
    missing: tuple[int, int] | None = None
    message_zh: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"

    @property
    def zh(self) -> str:
        """The finding in Chinese, its code first."""
        meaning = zh(KINDS[self.kind]) if self.kind in KINDS else self.kind
        return f"{self.kind}（{meaning}）：{self.message_zh}"


def _finding(
    kind: str,
    table: str,
    text: Text,
    *,
    row_id: int | None = None,
    chain: str | None = None,
    chain_seq: int | None = None,
    missing: tuple[int, int] | None = None,
) -> Finding:
    return Finding(
        kind,
        text.en,
        row_id if table == "audit" else None,
        chain,
        chain_seq,
        table,
        row_id,
        missing,
        text.zh,
    )


@dataclass(slots=True)
class Verification:
    """The outcome of :func:`verify`: what was checked, what was found, the chain heads."""

    records: int = 0
    chains: int = 0
    findings: list[Finding] = field(default_factory=list)
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    history_rows: int = 0
    items: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings


def streamed(batch: int) -> dict[str, Any]:
    """Per-statement options that stream a result (a server-side cursor on PostgreSQL);
    ``Connection.execution_options`` would change the caller's connection for good."""
    return {"stream_results": True, "yield_per": batch}


@dataclass(slots=True)
class _Chain:
    """One chain being walked: its name, the table its rows live in, the column that numbers
    them, and the last two rows seen; :meth:`add` names a row of it in a finding."""

    name: str
    result: Verification
    table: str
    seq_column: str
    last: Row[Any] | None = None
    before_last: Row[Any] | None = None

    def seq(self, row: Row[Any]) -> int:
        """The row's position in the chain."""
        return int(getattr(row, self.seq_column))

    def add(
        self,
        kind: str,
        row: Row[Any],
        text: Text,
        *,
        missing: tuple[int, int] | None = None,
        table: str | None = None,
        row_id: int | None = None,
        unnamed: bool = False,
    ) -> None:
        """A finding about ``row`` of this chain, naming it (``row_id`` when the row named
        is another one, none when ``unnamed``: the row is gone)."""
        self.result.findings.append(
            _finding(
                kind,
                table or self.table,
                text,
                row_id=None if unnamed else row.id if row_id is None else row_id,
                chain=self.name,
                chain_seq=self.seq(row),
                missing=missing,
            )
        )

    def link(self, row: Row[Any]) -> str:
        """How ``row`` is chained: ``linked`` to the row before it, ``skips`` that row
        (chained to the one before: that row was inserted), or ``broken``."""
        prev, before = self.last, self.before_last
        if row.prev_hash == (GENESIS if prev is None else prev.hash):
            return "linked"
        if prev is not None and row.prev_hash == (GENESIS if before is None else before.hash):
            return "skips"
        return "broken"

    def gap(self, row: Row[Any]) -> int:
        """How many positions lie empty between the last row and ``row``."""
        return self.seq(row) - (self.seq(self.last) if self.last is not None else 0) - 1

    def advance(self, row: Row[Any]) -> None:
        """``row`` was checked: it is the last row now."""
        self.before_last, self.last = self.last, row


@dataclass(frozen=True, slots=True)
class _Walk:
    """How to walk one kind of chain (the audit log's, an item's history)."""

    table: str
    seq_column: str
    name: Callable[[Row[Any]], str]
    unchained: Callable[[Row[Any]], Finding | None]
    check: Callable[[_Chain, Row[Any]], None]
    close: Callable[[_Chain], None]


def _walk(rows: Iterable[Row[Any]], how: _Walk, result: Verification) -> tuple[int, set[str]]:
    """Walk ``rows`` (ordered by chain, then position): every row that belongs to no chain
    is a finding, every other row is checked against the row before it in its chain, and
    every chain's end is closed. Returns how many rows were read and the chains seen."""
    count = 0
    seen: set[str] = set()
    current: _Chain | None = None
    for row in rows:
        count += 1
        loose = how.unchained(row)
        if loose is not None:
            result.findings.append(loose)
            continue
        name = how.name(row)
        if current is None or current.name != name:
            if current is not None:
                how.close(current)
            current = _Chain(name, result, how.table, how.seq_column)
            seen.add(name)
        how.check(current, row)
        current.advance(row)
    if current is not None:
        how.close(current)
    return count, seen


def verify(conn: Connection, *, batch: int = 2000) -> Verification:
    """Walk every chain of the audit log and every item's history chain, compare each
    chain's end with its anchor (``audit_heads``, ``items.history_head``), and compare the
    log with the items' history. Reads only.

    Run it in one snapshot of the database while runners may write (REPEATABLE READ on
    PostgreSQL, as ``cmc-workflow audit verify`` does; a read transaction on SQLite):
    under READ COMMITTED a command committing between two of its reads looks like a
    row inserted past its anchor."""
    result = Verification()
    anchors, unanchored = _anchors(conn)
    query = select(audit).order_by(audit.c.chain, audit.c.chain_seq, audit.c.id)
    how = _Walk(
        "audit",
        "chain_seq",
        lambda row: str(row.chain),
        _unchained_record,
        _check,
        lambda chain: _close(chain, anchors, unanchored),
    )
    rows = conn.execute(query, execution_options=streamed(batch))
    result.records, seen = _walk(rows, how, result)
    result.chains = len(seen)
    for chain, (seq, _hash) in sorted(anchors.items()):
        if chain not in result.heads:
            result.findings.append(
                _finding(
                    "deleted",
                    "audit",
                    tr(
                        "every record of {chain} (#1..#{seq}) was deleted: its head row in "
                        "audit_heads says it ends at #{seq}",
                        chain=chain,
                        seq=seq,
                    ),
                    chain=chain,
                    missing=(1, seq),
                )
            )
    result.findings += _unaudited(conn)
    _verify_history(conn, result, batch)
    return result


def _anchors(conn: Connection) -> tuple[dict[str, tuple[int, str]], set[str]]:
    """Every audit chain's anchor: an item's on its row (``items.audit_seq``/
    ``audit_head``, migration 0006), the others' in ``audit_heads``; and the chains of
    items whose row holds no anchor."""
    anchors = {
        r.chain: (r.chain_seq, r.hash)
        for r in conn.execute(
            select(audit_heads.c.chain, audit_heads.c.chain_seq, audit_heads.c.hash)
        )
    }
    unanchored: set[str] = set()
    rows = conn.execute(
        select(items.c.id, items.c.audit_seq, items.c.audit_head),
        execution_options=streamed(5000),
    )
    for r in rows:
        if r.audit_seq is None or r.audit_head is None:
            unanchored.add(f"item:{r.id}")
        else:
            anchors[f"item:{r.id}"] = (r.audit_seq, r.audit_head)
    return anchors, unanchored


def _unchained_record(row: Row[Any]) -> Finding | None:
    if row.chain is not None and row.chain_seq is not None and row.hash is not None:
        return None
    return _finding(
        "unchained",
        "audit",
        tr(
            "record id {id} ({command} by {actor} at {at}) belongs to no chain: inserted "
            "outside the engine, or written before chaining",
            id=row.id,
            command=row.command,
            actor=row.actor,
            at=row.at,
        ),
        row_id=row.id,
    )


def _close(
    chain: _Chain,
    anchors: Mapping[str, tuple[int, str]],
    unanchored: AbstractSet[str] = frozenset(),
) -> None:
    """End of a chain: record its head and compare it with the chain's anchor row."""
    last = chain.last
    if last is None:
        return
    chain.result.heads[chain.name] = (last.chain_seq, last.hash)
    anchor = anchors.get(chain.name)
    name = chain.name
    if anchor is None:
        if name in unanchored:
            chain.add(
                "deleted",
                last,
                tr(
                    "{chain} has no anchor on its item row (items.audit_seq/audit_head; it "
                    "ends at record id {id}, #{seq}): the anchor was erased",
                    chain=name,
                    id=last.id,
                    seq=last.chain_seq,
                ),
                table="items",
                unnamed=True,
            )
            return
        chain.add(
            "deleted",
            last,
            tr(
                "{chain} has no head row in audit_heads (it ends at record id {id}, #{seq}): "
                "the row was deleted",
                chain=name,
                id=last.id,
                seq=last.chain_seq,
            ),
            table="audit_heads",
            unnamed=True,
        )
        return
    seq, digest = anchor
    if digest == last.hash:
        return
    if seq > last.chain_seq:
        chain.add(
            "deleted",
            last,
            tr(
                "{count} record(s) deleted from the end of {chain}: it ends at record id "
                "{id} (#{last}) but its anchor says #{seq}",
                count=seq - last.chain_seq,
                chain=name,
                id=last.id,
                last=last.chain_seq,
                seq=seq,
            ),
            missing=(last.chain_seq + 1, seq),
        )
    elif seq < last.chain_seq:
        chain.add(
            "inserted",
            last,
            tr(
                "record id {id} (#{last} of {chain}) was inserted: the chain's anchor says "
                "it ends at #{seq}",
                id=last.id,
                last=last.chain_seq,
                chain=name,
                seq=seq,
            ),
        )
    else:
        chain.add(
            "edited",
            last,
            tr(
                "record id {id} (#{last}, the last of {chain}) does not match the chain's "
                "anchor: the record was changed and re-hashed, or the anchor was changed",
                id=last.id,
                last=last.chain_seq,
                chain=name,
            ),
        )


def _check(chain: _Chain, row: Row[Any]) -> None:
    """Check ``row`` against its own hash and against the record before it in ``chain``."""
    name = row.chain
    where = tr("record id {id} (#{seq} of {chain})", id=row.id, seq=row.chain_seq, chain=name)
    content_ok = record_hash(row.prev_hash or "", dict(row._mapping)) == row.hash
    if not content_ok:
        chain.add(
            "edited",
            row,
            tr(
                "{where}: its content no longer matches its hash (changed after it was written)",
                where=where,
            ),
        )
    prev, before = chain.last, chain.before_last
    link = chain.link(row)
    if link == "skips" and prev is not None:
        start = tr("the start of the chain")
        after = start if before is None else Text(f"id {before.id}", f"id {before.id}")
        chain.add(
            "inserted",
            prev,
            tr(
                "record id {id} (#{seq} of {chain}) was inserted: record id {next} is "
                "chained to {after}, the record before it",
                id=prev.id,
                seq=prev.chain_seq,
                chain=name,
                next=row.id,
                after=after,
            ),
        )
    elif link != "linked":
        _broken_record(chain, row, where)
    elif prev is not None and row.chain_seq != prev.chain_seq + 1:
        chain.add(
            "edited",
            row,
            tr(
                "{where}: numbered #{seq} after #{prev} although chained to it (its number "
                "was changed)",
                where=where,
                seq=row.chain_seq,
                prev=prev.chain_seq,
            ),
        )
    elif prev is None and row.chain_seq != 1:
        chain.add(
            "edited",
            row,
            tr(
                "{where}: the first of its chain is numbered #{seq} (its number was changed)",
                where=where,
                seq=row.chain_seq,
            ),
        )
    elif prev is not None and row.id < prev.id and content_ok:
        chain.add(
            "inserted",
            prev,
            tr(
                "record id {id} (#{seq} of {chain}) was written after its successor, "
                "record id {next}",
                id=prev.id,
                seq=prev.chain_seq,
                chain=name,
                next=row.id,
            ),
        )


def _broken_record(chain: _Chain, row: Row[Any], where: Text) -> None:
    """A record not chained to the one before it, nor to the one before that."""
    name, prev, gap = chain.name, chain.last, chain.gap(row)
    missing: tuple[int, int] | None = None
    if prev is None:
        text = tr(
            "{where} is the first of its chain but is chained to another record: the "
            "records before it were deleted, or it was inserted",
            where=where,
        )
        missing = (1, row.chain_seq - 1) if row.chain_seq > 1 else None
    elif gap > 0:
        text = tr(
            "{count} record(s) of {chain} deleted between record id {id} (#{seq}) and "
            "record id {next} (#{next_seq})",
            count=gap,
            chain=name,
            id=prev.id,
            seq=prev.chain_seq,
            next=row.id,
            next_seq=row.chain_seq,
        )
        missing = (prev.chain_seq + 1, row.chain_seq - 1)
    else:
        text = tr(
            "the link between record id {id} (#{seq}) and record id {next} (#{next_seq}) "
            "of {chain} is broken: one of them was inserted (or changed and re-hashed), or "
            "records between them were deleted and the rest renumbered",
            id=prev.id,
            seq=prev.chain_seq,
            next=row.id,
            next_seq=row.chain_seq,
            chain=name,
        )
    kind = "deleted" if prev is None or gap > 0 else "inserted"
    chain.add(kind, row, text, missing=missing)


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
            _finding(
                "deleted",
                "audit",
                tr(
                    "item {item}: {count} accepted step(s) ({what} at {at}) have no audit record",
                    item=item_id,
                    count=n,
                    what=what,
                    at=at,
                ),
                chain=f"item:{item_id}",
            )
        )
    return out


@dataclass(slots=True)
class _Anchor:
    """What an item row says about its history: how many rows, the last one's hash, and
    where the last one led."""

    seq: int
    head: str | None
    state: str
    visit: int


def _verify_history(conn: Connection, result: Verification, batch: int) -> None:
    """Walk every item's history chain in ``seq`` order and compare its end with the item."""
    anchors = {
        r.id: _Anchor(r.seq, r.history_head, r.state, r.visit)
        for r in conn.execute(
            select(items.c.id, items.c.seq, items.c.history_head, items.c.state, items.c.visit)
        )
    }
    result.items = len(anchors)
    query = select(history).order_by(history.c.item_id, history.c.seq, history.c.id)
    how = _Walk(
        "history",
        "seq",
        lambda row: f"item:{row.item_id}",
        _unchained_step,
        _check_history,
        lambda chain: _close_history(chain, anchors),
    )
    rows = conn.execute(query, execution_options=streamed(batch))
    result.history_rows, seen = _walk(rows, how, result)
    for item_id, anchor in sorted(anchors.items()):
        if f"item:{item_id}" not in seen:
            result.findings.append(
                _finding(
                    "deleted",
                    "history",
                    tr(
                        "item {item} has no history: its {count} row(s) were deleted",
                        item=item_id,
                        count=anchor.seq,
                    ),
                    chain=f"item:{item_id}",
                    missing=(1, anchor.seq),
                )
            )


def _unchained_step(row: Row[Any]) -> Finding | None:
    if row.hash is not None and row.prev_hash is not None:
        return None
    return _finding(
        "unchained",
        "history",
        tr(
            "history row id {id} (item {item} #{seq}, {kind} by {actor}) belongs to no "
            "chain: inserted outside the engine",
            id=row.id,
            item=row.item_id,
            seq=row.seq,
            kind=row.kind,
            actor=row.actor,
        ),
        row_id=row.id,
        chain=f"item:{row.item_id}",
        chain_seq=row.seq,
    )


def _check_history(chain: _Chain, row: Row[Any]) -> None:
    """Check a history row against its own hash and against the row before it."""
    where = tr("history row id {id} (item {item} #{seq})", id=row.id, item=row.item_id, seq=row.seq)
    if history_hash(row.prev_hash, dict(row._mapping)) != row.hash:
        chain.add(
            "edited",
            row,
            tr(
                "{where}: its content no longer matches its hash (changed after it was written)",
                where=where,
            ),
        )
    prev, link, gap = chain.last, chain.link(row), chain.gap(row)
    if link == "skips" and prev is not None:
        chain.add(
            "inserted",
            prev,
            tr(
                "history row id {id} (item {item} #{seq}) was inserted: row id {next} is "
                "chained to the row before it",
                id=prev.id,
                item=row.item_id,
                seq=prev.seq,
                next=row.id,
            ),
        )
    elif link == "broken" and gap > 0:
        after = (
            tr("row id {id} (#{seq})", id=prev.id, seq=prev.seq)
            if prev is not None
            else tr("the start")
        )
        chain.add(
            "deleted",
            row,
            tr(
                "{count} history row(s) of item {item} deleted between {after} and row id "
                "{id} (#{seq})",
                count=gap,
                item=row.item_id,
                after=after,
                id=row.id,
                seq=row.seq,
            ),
            missing=(row.seq - gap, row.seq - 1),
        )
    elif link == "broken":
        chain.add(
            "inserted",
            row,
            tr(
                "{where} is not chained to the row before it: it was inserted (or changed "
                "and re-hashed), or rows were deleted and the rest renumbered",
                where=where,
            ),
        )


def _close_history(chain: _Chain, anchors: Mapping[int, _Anchor]) -> None:
    """End of an item's history: compare its last row with the item row."""
    last = chain.last
    if last is None:
        return
    item_id = last.item_id
    anchor = anchors.get(item_id)
    if anchor is None:
        chain.add(
            "inserted",
            last,
            tr(
                "history row id {id} (#{seq}) belongs to item {item}, which does not exist",
                id=last.id,
                seq=last.seq,
                item=item_id,
            ),
        )
        return
    if anchor.head == last.hash:
        if anchor.seq != last.seq or (anchor.state, anchor.visit) != (last.to_state, last.visit):
            chain.add(
                "edited",
                last,
                tr(
                    "item {item} rests in {state} (visit {visit}, {count} history rows) but "
                    "its history ends in {last_state} (visit {last_visit}, #{seq}): the item "
                    "row was changed",
                    item=item_id,
                    state=repr(anchor.state),
                    visit=anchor.visit,
                    count=anchor.seq,
                    last_state=repr(last.to_state),
                    last_visit=last.visit,
                    seq=last.seq,
                ),
                table="items",
                row_id=item_id,
            )
    elif anchor.seq > last.seq:
        chain.add(
            "deleted",
            last,
            tr(
                "{count} history row(s) deleted from the end of item {item}: it ends at row "
                "id {id} (#{seq}) but the item counts {counted}",
                count=anchor.seq - last.seq,
                item=item_id,
                id=last.id,
                seq=last.seq,
                counted=anchor.seq,
            ),
            missing=(last.seq + 1, anchor.seq),
        )
    elif anchor.seq < last.seq:
        chain.add(
            "inserted",
            last,
            tr(
                "history row id {id} (item {item} #{seq}) was inserted: the item counts "
                "{counted} row(s)",
                id=last.id,
                item=item_id,
                seq=last.seq,
                counted=anchor.seq,
            ),
        )
    else:
        chain.add(
            "edited",
            last,
            tr(
                "history row id {id} (item {item} #{seq}, its last) does not match the "
                "item's history head: the row was changed and re-hashed, or the item row "
                "was changed",
                id=last.id,
                item=item_id,
                seq=last.seq,
            ),
        )
