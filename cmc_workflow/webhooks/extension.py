"""The engine extension that delivers events to host systems' webhooks.

Writing: an accepted command's change (``item.created`` at a start, else
``item.transitioned``) and an SLA warning or breach of a deadline timer (``sla.warning``,
``sla.breach``, through :meth:`Runtime.emit <cmc_workflow.extensions.Runtime.emit>`) are
written as one ``webhook_deliveries`` row per matching subscription **in the transaction of
the command or timer** (the transactional outbox: the event commits with what it reports
or not at all). Each event has one id, the same for every subscription and attempt (the
host's de-duplication key); an SLA event's id is derived from its clock, so a warning that
several timers give (one per waiting role) is one event.

Which subscriptions an event goes to: the extension keeps the live subscriptions it last
read (one small read, not one per command) and reads them again

- at the first command after a subscription was added or removed in this process
  (:func:`~cmc_workflow.webhooks.subscriptions.add_subscription` and
  :func:`~cmc_workflow.webhooks.subscriptions.remove_subscription`, which the HTTP API
  and the CLI call): every command that begins after the call returned uses the change;
- at each runner pass (:meth:`Webhooks.run_due` reads them anyway);
- when the list is ``subscriptions_max_age`` seconds old (default 1 s; 0: at every
  command). So a subscription added by another process (``cmc-workflow webhook add``
  beside a running daemon) receives the events of every command that begins at least
  ``subscriptions_max_age`` seconds after it committed, or after this runner's next pass.

A delivery written in that window for a subscription another process had just removed
is cancelled by the pass that claims it, untried (as the removal cancels the pending ones).

Sending (:meth:`Webhooks.run_due`, called by ``Engine.run_due``: the daemon's and the
in-process runner's passes): claim due rows under a lease (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite), POST each signed (:mod:`.signing`), record
every attempt. A 2xx answer is delivered; anything else waits ``retry_seconds *
2**attempts`` (capped at ``max_backoff``) and after ``max_attempts`` the delivery is dead.
Per subscription and item, a delivery is not sent before the older ones are sent or dead
(the claim skips it), so a host sees an item's events in order. Subscriptions are sent
to in parallel (one thread each, up to ``workers``) and a subscription that fails once in
a pass gives back the rest of its rows untried, so a dead or slow endpoint holds up only
itself. A crash between the POST and the record means the row is sent again after its
lease: at least once.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cmc_workflow.extensions import Change, Event, Extension, Runtime
from cmc_workflow.log import get_logger
from cmc_workflow.store.port import HookDeliveryRow, NewHookDelivery, StoreTx, SubscriptionRow
from cmc_workflow.webhooks.signing import (
    ATTEMPT_HEADER,
    EVENT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SecretUnavailable,
    secret_of,
    signature,
)
from cmc_workflow.webhooks.subscriptions import changes, wants

if TYPE_CHECKING:
    import urllib.request

log = get_logger("cmc_workflow.webhooks")

LEASE = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result: ``status_code`` None when no answer came."""

    ok: bool
    status_code: int | None
    error: str | None


_OPENER: list[urllib.request.OpenerDirector] = []


@dataclass(frozen=True, slots=True)
class _Live:
    """The live subscriptions as read at ``read_at`` (monotonic seconds), when this
    process had committed ``changes`` subscription changes."""

    rows: list[SubscriptionRow]
    read_at: float
    changes: int


