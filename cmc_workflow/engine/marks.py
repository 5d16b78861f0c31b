"""Marks of delivered outbox rows, written with the next write instead of on their own.

Marking a delivered notification delivered took a write transaction of its own (an
fsync on SQLite, a round trip and a commit on PostgreSQL) per notification. The marks
wait here instead and ride along with the next write transaction this engine opens (a
command, a refusal's audit record, a handler's outcome, a delivery pass); when none comes
a timer writes them, all in one transaction, after :data:`IDLE_FLUSH`, well inside the
claim's lease, so no other runner delivers the rows again meanwhile.

The transaction is given them when it begins (:meth:`DeliveryMarks.write_in`), so that
the store may send them with a statement the command makes anyway (on PostgreSQL the
item's UPDATE carries them, ``store/carried.py``; elsewhere, or when no statement
carries them, they are written as one statement, by the commit at the latest). A
transaction that does not commit gives them back (:meth:`DeliveryMarks.give_back`): the
next write takes them again. Each mark changes its row only while it is still claimed by
this runner and not marked yet, so a mark written twice (a commit that failed after it
reached the database) changes nothing the second time. A mark lost to a crash means only
that the row is delivered once more after its lease: at least once, as before.
"""

from __future__ import annotations

import datetime as dt
import threading

from cmc_workflow.errors import CmcWorkflowError
from cmc_workflow.log import get_logger
from cmc_workflow.store import StorePort, StoreTx

log = get_logger("cmc_workflow.engine")

IDLE_FLUSH = 30.0
"""Seconds a mark waits for another write before it is written on its own (the claim's
lease is five minutes)."""


class DeliveryMarks:
    """Outbox rows this runner delivered and has not marked yet (thread-safe)."""

    def __init__(self, store: StorePort, runner: str, *, idle_flush: float = IDLE_FLUSH) -> None:
        self._store = store
        self._runner = runner
        self._idle_flush = idle_flush
        self._pending: list[tuple[int, dt.datetime]] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def add(self, outbox_id: int, delivered_at: dt.datetime) -> None:
        """Remember that row ``outbox_id`` was delivered at ``delivered_at``."""
        with self._lock:
            self._pending.append((outbox_id, delivered_at))
            if self._timer is None and not self._closed:
                self._timer = threading.Timer(self._idle_flush, self._on_idle)
                self._timer.daemon = True
                self._timer.start()

    def write_in(self, tx: StoreTx) -> list[tuple[int, dt.datetime]]:
        """Give every pending mark to ``tx`` (written by its commit at the latest); they
        are taken off the list now and returned, for :meth:`give_back` when ``tx`` does
        not commit. Every write of the engine asks; most find none, and that needs no
        lock (a mark added meanwhile waits for the next write, as it would after the
        lock)."""
        if not self._pending:
            return []
        with self._lock:
            taken, self._pending = self._pending, []
        if taken:
            try:
                tx.finish_outbox_many(taken, self._runner)
            except BaseException:
                self.give_back(taken)
                raise
        return taken

    def give_back(self, taken: list[tuple[int, dt.datetime]]) -> None:
        """Marks a transaction took (:meth:`write_in`) and did not commit: they wait for
        the next write again, ahead of those added since."""
        if not taken:
            return
        with self._lock:
            self._pending[:0] = taken
            if self._timer is None and not self._closed:
                self._timer = threading.Timer(self._idle_flush, self._on_idle)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Write the pending marks in a transaction of their own, if there are any."""
        if not len(self):
            return
        taken: list[tuple[int, dt.datetime]] = []
        try:
            with self._store.write() as tx:
                taken = self.write_in(tx)
        except BaseException:
            self.give_back(taken)  # (none when write_in raised: it gave them back)
            raise

    def close(self) -> None:
        """Stop the timer and write what is pending (the engine is closing)."""
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self._flush_logged()

    def _on_idle(self) -> None:
        with self._lock:
            self._timer = None
        self._flush_logged()

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except CmcWorkflowError as exc:  # the rows stay claimed; delivered again after the lease
            log.warning("delivery_marks_not_written", error=str(exc))
