"""The tables of the store, in SQLAlchemy Core. Alembic migrations must produce exactly these.

Times are stored as UTC without a zone (the same on SQLite and PostgreSQL) and come back
as aware UTC datetimes through :class:`UTCDateTime`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


class JSONDocument(TypeDecorator[Any]):
    """JSON, stored as ``JSONB`` on PostgreSQL.

    The PostgreSQL dialect is imported only when a PostgreSQL database is used: a SQLite
    process does not pay its import (about 23 ms of a cold start)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """The JSON type's own processor, which also takes a :class:`JSONText`: written as
        the text it holds (SQLite), or handed to psycopg as that text (PostgreSQL
        parses it into ``JSONB``), instead of encoding the value again."""
        encode = super().bind_processor(dialect)
        if encode is None:  # pragma: no cover - the JSON types always have one
            return None
        jsonb = getattr(dialect, "_psycopg_Jsonb", None) if dialect.name == "postgresql" else None
        if dialect.name == "sqlite":

            def process(value: Any) -> Any:
                return value.text if type(value) is JSONText else encode(value)

        elif jsonb is not None:

            def process(value: Any) -> Any:
                # psycopg's wrapper, dumped by ``str`` (the text as it is) instead of json.dumps
                return jsonb(value.text, str) if type(value) is JSONText else encode(value)

        else:  # another driver: the value read back from the text, encoded its way

            def process(value: Any) -> Any:
                return encode(json.loads(value.text) if type(value) is JSONText else value)

        return process


