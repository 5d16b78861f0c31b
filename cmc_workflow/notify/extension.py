"""Notifications that reach people: the engine extension that turns a new task, a
``notify:`` of a transition or deadline step (SLA warnings and breaches) and a fault into
notices — one per recipient per transport — and sends them with retries.

Recipients: the person(s) named in the state's ``assignee`` field first; otherwise the
holders of the role in the staff register; without a register, the role's people of the
notifications file. Notices of a new task and of a transition's ``notify:`` are written in
the command's own transaction (:meth:`Notifications.after_change`), so that they exist
exactly when the command committed and cost it no transaction of its own; the outbox row
of such a ``notify:`` carries the mark :data:`~cmc_workflow.extensions.NOTICED`, and its
delivery writes nothing more. A ``notify:`` row without the mark (a deadline step's, or
one queued by an engine without this extension) has its notices written when the outbox
delivers it (:meth:`Notifications.notified`). Either way a notice's key is derived from
the outbox row's idempotency key, so the outbox's at-least-once delivery writes each
notice once. Each attempt is recorded; a failure waits ``retry_seconds * 2**attempts``;
after ``max_attempts`` the notice is dead (the dead letter).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from typing import Any

from cmc_workflow.errors import DefinitionError, Problem
from cmc_workflow.extensions import NOTICED, Change, Extension, Runtime, Visit
from cmc_workflow.handlers import HandlerContext, describe
from cmc_workflow.i18n import tr
from cmc_workflow.located import Located
from cmc_workflow.log import get_logger
from cmc_workflow.notify.config import (
    DingTalk,
    NotificationsFile,
    Smtp,
    Webhook,
    WeCom,
)
from cmc_workflow.notify.templates import render, render_digest
from cmc_workflow.notify.transports import (
    DingTalkSender,
    Sender,
    SendFailed,
    SmtpSender,
    WebhookSender,
    WeComSender,
)
from cmc_workflow.staff.register import covers
from cmc_workflow.store.port import NewNotice, NoticeRow, StoreTx

log = get_logger("cmc_workflow.notify")

FAULT_WORKFLOWS = frozenset({"faults"})
"""Workflows whose new tasks are faults (FLT-1: told at once, quiet hours or not)."""

LEASE = dt.timedelta(minutes=5)
BUSINESS_TZ = dt.timezone(dt.timedelta(hours=8))


def bind_secrets(
    config: NotificationsFile, doc: Located | None, environ: Mapping[str, str]
) -> dict[str, Sender]:
    """The senders of ``config`` with their secrets read from ``environ``; a variable
    that is not set is a located ``E-NOTIFY-SECRET`` (all of them at once)."""
    problems: list[Problem] = []

    def secret(name: str, field: str, variable: str | None) -> str | None:
        if variable is None:
            return None
        value = environ.get(variable)
        if not value:
            message = tr(
                "transport {name}: environment variable {variable} is not set",
                name=repr(name),
                variable=variable,
            )
            hint = tr(
                "export {variable}=... where the daemon runs (secrets never in the YAML)",
                variable=variable,
            )
            if doc is not None:
                problem = doc.problem(("transports", name, field), "E-NOTIFY-SECRET", message, hint)
            else:
                problem = Problem.of("<notifications>", 1, 1, "E-NOTIFY-SECRET", message, hint)
            problems.append(problem)
        return value

    senders: dict[str, Sender] = {}
    for name, t in config.transports.items():
        if isinstance(t, Smtp):
            senders[name] = SmtpSender(t, secret(name, "password_env", t.password_env))
        elif isinstance(t, Webhook):
            senders[name] = WebhookSender(t, secret(name, "secret_env", t.secret_env) or "")
        elif isinstance(t, WeCom):
            senders[name] = WeComSender(t, secret(name, "key_env", t.key_env) or "")
        elif isinstance(t, DingTalk):
            token = secret(name, "token_env", t.token_env) or ""
            senders[name] = DingTalkSender(t, token, secret(name, "secret_env", t.secret_env) or "")
    if problems:
        raise DefinitionError(problems)
    return senders


def scope_of(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """The register scope an item's data names: its ``application`` and its channels
    (``channel``/``channels``), so that a role's holders are those whose post covers it."""
    scope: dict[str, list[str]] = {}
    application = data.get("application")
    if isinstance(application, str) and application:
        scope["applications"] = [application]
    channels = data.get("channels", data.get("channel"))
    named = [channels] if isinstance(channels, str) else channels
    if isinstance(named, list) and (found := [c for c in named if isinstance(c, str) and c]):
        scope["channels"] = found
    return scope


