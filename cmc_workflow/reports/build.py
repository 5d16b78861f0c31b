"""Building a report: one read of the store, then each section asked for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks.extension import Clocks
from cmc_workflow.definition.loader import load_workflow_text
from cmc_workflow.engine import Engine
from cmc_workflow.errors import DefinitionError
from cmc_workflow.log import get_logger
from cmc_workflow.policy.extension import TxFacts
from cmc_workflow.policy.rules.figures import (
    Period,
    Sources,
    complaint_statistics,
    period_of,
    publication_sources,
    self_media_year,
)
from cmc_workflow.registry import Registry
from cmc_workflow.reports import sections as compute
from cmc_workflow.reports.model import SECTIONS, Report, ReportOptions
from cmc_workflow.store import Store, StoreTx

log = get_logger("cmc_workflow.reports")


def build_report(
    source: Engine | Store,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    sections: Iterable[str] = SECTIONS,
    calendar: WorkingCalendar | None = None,
    now: dt.datetime | None = None,
    options: ReportOptions | None = None,
) -> Report:
    """The report of ``sections`` over ``since <= t < until`` (aware datetimes, either
    may be None).

    ``source`` is an engine (its store, definitions, clock and the calendar of its
    :class:`~cmc_workflow.clocks.Clocks`) or a bare store (definitions are compiled from
    the versions stored with the items; ``now`` defaults to the system clock).
    ``calendar`` gives the time zone of the months and the working hours of the first
    replies (default: the engine's, else the official calendar with default settings).
    """
    asked = set(sections)
    wanted = tuple(s for s in SECTIONS if s in asked)
    unknown = asked - set(SECTIONS)
    if unknown:
        raise ValueError(f"no section {sorted(unknown)}; sections: {', '.join(SECTIONS)}")
    for bound in (since, until, now):
        if bound is not None and bound.tzinfo is None:
            raise ValueError("report times must be aware datetimes")
    opts = options or ReportOptions()
    if isinstance(source, Engine):
        store, registry = source.store, source.definitions
        now = now or source.clock()
        calendar = calendar or _engine_calendar(source)
    else:
        store = source
        now = now or dt.datetime.now(dt.UTC)
        registry = Registry(store, lambda: dt.datetime.now(dt.UTC))  # registers nothing
    calendar = calendar or WorkingCalendar()
    months = compute.Months(calendar)
    built: dict[str, Any] = {}
    with store.read() as tx:
        if "items" in wanted:
            built["items"] = compute.items_section(tx, registry, since, until)
        if "sla" in wanted:
            built["sla"] = compute.sla_section(tx.sla_clocks(since, until), now, months)
        if "first_reply" in wanted:
            rows = tx.first_replies(
                opts.reply_workflow,
                opts.reply_triggers,
                opts.category_field,
                since,
                until,
                opts.received_field,
            )
            built["first_reply"] = compute.first_reply_section(opts.reply_workflow, rows, calendar)
        if "overdue" in wanted:
            built["overdue"] = compute.overdue_section(tx, registry, tx.overdue_items(now))
        counted = {"publications", "content_types", "self_media_year"} & asked
        sources = publishing_sources(tx, opts) if counted else ()
        published = (
            compute.first_publications(tx, sources, since, until)
            if {"publications", "content_types"} & asked
            else []
        )
        if "publications" in wanted:
            built["publications"] = compute.publications_section(
                published, opts.channels_field, months
            )
        if "content_types" in wanted:
            built["content_types"] = compute.content_types_section(published, opts, months)
        if "certification" in wanted:
            records = tx.workflow_records(opts.training_workflow)
            as_of = months.date(now)
            built["certification"] = compute.certification_section(
                records, as_of, opts, _registered_staff(tx, as_of)
            )
        if "should_warnings" in wanted:
            built["should_warnings"] = compute.should_warnings_section(
                tx.audit_records(), months, since, until
            )
        if "complaints" in wanted:
            period = _period(since, until, now, "year_before", calendar)
            figures = complaint_statistics(TxFacts(tx, None), period)
            built["complaints"] = compute.figure_rows(period, figures)
        if "self_media_year" in wanted:
            period = _period(since, until, now, "calendar_year_before", calendar)
            figures = self_media_year(TxFacts(tx, None), period, Sources(publications=sources))
            built["self_media_year"] = compute.figure_rows(period, figures)
        if "appraisal" in wanted:
            built["appraisal"] = compute.appraisal_section(
                tx.steps_taken(since, until), tx.workflow_records(opts.training_workflow), opts
            )
    return Report(
        generated_at=now,
        since=since,
        until=until,
        timezone=calendar.settings.timezone,
        sections=wanted,
        **built,
    )


def _period(
    since: dt.datetime | None,
    until: dt.datetime | None,
    now: dt.datetime,
    default: str,
    calendar: WorkingCalendar,
) -> Period:
    """The report's period for the computed figures: ``since``/``until`` when both are
    given (a calendar year is named by its number), else ``default`` before ``now``."""
    zone = calendar.settings.timezone
    if since is None or until is None:
        return period_of(default, until or now, zone)
    year = period_of("calendar_year_before", until, zone)
    if (year.since, year.until) == (since, until):
        return year
    tz = calendar.settings.tz
    label = f"{since.astimezone(tz):%Y-%m-%d}..{until.astimezone(tz):%Y-%m-%d}"
    return Period(since, until, label)


def publishing_sources(tx: StoreTx, options: ReportOptions) -> tuple[tuple[str, str], ...]:
    """The (workflow, state) pairs whose first entry the report counts as a publication.

    By default, those of every workflow a stored definition version marks with the
    ``publication`` effect, in any of its versions (the state following the effect, see
    :func:`~cmc_workflow.policy.rules.figures.published_states`). ``publishing_workflow``
    keeps that one workflow only (a workflow without the effect is counted at
    ``published_state``, else at ``published``); ``published_state`` names the state for
    every workflow counted."""
    loaded = []
    for workflow_id, file, text in tx.definition_sources():
        if "publication" not in text and "handler" not in text:
            continue  # neither declares the effect nor runs a handler that has it
        try:
            loaded.append(load_workflow_text(text, file))
        except DefinitionError:
            log.warning("stored_version_does_not_load", workflow=workflow_id, file=file)
    found: dict[str, list[str]] = {}
    for workflow_id, state in publication_sources(loaded):
        found.setdefault(workflow_id, []).append(state)
    if options.publishing_workflow is not None:
        named = options.publishing_workflow
        found = {named: found.get(named) or [options.published_state or "published"]}
    if options.published_state is not None:
        found = {workflow_id: [options.published_state] for workflow_id in found}
    return tuple((w, s) for w, states in sorted(found.items()) for s in states)


def _registered_staff(tx: StoreTx, day: dt.date) -> frozenset[str] | None:
    """TRN-5's staff when the register holds anybody: the people holding a post on
    ``day`` (STF-1); None when the register is empty (the records' trainees then)."""
    if not tx.has_people():
        return None
    return frozenset(p.person_id for p in tx.posts() if p.active_on(day))


def _engine_calendar(engine: Engine) -> WorkingCalendar | None:
    for extension in engine.extensions:
        if isinstance(extension, Clocks):
            return extension.calendar
    return None
