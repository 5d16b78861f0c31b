"""The SQL of outbound webhooks for host systems (issue 15, part 4): subscriptions, one
delivery per event and subscription, and their attempts, as methods of the SQL transaction
(:class:`~cmc_workflow.store.repository.SqlTx` inherits them); each does what
:class:`~cmc_workflow.store.port.StoreTx` documents."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, cast, exists, insert, or_, select, update
from sqlalchemy.engine import Connection

from cmc_workflow.store.database import insert_of
from cmc_workflow.store.port import (
    HookAttemptRow,
    HookDeliveryRow,
    NewHookDelivery,
    NewSubscription,
    SubscriptionRow,
    values_of,
)
from cmc_workflow.store.tables import webhook_attempts, webhook_deliveries, webhook_subscriptions

_SUB_COLUMNS = tuple(webhook_subscriptions.c[n] for n in SubscriptionRow.__slots__)
_DELIVERY_COLUMNS = tuple(webhook_deliveries.c[n] for n in HookDeliveryRow.__slots__)
_ATTEMPT_COLUMNS = tuple(webhook_attempts.c[n] for n in HookAttemptRow.__slots__)


@functools.cache
def _insert_live(postgres: bool) -> Any:
    """INSERT a delivery SELECTed from its values where its subscription is live (the
    values cast to their columns' types on PostgreSQL, which infers none for them)."""
    d, s = webhook_deliveries, webhook_subscriptions
    names = [n for n in NewHookDelivery.__slots__ if n in d.c]
    values = [
        cast(bindparam(n, type_=d.c[n].type), d.c[n].type)
        if postgres
        else bindparam(n, type_=d.c[n].type)
        for n in names
    ]
    live = exists().where(s.c.id == bindparam("b_subscription"), s.c.removed_at.is_(None))
    return (
        insert_of(not postgres, d)
        .from_select(names, select(*values).where(live))
        .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
        .returning(d.c.id)
    )


class WebhookQueries:
    """The webhooks' statements on the transaction's connection."""

    _conn: Connection
    sqlite: bool

    def insert_subscription(self, values: NewSubscription) -> int:
        result = self._conn.execute(
            insert(webhook_subscriptions).returning(webhook_subscriptions.c.id),
            {**values_of(values), "removed_at": None},
        )
        return int(result.scalar_one())

    def subscriptions(self, *, removed: bool = False) -> list[SubscriptionRow]:
        query = select(*_SUB_COLUMNS).order_by(webhook_subscriptions.c.id)
        if not removed:
            query = query.where(webhook_subscriptions.c.removed_at.is_(None))
        return [SubscriptionRow(**r._mapping) for r in self._conn.execute(query)]

    def subscription(self, subscription_id: int) -> SubscriptionRow | None:
        row = self._conn.execute(
            select(*_SUB_COLUMNS).where(webhook_subscriptions.c.id == subscription_id)
        ).first()
        return None if row is None else SubscriptionRow(**row._mapping)

    def remove_subscription(self, subscription_id: int, now: dt.datetime) -> bool:
        done = self._conn.execute(
            update(webhook_subscriptions)
            .where(
                and_(
                    webhook_subscriptions.c.id == subscription_id,
                    webhook_subscriptions.c.removed_at.is_(None),
                )
            )
            .values(removed_at=now)
        )
        if not done.rowcount:
            return False
        self._conn.execute(
            update(webhook_deliveries)
            .where(
                and_(
                    webhook_deliveries.c.subscription_id == subscription_id,
                    webhook_deliveries.c.status == "pending",
                )
            )
            .values(status="cancelled", claimed_by=None, claim_until=None)
        )
        return True

    def insert_hook_deliveries(self, rows: Sequence[NewHookDelivery]) -> int:
        """A delivery is written only while its subscription is live, in the same
        statement: a command whose webhooks extension still lists a subscription that
        another process removed writes nothing to it."""
        if not rows:
            return 0
        statement = _insert_live(postgres=not self.sqlite)
        added = 0
        for row in rows:
            values = values_of(row)
            values["b_subscription"] = values["subscription_id"]
            added += len(self._conn.execute(statement, values).all())
        return added

    def claim_hook_deliveries(
        self, now: dt.datetime, runner: str, lease: dt.timedelta, limit: int
    ) -> list[HookDeliveryRow]:
        d = webhook_deliveries
        earlier = webhook_deliveries.alias()  # Core's alias: no ORM to import
        due = (
            select(*_DELIVERY_COLUMNS)
            .where(
                and_(
                    d.c.status == "pending",
                    d.c.available_at <= now,
                    or_(d.c.claim_until.is_(None), d.c.claim_until < now),
                    ~exists().where(
                        and_(
                            earlier.c.subscription_id == d.c.subscription_id,
                            earlier.c.item_id == d.c.item_id,
                            earlier.c.status == "pending",
                            earlier.c.id < d.c.id,
                        )
                    ),
                )
            )
            .order_by(d.c.id)
            .limit(limit)
        )
        if not self.sqlite:  # SQLite's writers are serialized by BEGIN IMMEDIATE
            due = due.with_for_update(of=d, skip_locked=True)
        rows = [HookDeliveryRow(**r._mapping) for r in self._conn.execute(due)]
        if rows:
            self._conn.execute(
                update(d)
                .where(d.c.id.in_([r.id for r in rows]))
                .values(claimed_by=runner, claim_until=now + lease)
            )
        return rows

    def record_hook_attempt(
        self,
        delivery_id: int,
        at: dt.datetime,
        result: str,
        status_code: int | None,
        error: str | None,
        retry_at: dt.datetime | None = None,
    ) -> None:
        d = webhook_deliveries
        if result == "cancelled":  # not tried: no attempt to record
            self._conn.execute(
                update(d)
                .where(d.c.id == delivery_id)
                .values(status="cancelled", claimed_by=None, claim_until=None)
            )
            return
        row = self._conn.execute(select(d.c.attempts).where(d.c.id == delivery_id)).first()
        if row is None:
            return
        values: dict[str, object] = {
            "attempts": row.attempts + 1,
            "claimed_by": None,
            "claim_until": None,
            "last_error": error[:4000] if error else None,
        }
        if result == "sent":
            values.update(status="sent", sent_at=at)
        elif result == "dead":
            values.update(status="dead")
        else:
            values.update(available_at=retry_at or at)
        self._conn.execute(update(d).where(d.c.id == delivery_id).values(**values))
        self._conn.execute(
            insert(webhook_attempts),
            {
                "delivery_id": delivery_id,
                "at": at,
                "result": result,
                "status_code": status_code,
                "error": error[:4000] if error else None,
            },
        )

    def release_hook_deliveries(self, delivery_ids: Sequence[int], runner: str) -> None:
        if not delivery_ids:
            return
        d = webhook_deliveries
        self._conn.execute(
            update(d)
            .where(and_(d.c.id.in_(list(delivery_ids)), d.c.claimed_by == runner))
            .values(claimed_by=None, claim_until=None)
        )

    def hook_deliveries(
        self, subscription_id: int | None = None, item_id: int | None = None
    ) -> list[HookDeliveryRow]:
        d = webhook_deliveries
        query = select(*_DELIVERY_COLUMNS).order_by(d.c.id)
        if subscription_id is not None:
            query = query.where(d.c.subscription_id == subscription_id)
        if item_id is not None:
            query = query.where(d.c.item_id == item_id)
        return [HookDeliveryRow(**r._mapping) for r in self._conn.execute(query)]

    def hook_attempts(self, delivery_id: int) -> list[HookAttemptRow]:
        query = (
            select(*_ATTEMPT_COLUMNS)
            .where(webhook_attempts.c.delivery_id == delivery_id)
            .order_by(webhook_attempts.c.id)
        )
        return [HookAttemptRow(**r._mapping) for r in self._conn.execute(query)]
