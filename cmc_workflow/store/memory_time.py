"""The in-memory store's clocks, timers, schedule occurrences, runners and report queries
(inherited by :class:`cmc_workflow.store.memory.MemoryTx`), with the SQL store's semantics:
the same filters, the same orders, the same unique keys.
(Over 400 lines: one method per operation of five tables and the six report queries.)
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cmc_workflow.store.memory_tables import Table, loaded, row_as
from cmc_workflow.store.port import (
    CANCELLED,
    CLAIMED,
    CLOCK_COLUMNS,
    PAUSED,
    PENDING,
    RUNNING,
    STOPPED,
    TIMER_COLUMNS,
    ClockRow,
    CursorRow,
    DueTimer,
    FirstReplyRow,
    NewClock,
    NewTimer,
    OverdueRow,
    PublicationRow,
    RecordRow,
    RunnerRow,
    RunRow,
    SlaClockRow,
    StateCountRow,
    StepRow,
    TimerRow,
    checked_columns,
    row_values,
    stop_leaving,
)
from cmc_workflow.store.writes import (
    checked_mark,
    finished_run,
    heartbeat_values,
    new_run,
    new_runner,
)

__all__ = ["MemoryTimeQueries"]


def _within(
    value: dt.datetime | None, since: dt.datetime | None, until: dt.datetime | None
) -> bool:
    """``since <= value < until`` with either bound open (a NULL value is never within)."""
    if value is None:
        return False
    return (since is None or value >= since) and (until is None or value < until)


def _as_text(value: Any) -> str | None:
    """A JSON field read as text, as PostgreSQL's ``->>`` reads it."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


