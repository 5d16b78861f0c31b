"""Finding items and keeping API tokens in SQL (SQLite and PostgreSQL): the semantics are
the port's (:class:`~cmc_workflow.store.port.ItemFilter`).

JSON fields are compared per dialect: PostgreSQL asks ``data @> {"field": value}`` (JSON
equality of a top-level field; the GIN index ``ix_items_data`` of migration 0009 serves
it), SQLite compares ``json_extract`` and ``json_type`` (so that ``"1"`` is not ``1`` and
``true`` is not ``1``). Sorting and the keyset ``(sort, id) > (value, id)`` use the indexes
``ix_items_created`` and ``ix_items_updated``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    cast,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cmc_workflow.errors import ConflictError
from cmc_workflow.i18n import tr
from cmc_workflow.store.port import ItemFilter, ItemRow, NewToken, TokenRow
from cmc_workflow.store.tables import api_tokens, clocks, items

__all__ = ["SqlFinding"]

_ITEM_COLUMNS = [items.c[name] for name in ItemRow.__slots__]
_TOKEN_COLUMNS = [api_tokens.c[name] for name in TokenRow.__slots__]


class SqlFinding:
    """:meth:`find_items` and the token operations of the SQL store."""

    _conn: Connection
    sqlite: bool

    # -- items -----------------------------------------------------------------------
    def _field_is(self, name: str, value: Any) -> ColumnElement[bool]:
        """The top-level field ``name`` of ``data`` equals ``value`` as JSON."""
        if not self.sqlite:
            from sqlalchemy.dialects.postgresql import JSONB

            document = json.dumps({name: value}, ensure_ascii=False)
            return items.c.data.op("@>")(cast(literal(document), JSONB))
        path = _path(name)
        extracted = func.json_extract(items.c.data, path)
        kind = func.json_type(items.c.data, path)
        if value is None:
            return kind == "null"
        if isinstance(value, bool):
            return kind == ("true" if value else "false")
        if isinstance(value, int | float):
            return and_(kind.in_(["integer", "real"]), extracted == value)
        if isinstance(value, str):
            return and_(kind == "text", extracted == value)
        # a list or an object: compare the minified JSON text
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return and_(kind.in_(["array", "object"]), extracted == func.json(text))

    def _names(self, name: str, people: tuple[str, ...]) -> ColumnElement[bool]:
        """The field ``name`` holds one of ``people``, or a list holding one."""
        one = or_(*(self._field_is(name, p) for p in people))
        if not self.sqlite:
            return or_(one, *(self._field_is(name, [p]) for p in people))
        each = func.json_each(items.c.data, _path(name)).table_valued("value", "type")
        in_list = exists(
            select(literal(1))
            .select_from(each)
            .where(each.c.type == "text", each.c.value.in_(list(people)))
        )
        return or_(one, and_(func.json_type(items.c.data, _path(name)) == "array", in_list))

    def _title(self, text: str) -> ColumnElement[bool]:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        if self.sqlite:
            title = func.json_extract(items.c.data, "$.title")
            return and_(
                func.json_type(items.c.data, "$.title") == "text",
                title.like(pattern, escape="\\"),
            )
        title_text: ColumnElement[str] = items.c.data["title"].as_string()
        is_text = func.jsonb_typeof(items.c.data["title"]) == "string"
        return and_(is_text, title_text.ilike(pattern, escape="\\"))

    def _conditions(self, q: ItemFilter) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if q.workflows:
            where.append(items.c.workflow_id.in_(list(q.workflows)))
        if q.states:
            where.append(items.c.state.in_(list(q.states)))
        if q.pairs is not None:
            where.append(
                or_(
                    false(),
                    *(and_(items.c.workflow_id == w, items.c.state == s) for w, s in q.pairs),
                )
            )
        if q.assigned is not None:
            where.append(
                or_(
                    false(),
                    *(
                        and_(
                            items.c.workflow_id == w,
                            items.c.state == s,
                            self._names(f, q.people) if q.people else false(),
                        )
                        for w, s, f in q.assigned
                    ),
                )
            )
        if q.open is not None:
            where.append(items.c.closed_at.is_(None) if q.open else items.c.closed_at.is_not(None))
        if q.parent_id is not None:
            where.append(items.c.parent_id == q.parent_id)
        # the items of the clocks due, found through ix_clocks_status_due (an EXISTS per
        # item made SQLite walk that index once per item: 6.7 s at 100,000 items, against
        # 0.07-0.2 s)
        if q.due_before is not None:
            due = select(clocks.c.item_id).where(
                clocks.c.status == "running", clocks.c.due_at < q.due_before
            )
            where.append(items.c.id.in_(due))
        if q.sla is not None:
            where.append(exists().where(clocks.c.item_id == items.c.id, _sla(q.sla)))
        for name, value in q.data:
            where.append(self._field_is(name, value))
        if q.title is not None:
            where.append(self._title(q.title))
        for column, bound, lower in (
            (items.c.created_at, q.created_from, True),
            (items.c.created_at, q.created_until, False),
            (items.c.updated_at, q.updated_from, True),
            (items.c.updated_at, q.updated_until, False),
        ):
            if bound is not None:
                where.append(column >= bound if lower else column < bound)
        return where

    def find_items(self, query: ItemFilter) -> list[ItemRow]:
        q = query
        where = self._conditions(q)
        key = items.c[q.sort]
        if q.after is not None:
            value, last = q.after
            if q.sort == "id":
                where.append(items.c.id < last if q.descending else items.c.id > last)
            else:
                mark = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
                if q.descending:
                    where.append(or_(key < mark, and_(key == mark, items.c.id < last)))
                else:
                    where.append(or_(key > mark, and_(key == mark, items.c.id > last)))
        order = [key.desc(), items.c.id.desc()] if q.descending else [key.asc(), items.c.id.asc()]
        if q.sort == "id":
            order = order[1:]
        statement = select(*_ITEM_COLUMNS).where(and_(true(), *where)).order_by(*order)
        rows = self._conn.execute(statement.limit(q.limit)).all()
        return [ItemRow(**r._mapping) for r in rows]

    # -- API tokens --------------------------------------------------------------------
    def insert_token(self, values: NewToken) -> None:
        try:
            with self._conn.begin_nested():
                self._conn.execute(
                    insert(api_tokens).values(
                        key=values.key,
                        secret_hash=values.secret_hash,
                        system=values.system,
                        label=values.label,
                        created_at=values.created_at,
                        created_by=values.created_by,
                    )
                )
        except IntegrityError as exc:
            raise ConflictError(
                tr("an API token with key {key} exists", key=repr(values.key))
            ) from exc

    def token(self, key: str) -> TokenRow | None:
        row = self._conn.execute(
            select(*_TOKEN_COLUMNS).where(api_tokens.c.key == key)
        ).one_or_none()
        return None if row is None else TokenRow(**row._mapping)

    def tokens(self, system: str | None = None) -> list[TokenRow]:
        statement = select(*_TOKEN_COLUMNS).order_by(api_tokens.c.created_at, api_tokens.c.key)
        if system is not None:
            statement = statement.where(api_tokens.c.system == system)
        return [TokenRow(**r._mapping) for r in self._conn.execute(statement).all()]

    def revoke_token(self, key: str, now: dt.datetime) -> bool:
        result = self._conn.execute(
            update(api_tokens)
            .where(api_tokens.c.key == key, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return bool(result.rowcount)

    def token_used(self, key: str, now: dt.datetime) -> None:
        self._conn.execute(
            update(api_tokens).where(api_tokens.c.key == key).values(last_used_at=now)
        )


def _path(name: str) -> str:
    """A SQLite JSON path naming one top-level key, quoted (keys may hold dots)."""
    return '$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sla(status: str) -> ColumnElement[bool]:
    if status in ("running", "paused"):
        return clocks.c.status == status
    if status == "warned":
        return and_(clocks.c.warned_at.is_not(None), clocks.c.status != "stopped")
    if status == "breached":
        return clocks.c.breached_at.is_not(None)
    return and_(clocks.c.status == "stopped", clocks.c.outcome == "met")
