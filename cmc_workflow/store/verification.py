"""Verifying the chains (SEC-2): every audit chain and every item's history chain, each
against its anchor, and the log against the history. Reads only; what it finds names
the table and the row, in Chinese and English. See :mod:`cmc_workflow.store.audit` for
how the chains and their anchors are written.

Over 400 lines because most of it is the findings' text: one English and one Chinese
message for each way a chain can break."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.engine import Connection

from cmc_workflow.store.chain import (
    AUDITED_KINDS,
    GENESIS,
    _canonical,
    history_hash,
    record_hash,
)
from cmc_workflow.store.tables import audit, audit_heads, history, items

KINDS_ZH = {
    "edited": "被改动",
    "deleted": "被删除",
    "inserted": "被插入",
    "unchained": "不在链中",
}
"""The finding kinds in Chinese; the kind itself is the code, the same in both languages."""


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
        return f"{self.kind}（{KINDS_ZH.get(self.kind, self.kind)}）：{self.message_zh}"


def _finding(
    kind: str,
    table: str,
    en: str,
    zh: str,
    *,
    row_id: int | None = None,
    chain: str | None = None,
    chain_seq: int | None = None,
    missing: tuple[int, int] | None = None,
) -> Finding:
    return Finding(
        kind,
        en,
        row_id if table == "audit" else None,
        chain,
        chain_seq,
        table,
        row_id,
        missing,
        zh,
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
        en: str,
        zh: str,
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
                en,
                zh,
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
                    f"every record of {chain} (#1..#{seq}) was deleted: its head row in "
                    f"audit_heads says it ends at #{seq}",
                    f"{chain} 的全部记录（#1..#{seq}）被删除：audit_heads 中的链头记录表明"
                    f"它止于 #{seq}",
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
        f"record id {row.id} ({row.command} by {row.actor} at {row.at}) belongs to "
        "no chain: inserted outside the engine, or written before chaining",
        f"审计记录 id {row.id}（{row.actor} 于 {row.at} 的 {row.command}）不属于任何"
        "链：在引擎之外插入，或写于启用哈希链之前",
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
                f"{name} has no anchor on its item row (items.audit_seq/audit_head; it ends "
                f"at record id {last.id}, #{last.chain_seq}): the anchor was erased",
                f"{name} 的事项行上没有链头（items.audit_seq/audit_head；链止于审计记录 id "
                f"{last.id}，#{last.chain_seq}）：链头被抹去",
                table="items",
                unnamed=True,
            )
            return
        chain.add(
            "deleted",
            last,
            f"{name} has no head row in audit_heads (it ends at record id {last.id}, "
            f"#{last.chain_seq}): the row was deleted",
            f"{name} 在 audit_heads 中没有链头记录（链止于审计记录 id {last.id}，"
            f"#{last.chain_seq}）：该行被删除",
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
            f"{seq - last.chain_seq} record(s) deleted from the end of {name}: it ends "
            f"at record id {last.id} (#{last.chain_seq}) but its anchor says #{seq}",
            f"{name} 末尾的 {seq - last.chain_seq} 条记录被删除：链止于审计记录 id "
            f"{last.id}（#{last.chain_seq}），链头记录却是 #{seq}",
            missing=(last.chain_seq + 1, seq),
        )
    elif seq < last.chain_seq:
        chain.add(
            "inserted",
            last,
            f"record id {last.id} (#{last.chain_seq} of {name}) was inserted: the "
            f"chain's anchor says it ends at #{seq}",
            f"审计记录 id {last.id}（{name} 的 #{last.chain_seq}）是插入的：链头记录"
            f"表明该链止于 #{seq}",
        )
    else:
        chain.add(
            "edited",
            last,
            f"record id {last.id} (#{last.chain_seq}, the last of {name}) does not match "
            "the chain's anchor: the record was changed and re-hashed, or the anchor "
            "was changed",
            f"审计记录 id {last.id}（{name} 的最后一条，#{last.chain_seq}）与链头记录"
            "不符：记录被改动并重算了哈希，或链头记录被改动",
        )


def _check(chain: _Chain, row: Row[Any]) -> None:
    """Check ``row`` against its own hash and against the record before it in ``chain``."""
    name = row.chain
    where = f"record id {row.id} (#{row.chain_seq} of {name})"
    where_zh = f"审计记录 id {row.id}（{name} 的 #{row.chain_seq}）"
    content_ok = record_hash(row.prev_hash or "", dict(row._mapping)) == row.hash
    if not content_ok:
        chain.add(
            "edited",
            row,
            f"{where}: its content no longer matches its hash (changed after it was written)",
            f"{where_zh}：内容与其哈希不符（写入后被改动）",
        )
    prev, before = chain.last, chain.before_last
    link = chain.link(row)
    if link == "skips" and prev is not None:
        after = "the start of the chain" if before is None else f"id {before.id}"
        after_zh = "链的起点" if before is None else f"id {before.id}"
        chain.add(
            "inserted",
            prev,
            f"record id {prev.id} (#{prev.chain_seq} of {name}) was inserted: "
            f"record id {row.id} is chained to {after}, the record before it",
            f"审计记录 id {prev.id}（{name} 的 #{prev.chain_seq}）是插入的："
            f"审计记录 id {row.id} 链接到它之前的 {after_zh}",
        )
    elif link != "linked":
        _broken_record(chain, row, where, where_zh)
    elif prev is not None and row.chain_seq != prev.chain_seq + 1:
        chain.add(
            "edited",
            row,
            f"{where}: numbered #{row.chain_seq} after #{prev.chain_seq} although chained "
            "to it (its number was changed)",
            f"{where_zh}：链接在 #{prev.chain_seq} 之后却编号为 #{row.chain_seq}（编号被改动）",
        )
    elif prev is None and row.chain_seq != 1:
        chain.add(
            "edited",
            row,
            f"{where}: the first of its chain is numbered #{row.chain_seq} (its number "
            "was changed)",
            f"{where_zh}：链中第一条的编号为 #{row.chain_seq}（编号被改动）",
        )
    elif prev is not None and row.id < prev.id and content_ok:
        chain.add(
            "inserted",
            prev,
            f"record id {prev.id} (#{prev.chain_seq} of {name}) was written after "
            f"its successor, record id {row.id}",
            f"审计记录 id {prev.id}（{name} 的 #{prev.chain_seq}）写于其后继记录 id {row.id} 之后",
        )


def _broken_record(chain: _Chain, row: Row[Any], where: str, where_zh: str) -> None:
    """A record not chained to the one before it, nor to the one before that."""
    name, prev, gap = chain.name, chain.last, chain.gap(row)
    missing: tuple[int, int] | None = None
    if prev is None:
        en = (
            f"{where} is the first of its chain but is chained to another record: "
            "the records before it were deleted, or it was inserted"
        )
        zh = f"{where_zh} 是链中第一条，却链接到另一条记录：它之前的记录被删除，或它是插入的"
        missing = (1, row.chain_seq - 1) if row.chain_seq > 1 else None
    elif gap > 0:
        en = (
            f"{gap} record(s) of {name} deleted between record id {prev.id} "
            f"(#{prev.chain_seq}) and record id {row.id} (#{row.chain_seq})"
        )
        zh = (
            f"{name} 在审计记录 id {prev.id}（#{prev.chain_seq}）与 id {row.id}"
            f"（#{row.chain_seq}）之间有 {gap} 条记录被删除"
        )
        missing = (prev.chain_seq + 1, row.chain_seq - 1)
    else:
        en = (
            f"the link between record id {prev.id} (#{prev.chain_seq}) and record id "
            f"{row.id} (#{row.chain_seq}) of {name} is broken: one of them was "
            "inserted (or changed and re-hashed), or records between them were deleted "
            "and the rest renumbered"
        )
        zh = (
            f"{name} 中审计记录 id {prev.id}（#{prev.chain_seq}）与 id {row.id}"
            f"（#{row.chain_seq}）之间的链接断开：其中一条是插入的（或被改动并重算"
            "哈希），或其间的记录被删除后重新编号"
        )
    kind = "deleted" if prev is None or gap > 0 else "inserted"
    chain.add(kind, row, en, zh, missing=missing)


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
                f"item {item_id}: {n} accepted step(s) ({what} at {at}) have no audit record",
                f"事项 {item_id}：{n} 个已接受的步骤（{at} 的 {what}）没有审计记录",
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
                    f"item {item_id} has no history: its {anchor.seq} row(s) were deleted",
                    f"事项 {item_id} 没有历史记录：其 {anchor.seq} 条历史记录被删除",
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
        f"history row id {row.id} (item {row.item_id} #{row.seq}, {row.kind} by "
        f"{row.actor}) belongs to no chain: inserted outside the engine",
        f"历史记录 id {row.id}（事项 {row.item_id} #{row.seq}，{row.actor} 的 "
        f"{row.kind}）不属于任何链：在引擎之外插入",
        row_id=row.id,
        chain=f"item:{row.item_id}",
        chain_seq=row.seq,
    )


def _check_history(chain: _Chain, row: Row[Any]) -> None:
    """Check a history row against its own hash and against the row before it."""
    where = f"history row id {row.id} (item {row.item_id} #{row.seq})"
    where_zh = f"历史记录 id {row.id}（事项 {row.item_id} #{row.seq}）"
    if history_hash(row.prev_hash, dict(row._mapping)) != row.hash:
        chain.add(
            "edited",
            row,
            f"{where}: its content no longer matches its hash (changed after it was written)",
            f"{where_zh}：内容与其哈希不符（写入后被改动）",
        )
    prev, link, gap = chain.last, chain.link(row), chain.gap(row)
    if link == "skips" and prev is not None:
        chain.add(
            "inserted",
            prev,
            f"history row id {prev.id} (item {row.item_id} #{prev.seq}) was inserted: "
            f"row id {row.id} is chained to the row before it",
            f"历史记录 id {prev.id}（事项 {row.item_id} #{prev.seq}）是插入的："
            f"历史记录 id {row.id} 链接到它之前的记录",
        )
    elif link == "broken" and gap > 0:
        after = f"row id {prev.id} (#{prev.seq})" if prev is not None else "the start"
        after_zh = f"历史记录 id {prev.id}（#{prev.seq}）" if prev is not None else "起点"
        chain.add(
            "deleted",
            row,
            f"{gap} history row(s) of item {row.item_id} deleted between {after} and "
            f"row id {row.id} (#{row.seq})",
            f"事项 {row.item_id} 在{after_zh}与历史记录 id {row.id}（#{row.seq}）之间"
            f"有 {gap} 条历史记录被删除",
            missing=(row.seq - gap, row.seq - 1),
        )
    elif link == "broken":
        chain.add(
            "inserted",
            row,
            f"{where} is not chained to the row before it: it was inserted (or changed "
            "and re-hashed), or rows were deleted and the rest renumbered",
            f"{where_zh} 未链接到它之前的记录：它是插入的（或被改动并重算哈希），"
            "或有记录被删除后重新编号",
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
            f"history row id {last.id} (#{last.seq}) belongs to item {item_id}, which does "
            "not exist",
            f"历史记录 id {last.id}（#{last.seq}）属于不存在的事项 {item_id}",
        )
        return
    if anchor.head == last.hash:
        if anchor.seq != last.seq or (anchor.state, anchor.visit) != (last.to_state, last.visit):
            chain.add(
                "edited",
                last,
                f"item {item_id} rests in {anchor.state!r} (visit {anchor.visit}, "
                f"{anchor.seq} history rows) but its history ends in {last.to_state!r} "
                f"(visit {last.visit}, #{last.seq}): the item row was changed",
                f"事项 {item_id} 处于 {anchor.state!r}（第 {anchor.visit} 次进入，"
                f"{anchor.seq} 条历史），其历史却止于 {last.to_state!r}（第 {last.visit} "
                f"次，#{last.seq}）：事项行被改动",
                table="items",
                row_id=item_id,
            )
    elif anchor.seq > last.seq:
        chain.add(
            "deleted",
            last,
            f"{anchor.seq - last.seq} history row(s) deleted from the end of item "
            f"{item_id}: it ends at row id {last.id} (#{last.seq}) but the item counts "
            f"{anchor.seq}",
            f"事项 {item_id} 末尾的 {anchor.seq - last.seq} 条历史记录被删除：历史止于 "
            f"id {last.id}（#{last.seq}），事项却记为 {anchor.seq} 条",
            missing=(last.seq + 1, anchor.seq),
        )
    elif anchor.seq < last.seq:
        chain.add(
            "inserted",
            last,
            f"history row id {last.id} (item {item_id} #{last.seq}) was inserted: the "
            f"item counts {anchor.seq} row(s)",
            f"历史记录 id {last.id}（事项 {item_id} #{last.seq}）是插入的：事项只记有 "
            f"{anchor.seq} 条",
        )
    else:
        chain.add(
            "edited",
            last,
            f"history row id {last.id} (item {item_id} #{last.seq}, its last) does not "
            "match the item's history head: the row was changed and re-hashed, or the "
            "item row was changed",
            f"历史记录 id {last.id}（事项 {item_id} 的最后一条，#{last.seq}）与事项的"
            "历史链头不符：该记录被改动并重算了哈希，或事项行被改动",
        )
