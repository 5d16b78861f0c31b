"""The bodies of the HTTP API: requests refuse unknown fields (``extra="forbid"``);
responses are documented in the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

__all__ = [
    "AllowedOut",
    "FireBody",
    "FireManyBody",
    "FireManyEntry",
    "HistoryOut",
    "ItemOut",
    "OutcomeOut",
    "PageOut",
    "ProblemOut",
    "StartBody",
    "StartManyBody",
    "StartManyEntry",
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartBody(_Request):
    """Start an item of ``workflow`` with its data."""

    workflow: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)
    parent_id: StrictInt | None = None


class FireBody(_Request):
    """Fire ``trigger`` with the transition's form ``data``. ``expected_version`` (or the
    ``If-Match`` header, answered 412 when stale) guards against acting on an item someone
    else moved first."""

    trigger: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)
    expected_version: StrictInt | None = None


class TaskTargetBody(_Request):
    """The person a task operation hands the task to (``delegate``, ``reassign``)."""

    to: str = Field(min_length=1, max_length=128)


class TasksOut(BaseModel):
    """The caller's inbox split in two: their own tasks, and their roles' queue."""

    mine: list[ItemOut]
    queue: list[ItemOut]


class StartManyEntry(_Request):
    data: dict[str, Any] = Field(default_factory=dict)
    parent_id: StrictInt | None = None


class StartManyBody(_Request):
    """Start many items of one workflow in one transaction, as the caller."""

    workflow: str = Field(max_length=64)
    entries: list[StartManyEntry]


class FireManyEntry(_Request):
    item_id: StrictInt
    trigger: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)
    expected_version: StrictInt | None = None


class FireManyBody(_Request):
    """Fire many triggers in one transaction, as the caller, in order."""

    entries: list[FireManyEntry]


class ItemOut(BaseModel):
    id: int
    workflow: str
    revision: int
    state: str
    state_label: str
    state_label_en: str
    data: dict[str, Any]
    visit: int
    version: int
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    parent_id: int | None
    is_open: bool


class PageOut(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None


class HistoryOut(BaseModel):
    seq: int
    at: dt.datetime
    kind: str
    trigger: str | None
    from_state: str | None
    to_state: str
    visit: int
    actor: str
    roles: list[str]
    form: dict[str, Any]


class ReasonOut(BaseModel):
    rule: str
    zh: str
    en: str


class AllowedOut(BaseModel):
    trigger: str
    allowed: bool
    target: str
    label: str
    label_en: str
    form: list[str]
    reasons: list[ReasonOut]


class RefusalOut(BaseModel):
    code: str
    rule: str
    message: dict[str, str]
    item_id: str | None
    trigger: str | None
    state: str | None
    retryable: bool


class OutcomeOut(BaseModel):
    index: int
    accepted: bool
    item: ItemOut | None
    refusal: RefusalOut | None


class OutboxOut(BaseModel):
    id: int
    item_id: int | None
    kind: str
    name: str
    payload: dict[str, Any]
    idempotency_key: str
    attempts: int
    available_at: dt.datetime
    delivered_at: dt.datetime | None
    last_error: str | None


class VersionOut(BaseModel):
    workflow: str
    revision: int
    version_label: int | None
    content_hash: str
    source_file: str
    loaded_at: dt.datetime
    open_items: int
    current: bool


class WorkflowOut(BaseModel):
    id: str
    label: dict[str, str]
    revision: int | None
    content_hash: str
    states: list[dict[str, Any]]


class DeadlineOut(BaseModel):
    start: dt.datetime
    due: dt.datetime
    rule: str
    calendar_version: str
    provisional: bool
    guessed_years: list[int]


class DayOut(BaseModel):
    day: dt.date
    working: bool
    source: str
    name: str | None
    provisional: bool


class WhoCanTrigger(BaseModel):
    trigger: str
    target: str
    label: dict[str, str] | None
    workflow_roles: list[str]
    policy_roles: list[str] | None
    may_fire: list[str]
    rules: list[dict[str, str]]


class WhoCanOut(BaseModel):
    workflow: str
    state: str
    type: str
    triggers: list[WhoCanTrigger]


class ProblemOut(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    message: dict[str, str]
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None
    rule: str | None = None
    item_id: int | None = None
    trigger: str | None = None
    state: str | None = None
