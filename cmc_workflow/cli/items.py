"""Operator commands on items: ``start``, ``fire``, ``show``, ``history``, ``inbox``,
``allowed`` and ``versions``.

Every command opens the engine on ``--db`` with the definitions of ``--workflows`` (and
``--policies``), does one thing and prints it: a readable table with Chinese labels, or
one JSON document with ``--json`` (times in ISO 8601, UTC). Logs go to stderr only.

The CLI opens the engine with ``handlers=None`` and without inline delivery: operators
do not run action handlers or notifiers; what a command queues in the outbox (a
serviceTask's handler, notifications) is delivered by the daemon.

Exit codes (:data:`EXIT_CODES`): 0 done; 1 a definition file has problems (each printed
as ``file:line:col: CODE message``); 2 the command was refused or is malformed (the
message names the rule: the policy rule's id, or the check such as ``NotPermitted``);
3 the database failed or needs ``cmc-workflow db upgrade``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import IO, Any, NoReturn

import click
from click.core import ParameterSource

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.calendar.settings import BUSINESS_TIMEZONE
from cmc_workflow.cli.calendars import (
    calendar_options,
    calendar_settings,
    calendars_path,
    working_calendar,
)
from cmc_workflow.clocks import Clocks
from cmc_workflow.diagram import width
from cmc_workflow.engine import Engine
from cmc_workflow.errors import (
    CmcWorkflowError,
    DefinitionError,
    EngineError,
    FormInvalid,
    PolicyDenied,
    StoreError,
    WorkflowNotFound,
)
from cmc_workflow.log import configure_logging
from cmc_workflow.model import Actor, Allowed, HistoryEntry, Item, VersionInfo

EXIT_OK = 0
EXIT_DEFINITION = 1
EXIT_REFUSED = 2
EXIT_DATABASE = 3
EXIT_CODES: Mapping[int, str] = {
    EXIT_OK: "done",
    EXIT_DEFINITION: "a definition file has problems (listed as file:line:col)",
    EXIT_REFUSED: "the command was refused or malformed (the message names the rule)",
    EXIT_DATABASE: "the database failed or its schema is out of date",
}
"""What each exit status of the item and ``db`` commands means."""

DEFAULT_DB = "sqlite:///cmc.db"
DISPLAY_TZ = zoneinfo.ZoneInfo(BUSINESS_TIMEZONE)
"""Human output shows times in the business time zone; ``--json`` keeps UTC."""


# -- settings shared by every command -----------------------------------------------------
@dataclass(frozen=True, slots=True)
class Settings:
    """Where a command finds its database and definitions, and how it prints."""

    db: str
    workflows: str | None
    workflows_explicit: bool
    policies: str | None
    as_json: bool
    calendar: WorkingCalendar | None = None

    def open_engine(self, *, need_workflows: bool = False) -> Engine:
        """Open the engine as operators use it: no handlers, no inline delivery, and the
        SLA clocks (:class:`~cmc_workflow.clocks.Clocks`) when a ``calendar`` is set, so
        that a command moving an item arms and stops its clocks in its own transaction,
        as the daemon's engine does.

        A missing default ``workflows/`` folder is tolerated by commands that only read
        items (stored versions load from the database); ``start`` needs it.
        """
        workflows: list[str] = []
        if self.workflows is not None:
            if Path(self.workflows).exists():
                workflows.append(self.workflows)
            elif need_workflows or self.workflows_explicit:
                raise click.BadParameter(
                    f"{self.workflows!r} does not exist; pass --workflows DIR or set CMC_WORKFLOWS",
                    param_hint="--workflows",
                )
        return Engine.open(
            self.db,
            workflows=workflows,
            policies=self.policies,
            handlers=None,
            deliver_inline=False,
            extensions=[Clocks(self.calendar)] if self.calendar is not None else [],
        )


def _exit(code: int, message: str, as_json: bool, detail: Mapping[str, Any]) -> NoReturn:
    click.echo(message, err=True)
    if as_json:
        emit_json({"error": {"exit_code": code, "message": message, **detail}})
    raise SystemExit(code)


@contextmanager
def handled(as_json: bool) -> Iterator[None]:
    """Turn the library's exceptions into a message on stderr and an exit code.

    With ``as_json`` an ``{"error": {...}}`` document also goes to stdout, so that
    stdout always holds exactly one JSON document.
    """
    try:
        yield
    except DefinitionError as exc:
        problems = [str(p) for p in exc.problems]
        _exit(
            EXIT_DEFINITION,
            "\n".join(problems) or str(exc),
            as_json,
            {"type": type(exc).__name__, "problems": problems},
        )
    except EngineError as exc:
        rule = exc.code
        detail: dict[str, Any] = {
            "type": type(exc).__name__,
            "rule": rule,
            "item_id": exc.item_id,
            "trigger": exc.trigger,
            "state": exc.state,
        }
        if isinstance(exc, FormInvalid):
            detail["fields"] = {e.field: e.message for e in exc.errors}
        message = f"refused ({rule}): {exc}"
        if exc.reason_zh:
            detail["reason_zh"] = exc.reason_zh
            if not isinstance(exc, PolicyDenied):  # a policy's own reason reads alone
                message += f"\n已拒绝（{rule}）：{exc.reason_zh}"
        _exit(EXIT_REFUSED, message, as_json, detail)
    except StoreError as exc:
        _exit(EXIT_DATABASE, f"database error: {exc}", as_json, {"type": type(exc).__name__})
    except CmcWorkflowError as exc:
        _exit(EXIT_REFUSED, f"error: {exc}", as_json, {"type": type(exc).__name__})


db_option = click.option(
    "--db",
    default=DEFAULT_DB,
    show_default=True,
    envvar="CMC_DB",
    help="Database URL: sqlite:///FILE or postgresql://user@host/db.",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document instead of a table."
)
log_level_option = click.option(
    "--log-level",
    default="warning",
    show_default=True,
    envvar="CMC_LOG_LEVEL",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Level of the JSON log lines written to stderr.",
)


def engine_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add ``--db``, ``--workflows``, ``--policies``, ``--json`` and ``--log-level``;
    the command receives them as one :class:`Settings` (first argument) and runs
    inside :func:`handled`."""

    @functools.wraps(command)
    def wrapper(
        *,
        db: str,
        workflows_dir: str | None,
        policies_dir: str | None,
        as_json: bool,
        log_level: str,
        **kwargs: Any,
    ) -> None:
        configure_logging(level=log_level)
        source = click.get_current_context().get_parameter_source("workflows_dir")
        if policies_dir is None and Path("policies").is_dir():
            policies_dir = "policies"
        settings = Settings(
            db=db,
            workflows=workflows_dir,
            workflows_explicit=source is not ParameterSource.DEFAULT,
            policies=policies_dir,
            as_json=as_json,
        )
        with handled(as_json):
            command(settings, **kwargs)

    options = [
        db_option,
        click.option(
            "--workflows",
            "workflows_dir",
            default="workflows",
            show_default=True,
            envvar="CMC_WORKFLOWS",
            type=click.Path(),
            help="Workflow definitions (a folder or a file).",
        ),
        click.option(
            "--policies",
            "policies_dir",
            default=None,
            envvar="CMC_POLICIES",
            type=click.Path(exists=True),
            help="Policy definitions  [default: policies/ when it exists]",
        ),
        json_option,
        log_level_option,
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def clock_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add the daemon's calendar options (``--calendars``, ``--timezone``,
    ``--business-hours``, ``--after-hours-next-day``, same defaults and ``CMC_``
    variables as ``cmc-workflow run``): commands that move items start and stop SLA
    clocks, whose deadlines must be reckoned on the daemon's calendar."""

    @functools.wraps(command)
    def wrapper(
        settings: Settings,
        *,
        calendars_dir: str | None,
        timezone: str,
        business_hours: Any,
        after_hours_next_day: bool,
        **kwargs: Any,
    ) -> None:
        settings_ = calendar_settings(timezone, business_hours, after_hours_next_day)
        calendar = working_calendar(calendars_path(calendars_dir), settings_)
        command(replace(settings, calendar=calendar), **kwargs)

    decorated: Callable[..., None] = calendar_options(wrapper)
    return decorated


