# Over 400 lines on purpose: every option shared by commands is declared here, once.
"""Every option shared by more than one command, declared once, with one meaning per name.

- ``--db URL`` (``CMC_DB``): the database;
- ``--workflows PATH`` (``CMC_WORKFLOWS``): workflow (and schedule) definitions, a folder
  or a YAML file, repeatable; default ``workflows/`` when it exists (:func:`workflow_paths`);
- ``--policies PATH`` (``CMC_POLICIES``): policy definitions, the same way, default
  ``policies/`` when it exists (:func:`policy_paths`);
- the calendar options (:func:`calendar_options`): ``--calendars``, ``--timezone``,
  ``--business-hours``, ``--after-hours-next-day``;
- the actor (:func:`actor_options`): ``--actor``, ``--role``, ``--attr``;
- form data (:func:`data_options`): ``--data``, ``--data-file``;
- ``--json`` (:data:`json_option`) and ``--log-level`` (:func:`log_level_option`).

:func:`engine_options` bundles what an item command needs into one :class:`Settings`,
whose :meth:`Settings.open_engine` is the command line's one way to build an engine.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, NoReturn

import click
from click.core import ParameterSource

import cmc_workflow
from cmc_workflow.calendar import BusinessHours, CalendarSettings, WorkingCalendar
from cmc_workflow.calendar.settings import BUSINESS_TIMEZONE
from cmc_workflow.cli.exits import Exit, handled
from cmc_workflow.errors import DefinitionError
from cmc_workflow.i18n import N_, Text, set_language, shown, tr
from cmc_workflow.log import LEVELS, Threshold
from cmc_workflow.model import Actor

DEFAULT_DB = "sqlite:///cmc.db"


# -- definitions ---------------------------------------------------------------------------
def _default_folder(name: str) -> Callable[[click.Context, click.Parameter, Any], list[str]]:
    def resolve(ctx: click.Context, param: click.Parameter, value: Sequence[str]) -> list[str]:
        if value:
            for path in value:
                if not Path(path).exists():
                    raise click.BadParameter(
                        str(
                            tr(
                                "{path} does not exist; pass {option} PATH or set {envvar}",
                                path=repr(path),
                                option=param.opts[0],
                                envvar=param.envvar,
                            )
                        ),
                        ctx=ctx,
                        param=param,
                    )
            return list(value)
        return [name] if Path(name).exists() else []

    return resolve


def _definition_paths(folder: str) -> dict[str, Any]:
    """What ``--workflows`` and ``--policies`` share: repeatable paths that must exist,
    default ``FOLDER/`` only when it exists."""
    return {
        "multiple": True,
        "metavar": "PATH",
        "type": click.Path(),
        "callback": _default_folder(folder),
    }


workflows_option = click.option(
    "--workflows",
    envvar="CMC_WORKFLOWS",
    help=N_(
        "Workflow and schedule definitions: a folder or a YAML file; repeatable  "
        "[default: workflows/ when it exists]"
    ),
    **_definition_paths("workflows"),
)
"""``--workflows``: a list of existing paths (the default folder only when it exists)."""
policies_option = click.option(
    "--policies",
    envvar="CMC_POLICIES",
    help=N_(
        "Policy definitions: a folder or a YAML file; repeatable  "
        "[default: policies/ when it exists]"
    ),
    **_definition_paths("policies"),
)
"""``--policies``: a list of existing paths (the default folder only when it exists)."""


def need(paths: Sequence[str], option: str, default: str) -> list[str]:
    """``paths``, or a usage error when there are none (the default folder is missing)."""
    if not paths:
        raise click.BadParameter(
            str(
                tr(
                    "{path} does not exist; pass {option} PATH or set {envvar}",
                    path=repr(default),
                    option=option,
                    envvar=f"CMC_{option[2:].upper()}",
                )
            ),
            param_hint=option,
        )
    return list(paths)


db_option = click.option(
    "--db",
    default=DEFAULT_DB,
    show_default=True,
    envvar="CMC_DB",
    help=N_("Database URL: sqlite:///FILE or postgresql://user@host/db."),
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help=N_("Print one JSON document instead of a table.")
)


# -- logging -------------------------------------------------------------------------------
def threshold(ctx: click.Context) -> Threshold:
    """The log threshold the entry point configured logging with (one per invocation)."""
    found = ctx.find_root().meta.setdefault("cmc.log_threshold", Threshold())
    assert isinstance(found, Threshold)
    return found


def _moves_threshold(ctx: click.Context, param: click.Parameter, value: str) -> None:
    explicit = ctx.get_parameter_source(param.name or "") is not ParameterSource.DEFAULT
    threshold(ctx).set(value, explicit=explicit)


def log_level_option(default: str = "warning") -> Callable[[Any], Any]:
    """``--log-level``: the level of the JSON log lines on stderr. Logging is configured
    once by the entry point; this option moves its threshold (a command's own default
    gives way to a level chosen on the group)."""
    return click.option(
        "--log-level",
        default=default,
        show_default=True,
        envvar="CMC_LOG_LEVEL",
        expose_value=False,
        callback=_moves_threshold,
        type=click.Choice(LEVELS, case_sensitive=False),
        help=N_("Level of the JSON log lines written to stderr."),
    )


def _chooses_language(_ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        set_language(value)


def lang_option() -> Callable[[Any], Any]:
    """``--lang zh|en`` (``CMC_LANG``): the language of what the command prints for people;
    without it, the locale's (``LANG=zh_CN.UTF-8`` gives Chinese; a locale that names no
    language, such as ``C``, gives both). JSON and SARIF carry both languages whatever
    it is."""
    return click.option(
        "--lang",
        type=click.Choice(["zh", "en"], case_sensitive=False),
        default=None,
        envvar="CMC_LANG",
        expose_value=False,
        is_eager=True,
        callback=_chooses_language,
        help=N_("Language of messages (zh or en); default: the locale (LANG)."),
    )


def add_lang_option(command: click.Command) -> click.Command:
    """``command`` (and, for a group, each of its commands) with :func:`lang_option`,
    unless it has a ``--lang`` of its own (``graph``: the labels' language)."""
    if not any(p.name == "lang" for p in command.params):
        lang_option()(command)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_lang_option(sub)
    return command


# -- calendar ------------------------------------------------------------------------------
def _business_hours(_ctx: click.Context, _param: click.Parameter, value: str) -> Any:
    if value.lower() == "none":
        return None
    try:
        opens, closes = (dt.time.fromisoformat(part.strip()) for part in value.split("-"))
        return BusinessHours(opens=opens, closes=closes)
    except ValueError as exc:
        raise click.BadParameter(
            str(tr("{value}: give HH:MM-HH:MM or 'none' ({exc})", value=repr(value), exc=exc))
        ) from None


@dataclass(frozen=True, slots=True)
class CalendarChoice:
    """The calendar options as given (:func:`calendar_options`); checked when used."""

    calendars_dir: str | None
    timezone: str
    business_hours: BusinessHours | None
    after_hours_next_day: bool

    def settings(self) -> CalendarSettings:
        """The calendar settings; a bad ``--timezone`` is a usage error."""
        return calendar_settings(self.timezone, self.business_hours, self.after_hours_next_day)

    def folder(self) -> Path | None:
        """The ``--calendars`` folder, or ``./calendars`` when it exists, or None."""
        return calendars_path(self.calendars_dir)

    def load(self) -> WorkingCalendar:
        """The working-day calendar (settings checked first, then the folder)."""
        settings = self.settings()
        return working_calendar(self.folder(), settings)


def calendar_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--calendars``, ``--timezone``, ``--business-hours``, ``--after-hours-next-day``:
    the same options, defaults and ``CMC_`` variables on every command that reckons
    deadlines, so that every process counts working days on the same calendar. The
    command receives them as one :class:`CalendarChoice` (``cal=``)."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        calendars_dir: str | None,
        timezone: str,
        business_hours: BusinessHours | None,
        after_hours_next_day: bool,
        **kwargs: Any,
    ) -> Any:
        cal = CalendarChoice(calendars_dir, timezone, business_hours, after_hours_next_day)
        return command(*args, cal=cal, **kwargs)

    options = [
        click.option(
            "--calendars",
            "calendars_dir",
            default=None,
            envvar="CMC_CALENDARS",
            type=click.Path(file_okay=False),
            help=N_("Folder of admin calendar files (default: ./calendars if it exists)."),
        ),
        click.option(
            "--timezone",
            default=BUSINESS_TIMEZONE,
            show_default=True,
            envvar="CMC_TIMEZONE",
            help=N_("IANA timezone in which working days and deadlines are reckoned."),
        ),
        click.option(
            "--business-hours",
            default="09:00-17:30",
            show_default=True,
            envvar="CMC_BUSINESS_HOURS",
            callback=_business_hours,
            help=N_(
                "Opening hours of working days, HH:MM-HH:MM, or 'none' (periods end at 24:00)."
            ),
        ),
        click.option(
            "--after-hours-next-day/--no-after-hours-next-day",
            default=False,
            show_default=True,
            envvar="CMC_AFTER_HOURS_NEXT_DAY",
            help=N_(
                "Count a receipt after hours or on a rest day as received the next working day."
            ),
        ),
    ]
    decorated: Callable[..., Any] = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def calendar_settings(
    timezone: str, business_hours: Any, after_hours_next_day: bool
) -> CalendarSettings:
    """The calendar settings the options name; a bad timezone is a usage error."""
    try:
        return CalendarSettings(
            timezone=timezone,
            business_hours=business_hours,
            after_hours_counts_next_day=after_hours_next_day,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timezone") from None


def calendars_path(value: str | None) -> Path | None:
    """The ``--calendars`` folder, or ``./calendars`` when it exists, or None."""
    if value is not None:
        path = Path(value)
        if not path.is_dir():
            raise click.BadParameter(
                str(tr("{value} is not a folder", value=repr(value))), param_hint="--calendars"
            )
        return path
    default = Path("calendars")
    return default if default.is_dir() else None


def working_calendar(calendars: Path | None, settings: CalendarSettings) -> WorkingCalendar:
    """The working-day calendar; a broken calendar file prints its problems, exit 1."""
    try:
        if calendars is None:
            return WorkingCalendar(settings)
        return WorkingCalendar.from_directory(calendars, settings)
    except DefinitionError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(Exit.PROBLEMS) from None


# -- settings shared by the item commands ----------------------------------------------------
@dataclass(frozen=True, slots=True)
class Settings:
    """Where a command finds its database and definitions, and how it prints."""

    db: str
    workflows: tuple[str, ...]
    policies: tuple[str, ...]
    as_json: bool
    calendar: WorkingCalendar | None = None

    def open_engine(self, *, need_workflows: bool = False) -> cmc_workflow.Engine:
        """Open the engine as operators use it: no handlers, no inline delivery, and the
        SLA clocks on ``calendar`` (the daemon's), so that a command moving an item arms
        and stops its clocks in its own transaction, as the daemon's engine does.

        A missing default ``workflows/`` folder is tolerated by commands that only read
        items (stored versions load from the database); ``start`` needs it.
        """
        # imported here: the commands that only read files (validate) load no engine
        from cmc_workflow.runner.assemble import load_definitions, open_engine, require_existing

        if need_workflows:
            need(self.workflows, "--workflows", "workflows")
        if _reads_only():
            require_existing(self.db)  # a mistyped --db must not become a new database
        loaded = load_definitions([*self.workflows, *self.policies], isolated=True)
        for problem in [*loaded.set_aside, *loaded.warnings]:
            click.echo(str(problem), err=True)  # on every command, until the file is fixed
        started = _argument("workflow") if need_workflows else None
        if started in loaded.disabled:
            disabled = tr(
                "the workflow {workflow!r} is disabled: {file} has problems",
                workflow=started,
                file=loaded.disabled[started],
            )
            click.echo(disabled, err=True)
            raise SystemExit(Exit.PROBLEMS)
        return open_engine(
            self.db, loaded, calendar=self.calendar, handlers=None, deliver_inline=False
        )


READ_ONLY_COMMANDS = frozenset(
    {"show", "history", "inbox", "allowed", "versions", "explain-denial"}
)
"""The item commands that only read the database: they never create it (``E-DB-MISSING``
for a SQLite file that does not exist)."""


def _argument(name: str) -> Any:
    """The value of the running command's parameter ``name`` (None without one)."""
    ctx = click.get_current_context(silent=True)
    return ctx.params.get(name) if ctx is not None else None


def _reads_only() -> bool:
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.info_name in READ_ONLY_COMMANDS


def engine_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add ``--db``, ``--workflows``, ``--policies``, ``--json`` and ``--log-level``;
    the command receives them as one :class:`Settings` (first argument) and runs
    inside :func:`~cmc_workflow.cli.exits.handled`."""

    @functools.wraps(command)
    def wrapper(
        *,
        db: str,
        workflows: list[str],
        policies: list[str],
        as_json: bool,
        **kwargs: Any,
    ) -> None:
        settings = Settings(db, tuple(workflows), tuple(policies), as_json)
        with handled(as_json):
            command(settings, **kwargs)

    options = [db_option, workflows_option, policies_option, json_option, log_level_option()]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def clock_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add the daemon's calendar options (same defaults and ``CMC_`` variables as
    ``cmc-workflow run``): commands that move items start and stop SLA clocks, whose
    deadlines must be reckoned on the daemon's calendar."""

    @functools.wraps(command)
    def wrapper(settings: Settings, *, cal: CalendarChoice, **kwargs: Any) -> None:
        command(replace(settings, calendar=cal.load()), **kwargs)

    decorated: Callable[..., None] = calendar_options(wrapper)
    return decorated


# -- the actor -------------------------------------------------------------------------------
def _roles(_ctx: click.Context, _param: click.Parameter, value: Sequence[str]) -> frozenset[str]:
    return frozenset(r.strip() for v in value for r in v.split(",") if r.strip())


def _attrs(_ctx: click.Context, _param: click.Parameter, value: Sequence[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in value:
        key, sep, val = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(str(tr("{pair} is not KEY=VALUE", pair=repr(pair))))
        result[key.strip()] = val
    return result


def _actor_id(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not value.strip():
        raise click.BadParameter(str(tr("the actor id must not be empty")))
    return value.strip()


actor_id_option = click.option(
    "--actor",
    "actor_id",
    required=True,
    envvar="CMC_ACTOR",
    callback=_actor_id,
    help=N_("Who acts (a person's id)."),
)
"""``--actor ID`` alone (``actor_id=``): the item commands take it with ``--role`` and
``--attr`` (:func:`actor_options`); the staff register's changes name who made them."""


def actor_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add ``--actor``, ``--role`` (repeatable, or comma-separated) and ``--attr k=v``;
    the command receives them as one :class:`~cmc_workflow.model.Actor` (``actor=``)."""

    @functools.wraps(command)
    def wrapper(
        settings: Settings,
        *,
        actor_id: str,
        roles: frozenset[str],
        attrs: dict[str, str],
        **kwargs: Any,
    ) -> None:
        command(settings, actor=Actor(actor_id, roles, attrs), **kwargs)

    options = [
        actor_id_option,
        click.option(
            "--role",
            "roles",
            multiple=True,
            envvar="CMC_ROLES",
            callback=_roles,
            help=N_("A role the actor holds now; repeat it or separate roles with commas."),
        ),
        click.option(
            "--attr",
            "attrs",
            multiple=True,
            metavar="KEY=VALUE",
            callback=_attrs,
            help=N_("An attribute of the actor that policies may scope on; repeatable."),
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


# -- form data -------------------------------------------------------------------------------
def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def parse_json_object(text: str, source: str) -> dict[str, Any]:
    """Parse ``text`` as a JSON object or raise :class:`click.BadParameter`."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise click.BadParameter(
            str(tr("not valid JSON: {exc}", exc=exc)), param_hint=source
        ) from None
    if not isinstance(value, dict):
        raise click.BadParameter(
            str(
                tr(
                    'must be a JSON object like \'{{"title": "..."}}\', not {name}',
                    name=type(value).__name__,
                )
            ),
            param_hint=source,
        )
    return value


def data_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add ``--data JSON`` and ``--data-file F`` (``-`` for stdin); the command receives
    the parsed object as ``data=``."""

    @functools.wraps(command)
    def wrapper(
        settings: Settings, *, data_text: str | None, data_file: IO[str] | None, **kwargs: Any
    ) -> None:
        if data_text is not None and data_file is not None:
            raise click.UsageError(str(tr("give --data or --data-file, not both")))
        data: dict[str, Any] = {}
        if data_text is not None:
            data = parse_json_object(data_text, "--data")
        elif data_file is not None:
            data = parse_json_object(data_file.read(), "--data-file")
        command(settings, data=data, **kwargs)

    wrapper = click.option(
        "--data-file",
        "data_file",
        type=click.File("r", encoding="utf-8"),
        help=N_("Read the form data from a JSON file ('-' reads stdin)."),
    )(wrapper)
    wrapper = click.option(
        "--data", "data_text", metavar="JSON", help=N_("Form data as a JSON object.")
    )(wrapper)
    return wrapper


# -- arguments -------------------------------------------------------------------------------
def undecodable(args: Sequence[str]) -> list[tuple[int, str]]:
    """The command-line arguments (1-based position, escaped text) that are not UTF-8:
    Python hands them over with the bad bytes as lone surrogates (``surrogateescape``)."""
    return [
        (n, arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
        for n, arg in enumerate(args, start=1)
        if any("\udc80" <= ch <= "\udcff" for ch in arg)
    ]


def refuse_undecodable(args: Sequence[str]) -> None:
    """A usage error (exit 2) naming every argument that is not UTF-8 text."""
    bad = undecodable(args)
    if bad:
        arguments = [tr("argument {n} ({text})", n=n, text=text) for n, text in bad]
        where = Text(", ".join(a.en for a in arguments), "、".join(a.zh for a in arguments))
        refused = tr("{where} is not UTF-8 text; give every argument in UTF-8", where=where)
        raise click.UsageError(shown(*refused, sep="\n"))