class Notifications(Extension):
    """The notifications of one ``kind: notifications`` file, as an engine extension."""

    notices_with_command = True  # a notify:'s notices are written by after_change

    def __init__(
        self,
        config: NotificationsFile,
        senders: Mapping[str, Sender],
        *,
        batch: int = 100,
    ) -> None:
        self.config = config
        self.senders = dict(senders)
        self.batch = batch
        self._runtime: Runtime | None = None

    @classmethod
    def from_file(
        cls,
        config: NotificationsFile,
        doc: Located | None,
        environ: Mapping[str, str] | None = None,
    ) -> Notifications:
        """Bind the secrets from ``environ`` (default: this process's environment)."""
        return cls(config, bind_secrets(config, doc, os.environ if environ is None else environ))

    def bind(self, runtime: Runtime) -> None:
        self._runtime = runtime

    # -- writing notices -------------------------------------------------------------------
    def after_change(self, tx: StoreTx, change: Change) -> None:
        """A new task: entering a userTask notifies its assignees, else its roles' holders;
        then the notices of each ``notify:`` the command queued (:attr:`Change.notify`),
        as its delivery would have written them."""
        wf = change.workflow
        tasks = [v for v in change.entered if wf.state(v.state).type == "userTask"]
        if not tasks and not change.notify:
            return
        registered = tx.has_people()  # asked once for the command's notices
        rows = self._tasks(tx, change, tasks, registered)
        for notification in change.notify:
            payload = notification.payload
            key = notification.idempotency_key
            role = notification.role
            rows += self._notify(
                tx, role, change.item_id, payload, key, change.now, registered, change.data
            )
        tx.insert_notices(rows)  # one statement for the command's notices

    def _tasks(
        self, tx: StoreTx, change: Change, tasks: Sequence[Visit], registered: bool
    ) -> list[NewNotice]:
        wf = change.workflow
        rows: list[NewNotice] = []
        for visit in tasks:
            state = wf.state(visit.state)
            roles = sorted({r for e in wf.edges(visit.state) for r in e.roles})
            event = "fault" if wf.id in FAULT_WORKFLOWS else "task"
            facts = {
                "event": event,
                "workflow": wf.id,
                "item_id": change.item_id,
                "state": visit.state,
            }
            key = f"task:{change.item_id}:{visit.state}:{visit.visit}"
            people = self._assigned(state.assignee, change.data)
            scope = scope_of(change.data)
            rows += self._rows(tx, key, facts, roles, people, change.now, scope, registered)
        return rows

    def notified(self, role: str, context: HandlerContext) -> None:
        """A ``notify:`` of the outbox (a deadline step's, or one queued without this
        extension): write its notices (once, whatever the outbox's retries); the next
        pass sends them. A row marked :data:`NOTICED` had them written with its command."""
        if context.payload.get(NOTICED):
            return
        runtime = self._require()
        with runtime.write() as tx:
            payload = context.payload
            key = context.idempotency_key
            tx.insert_notices(self._notify(tx, role, context.item_id, payload, key, runtime.now()))
        # sent by the next pass (run_due), never here: a slow mail server must not hold up
        # the command whose notification the engine delivers inline

    def _notify(
        self,
        tx: StoreTx,
        role: str,
        item_id: int,
        payload: Mapping[str, Any],
        key: str,
        now: dt.datetime,
        registered: bool | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> list[NewNotice]:
        """The notices of one ``notify:`` of ``role`` (its outbox row's ``payload`` and
        idempotency ``key``), for the command's transaction or its delivery's. The item's
        ``data`` names its assignees and its scope: the command's own, else the payload's
        (a deadline step's carries it), else the item's as stored now (a transition's row
        queued by an engine without the notifications carries none)."""
        workflow = payload.get("workflow", "")
        state = payload.get("state", "")
        if data is None:
            data = payload.get("data")
        if data is None:
            row = tx.item(item_id)
            data = row.data if row is not None else {}
        deadline = payload.get("deadline") or {}
        action = deadline.get("action") if isinstance(deadline, Mapping) else None
        event = str(action) if action in ("warn", "breach", "escalate") else "notify"
        if workflow in FAULT_WORKFLOWS:
            event = "fault"
        facts: dict[str, Any] = {
            "event": event,
            "workflow": workflow,
            "item_id": item_id,
            "state": state,
            "role": role,
            "due_at": deadline.get("due_at") if isinstance(deadline, Mapping) else None,
            "reason": payload.get("reason"),
        }
        people: list[str] = []
        if workflow and state:
            wf = self._require().workflow(workflow)
            if state in wf.definition.states:
                people = self._assigned(wf.state(state).assignee, data)
        return self._rows(tx, key, facts, [role], people, now, scope_of(data), registered)

    def _assigned(self, field: str | None, data: Mapping[str, Any]) -> list[str]:
        if field is None:
            return []
        value = data.get(field)
        named = value if isinstance(value, list) else [value] if value else []
        return [str(p).strip().lower() for p in named if isinstance(p, str) and p.strip()]

    def _rows(
        self,
        tx: StoreTx,
        key: str,
        facts: Mapping[str, Any],
        roles: Sequence[str],
        people: Sequence[str],
        now: dt.datetime,
        scope: Mapping[str, list[str]] | None = None,
        registered: bool | None = None,
    ) -> list[NewNotice]:
        """The notices of one notification under ``key``: a row per recipient and
        transport (none without an address), written by the caller."""
        if registered is None:
            registered = tx.has_people()
        recipients = list(people) or self._holders(tx, roles, now, scope or {}, registered)
        event = str(facts["event"])
        available = self.config.quiet_until(now, event)
        digest = event == "warn" and self.config.digest_minutes > 0
        if digest:
            available = max(available, now + dt.timedelta(minutes=self.config.digest_minutes))
        rows: list[NewNotice] = []
        for person in recipients:
            for transport in self.transports_of(person):
                address = self.address(tx, person, transport, registered=registered)
                if address is None:
                    log.warning("no_address", person=person, transport=transport)
                    continue
                rows.append(
                    NewNotice(
                        key=f"{key}:{person}:{transport}"[:300],
                        item_id=facts.get("item_id") or None,
                        event=event,
                        role=roles[0] if roles else None,
                        person_id=person,
                        transport=transport,
                        address=address,
                        payload={**facts, "person": person, "digest": digest},
                        available_at=available,
                        created_at=now,
                    )
                )
        if not recipients:
            log.warning("no_recipient", roles=list(roles), key=key)
        return rows

    def _holders(
        self,
        tx: StoreTx,
        roles: Sequence[str],
        now: dt.datetime,
        scope: Mapping[str, list[str]],
        registered: bool,
    ) -> list[str]:
        if registered:
            day = now.astimezone(BUSINESS_TZ).date()
            return sorted(
                {
                    p.person_id
                    for role in roles
                    for p in tx.holders(role, day)
                    if all(covers(p.scope, key, *values) for key, values in scope.items())
                }
            )
        return sorted({p for role in roles for p in self.config.roles.get(role, [])})

    def transports_of(self, person: str) -> list[str]:
        """The transports ``person`` is told by: their preference, else the defaults."""
        settings = self.config.people.get(person)
        if settings is not None and settings.transports:
            return list(settings.transports)
        return list(self.config.default_transports)

    def address(
        self, tx: StoreTx, person: str, transport: str, *, registered: bool | None = None
    ) -> str | None:
        """Where ``transport`` reaches ``person`` (the register's e-mail first), or None;
        ``registered``: whether the staff register holds anybody, when known."""
        spec = self.config.transports[transport]
        if isinstance(spec, Smtp):
            if registered is None:
                registered = tx.has_people()
            row = tx.person(person) if registered else None
            if row is not None and row.email:
                return row.email
            settings = self.config.people.get(person)
            return settings.email if settings is not None else None
        if isinstance(spec, Webhook):
            return spec.url
        return spec.url  # a group robot: its URL (the key or token is added when sending)

    # -- sending ---------------------------------------------------------------------------
    def run_due(self, now: dt.datetime) -> int:
        """Send the notices due now; returns how many attempts were made."""
        runtime = self._require()
        with runtime.write() as tx:
            claimed = tx.claim_notices(now, runtime.runner, LEASE, self.batch)
        if not claimed:
            return 0
        groups: dict[tuple[str | None, str, str], list[NoticeRow]] = {}
        for row in claimed:
            if row.payload.get("digest"):
                groups.setdefault((row.person_id, row.transport, row.address), []).append(row)
            else:
                groups[(str(row.id), row.transport, row.address)] = [row]
        results: list[tuple[NoticeRow, str | None]] = []
        for (_, transport, address), rows in groups.items():
            lang = self._language(rows[0].person_id)
            if len(rows) > 1:
                message = render_digest(
                    [r.payload for r in rows], lang, "digest:" + ",".join(r.key for r in rows)
                )
            else:
                message = render(rows[0].payload, lang, rows[0].key)
            error: str | None = None
            sender = self.senders.get(transport)
            try:
                if sender is None:
                    raise SendFailed(f"unknown transport {transport!r}")
                sender.send(address, message)
            except SendFailed as exc:
                error = str(exc)
            except Exception as exc:  # a transport bug must not stop the pass
                error = describe(exc)
            results += [(r, error) for r in rows]
        at = runtime.now()
        with runtime.write() as tx:
            for row, error in results:
                if error is None:
                    tx.record_notice_attempt(row.id, at, "sent", None)
                elif row.attempts + 1 >= self.config.max_attempts:
                    tx.record_notice_attempt(row.id, at, "dead", error)
                    log.error("notice_dead", notice_id=row.id, error=error)
                else:
                    wait = dt.timedelta(seconds=self.config.retry_seconds * 2**row.attempts)
                    tx.record_notice_attempt(row.id, at, "failed", error, at + wait)
                    log.warning("notice_failed", notice_id=row.id, error=error)
        return len(results)

    def _language(self, person: str | None) -> str:
        settings = self.config.people.get(person) if person else None
        if settings is not None and settings.language:
            return settings.language
        return self.config.language

    def _require(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the notifications extension is not bound to an engine")
        return self._runtime