# -- the actor -------------------------------------------------------------------------
def _roles(_ctx: click.Context, _param: click.Parameter, value: Sequence[str]) -> frozenset[str]:
    return frozenset(r.strip() for v in value for r in v.split(",") if r.strip())


def _attrs(_ctx: click.Context, _param: click.Parameter, value: Sequence[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in value:
        key, sep, val = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE")
        result[key.strip()] = val
    return result


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
        where = ", ".join(f"argument {n} ({text})" for n, text in bad)
        where_zh = "、".join(f"第 {n} 个参数（{text}）" for n, text in bad)
        raise click.UsageError(
            f"{where} is not UTF-8 text; give every argument in UTF-8\n"
            f"{where_zh}不是 UTF-8 文本，所有参数须使用 UTF-8 编码"
        )


def _actor_id(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("the actor id must not be empty")
    return value.strip()


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
        click.option(
            "--actor",
            "actor_id",
            required=True,
            envvar="CMC_ACTOR",
            callback=_actor_id,
            help="Who acts (a person's id).",
        ),
        click.option(
            "--role",
            "roles",
            multiple=True,
            envvar="CMC_ROLES",
            callback=_roles,
            help="A role the actor holds now; repeat it or separate roles with commas.",
        ),
        click.option(
            "--attr",
            "attrs",
            multiple=True,
            metavar="KEY=VALUE",
            callback=_attrs,
            help="An attribute of the actor that policies may scope on; repeatable.",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


# -- form data -------------------------------------------------------------------------
def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def parse_json_object(text: str, source: str) -> dict[str, Any]:
    """Parse ``text`` as a JSON object or raise :class:`click.BadParameter`."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=source) from None
    if not isinstance(value, dict):
        raise click.BadParameter(
            f'must be a JSON object like \'{{"title": "..."}}\', not {type(value).__name__}',
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
            raise click.UsageError("give --data or --data-file, not both")
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
        help="Read the form data from a JSON file ('-' reads stdin).",
    )(wrapper)
    wrapper = click.option(
        "--data", "data_text", metavar="JSON", help="Form data as a JSON object."
    )(wrapper)
    return wrapper


# -- output ----------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses and mappings as objects, times ISO 8601."""
    if is_dataclass(value) and not isinstance(value, type):
        out = {f.name: plain(getattr(value, f.name)) for f in fields(value)}
        if isinstance(value, Item):
            out["is_open"] = value.is_open
        return out
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def emit_json(value: Any) -> None:
    """Print ``value`` as one indented JSON document (UTF-8 text, not escaped)."""
    click.echo(json.dumps(plain(value), ensure_ascii=False, indent=2))


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: Any, limit: int | None = None) -> str:
    if value is None:
        text = "—"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "是" if value else "否"
    else:
        text = json.dumps(plain(value), ensure_ascii=False)
    text = " ".join(text.split("\n"))
    if limit is not None and width(text) > limit:
        while width(text) > limit - 1:
            text = text[:-1]
        text += "…"
    return text


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table; CJK characters count as two columns."""
    if not rows:
        return "（无）\n"
    sizes = [width(h) for h in headers]
    for row in rows:
        for i, text in enumerate(row):
            sizes[i] = max(sizes[i], width(text))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c + " " * (sizes[i] - width(c)) for i, c in enumerate(cells)).rstrip()

    out = [line(headers), "  ".join("-" * s for s in sizes)]
    out += [line(row) for row in rows]
    return "\n".join(out) + "\n"


def _labels(engine: Engine, workflow: str) -> tuple[str, dict[str, str]]:
    """The workflow's Chinese label and its data fields' labels (current version)."""
    try:
        definition = engine.workflow(workflow).definition
    except WorkflowNotFound:
        return workflow, {}
    fields_ = {k: s.label.zh for k, s in definition.data.items() if s.label is not None}
    return definition.label.zh, fields_


def item_table(engine: Engine, item: Item) -> str:
    """The readable card of one item."""
    label, field_labels = _labels(engine, item.workflow)
    rows = [
        ["编号", str(item.id)],
        ["流程", f"{label} ({item.workflow}) 修订 {item.revision}"],
        ["状态", f"{item.state_label} ({item.state})"],
        ["已结束", _cell(not item.is_open)],
        ["行版本", str(item.version)],
        ["访问序号", str(item.visit)],
        ["创建人", item.created_by],
        ["创建于", _when(item.created_at)],
        ["更新于", _when(item.updated_at)],
        ["结束于", _when(item.closed_at)],
        ["上级事项", _cell(item.parent_id)],
    ]
    for key, value in item.data.items():
        name = f"{field_labels[key]} ({key})" if key in field_labels else key
        rows.append([f"数据·{name}", _cell(value)])
    return table(["项目", "内容"], rows)


_KINDS = {"start": "创建", "fire": "操作", "route": "路由", "handler": "自动处理", "timer": "定时"}


def history_table(entries: Sequence[HistoryEntry]) -> str:
    """The readable history of one item."""
    rows = [
        [
            str(e.seq),
            _when(e.at),
            _KINDS.get(e.kind, e.kind),
            e.trigger or "—",
            e.from_state or "—",
            e.to_state,
            e.actor,
            ", ".join(e.roles) or "—",
            _cell(dict(e.form), 40) if e.form else "—",
        ]
        for e in entries
    ]
    return table(["序号", "时间", "类型", "触发", "从", "到", "操作人", "角色", "表单"], rows)


def inbox_table(items: Sequence[Item]) -> str:
    """The readable list of items waiting on someone."""
    rows = [
        [
            str(i.id),
            i.workflow,
            f"{i.state_label} ({i.state})",
            _cell(i.data.get("title"), 30),
            _when(i.updated_at),
            str(i.version),
        ]
        for i in items
    ]
    return table(["编号", "流程", "状态", "标题", "更新于", "行版本"], rows)


def allowed_table(allowed: Sequence[Allowed]) -> str:
    """The readable list of triggers and whether the actor may fire them."""
    rows = [
        [
            a.trigger,
            a.label,
            a.target,
            _cell(a.allowed),
            ", ".join(a.form) or "—",
            "; ".join(a.reasons) or "—",
        ]
        for a in allowed
    ]
    return table(["触发", "名称", "目标", "可执行", "表单字段", "原因"], rows)


def versions_table(versions: Sequence[VersionInfo]) -> str:
    """The readable list of a workflow's stored versions."""
    rows = [
        [
            str(v.revision),
            _cell(v.version_label),
            v.content_hash[:12],
            _when(v.loaded_at),
            str(v.open_items),
            "✓" if v.current else "",
            v.source_file,
        ]
        for v in versions
    ]
    return table(["修订", "版本号", "内容哈希", "载入时间", "未结事项", "当前", "文件"], rows)


# -- the commands ----------------------------------------------------------------------
@click.command()
@click.argument("workflow")
@engine_options
@clock_options
@actor_options
@data_options
def start(settings: Settings, *, workflow: str, actor: Actor, data: dict[str, Any]) -> None:
    """Start an item of WORKFLOW (its id) as --actor with the item data of --data.

    Prints the new item. Exit 2 when the actor may not start it or the data is invalid.
    """
    with settings.open_engine(need_workflows=True) as engine:
        item = engine.start(workflow, actor=actor, data=data)
        if settings.as_json:
            emit_json(item)
        else:
            click.echo(f"已创建事项 {item.id}\n" + item_table(engine, item), nl=False)


@click.command()
@click.argument("item_id", metavar="ITEM", type=int)
@click.argument("trigger")
@engine_options
@clock_options
@actor_options
@data_options
@click.option(
    "--expected-version",
    type=int,
    default=None,
    help="Refuse (exit 2) unless the item is still at this row version.",
)
def fire(
    settings: Settings,
    *,
    item_id: int,
    trigger: str,
    actor: Actor,
    data: dict[str, Any],
    expected_version: int | None,
) -> None:
    """Fire TRIGGER on ITEM as --actor, with the transition's form in --data.

    Prints the item after the command. Exit 2 when it is refused (the message names the
    rule) or when the item moved on since --expected-version.
    """
    with settings.open_engine() as engine:
        item = engine.fire(
            item_id, trigger, actor=actor, data=data, expected_version=expected_version
        )
        if settings.as_json:
            emit_json(item)
        else:
            click.echo(f"已执行 {trigger}\n" + item_table(engine, item), nl=False)


@click.command()
@click.argument("item_id", metavar="ITEM", type=int)
@engine_options
def show(settings: Settings, *, item_id: int) -> None:
    """Show ITEM as it stands now."""
    with settings.open_engine() as engine:
        item = engine.get(item_id)
        if settings.as_json:
            emit_json(item)
        else:
            click.echo(item_table(engine, item), nl=False)


@click.command()
@click.argument("item_id", metavar="ITEM", type=int)
@engine_options
def history(settings: Settings, *, item_id: int) -> None:
    """List every accepted step of ITEM, oldest first."""
    with settings.open_engine() as engine:
        entries = engine.history(item_id)
        if settings.as_json:
            emit_json(entries)
        else:
            click.echo(history_table(entries), nl=False)


@click.command()
@engine_options
@actor_options
def inbox(settings: Settings, *, actor: Actor) -> None:
    """List the open items waiting on --actor (by person or by one of the roles)."""
    with settings.open_engine() as engine:
        items = engine.inbox(actor)
        if settings.as_json:
            emit_json(items)
        else:
            click.echo(inbox_table(items), nl=False)


@click.command()
@click.argument("item_id", metavar="ITEM", type=int)
@engine_options
@actor_options
def allowed(settings: Settings, *, item_id: int, actor: Actor) -> None:
    """List the triggers of ITEM's state and whether --actor may fire each now, and why not.

    Guards that read the form are judged with an empty form; ``fire`` decides.
    """
    with settings.open_engine() as engine:
        result = engine.allowed(item_id, actor)
        if settings.as_json:
            emit_json(result)
        else:
            click.echo(allowed_table(result), nl=False)


@click.command()
@click.argument("workflow")
@engine_options
def versions(settings: Settings, *, workflow: str) -> None:
    """List the stored versions of WORKFLOW: revision, label, hash prefix, loaded at,
    open items, and which one new items start on (current)."""
    with settings.open_engine() as engine:
        result = engine.versions(workflow)
        if settings.as_json:
            emit_json(result)
        else:
            click.echo(versions_table(result), nl=False)


COMMANDS: list[click.Command] = [start, fire, show, history, inbox, allowed, versions]
