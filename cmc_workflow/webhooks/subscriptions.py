"""Host systems' webhook subscriptions: checked, stored with their secret's stored form
(:mod:`.signing`), listed and removed. The HTTP API (``/v1/subscriptions``) and the CLI
(``cmc-workflow webhook``) both go through these functions.

A subscription names a URL (``https://``, or ``http://`` on a loopback or private host),
the event types it receives (:data:`EVENTS`; none: all) and the workflows (none: all).
Its secret is returned once, by :func:`add_subscription`, and never shown again.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import urllib.parse
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cmc_workflow.errors import FieldError, InputInvalid
from cmc_workflow.i18n import joined, tr
from cmc_workflow.store import StorePort
from cmc_workflow.store.port import NewSubscription, SubscriptionRow
from cmc_workflow.webhooks.signing import new_secret

EVENTS = ("item.created", "item.transitioned", "sla.warning", "sla.breach")
"""The event types a host may subscribe to."""


class _Changes:
    """How many subscriptions this process added or removed, counted after each commit:
    the :class:`~cmc_workflow.webhooks.extension.Webhooks` of every engine in the process
    read the live subscriptions again when it moved (a few reads too many when engines on
    other databases share the process; never one too few)."""

    count = 0


def changes() -> int:
    """The number of subscription changes this process committed so far."""
    return _Changes.count


def _changed() -> None:
    _Changes.count += 1


@dataclass(frozen=True, slots=True)
class NewlyAdded:
    """A subscription just stored, with its signing secret: the only time it is shown."""

    row: SubscriptionRow
    secret: str


def check_subscription(
    url: str,
    events: Sequence[str],
    workflows: Sequence[str],
    label: str,
    known_workflows: Collection[str] | None = None,
) -> None:
    """Raise :class:`InputInvalid` naming every bad field (nothing is stored then)."""
    errors: list[FieldError] = []
    parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        errors.append(
            FieldError(
                "url", *tr("an absolute http(s) URL is needed, e.g. https://host.example/cmc-hook")
            )
        )
    elif parsed.scheme == "http" and not _local(parsed.hostname):
        errors.append(
            FieldError(
                "url", *tr("plain http is taken only for loopback or private addresses; use https")
            )
        )
    elif len(url) > 2000:
        errors.append(FieldError("url", *tr("at most {count} characters", count=2000)))
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        errors.append(
            FieldError(
                "events",
                *tr(
                    "unknown event type(s) {unknown}; known: {known}",
                    unknown=str(unknown),
                    known=joined(EVENTS),
                ),
            )
        )
    if known_workflows is not None:
        missing = [w for w in workflows if w not in known_workflows]
        if missing:
            errors.append(
                FieldError(
                    "workflows",
                    *tr(
                        "no loaded workflow {missing}; loaded: {loaded}",
                        missing=str(missing),
                        loaded=joined(sorted(known_workflows)),
                    ),
                )
            )
    if len(label) > 200:
        errors.append(FieldError("label", *tr("at most {count} characters", count=200)))
    if errors:
        raise InputInvalid(errors)


def _local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def add_subscription(
    store: StorePort,
    url: str,
    *,
    events: Sequence[str] = (),
    workflows: Sequence[str] = (),
    label: str = "",
    created_by: str,
    now: dt.datetime,
    master_key: str | None = None,
    known_workflows: Collection[str] | None = None,
) -> NewlyAdded:
    """Check and store a subscription; the returned secret is the only copy shown."""
    check_subscription(url, events, workflows, label, known_workflows)
    shown, stored = new_secret(master_key)
    values = NewSubscription(
        url=url,
        events=sorted(set(events)),
        workflows=sorted(set(workflows)),
        secret=stored,
        label=label,
        created_at=now,
        created_by=created_by,
    )
    with store.write() as tx:
        new_id = tx.insert_subscription(values)
        row = tx.subscription(new_id)
    _changed()  # committed: this process's engines use it from their next command
    assert row is not None
    return NewlyAdded(row, shown)


def list_subscriptions(store: StorePort, *, removed: bool = False) -> list[SubscriptionRow]:
    """The live subscriptions (and removed ones with ``removed``), oldest first."""
    with store.read() as tx:
        return tx.subscriptions(removed=removed)


def remove_subscription(store: StorePort, subscription_id: int, now: dt.datetime) -> bool:
    """Remove a subscription and cancel its pending deliveries; False if none is live."""
    with store.write() as tx:
        removed = tx.remove_subscription(subscription_id, now)
    _changed()  # committed: this process's engines leave it out from their next command
    return removed


def wants(row: SubscriptionRow, event: str, workflow: str) -> bool:
    """Whether the subscription receives ``event`` of ``workflow``."""
    return (not row.events or event in row.events) and (
        not row.workflows or workflow in row.workflows
    )
