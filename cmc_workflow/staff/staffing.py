"""STF-3: every self-media account has its required posts filled (SM 5.1: an operations
manager and an operations assistant, part-time allowed); a gap raises an alert item.

The check reads the open items of ``accounts`` and the register's posts held today, and
for each account and required post (``posts.yaml``, ``staffing.account_posts``) asks
whether some holder's scope covers the account (a scope naming no channels covers every
account; one naming channels covers the accounts whose id or platform it names).

Each gap opens one ``staffing_gap`` item, started by the engine with a claim that records
the gap in ``staffing_alerts`` in the start's transaction: a gap already recorded (a
second runner, a second pass) rolls the start back, so an open gap is never raised twice.
A gap the register covers again closes its item (``filled``) and is forgotten; a gap
whose item a person dismissed while it stays open is raised again.

:class:`StaffingCheck` runs the check once a day from the daemon's passes
(``Engine.run_due``) and whenever :meth:`StaffingCheck.check_staffing` is called
(``cmc-workflow staff check``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cmc_workflow.errors import ConflictError, EngineError, StoreError
from cmc_workflow.extensions import Change, Extension, Runtime
from cmc_workflow.log import get_logger
from cmc_workflow.model import RESERVED_ROLE, engine_actor
from cmc_workflow.staff.identity import BUSINESS_TZ
from cmc_workflow.store.port import StoreTx

if TYPE_CHECKING:  # the catalogue and the register are imported by the first check
    from cmc_workflow.staff.catalogue import Catalogue, Post

log = get_logger("cmc_workflow.staff")

ALERT_WORKFLOW = "staffing_gap"
ACCOUNTS = "accounts"
CHECKER = engine_actor("staffing-check", {RESERVED_ROLE})
"""The engine's actor of the check (the alerts' starter and closer)."""


@dataclass(frozen=True, slots=True)
class Gap:
    """An account without a holder of a required post."""

    account_id: str
    post: Post

    @property
    def key(self) -> str:
        return f"account:{self.account_id}:{self.post.id}"


@dataclass(frozen=True, slots=True)
class Checked:
    """What one check found and did."""

    gaps: tuple[Gap, ...]
    raised: tuple[int, ...]
    closed: tuple[int, ...]


def find_gaps(
    tx: StoreTx, accounts: Sequence[Mapping[str, Any]], posts: list[Post], day: dt.date
) -> list[Gap]:
    """The gaps of ``accounts`` (their data) in the posts held on ``day``."""
    from cmc_workflow.staff.register import covers

    found: list[Gap] = []
    holders = {
        post.id: [p for p in tx.holders(post.role, day) if p.post == post.id] for post in posts
    }
    for data in accounts:
        account = str(data.get("account_id") or "").strip()
        if not account:
            continue
        platform = str(data.get("platform") or "")
        for post in posts:
            if not any(covers(h.scope, "channels", account, platform) for h in holders[post.id]):
                found.append(Gap(account, post))
    return found


class StaffingCheck(Extension):
    """The STF-3 check as an engine extension: judges no command; runs at most once per
    ``every`` from :meth:`run_due`, and on demand with :meth:`check_staffing`."""

    judges: frozenset[str] | None = frozenset()

    def __init__(
        self, catalogue: Catalogue | None = None, *, every: dt.timedelta = dt.timedelta(days=1)
    ) -> None:
        self._catalogue = catalogue
        self.every = every
        self._runtime: Runtime | None = None
        self._last: dt.datetime | None = None

    @property
    def catalogue(self) -> Catalogue:
        """The posts checked: the catalogue given, else the bundled one, read by the first
        check (an engine that opens and never checks need not read it)."""
        if self._catalogue is None:
            from cmc_workflow.staff.catalogue import bundled

            self._catalogue = bundled()
        return self._catalogue

    def bind(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def run_due(self, now: dt.datetime) -> int:
        if self._last is not None and now - self._last < self.every:
            return 0
        self._last = now
        done = self.check_staffing()
        return len(done.raised) + len(done.closed)

    def check_staffing(self) -> Checked:
        """Raise an alert per new gap and close the alerts of gaps filled."""
        runtime = self._runtime
        if runtime is None:
            raise RuntimeError("the staffing check is not bound to an engine")
        try:
            accounts_wf = runtime.workflow(ACCOUNTS)
            runtime.workflow(ALERT_WORKFLOW)
        except EngineError:
            return Checked((), (), ())  # the workflows are not loaded: nothing to check
        now = runtime.now()
        day = now.astimezone(BUSINESS_TZ).date()
        posts = [self.catalogue.posts[p] for p in self.catalogue.account_posts]
        open_states = [
            (ACCOUNTS, name)
            for name, state in accounts_wf.definition.states.items()
            if state.type != "endEvent"
        ]
        with runtime.read() as tx:
            accounts = [row.data for row in tx.open_items(open_states)]
            gaps = find_gaps(tx, accounts, posts, day)
            alerts = tx.staffing_alerts()
            alive = {key: tx.item(item_id) for key, item_id in alerts.items()}
        by_key = {g.key: g for g in gaps}
        raised: list[int] = []
        closed: list[int] = []
        for key, gap in by_key.items():
            row = alive.get(key)
            if row is not None and row.closed_at is None:
                continue  # raised already, still open
            item_id = self._raise(runtime, gap, stale=key in alerts, now=now)
            if item_id is not None:
                raised.append(item_id)
        for key, item_id in alerts.items():
            if key in by_key:
                continue
            if self._close(runtime, key, item_id):
                closed.append(item_id)
        if raised or closed:
            log.info("staffing_checked", gaps=len(gaps), raised=raised, closed=closed)
        return Checked(tuple(gaps), tuple(raised), tuple(closed))

    @staticmethod
    def _raise(runtime: Runtime, gap: Gap, *, stale: bool, now: dt.datetime) -> int | None:
        def record(tx: StoreTx, change: Change) -> None:
            if stale:  # its item was dismissed while the gap stayed open
                tx.delete_staffing_alert(gap.key)
            tx.insert_staffing_alert(gap.key, change.item_id, now)

        data = {
            "gap": gap.key,
            "account_id": gap.account_id[:64],
            "post": gap.post.id,
            "post_label": gap.post.zh,
        }
        try:
            item = runtime.start_system(ALERT_WORKFLOW, actor=CHECKER, data=data, claim=record)
        except (ConflictError, StoreError) as exc:  # another runner raised it first
            log.info("staffing_alert_raised_elsewhere", gap=gap.key, error=str(exc))
            return None
        return item.id

    @staticmethod
    def _close(runtime: Runtime, key: str, item_id: int) -> bool:
        with runtime.write() as tx:
            row = tx.item(item_id)
            fired = False
            if row is not None and row.closed_at is None:
                fired = runtime.fire_system(
                    tx,
                    item_id,
                    "filled",
                    state=row.state,
                    visit=row.visit,
                    reason="staffing check: the register covers the post again (STF-3)",
                )
            tx.delete_staffing_alert(key)
        return fired