class JSONText:
    """A JSON column's value already encoded: the canonical JSON a chain hashed for it
    (:func:`cmc_workflow.store.chain.canonical_json`), written as it is so that a row's
    JSON is made once (issue 12). It reads back as the value it encodes. Any other column
    type refuses it, as ``json.dumps`` refuses an object it does not know."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"JSONText({self.text!r})"


JSONType = JSONDocument()
# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (auto-increment).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass an aware datetime")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC)


definitions = Table(
    "definitions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("workflow_id", String(64), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("version_label", Integer, nullable=True),
    Column("content_hash", String(64), nullable=False),
    Column("source_file", Text, nullable=False),
    Column("source_text", Text, nullable=False),
    Column("loaded_at", UTCDateTime, nullable=False),
    UniqueConstraint("workflow_id", "content_hash", name="uq_definitions_workflow_hash"),
    UniqueConstraint("workflow_id", "revision", name="uq_definitions_workflow_revision"),
)

items = Table(
    "items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("workflow_id", String(64), nullable=False),
    Column("definition_id", BigId, ForeignKey("definitions.id"), nullable=False),
    Column("state", String(64), nullable=False),
    Column("data", JSONType, nullable=False),
    Column("visit", Integer, nullable=False, comment="how many times the item entered a state"),
    Column("seq", Integer, nullable=False, comment="number of history rows"),
    Column("version", Integer, nullable=False, comment="optimistic concurrency row version"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("parent_id", BigId, ForeignKey("items.id"), nullable=True),
    Column(
        "history_head",
        String(64),
        nullable=True,
        comment="hash of the item's last history row (the anchor of its history chain)",
    ),
    Column(
        "audit_seq",
        Integer,
        nullable=True,
        comment="position of the last record of the item's audit chain (its anchor)",
    ),
    Column(
        "audit_head",
        String(64),
        nullable=True,
        comment="hash of the last record of the item's audit chain (its anchor)",
    ),
    Column(
        "facts",
        JSONType,
        nullable=True,
        comment="what extensions keep about the item: the policy's summary of its history",
    ),
    Index("ix_items_workflow_state", "workflow_id", "state"),
    Index("ix_items_open", "closed_at", "state"),
    Index("ix_items_parent", "parent_id"),
    # the query API (migration 0009): sorted pages by time, keyset (time, id)
    Index("ix_items_created", "created_at", "id"),
    Index("ix_items_updated", "updated_at", "id"),
    Index("ix_items_workflow_created", "workflow_id", "created_at", "id"),
    Index("ix_items_open_created", "closed_at", "created_at", "id"),
)

# TRN-3's training records and the other records the policies ask for, found by a key
# (migration 0015, issue 12): for each (workflow, data field) in ``record_fields``, one
# ``record_keys`` row per item whose field may name a person (store/records.py says which
# key; NULL: compare in Python), kept by a trigger on ``items`` on PostgreSQL and by the
# store on SQLite (migration 0016).
record_fields = Table(
    "record_fields",
    metadata,
    Column("workflow_id", String(64), primary_key=True),
    Column("field", String(128), primary_key=True),
    comment="the (workflow, data field) pairs whose records are found by key (record_keys)",
)
record_keys = Table(
    "record_keys",
    metadata,
    Column("item_id", BigId, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("field", String(128), primary_key=True),
    Column("workflow_id", String(64), nullable=False),
    Column(
        "key",
        String(200),
        nullable=True,
        comment="the field's value when it is its own normal form; NULL: compared in Python",
    ),
    Index("ix_record_keys_key", "workflow_id", "field", "key"),
    comment="kept by triggers on items for the pairs of record_fields (migration 0015)",
)
_POSTGRES_INDEXES: list[Index] = []


def postgres_indexes() -> list[Index]:
    """The indexes of PostgreSQL alone, added to the table models on the first call: JSON
    equality of data fields (``data @> {...}``), migration 0009; SQLite has no index over
    a whole JSON document. Their ``postgresql_*`` options make SQLAlchemy import the
    PostgreSQL dialect, which a start on SQLite should not pay (about 20 ms), and only
    the comparison of the models with a database (``schema.drift``) needs them."""
    if not _POSTGRES_INDEXES:
        _POSTGRES_INDEXES.append(
            Index(
                "ix_items_data",
                items.c.data,
                postgresql_using="gin",
                postgresql_ops={"data": "jsonb_path_ops"},
            ).ddl_if(dialect="postgresql")
        )
    return list(_POSTGRES_INDEXES)


history = Table(
    "history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("item_id", BigId, ForeignKey("items.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False, comment="start, fire, route, handler, timer"),
    Column("trigger", String(64), nullable=True),
    Column("from_state", String(64), nullable=True),
    Column("to_state", String(64), nullable=False),
    Column("visit", Integer, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("roles", JSONType, nullable=False),
    Column("form", JSONType, nullable=False),
    Column("prev_hash", String(64), nullable=True, comment="hash of the item's previous row"),
    Column("hash", String(64), nullable=True, comment="SHA-256 over prev_hash and the row"),
    UniqueConstraint("item_id", "seq", name="uq_history_item_seq"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("item_id", BigId, ForeignKey("items.id"), nullable=True),
    Column("kind", String(16), nullable=False, comment="handler or notify"),
    Column("name", String(64), nullable=False, comment="handler name or notified role"),
    Column("payload", JSONType, nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("available_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("claimed_by", String(128), nullable=True),
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_outbox_pending", "delivered_at", "available_at"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("roles", JSONType, nullable=False),
    Column("command", String(32), nullable=False),
    Column("workflow_id", String(64), nullable=True),
    Column("item_id", BigInteger, nullable=True),
    Column("trigger", String(64), nullable=True),
    Column("outcome", String(16), nullable=False, comment="accepted, refused or failed"),
    Column("rule", String(128), nullable=True),
    Column("reason", Text, nullable=True),
    Column("detail", JSONType, nullable=False),
    Column("chain", String(100), nullable=True, comment="hash chain this record belongs to"),
    Column("chain_seq", Integer, nullable=True, comment="position in its chain, from 1"),
    Column("prev_hash", String(64), nullable=True, comment="hash of the previous record"),
    Column("hash", String(64), nullable=True, comment="SHA-256 over prev_hash and the record"),
    Index("ix_audit_item", "item_id"),
    UniqueConstraint("chain", "chain_seq", name="uq_audit_chain_seq"),
)

audit_heads = Table(
    "audit_heads",
    metadata,
    Column("chain", String(100), primary_key=True),
    Column("chain_seq", Integer, nullable=False, comment="position of the chain's last record"),
    Column("hash", String(64), nullable=False, comment="hash of the chain's last record"),
    comment="one row per audit chain: its last record, written with it (the chain's anchor)",
)

# -- time: SLA clocks, durable timers, schedule occurrences, runners (issue 5) --------------

clocks = Table(
    "clocks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("item_id", BigId, ForeignKey("items.id"), nullable=False),
    Column("workflow_id", String(64), nullable=False),
    Column("state", String(64), nullable=False, comment="the state whose deadline this is"),
    Column("at_state", String(64), nullable=False, comment="where the item is while it runs"),
    Column("visit", Integer, nullable=False, comment="the item's visit there (timer fence)"),
    Column("status", String(16), nullable=False, comment="running, paused or stopped"),
    Column("within", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False, comment="moved on by pauses"),
    Column("warn_at", UTCDateTime, nullable=True, comment="first warning step, if any"),
    Column("rule", Text, nullable=False),
    Column("calendar_version", String(32), nullable=False),
    Column("provisional", Boolean, nullable=False),
    Column("paused_at", UTCDateTime, nullable=True),
    Column("stopped_at", UTCDateTime, nullable=True),
    Column("warned_at", UTCDateTime, nullable=True),
    Column("escalated_at", UTCDateTime, nullable=True),
    Column("breached_at", UTCDateTime, nullable=True),
    Column("outcome", String(16), nullable=True, comment="met or breached, once stopped"),
    Column("detail", JSONType, nullable=False),
    Index("ix_clocks_item", "item_id", "status"),
    Index("ix_clocks_status_due", "status", "due_at"),
)

timers = Table(
    "timers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("item_id", BigId, ForeignKey("items.id"), nullable=False),
    Column("clock_id", BigId, ForeignKey("clocks.id"), nullable=True),
    Column("state", String(64), nullable=False, comment="fence: fires only while the item"),
    Column("visit", Integer, nullable=False, comment="is still in this state visit"),
    Column("step", Integer, nullable=False, comment="index in the deadline ladder, -1 implicit"),
    Column("action", String(16), nullable=False, comment="warn, escalate, breach, fire, notify"),
    Column("role", String(64), nullable=True),
    Column("trigger", String(64), nullable=True),
    Column("due_at", UTCDateTime, nullable=False),
    Column(
        "status",
        String(16),
        nullable=False,
        comment="pending, paused, fired, cancelled, stale or failed",
    ),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime, nullable=True),
    Column("runner", String(128), nullable=True, comment="the runner that fired it"),
    Column("error", Text, nullable=True),
    Index("ix_timers_due", "status", "due_at"),
    Index("ix_timers_item", "item_id", "status"),
    Index("ix_timers_clock", "clock_id", "status"),
)

schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("schedule_id", String(64), nullable=False),
    Column("due_at", UTCDateTime, nullable=False, comment="the occurrence's nominal time"),
    Column("status", String(16), nullable=False, comment="claimed, started, missed or failed"),
    Column("item_id", BigId, ForeignKey("items.id"), nullable=True),
    Column("runner", String(128), nullable=True),
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("detail", JSONType, nullable=False),
    UniqueConstraint("schedule_id", "due_at", name="uq_schedule_runs_occurrence"),
    Index("ix_schedule_runs_status", "status", "claimed_until"),
)

schedule_cursors = Table(
    "schedule_cursors",
    metadata,
    Column("schedule_id", String(64), primary_key=True),
    Column("since", UTCDateTime, nullable=False, comment="first seen: nothing before is due"),
    Column("last_due", UTCDateTime, nullable=True, comment="latest occurrence handled"),
    Column("updated_at", UTCDateTime, nullable=False),
)

runners = Table(
    "runners",
    metadata,
    Column("runner", String(128), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime, nullable=True),
    Column("detail", JSONType, nullable=False),
)

# -- the staff register (STF-1, issue 14; migration 0008) ----------------------------------

staff_people = Table(
    "staff_people",
    metadata,
    Column("person_id", String(128), primary_key=True, comment="the person's actor id, normal"),
    Column("name", String(200), nullable=False),
    Column("employee_no", String(64), nullable=True, comment="工号"),
    Column("email", String(254), nullable=True),
    Column("mobile", String(32), nullable=True),
    Column("wecom", String(64), nullable=True, comment="WeCom (企业微信) user id"),
    Column("dingtalk", String(64), nullable=True, comment="DingTalk (钉钉) user id"),
    Column("education", String(16), nullable=True, comment="highest education level"),
    Column("experience_years", Float, nullable=True, comment="years of relevant experience"),
    Column("joined_on", Date, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    comment="the staff register: one row per person (STF-1)",
)

staff_posts = Table(
    "staff_posts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "person_id",
        String(128),
        ForeignKey("staff_people.person_id"),
        nullable=False,
    ),
    Column("post", String(64), nullable=False, comment="the post's id in the posts catalogue"),
    Column("role", String(64), nullable=False, comment="the role the post holds"),
    Column("scope", JSONType, nullable=False, comment="channels, applications, branch"),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=True, comment="last day held (None: open-ended)"),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_staff_posts_person", "person_id"),
    Index("ix_staff_posts_role", "role"),
    comment="posts of the register's people: a role in a scope, with start and end",
)

staffing_alerts = Table(
    "staffing_alerts",
    metadata,
    Column("gap", String(200), primary_key=True, comment="e.g. account:fslib-wechat:ops_manager"),
    Column("item_id", BigId, ForeignKey("items.id"), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    comment="the staffing gaps an alert item is open for (STF-3): one alert per open gap",
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("key", String(32), primary_key=True, comment="the token's public part"),
    Column("secret_hash", String(64), nullable=False, comment="SHA-256 of the secret, hex"),
    Column("system", String(64), nullable=False, comment="the host system it is bound to"),
    Column("label", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
    Index("ix_api_tokens_system", "system"),
    comment="API tokens of host systems (issue 15): the secret is never stored",
)

# -- task operations and leave cover (STF-5, issue 14 part 3; migration 0010) ------------

task_assignments = Table(
    "task_assignments",
    metadata,
    Column("item_id", BigId, ForeignKey("items.id"), primary_key=True),
    Column("state", String(64), nullable=False, comment="the userTask state claimed in"),
    Column("visit", Integer, nullable=False, comment="the state visit (fences a stale claim)"),
    Column("assignee", String(128), nullable=True, comment="the person; None: in the queue"),
    Column("delegated_by", String(128), nullable=True, comment="who may take it back"),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_task_assignments_assignee", "assignee"),
    comment="who holds each item's user task now (claim, delegate, reassign, leave cover)",
)

staff_leaves = Table(
    "staff_leaves",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("person_id", String(128), ForeignKey("staff_people.person_id"), nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False, comment="last day of leave (inclusive)"),
    Column("substitute", String(128), nullable=True, comment="named cover (代班人)"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("covered_at", UTCDateTime, nullable=True, comment="when the open work was moved"),
    Index("ix_staff_leaves_starts", "starts_on"),
    comment="leave of the register's people with dates and cover (STF-5)",
)

# -- notifications to people (issue 14, part 4; migration 0011) ----------------------------

notices = Table(
    "notices",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False, comment="source key + recipient + transport"),
    Column("item_id", BigId, nullable=True, comment="the item it is about (none for a test)"),
    Column("event", String(32), nullable=False, comment="task, warn, breach, fault, notify"),
    Column("role", String(64), nullable=True, comment="the role it was addressed to"),
    Column("person_id", String(128), nullable=True, comment="the register person, if any"),
    Column("transport", String(64), nullable=False, comment="a transport of the config"),
    Column("address", String(400), nullable=False, comment="where the transport sends it"),
    Column("payload", JSONType, nullable=False, comment="what the templates render"),
    Column("status", String(16), nullable=False, comment="pending, sent, dead"),
    Column("attempts", Integer, nullable=False),
    Column("available_at", UTCDateTime, nullable=False, comment="not sent before"),
    Column("claimed_by", String(128), nullable=True),
    Column("claim_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("key", name="uq_notices_key"),
    Index("ix_notices_due", "status", "available_at"),
    Index("ix_notices_item", "item_id"),
    comment="one delivery per recipient per transport of a notification (at least once)",
)

notice_attempts = Table(
    "notice_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("notice_id", BigId, ForeignKey("notices.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("transport", String(64), nullable=False),
    Column("result", String(16), nullable=False, comment="sent, failed, dead"),
    Column("error", Text, nullable=True),
    Index("ix_notice_attempts_notice", "notice_id"),
    comment="each attempt to deliver a notice: time, transport, result, error",
)

# -- outbound webhooks for host systems (issue 15, part 4; migration 0012) -----------------

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("url", String(2000), nullable=False, comment="where events are POSTed"),
    Column("events", JSONType, nullable=False, comment="event types received; []: all"),
    Column("workflows", JSONType, nullable=False, comment="workflows received; []: all"),
    Column("secret", String(200), nullable=False, comment="the signing secret's stored form"),
    Column("label", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("removed_at", UTCDateTime, nullable=True),
    comment="host systems' webhook subscriptions (issue 15)",
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("subscription_id", BigId, ForeignKey("webhook_subscriptions.id"), nullable=False),
    Column("event_id", String(64), nullable=False, comment="the host's de-duplication key"),
    Column("event", String(32), nullable=False, comment="item.created, item.transitioned, ..."),
    Column("item_id", BigId, nullable=True),
    Column("payload", JSONType, nullable=False, comment="the JSON body sent"),
    Column("status", String(16), nullable=False, comment="pending, sent, dead, cancelled"),
    Column("attempts", Integer, nullable=False),
    Column("available_at", UTCDateTime, nullable=False, comment="not sent before"),
    Column("claimed_by", String(128), nullable=True),
    Column("claim_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_event"),
    Index("ix_webhook_deliveries_due", "status", "available_at"),
    Index("ix_webhook_deliveries_order", "subscription_id", "item_id", "status"),
    comment="one event to one subscription, written in the command's transaction",
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("delivery_id", BigId, ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("result", String(16), nullable=False, comment="sent, failed, dead"),
    Column("status_code", Integer, nullable=True, comment="the host's HTTP status"),
    Column("error", Text, nullable=True),
    Index("ix_webhook_attempts_delivery", "delivery_id"),
    comment="each attempt to deliver a webhook: time, result, HTTP status, error",
)

# -- the web console's passwords and sessions (issue 15 part 5; migration 0014) ----------

console_passwords = Table(
    "console_passwords",
    metadata,
    Column(
        "person_id",
        String(128),
        ForeignKey("staff_people.person_id"),
        primary_key=True,
        comment="a person of the staff register",
    ),
    Column("password_hash", String(300), nullable=False, comment="scrypt$n$r$p$salt$hash"),
    Column("set_at", UTCDateTime, nullable=False),
    Column("set_by", String(128), nullable=False),
    comment="console passwords (issue 15): an scrypt hash, never the password",
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("key", String(64), primary_key=True, comment="SHA-256 of the cookie's secret"),
    Column("person_id", String(128), nullable=False),
    Column("csrf", String(64), nullable=False, comment="the token every form carries"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Index("ix_console_sessions_person", "person_id"),
    comment="signed-in console sessions (issue 15): the cookie is never stored",
)