def _opener() -> urllib.request.OpenerDirector:
    """The opener that follows no redirect: a redirect is an answer that is not 2xx, never
    a reason to re-POST the body elsewhere. Built on the first delivery: an engine that
    sends nothing does not import ``urllib.request`` (``http.client``, ``email``) at all."""
    if not _OPENER:
        import urllib.request

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        _OPENER.append(urllib.request.build_opener(NoRedirect()))
    return _OPENER[0]


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Outcome:
    """POST ``body`` to ``url``; any 2xx answer is a delivery."""
    import urllib.request  # imported by _opener already; a name lookup here

    opener = _opener()
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json; charset=utf-8")
    request.add_header("User-Agent", "cmc-workflow-webhooks/1")
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(65536)
            return Outcome(200 <= response.status < 300, int(response.status), None)
    except urllib.error.HTTPError as exc:
        return Outcome(False, exc.code, f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Outcome(False, None, f"unreachable: {reason}")


class Webhooks(Extension):
    """Outbound webhooks to host systems, as an engine extension (installed by default)."""

    def __init__(
        self,
        master_key: str | None = None,
        *,
        retry_seconds: float = 10.0,
        max_backoff: float = 3600.0,
        max_attempts: int = 12,
        timeout: float = 10.0,
        batch: int = 100,
        workers: int = 4,
        subscriptions_max_age: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if subscriptions_max_age < 0:
            raise ValueError(f"subscriptions_max_age must be >= 0, not {subscriptions_max_age!r}")
        self.master_key = master_key
        self.retry_seconds = retry_seconds
        self.max_backoff = max_backoff
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.batch = batch
        self.workers = workers
        self.subscriptions_max_age = subscriptions_max_age
        """How old the kept list of live subscriptions may grow before a command reads it
        again (see the module's documentation)."""
        self._monotonic = monotonic
        self._live: _Live | None = None
        self._runtime: Runtime | None = None

    def bind(self, runtime: Runtime) -> None:
        self._runtime = runtime

    # -- writing deliveries (inside the command's or timer's transaction) ----------------------
    def after_change(self, tx: StoreTx, change: Change) -> None:
        """An accepted command: ``item.created`` (a start) or ``item.transitioned``."""
        subscriptions = self._subscriptions(tx)
        if not subscriptions:
            return
        kind = "item.created" if change.kind == "start" else "item.transitioned"
        facts = {
            "from": None if change.left is None else change.left.state,
            "to": change.final.state,
            "entered": [v.state for v in change.entered],
            "command": change.kind,
            "actor": change.actor.id,
        }
        event_id = uuid.uuid4().hex
        self._write(
            tx, subscriptions, kind, event_id, change.workflow.id, change.item_id, change.now, facts
        )

    def on_event(self, tx: StoreTx, event: Event) -> None:
        """An SLA warning or breach of a deadline timer."""
        if not event.kind.startswith("sla."):
            return
        subscriptions = self._subscriptions(tx)
        if not subscriptions:
            return
        facts = {"state": event.state, **event.facts}
        event_id = uuid.uuid5(uuid.NAMESPACE_URL, f"cmc-workflow:{event.key}").hex
        self._write(
            tx, subscriptions, event.kind, event_id, event.workflow, event.item_id, event.at, facts
        )

    def _subscriptions(self, tx: StoreTx) -> list[SubscriptionRow]:
        """The live subscriptions: the list kept, or read again in ``tx`` when this
        process changed one since or the list is older than ``subscriptions_max_age``."""
        live = self._live
        if (
            live is not None
            and live.changes == changes()
            and self._monotonic() - live.read_at < self.subscriptions_max_age
        ):
            return live.rows
        return self._read(tx)

    def _read(self, tx: StoreTx) -> list[SubscriptionRow]:
        """Read the live subscriptions in ``tx`` and keep them (stamped before the read:
        a change that commits meanwhile makes the next command read again)."""
        seen, at = changes(), self._monotonic()
        rows = tx.subscriptions()
        self._live = _Live(rows, at, seen)
        return rows

    def _write(
        self,
        tx: StoreTx,
        subscriptions: list[SubscriptionRow],
        kind: str,
        event_id: str,
        workflow: str,
        item_id: int,
        now: dt.datetime,
        facts: Mapping[str, Any],
    ) -> None:
        body = {
            "id": event_id,
            "type": kind,
            "occurred_at": now.astimezone(dt.UTC).isoformat(),
            "workflow": workflow,
            "item_id": item_id,
            **facts,
        }
        tx.insert_hook_deliveries(
            [
                NewHookDelivery(
                    subscription_id=s.id,
                    event_id=event_id,
                    event=kind,
                    item_id=item_id,
                    payload={**body, "subscription_id": s.id},
                    available_at=now,
                    created_at=now,
                )
                for s in subscriptions
                if wants(s, kind, workflow)
            ]
        )

    # -- sending -----------------------------------------------------------------------------
    def run_due(self, now: dt.datetime) -> int:
        """Send the deliveries due now, round after round while some are claimed (an
        item's next event becomes claimable once the one before it is sent), up to
        :attr:`batch` attempts; returns how many attempts were made."""
        runtime = self._require()
        with runtime.read() as tx:
            if not self._read(tx):  # also what the next commands write to
                return 0  # the common case: one small read, no write lock
        done = 0
        failing: set[int] = set()  # subscriptions that failed in this pass: not tried again
        while done < self.batch:
            with runtime.write() as tx:
                claimed = tx.claim_hook_deliveries(now, runtime.runner, LEASE, self.batch - done)
                subscriptions = {s.id: s for s in tx.subscriptions(removed=True)}
                # written by a command that did not know yet that another process had
                # removed the subscription: cancelled untried, as the removal cancelled the
                # pending ones
                gone = {r.id for r in claimed if subscriptions[r.subscription_id].removed_at}
                for delivery_id in sorted(gone):
                    tx.record_hook_attempt(delivery_id, now, "cancelled", None, None)
                skipped = [
                    r.id for r in claimed if r.subscription_id in failing and r.id not in gone
                ]
                tx.release_hook_deliveries(skipped, runtime.runner)
            claimed = [r for r in claimed if r.subscription_id not in failing and r.id not in gone]
            if not claimed:
                if gone:
                    continue  # the claim's limit may have left due rows behind
                break
            tried = self._send_round(runtime, claimed, subscriptions, failing)
            done += tried
        return done

    def _send_round(
        self,
        runtime: Runtime,
        claimed: list[HookDeliveryRow],
        subscriptions: Mapping[int, SubscriptionRow],
        failing: set[int],
    ) -> int:
        lanes: dict[int, list[HookDeliveryRow]] = {}
        for row in claimed:
            lanes.setdefault(row.subscription_id, []).append(row)
        results: list[tuple[HookDeliveryRow, Outcome]] = []
        untried: list[int] = []

        def lane(
            rows: list[HookDeliveryRow],
        ) -> tuple[list[tuple[HookDeliveryRow, Outcome]], list[int]]:
            sent: list[tuple[HookDeliveryRow, Outcome]] = []
            for i, row in enumerate(rows):
                outcome = self.send(subscriptions[row.subscription_id], row)
                sent.append((row, outcome))
                if not outcome.ok:  # this endpoint is failing: leave it for this pass
                    return sent, [r.id for r in rows[i + 1 :]]
            return sent, []

        workers = max(1, min(self.workers, len(lanes)))
        if workers == 1:
            outcomes = [lane(rows) for rows in lanes.values()]
        else:
            from concurrent.futures import ThreadPoolExecutor  # only when sending in parallel

            with ThreadPoolExecutor(workers, thread_name_prefix="cmc-webhook") as pool:
                outcomes = list(pool.map(lane, lanes.values()))
        for sent, left in outcomes:
            results += sent
            untried += left
            failing.update(r.subscription_id for r, o in sent if not o.ok)
        at = runtime.now()
        with runtime.write() as tx:
            for row, outcome in results:
                if outcome.ok:
                    tx.record_hook_attempt(row.id, at, "sent", outcome.status_code, None)
                elif row.attempts + 1 >= self.max_attempts:
                    tx.record_hook_attempt(row.id, at, "dead", outcome.status_code, outcome.error)
                    log.error("webhook_dead", delivery_id=row.id, error=outcome.error)
                else:
                    wait = min(self.retry_seconds * 2**row.attempts, self.max_backoff)
                    tx.record_hook_attempt(
                        row.id,
                        at,
                        "failed",
                        outcome.status_code,
                        outcome.error,
                        at + dt.timedelta(seconds=wait),
                    )
                    log.warning("webhook_failed", delivery_id=row.id, error=outcome.error)
            tx.release_hook_deliveries(untried, runtime.runner)
        return len(results)

    def send(self, subscription: SubscriptionRow, row: HookDeliveryRow) -> Outcome:
        """One signed POST of ``row`` to ``subscription``'s URL."""
        if subscription.removed_at is not None:
            return Outcome(False, None, "the subscription was removed")
        try:
            secret = secret_of(subscription.secret, self.master_key)
        except SecretUnavailable as exc:
            return Outcome(False, None, str(exc))
        body = json.dumps(row.payload, ensure_ascii=False, sort_keys=True).encode()
        stamp = str(int(time.time()))
        headers = {
            SIGNATURE_HEADER: signature(secret, stamp, body),
            TIMESTAMP_HEADER: stamp,
            EVENT_ID_HEADER: row.event_id,
            EVENT_HEADER: row.event,
            ATTEMPT_HEADER: str(row.attempts + 1),
        }
        return post(subscription.url, body, headers, self.timeout)

    def _require(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the webhooks extension is not bound to an engine")
        return self._runtime
