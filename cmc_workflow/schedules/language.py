"""The ``kind: schedules`` file: :func:`load_schedules_doc` (one document)
and :func:`check_set` (the schedules of a loaded set against the workflows they start).
The models are in :mod:`~cmc_workflow.schedules.models`. Pure: no store, no engine."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping

from pydantic import ValidationError

from cmc_workflow.cron import CronSyntaxError
from cmc_workflow.definition.forms import validate_values
from cmc_workflow.definition.loader import DEFINITION_CODES, LoadedSet, LoadedWorkflow
from cmc_workflow.errors import Problem
from cmc_workflow.i18n import Text, joined, tr
from cmc_workflow.located import Located
from cmc_workflow.problems import problems_from_validation
from cmc_workflow.schedules.models import (
    DEFAULT_TIMEZONE as DEFAULT_TIMEZONE,
)
from cmc_workflow.schedules.models import (
    TIME_PATTERN as TIME_PATTERN,
)
from cmc_workflow.schedules.models import (
    ScheduleFile as ScheduleFile,
)
from cmc_workflow.schedules.models import (
    ScheduleSpec as ScheduleSpec,
)
from cmc_workflow.schedules.recurrence import Schedule, cron_next


def _known_timezone(value: str) -> bool:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _cron_problems(expr: str, path: tuple[str | int, ...], doc: Located) -> list[Problem]:
    fields = expr.split()
    try:
        cron_next(expr, DEFAULT_TIMEZONE, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    except CronSyntaxError as exc:
        return [
            doc.problem(
                path,
                "E-CRON-SYNTAX",
                tr("cron {expr}: {why}", expr=repr(expr), why=exc.text),
                tr("five fields: minute hour day-of-month month weekday, e.g. '0 9 * * mon-fri'"),
            )
        ]
    _minute, _hour, day, month, weekday = fields
    out: list[Problem] = []

    def pitfall(message: Text, hint: Text) -> None:
        out.append(
            doc.problem(
                path,
                "E-CRON-PITFALL",
                tr("cron {expr}: {message}", expr=repr(expr), message=message),
                hint,
            )
        )

    if "/" in month:
        pitfall(
            tr(
                "the month step {step} counts from January, not from today "
                "('*/6' is January and July)",
                step=repr(month),
            ),
            tr("write every: 6 months with from: <first date>"),
        )
    if any(ch.isdigit() for ch in weekday):
        pitfall(
            tr(
                "weekday numbers {weekday} are ambiguous: APScheduler 3 counts 0 as Monday, "
                "crontab as Sunday",
                weekday=repr(weekday),
            ),
            tr("write weekday names: mon, tue, wed, thu, fri, sat, sun (e.g. mon-fri)"),
        )
    if day not in ("*", "?") and weekday not in ("*", "?"):
        pitfall(
            tr(
                "day {day} and weekday {weekday} must both match here (crontab would take "
                "either), so months can be skipped",
                day=repr(day),
                weekday=repr(weekday),
            ),
            tr(
                "restrict the day or the weekday, not both; for 'last working day' use "
                "monthly: last_working_day"
            ),
        )
    numbers = [int(n) for n in day.replace("-", ",").replace("/", ",").split(",") if n.isdigit()]
    if any(n >= 29 for n in numbers):
        pitfall(
            tr(
                "day {day} does not exist in every month, so those months are skipped",
                day=repr(day),
            ),
            tr("use monthly: last_working_day, or every: 1 month from: a date (kept at month end)"),
        )
    return out


def load_schedules_doc(doc: Located) -> tuple[ScheduleFile | None, list[Problem]]:
    """Validate one located ``kind: schedules`` document (the loader registered for it)."""
    try:
        model = ScheduleFile.model_validate(doc.data)
    except ValidationError as exc:
        return None, problems_from_validation(exc, doc, ScheduleFile, DEFINITION_CODES)
    problems: list[Problem] = []
    if not _known_timezone(model.timezone):
        problems.append(
            doc.problem(
                ("timezone",),
                "E-BAD-VALUE",
                tr("unknown timezone {timezone}", timezone=repr(model.timezone)),
            )
        )
    for name, spec in model.schedules.items():
        base: tuple[str | int, ...] = ("schedules", name)
        kinds = [k for k in ("cron", "every", "monthly") if getattr(spec, k) is not None]
        if len(kinds) != 1:
            problems.append(
                doc.problem(
                    base,
                    "E-SCHEDULE-TRIGGER",
                    tr(
                        "schedule {name} needs exactly one of cron:, every:, monthly: (has "
                        "{kinds})",
                        name=repr(name),
                        kinds=joined(kinds) if kinds else tr("none"),
                    ),
                    tr(
                        "e.g. cron: '0 9 * * *', or every: 6 months with from: 2025-03-01, or "
                        "monthly: last_working_day"
                    ),
                    key=True,
                )
            )
        if spec.on_day_off != "run" and spec.cron is None:
            problems.append(
                doc.problem(
                    (*base, "on_day_off"),
                    "E-MISPLACED-KEY",
                    tr("on_day_off: applies to cron: schedules"),
                    tr(
                        "monthly: first_working_day / last_working_day already falls on working "
                        "days; remove on_day_off:"
                    ),
                    key=True,
                )
            )
        if spec.cron is not None:
            problems += _cron_problems(spec.cron, (*base, "cron"), doc)
            if spec.at is not None:
                problems.append(
                    doc.problem(
                        (*base, "at"),
                        "E-MISPLACED-KEY",
                        tr("a cron expression carries its own time of day"),
                        tr("remove at:, or put the time in the cron's minute and hour"),
                        key=True,
                    )
                )
        if spec.every is not None:
            if spec.every.unit not in ("days", "weeks", "months"):
                problems.append(
                    doc.problem(
                        (*base, "every"),
                        "E-SCHEDULE-EVERY",
                        tr("every: {every} is not a calendar interval", every=spec.every),
                        tr(
                            "use days, weeks or months; for working days use monthly: or a cron "
                            "with weekday names"
                        ),
                    )
                )
            if spec.from_ is None:
                problems.append(
                    doc.problem(
                        base,
                        "E-SCHEDULE-EVERY",
                        tr(
                            "every: {every} needs from: <date>, the anchor it counts from",
                            every=spec.every,
                        ),
                        tr("e.g. from: 2025-03-01 (counted from the anchor, so days never drift)"),
                        key=True,
                    )
                )
        elif spec.from_ is not None:
            problems.append(
                doc.problem(
                    (*base, "from"),
                    "E-MISPLACED-KEY",
                    tr("from: is the anchor of every:"),
                    tr("remove from:, or add every: <interval>"),
                    key=True,
                )
            )
        if spec.timezone is not None and not _known_timezone(spec.timezone):
            problems.append(
                doc.problem(
                    (*base, "timezone"),
                    "E-BAD-VALUE",
                    tr("unknown timezone {timezone}", timezone=repr(spec.timezone)),
                )
            )
        if spec.grace.is_working_time:
            problems.append(
                doc.problem(
                    (*base, "grace"),
                    "E-BAD-VALUE",
                    tr("grace: {grace} must be elapsed time", grace=spec.grace),
                    tr("e.g. 30 minutes, 2 hours or 1 day"),
                )
            )
    return model, problems


def schedules_from(
    loaded: LoadedSet, workflows: Mapping[str, LoadedWorkflow] | None = None
) -> tuple[list[Schedule], list[Problem]]:
    """The schedules of every ``kind: schedules`` file in ``loaded``, checked against the
    workflows they start (``workflows`` defaults to the ones loaded with them)."""
    known = loaded.workflows if workflows is None else workflows
    schedules: list[Schedule] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for doc, model in loaded.others.get("schedules", []):
        assert isinstance(model, ScheduleFile)
        for name, spec in model.schedules.items():
            base: tuple[str | int, ...] = ("schedules", name)
            if name in seen:
                problems.append(
                    doc.problem(
                        base,
                        "E-DUPLICATE-SCHEDULE",
                        tr(
                            "schedule {name} is already defined in {file}",
                            name=repr(name),
                            file=seen[name],
                        ),
                        key=True,
                    )
                )
                continue
            seen[name] = doc.file
            if spec.workflow in loaded.disabled and spec.workflow not in known:
                continue  # off while its workflow's file is broken (load_isolated)
            found = _check_target(name, spec, known, doc)
            problems += found
            if not found:
                schedules.append(Schedule(name, spec, spec.timezone or model.timezone, doc.file))
    return schedules, problems


def check_set(loaded: LoadedSet) -> list[Problem]:
    """The cross-file problems of schedules, for ``load_paths`` (so ``validate`` and
    ``Engine.open`` report them with their places)."""
    return schedules_from(loaded)[1]


def _check_target(
    name: str, spec: ScheduleSpec, known: Mapping[str, LoadedWorkflow], doc: Located
) -> list[Problem]:
    base: tuple[str | int, ...] = ("schedules", name)
    target = known.get(spec.workflow)
    if target is None:
        return [
            doc.problem(
                (*base, "workflow"),
                "E-UNKNOWN-WORKFLOW",
                tr(
                    "schedule {name} starts workflow {workflow}, which is not loaded",
                    name=repr(name),
                    workflow=repr(spec.workflow),
                ),
                tr(
                    "loaded workflows: {workflows}",
                    workflows=joined(sorted(known)) if known else tr("none"),
                ),
            )
        ]
    wf = target.definition
    out: list[Problem] = []
    if spec.role not in wf.start.roles:
        out.append(
            doc.problem(
                (*base, "role") if "role" in spec.model_fields_set else base,
                "E-SCHEDULE-ROLE",
                tr(
                    "workflow {id} may not be started by role {role}",
                    id=repr(wf.id),
                    role=repr(spec.role),
                ),
                tr(
                    "add {role} to its start: roles (and roles:), or set role: to one of {roles}",
                    role=repr(spec.role),
                    roles=sorted(wf.start.roles),
                ),
                key="role" not in spec.model_fields_set,
            )
        )
    values = dict(spec.data)
    if spec.occurrence_field is not None:
        field = wf.data.get(spec.occurrence_field)
        if field is None or field.type != "datetime":
            out.append(
                doc.problem(
                    (*base, "occurrence_field"),
                    "E-SCHEDULE-DATA",
                    tr(
                        "{id} has no datetime data field {occurrence_field}",
                        id=repr(wf.id),
                        occurrence_field=repr(spec.occurrence_field),
                    ),
                    tr("declare it under the workflow's data: with type: datetime"),
                )
            )
        values[spec.occurrence_field] = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    _clean, errors = validate_values(wf.data, values) if wf.data else ({}, [])
    if not wf.data and spec.data:
        out.append(
            doc.problem(
                (*base, "data"),
                "E-SCHEDULE-DATA",
                tr("workflow {id} declares no data, so data: cannot be given", id=repr(wf.id)),
            )
        )
    for error in errors:
        if error.field == spec.occurrence_field:
            continue
        out.append(
            doc.problem(
                (*base, "data", error.field) if error.field in spec.data else (*base, "data"),
                "E-SCHEDULE-DATA",
                tr(
                    "data for {id}: {error}",
                    id=repr(wf.id),
                    error=Text(str(error), f"{error.field}: {error.message_zh or error.message}"),
                ),
            )
        )
    return out
