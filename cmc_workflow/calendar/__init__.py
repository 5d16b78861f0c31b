"""Working-day calendars: official mainland-China holidays, admin files, deadlines.

Pure domain code: no database, no scheduler, no environment variables, no global
calendar. Build a :class:`WorkingCalendar` explicitly and pass it to whoever needs it::

    from cmc_workflow.calendar import CalendarSettings, WorkingCalendar

    calendar = WorkingCalendar.from_directory("calendars/", CalendarSettings())
    deadline = calendar.add_working_days(received_at, 2)   # CMT-2
    deadline.due, deadline.rule, deadline.provisional

See ``docs/time.md`` for the rules, worked examples and the ``calendars/`` file format.
"""

from cmc_workflow.calendar.answers import Answer, DayAnswer, DaySource, Deadline, YearStatus
from cmc_workflow.calendar.arithmetic import add_months
from cmc_workflow.calendar.files import (
    Arrangement,
    CalendarData,
    CalendarFile,
    DayEntry,
    LocalDays,
    load_calendar_dir,
    parse_calendar_file,
)
from cmc_workflow.calendar.official import OfficialTable
from cmc_workflow.calendar.settings import BusinessHours, CalendarSettings
from cmc_workflow.calendar.working import WorkingCalendar

__all__ = [
    "Answer",
    "Arrangement",
    "BusinessHours",
    "CalendarData",
    "CalendarFile",
    "CalendarSettings",
    "DayAnswer",
    "DayEntry",
    "DaySource",
    "Deadline",
    "LocalDays",
    "OfficialTable",
    "WorkingCalendar",
    "YearStatus",
    "add_months",
    "load_calendar_dir",
    "parse_calendar_file",
]
