"""The models of a ``kind: schedules`` file (pydantic, frozen): what one schedule says and
what the file holds. Pure; :mod:`~cmc_workflow.schedules.language` loads and checks them,
:mod:`~cmc_workflow.schedules.recurrence` computes when a schedule recurs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from cmc_workflow.calendar.settings import BUSINESS_TIMEZONE
from cmc_workflow.definition.models import (
    DurationField,
    Ident,
    Label,
    Model,
    RequirementId,
    empty_list,
    parse_duration,
)

TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
DEFAULT_TIMEZONE = BUSINESS_TIMEZONE


class ScheduleSpec(Model):
    """One periodic schedule: when it recurs and which workflow each occurrence starts."""

    workflow: Ident = Field(description="the workflow an occurrence starts an item of")
    label: Label | None = None
    description: str | None = None
    implements: list[RequirementId] = Field(default_factory=empty_list)
    cron: str | None = Field(
        default=None, description="'minute hour day month weekday', weekdays by name"
    )
    every: DurationField | None = Field(
        default=None, description="a calendar interval: N days, weeks or months (with from:)"
    )
    from_: dt.date | None = Field(
        default=None, alias="from", description="the anchor date of every: (its first run)"
    )
    monthly: Literal["last_working_day", "first_working_day"] | None = Field(
        default=None, description="once a month, on its last or first working day"
    )
    at: Annotated[str, StringConstraints(pattern=TIME_PATTERN)] | None = Field(
        default=None, description="local time of day, 'HH:MM' (quoted); default 09:00"
    )
    timezone: str | None = Field(default=None, description="IANA zone; default the file's")
    missed: Literal["catch_up", "latest", "record"] = Field(
        default="catch_up",
        description="occurrences missed while no daemon ran: start all, start the newest, "
        "or only record them",
    )
    grace: DurationField = Field(
        default_factory=lambda: parse_duration("1 hour"),
        description="how late an occurrence may start before it counts as missed",
    )
    role: Ident = Field(default="system", description="the role the scheduler starts items as")
    data: dict[str, Any] = Field(default_factory=dict, description="the started item's data")
    occurrence_field: Ident | None = Field(
        default=None, description="a datetime data field that receives the occurrence's time"
    )
    on_day_off: Literal["run", "skip", "next_working_day"] = Field(
        default="run",
        description="cron only: an occurrence on a day off (a weekend or public holiday of "
        "the working-day calendar; adjusted working weekends are working days) runs anyway, "
        "is skipped, or moves to the next working day at the same time (several merge)",
    )
    enabled: bool = True


class ScheduleFile(Model):
    """A ``kind: schedules`` file."""

    kind: Literal["schedules"]
    timezone: str = DEFAULT_TIMEZONE
    description: str | None = None
    schedules: dict[Ident, ScheduleSpec]
