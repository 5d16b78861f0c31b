"""The local settings of a working-day calendar: timezone, business hours, receipt rule.

The period rules themselves are fixed by the Civil Code (arts. 200–204) and are not
settings: the day of receipt is not counted, and a period ends at the end (24:00) of its
last day, or at close of business where business hours are set. What a center decides
locally is *whether* it has business hours and whether a message received after close of
business or on a rest day counts as received on the next working day.

Defaults (documented in ``docs/time.md``): timezone ``Asia/Shanghai``, business hours
09:00–17:30, and ``after_hours_counts_next_day=False`` — the plain Civil Code reading,
which never gives a later deadline than the after-hours rule does.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

BUSINESS_TIMEZONE = "Asia/Shanghai"
"""The zone business rules are applied in unless configured otherwise: the one place that
names it (calendars, schedules, policies, human output of the CLI, the daemon's clock)."""


class BusinessHours(BaseModel):
    """One opening interval per working day, in the calendar's local time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    opens: dt.time = dt.time(9, 0)
    closes: dt.time = dt.time(17, 30)

    @field_validator("opens", "closes")
    @classmethod
    def _local_time(cls, value: dt.time) -> dt.time:
        if value.tzinfo is not None:
            raise ValueError("business hours are local wall-clock times: give no timezone")
        return value

    @model_validator(mode="after")
    def _opens_before_closes(self) -> BusinessHours:
        if self.opens >= self.closes:
            raise ValueError(
                f"business hours must open before they close (got {self.opens:%H:%M}"
                f"–{self.closes:%H:%M}); for no business hours pass business_hours=None"
            )
        return self

    def __str__(self) -> str:
        return f"{self.opens:%H:%M}–{self.closes:%H:%M}"


class CalendarSettings(BaseModel):
    """How a center applies the working-day calendar.

    ``business_hours=None`` means the center has no business hours: a period then ends at
    the end (24:00) of its last day, and working hours are whole working days.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = BUSINESS_TIMEZONE
    """An IANA timezone name; business rules are applied in this zone."""

    business_hours: BusinessHours | None = BusinessHours()

    after_hours_counts_next_day: bool = False
    """When true, a message received after close of business, or on a rest day, counts as
    received at the opening of the next working day (whose own day is then not counted)."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (use an IANA name)") from exc
        return value

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        """The timezone as a :class:`zoneinfo.ZoneInfo` (cached by ``zoneinfo``)."""
        return zoneinfo.ZoneInfo(self.timezone)

    def period_end_text(self) -> str:
        """How a period ends under these settings, for rule descriptions."""
        if self.business_hours is None:
            return f"ends at the end of the last day (24:00 {self.timezone})"
        return f"ends at close of business {self.business_hours.closes:%H:%M} {self.timezone}"

    def receipt_text(self) -> str:
        """How the day of receipt is found under these settings, for rule descriptions."""
        if not self.after_hours_counts_next_day:
            return "receipt day not counted"
        if self.business_hours is None:
            return "receipt day not counted, receipt on a rest day counts as the next working day"
        return (
            "receipt day not counted, receipt after "
            f"{self.business_hours.closes:%H:%M} or on a rest day counts as the next working day"
        )
