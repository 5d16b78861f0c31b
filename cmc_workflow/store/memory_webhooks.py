"""Outbound webhooks (issue 15, part 4) over the memory tables, as
:class:`~cmc_workflow.store.port.StoreTx` documents them
(:class:`~cmc_workflow.store.memory.MemoryTx` inherits them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from cmc_workflow.store.memory_tables import Table, row_as
from cmc_workflow.store.port import (
    HookAttemptRow,
    HookDeliveryRow,
    NewHookDelivery,
    NewSubscription,
    SubscriptionRow,
    values_of,
)

TABLES = ("webhook_subscriptions", "webhook_deliveries", "webhook_attempts")
"""The memory tables of this module (the store creates them with the others)."""


class MemoryWebhookQueries:
    """The webhooks' operations on the memory tables."""

    _t: dict[str, Table]

    def _insert(self, table: str, values: Mapping[str, Any]) -> int:
        raise NotImplementedError  # MemoryTx's

    def insert_subscription(self, values: NewSubscription) -> int:
        return self._insert("webhook_subscriptions", {**values_of(values), "removed_at": None})

    def subscriptions(self, *, removed: bool = False) -> list[SubscriptionRow]:
        rows = self._t["webhook_subscriptions"].rows
        return [
            row_as(SubscriptionRow, rows[k])
            for k in sorted(rows)
            if removed or rows[k]["removed_at"] is None
        ]

    def subscription(self, subscription_id: int) -> SubscriptionRow | None:
        row = self._t["webhook_subscriptions"].rows.get(subscription_id)
        return None if row is None else row_as(SubscriptionRow, row)

    def remove_subscription(self, subscription_id: int, now: dt.datetime) -> bool:
        table = self._t["webhook_subscriptions"]
        row = table.rows.get(subscription_id)
        if row is None or row["removed_at"] is not None:
            return False
        table.update(subscription_id, removed_at=now)
        deliveries = self._t["webhook_deliveries"]
        for r in list(deliveries.rows.values()):
            if r["subscription_id"] == subscription_id and r["status"] == "pending":
                deliveries.update(r["id"], status="cancelled", claimed_by=None, claim_until=None)
        return True

    def insert_hook_deliveries(self, rows: Sequence[NewHookDelivery]) -> int:
        table = self._t["webhook_deliveries"]
        keys = {(r["subscription_id"], r["event_id"]) for r in table.rows.values()}
        subscriptions = self._t["webhook_subscriptions"].rows
        added = 0
        for row in rows:
            if (row.subscription_id, row.event_id) in keys:
                continue
            live = subscriptions.get(row.subscription_id)
            if live is None or live["removed_at"] is not None:
                continue  # written only while its subscription is live
            keys.add((row.subscription_id, row.event_id))
            values = values_of(row)
            values.update(claimed_by=None, claim_until=None, sent_at=None, last_error=None)
            self._insert("webhook_deliveries", values)
            added += 1
        return added

    def claim_hook_deliveries(
        self, now: dt.datetime, runner: str, lease: dt.timedelta, limit: int
    ) -> list[HookDeliveryRow]:
        table = self._t["webhook_deliveries"]
        pending = sorted(
            (r for r in table.rows.values() if r["status"] == "pending"), key=lambda r: r["id"]
        )
        first: set[tuple[int, int | None]] = set()
        due: list[dict[str, Any]] = []
        for r in pending:
            lane = (r["subscription_id"], r["item_id"])
            blocked = lane in first and r["item_id"] is not None
            first.add(lane)
            if blocked or r["available_at"] > now:
                continue
            if r["claim_until"] is not None and r["claim_until"] >= now:
                continue
            due.append(r)
        due = due[:limit]
        for r in due:
            table.update(r["id"], claimed_by=runner, claim_until=now + lease)
        return [row_as(HookDeliveryRow, table.rows[r["id"]]) for r in due]

    def record_hook_attempt(
        self,
        delivery_id: int,
        at: dt.datetime,
        result: str,
        status_code: int | None,
        error: str | None,
        retry_at: dt.datetime | None = None,
    ) -> None:
        table = self._t["webhook_deliveries"]
        row = table.rows.get(delivery_id)
        if row is None:
            return
        if result == "cancelled":  # not tried: no attempt to record
            table.update(delivery_id, status="cancelled", claimed_by=None, claim_until=None)
            return
        values: dict[str, Any] = {
            "attempts": row["attempts"] + 1,
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
        table.update(delivery_id, **values)
        self._insert(
            "webhook_attempts",
            {
                "delivery_id": delivery_id,
                "at": at,
                "result": result,
                "status_code": status_code,
                "error": error[:4000] if error else None,
            },
        )

    def release_hook_deliveries(self, delivery_ids: Sequence[int], runner: str) -> None:
        table = self._t["webhook_deliveries"]
        for delivery_id in delivery_ids:
            row = table.rows.get(delivery_id)
            if row is not None and row["claimed_by"] == runner:
                table.update(delivery_id, claimed_by=None, claim_until=None)

    def hook_deliveries(
        self, subscription_id: int | None = None, item_id: int | None = None
    ) -> list[HookDeliveryRow]:
        rows = self._t["webhook_deliveries"].rows
        return [
            row_as(HookDeliveryRow, rows[k])
            for k in sorted(rows)
            if (subscription_id is None or rows[k]["subscription_id"] == subscription_id)
            and (item_id is None or rows[k]["item_id"] == item_id)
        ]

    def hook_attempts(self, delivery_id: int) -> list[HookAttemptRow]:
        rows = self._t["webhook_attempts"].rows
        return [
            row_as(HookAttemptRow, rows[k])
            for k in sorted(rows)
            if rows[k]["delivery_id"] == delivery_id
        ]