class MemoryTimeQueries:
    """Clocks, timers, schedule occurrences, runners and reports over the memory tables, as
    :class:`~cmc_workflow.store.port.StoreTx` documents them."""

    _t: dict[str, Table]

    def _insert(self, table: str, values: Mapping[str, Any]) -> int:
        raise NotImplementedError  # MemoryTx's

    def _require(self, table: str, key: Any, what: str) -> None:
        raise NotImplementedError  # MemoryTx's

    def _where(self, table: str, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [r for r in self._t[table].values() if keep(r)]

    # -- timers --------------------------------------------------------------------------
    def insert_timers(self, rows: Sequence[NewTimer | Mapping[str, Any]]) -> None:
        for timer in rows:
            values = row_values(NewTimer, timer)
            self._require("items", values["item_id"], "item")
            self._require("clocks", values["clock_id"], "clock")
            self._insert("timers", values)

    def _pending(self, skip: Sequence[str] = ()) -> list[dict[str, Any]]:
        items = self._t["items"].rows
        found = self._where(
            "timers",
            lambda r: (
                r["status"] == PENDING
                and (not skip or items[r["item_id"]]["workflow_id"] not in skip)
            ),
        )
        return sorted(found, key=lambda r: (r["due_at"], r["id"]))

    def next_due_at(self, skip: Sequence[str] = ()) -> dt.datetime | None:
        pending = self._pending(skip)
        return pending[0]["due_at"] if pending else None

    def claim_due_timer(self, now: dt.datetime) -> DueTimer | None:
        found = self.claim_due_timers(now, 1)
        return found[0] if found else None

    def claim_due_timers(
        self, now: dt.datetime, limit: int, skip: Sequence[str] = ()
    ) -> list[DueTimer]:
        """Transactions run one at a time: nobody else can take them."""
        found: list[DueTimer] = []
        for timer in self._pending(skip):
            if timer["due_at"] > now or len(found) >= limit:
                break
            found.append(self._due(timer))
        return found

    def due_timer(self, timer_id: int, now: dt.datetime) -> DueTimer | None:
        timer = self._t["timers"].rows.get(timer_id)
        if timer is None or timer["status"] != PENDING or timer["due_at"] > now:
            return None
        return self._due(timer)

    def _due(self, timer: dict[str, Any]) -> DueTimer:
        item = self._t["items"].rows[timer["item_id"]]
        clock = self._t["clocks"].rows.get(timer["clock_id"])
        return DueTimer(
            timer=row_as(TimerRow, timer),
            workflow_id=item["workflow_id"],
            item_state=item["state"],
            item_visit=item["visit"],
            item_closed=item["closed_at"] is not None,
            clock_status=clock["status"] if clock else None,
            clock_state=clock["state"] if clock else None,
            clock_within=clock["within"] if clock else None,
            clock_due_at=clock["due_at"] if clock else None,
        )

    def finish_timer(
        self,
        timer_id: int,
        status: str,
        now: dt.datetime,
        runner: str,
        error: str | None = None,
    ) -> None:
        if timer_id in self._t["timers"].rows:
            self._t["timers"].update(
                timer_id, status=status, done_at=now, runner=runner, error=error
            )

    def finish_timers(
        self, done: Sequence[tuple[int, str, str | None]], now: dt.datetime, runner: str
    ) -> None:
        for timer_id, status, error in done:
            self.finish_timer(timer_id, status, now, runner, error)

    def cancel_clock_timers(self, clock_ids: Sequence[int], now: dt.datetime) -> int:
        ids = set(clock_ids)
        found = self._where(
            "timers", lambda r: r["clock_id"] in ids and r["status"] in (PENDING, PAUSED)
        )
        for r in found:
            self._t["timers"].update(r["id"], status=CANCELLED, done_at=now)
        return len(found)

    def stop_clock(
        self, clock_id: int, outcome: str, now: dt.datetime, breached: bool = False
    ) -> int:
        row = self._t["clocks"].rows.get(clock_id)
        if row is not None:
            values: dict[str, Any] = {
                "status": STOPPED,
                "stopped_at": now,
                "paused_at": None,
                "outcome": outcome,
            }
            if breached and row["breached_at"] is None:
                values["breached_at"] = now
            self._t["clocks"].update(clock_id, **values)
        return self.cancel_clock_timers([clock_id], now)

    def stop_clocks_leaving(
        self, item_id: int, keep: Sequence[str], now: dt.datetime, at: dt.datetime
    ) -> list[ClockRow]:
        return stop_leaving(self.stop_clock, self.active_clocks(item_id), keep, now, at)

    def clock_timers(self, clock_id: int, status: str) -> list[TimerRow]:
        found = self._where("timers", lambda r: r["clock_id"] == clock_id and r["status"] == status)
        return [row_as(TimerRow, r) for r in sorted(found, key=lambda r: (r["due_at"], r["id"]))]

    def set_clock_timers(self, clock_id: int, from_status: str, values: Mapping[str, Any]) -> int:
        checked_columns(values, TIMER_COLUMNS, "a timer")
        found = self._where(
            "timers", lambda r: r["clock_id"] == clock_id and r["status"] == from_status
        )
        for r in found:
            self._t["timers"].update(r["id"], **values)
        return len(found)

    def resume_timer(self, timer_id: int, due_at: dt.datetime, state: str, visit: int) -> None:
        row = self._t["timers"].rows.get(timer_id)
        if row is not None and row["status"] == PAUSED:
            self._t["timers"].update(
                timer_id, status=PENDING, due_at=due_at, state=state, visit=visit
            )

    def set_timer_due(self, timer_id: int, due_at: dt.datetime) -> None:
        row = self._t["timers"].rows.get(timer_id)
        if row is not None and row["status"] == PENDING:
            self._t["timers"].update(timer_id, due_at=due_at)

    def timers_of(self, item_id: int) -> list[TimerRow]:
        return [
            row_as(TimerRow, r) for r in self._where("timers", lambda r: r["item_id"] == item_id)
        ]

    def upcoming_timers(self, limit: int) -> list[tuple[TimerRow, str]]:
        items = self._t["items"].rows
        return [
            (row_as(TimerRow, r), items[r["item_id"]]["workflow_id"])
            for r in self._pending()[:limit]
        ]

    def count_timers(self, status: str, due_before: dt.datetime | None = None) -> int:
        return len(
            self._where(
                "timers",
                lambda r: (
                    r["status"] == status and (due_before is None or r["due_at"] <= due_before)
                ),
            )
        )

    # -- clocks --------------------------------------------------------------------------
    def insert_clock(self, values: NewClock | Mapping[str, Any]) -> int:
        row = row_values(NewClock, values)
        self._require("items", row["item_id"], "item")
        return self._insert("clocks", row)

    def start_clock(
        self, values: NewClock | Mapping[str, Any], timers: Sequence[Mapping[str, Any]]
    ) -> int:
        clock_id = self.insert_clock(values)
        self.insert_timers([{**row, "clock_id": clock_id} for row in timers])
        return clock_id

    def _clocks(self, keep: Callable[[dict[str, Any]], bool]) -> list[ClockRow]:
        return [row_as(ClockRow, r) for r in self._where("clocks", keep)]

    def active_clocks(self, item_id: int) -> list[ClockRow]:
        return self._clocks(lambda r: r["item_id"] == item_id and r["status"] in (RUNNING, PAUSED))

    def clock(self, clock_id: int) -> ClockRow | None:
        row = self._t["clocks"].rows.get(clock_id)
        return row_as(ClockRow, row) if row is not None else None

    def update_clock(self, clock_id: int, values: Mapping[str, Any]) -> None:
        checked_columns(values, CLOCK_COLUMNS, "a clock")
        if clock_id in self._t["clocks"].rows:
            self._t["clocks"].update(clock_id, **values)

    def mark_clock_once(self, clock_id: int, column: str, now: dt.datetime) -> None:
        checked_mark(column)
        row = self._t["clocks"].rows.get(clock_id)
        if row is not None and row[column] is None:
            self._t["clocks"].update(clock_id, **{column: now})

    def clocks_of(self, item_id: int) -> list[ClockRow]:
        return self._clocks(lambda r: r["item_id"] == item_id)

    def provisional_clocks(self, limit: int = 100) -> list[ClockRow]:
        found = self._clocks(lambda r: r["status"] in (RUNNING, PAUSED) and r["provisional"])
        return sorted(found, key=lambda c: (c.due_at, c.id))[:limit]

    def overdue_clocks(self, now: dt.datetime, limit: int = 100) -> list[ClockRow]:
        found = self._clocks(lambda r: r["status"] == RUNNING and r["due_at"] < now)
        return sorted(found, key=lambda c: (c.due_at, c.id))[:limit]

    # -- schedule occurrences ------------------------------------------------------------
    def cursor(self, schedule_id: str, now: dt.datetime) -> CursorRow:
        table = self._t["schedule_cursors"]
        if schedule_id not in table.rows:
            table.insert(
                schedule_id,
                {"schedule_id": schedule_id, "since": now, "last_due": None, "updated_at": now},
            )
        return row_as(CursorRow, table.rows[schedule_id])

    def cursors(self) -> dict[str, CursorRow]:
        return {k: row_as(CursorRow, r) for k, r in self._t["schedule_cursors"].rows.items()}

    def advance_cursor(self, schedule_id: str, due_at: dt.datetime, now: dt.datetime) -> None:
        row = self._t["schedule_cursors"].rows.get(schedule_id)
        if row is not None and (row["last_due"] is None or row["last_due"] < due_at):
            self._t["schedule_cursors"].update(schedule_id, last_due=due_at, updated_at=now)

    def insert_run(
        self,
        schedule_id: str,
        due_at: dt.datetime,
        status: str,
        now: dt.datetime,
        *,
        runner: str | None = None,
        claimed_until: dt.datetime | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int | None:
        for r in self._t["schedule_runs"].rows.values():
            if r["schedule_id"] == schedule_id and r["due_at"] == due_at:
                return None
        values = new_run(schedule_id, due_at, status, now, runner, claimed_until, detail)
        return self._insert("schedule_runs", values)

    def _stale(self, now: dt.datetime) -> list[dict[str, Any]]:
        found = self._where(
            "schedule_runs",
            lambda r: (
                r["status"] == CLAIMED
                and r["claimed_until"] is not None
                and r["claimed_until"] < now
            ),
        )
        return sorted(found, key=lambda r: (r["due_at"], r["id"]))

    def has_stale_runs(self, now: dt.datetime) -> bool:
        return bool(self._stale(now))

    def reclaim_stale_runs(
        self, now: dt.datetime, runner: str, until: dt.datetime, limit: int = 10
    ) -> list[RunRow]:
        rows = self._stale(now)[:limit]
        found = [row_as(RunRow, r) for r in rows]  # as read, before the takeover (like SQL)
        for r in rows:
            self._t["schedule_runs"].update(r["id"], runner=runner, claimed_until=until)
        return found

    def finish_run(
        self,
        run_id: int,
        runner: str,
        status: str,
        now: dt.datetime,
        *,
        item_id: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        row = self._t["schedule_runs"].rows.get(run_id)
        if row is None or row["runner"] != runner or row["status"] != CLAIMED:
            return False
        self._require("items", item_id, "item")
        self._t["schedule_runs"].update(run_id, **finished_run(status, now, item_id, detail))
        return True

    def runs_of(self, schedule_id: str, limit: int = 100) -> list[RunRow]:
        found = self._where("schedule_runs", lambda r: r["schedule_id"] == schedule_id)
        found.sort(key=lambda r: r["due_at"], reverse=True)
        return [row_as(RunRow, r) for r in found[:limit]]

    def latest_runs(self) -> dict[str, RunRow]:
        latest: dict[str, dict[str, Any]] = {}
        for r in self._t["schedule_runs"].values():
            known = latest.get(r["schedule_id"])
            if known is None or r["due_at"] > known["due_at"]:
                latest[r["schedule_id"]] = r
        return {k: row_as(RunRow, r) for k, r in latest.items()}

    # -- runners -------------------------------------------------------------------------
    def heartbeat(
        self, runner: str, host: str, pid: int, now: dt.datetime, detail: dict[str, Any]
    ) -> None:
        table = self._t["runners"]
        if runner in table.rows:
            table.update(runner, **heartbeat_values(now, detail))
        else:
            table.insert(runner, new_runner(runner, host, pid, now, detail))

    def runner_stopped(self, runner: str, now: dt.datetime) -> None:
        if runner in self._t["runners"].rows:
            self._t["runners"].update(runner, stopped_at=now)

    def runner_rows(self) -> list[RunnerRow]:
        rows = sorted(self._t["runners"].rows.values(), key=lambda r: r["heartbeat_at"])
        return [row_as(RunnerRow, r) for r in reversed(rows)]

    def forget_runners(self, before: dt.datetime) -> int:
        old = [k for k, r in self._t["runners"].rows.items() if r["heartbeat_at"] < before]
        for key in old:
            self._t["runners"].delete(key)
        return len(old)

    # -- reports -------------------------------------------------------------------------
    def state_counts(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[StateCountRow]:
        groups: dict[tuple[str, str], list[int]] = {}
        for r in self._t["items"].values():
            if not _within(r["created_at"], since, until):
                continue
            counts = groups.setdefault((r["workflow_id"], r["state"]), [0, 0, 0])
            counts[0 if r["closed_at"] is None else 1] += 1
            counts[2] = max(counts[2], r["definition_id"])
        return [
            StateCountRow(workflow, state, n_open, n_closed, definition_id)
            for (workflow, state), (n_open, n_closed, definition_id) in sorted(groups.items())
        ]

    def sla_clocks(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[SlaClockRow]:
        return [
            SlaClockRow(
                r["workflow_id"],
                r["status"],
                r["outcome"],
                r["due_at"],
                r["breached_at"],
                r["stopped_at"],
            )
            for r in self._t["clocks"].values()
            if _within(r["stopped_at"] or r["due_at"], since, until)
        ]

    def _first_at(self, keep: Callable[[dict[str, Any]], bool]) -> dict[int, dt.datetime]:
        first: dict[int, dt.datetime] = {}
        for h in self._t["history"].rows.values():
            if keep(h) and (h["item_id"] not in first or h["at"] < first[h["item_id"]]):
                first[h["item_id"]] = h["at"]
        return first

    def first_replies(
        self,
        workflow_id: str,
        triggers: Sequence[str],
        category_field: str,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        received_field: str | None = None,
    ) -> list[FirstReplyRow]:
        first = self._first_at(lambda h: h["trigger"] in triggers)
        return [
            FirstReplyRow(
                item_id=r["id"],
                created_at=r["created_at"],
                closed=r["closed_at"] is not None,
                category=_as_text(r["data"].get(category_field)),
                first_reply_at=first.get(r["id"]),
                received=_as_text(r["data"].get(received_field)) if received_field else None,
            )
            for r in self._t["items"].values()
            if r["workflow_id"] == workflow_id and _within(r["created_at"], since, until)
        ]

    def overdue_items(self, now: dt.datetime) -> list[OverdueRow]:
        items = self._t["items"].rows
        found = []
        for c in self._t["clocks"].values():
            item = items[c["item_id"]]
            late = c["breached_at"] is not None or (c["status"] == RUNNING and c["due_at"] < now)
            if item["closed_at"] is None and c["status"] != STOPPED and late:
                found.append(
                    OverdueRow(
                        item_id=item["id"],
                        workflow_id=item["workflow_id"],
                        definition_id=item["definition_id"],
                        item_state=item["state"],
                        data=loaded(item["data"]),
                        clock_state=c["state"],
                        due_at=c["due_at"],
                    )
                )
        return sorted(found, key=lambda o: (o.due_at, o.item_id))

    def first_entries(
        self,
        workflow_id: str,
        state: str,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[PublicationRow]:
        items = self._t["items"].rows
        first = self._first_at(
            lambda h: h["to_state"] == state and items[h["item_id"]]["workflow_id"] == workflow_id
        )
        found = [
            PublicationRow(item_id=i, published_at=at, data=loaded(items[i]["data"]))
            for i, at in first.items()
            if _within(at, since, until)
        ]
        return sorted(found, key=lambda p: (p.published_at, p.item_id))

    def workflow_records(self, workflow_id: str) -> list[RecordRow]:
        return [
            RecordRow(r["id"], r["state"], loaded(r["data"]))
            for r in self._t["items"].values()
            if r["workflow_id"] == workflow_id
        ]

    def steps_taken(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[StepRow]:
        items = self._t["items"].rows
        outcomes = {
            (c["item_id"], c["state"], c["stopped_at"]): c["outcome"]
            for c in self._t["clocks"].values()
            if c["stopped_at"] is not None
        }
        found = [
            (
                h["at"],
                h["id"],
                StepRow(
                    h["actor"],
                    tuple(loaded(h["roles"])),
                    items[h["item_id"]]["workflow_id"],
                    h["item_id"],
                    h["at"],
                    outcomes.get((h["item_id"], h["from_state"], h["at"])),
                ),
            )
            for h in self._t["history"].rows.values()
            if h["kind"] in ("start", "fire") and _within(h["at"], since, until)
        ]
        return [row for _, _, row in sorted(found, key=lambda f: (f[0], f[1]))]
