"""Operator commands on items: ``start``, ``fire``, ``show``, ``history``, ``inbox``,
``allowed`` (``versions`` lives in :mod:`.versions`).

Every command opens the engine on ``--db`` with the definitions of ``--workflows`` (and
``--policies``), does one thing and prints it: a readable table with Chinese labels, or
one JSON document with ``--json`` (times in ISO 8601, UTC). Logs go to stderr only.

The CLI opens the engine with ``handlers=None`` and without inline delivery: operators
do not run action handlers or notifiers; what a command queues in the outbox (a
serviceTask's handler, notifications) is delivered by the daemon.

Exit codes (:mod:`cmc_workflow.cli.exits`): 0 done; 1 a definition file has problems
(each printed as ``file:line:col: CODE message``); 2 the command was refused or is
malformed (the message names the rule: the policy rule's id, or the check such as
``NotPermitted``); 3 the database failed or needs ``cmc-workflow db upgrade``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from cmc_workflow.cli.options import (
    Settings,
    actor_options,
    clock_options,
    data_options,
    engine_options,
)
from cmc_workflow.cli.output import cell, emit_json, table, when
from cmc_workflow.engine import Engine
from cmc_workflow.errors import WorkflowNotFound
from cmc_workflow.model import Actor, Allowed, HistoryEntry, Item, VersionInfo

_T = TypeVar("_T")


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
        ["已结束", cell(not item.is_open)],
        ["行版本", str(item.version)],
        ["访问序号", str(item.visit)],
        ["创建人", item.created_by],
        ["创建于", when(item.created_at)],
        ["更新于", when(item.updated_at)],
        ["结束于", when(item.closed_at)],
        ["上级事项", cell(item.parent_id)],
    ]
    for key, value in item.data.items():
        name = f"{field_labels[key]} ({key})" if key in field_labels else key
        rows.append([f"数据·{name}", cell(value)])
    return table(["项目", "内容"], rows)


_KINDS = {
    "start": "创建",
    "fire": "操作",
    "route": "路由",
    "handler": "自动处理",
    "timer": "定时",
    "migrate": "迁移",
}


def history_table(entries: Sequence[HistoryEntry]) -> str:
    """The readable history of one item."""
    rows = [
        [
            str(e.seq),
            when(e.at),
            _KINDS.get(e.kind, e.kind),
            e.trigger or "—",
            e.from_state or "—",
            e.to_state,
            e.actor,
            ", ".join(e.roles) or "—",
            cell(dict(e.form), 40) if e.form else "—",
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
            cell(i.data.get("title"), 30),
            when(i.updated_at),
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
            cell(a.allowed),
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
            cell(v.version_label),
            v.content_hash[:12],
            when(v.loaded_at),
            str(v.open_items),
            "✓" if v.current else "",
            v.source_file,
        ]
        for v in versions
    ]
    return table(["修订", "版本号", "内容哈希", "载入时间", "未结事项", "当前", "文件"], rows)


def _print(settings: Settings, value: _T, render: Callable[[_T], str]) -> None:
    """Print what a command returns: one JSON document with ``--json``, else ``render``'s
    readable text."""
    if settings.as_json:
        emit_json(value)
    else:
        click.echo(render(value), nl=False)


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
        _print(settings, item, lambda i: f"已创建事项 {i.id}\n" + item_table(engine, i))


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
        _print(settings, item, lambda i: f"已执行 {trigger}\n" + item_table(engine, i))


@click.command()
@click.argument("item_id", metavar="ITEM", type=int)
@engine_options
def show(settings: Settings, *, item_id: int) -> None:
    """Show ITEM as it stands now."""
    with settings.open_engine() as engine:
        _print(settings, engine.get(item_id), lambda item: item_table(engine, item))


@click.command()
@click.argument("item_id", metavar="ITEM", type=int)
@engine_options
def history(settings: Settings, *, item_id: int) -> None:
    """List every accepted step of ITEM, oldest first."""
    with settings.open_engine() as engine:
        _print(settings, engine.history(item_id), history_table)


@click.command()
@engine_options
@actor_options
def inbox(settings: Settings, *, actor: Actor) -> None:
    """List the open items waiting on --actor (by person or by one of the roles)."""
    with settings.open_engine() as engine:
        _print(settings, engine.inbox(actor), inbox_table)


@click.command()
@click.argument("item_id", metavar="ITEM", type=int)
@engine_options
@actor_options
def allowed(settings: Settings, *, item_id: int, actor: Actor) -> None:
    """List the triggers of ITEM's state and whether --actor may fire each now, and why not.

    Guards that read the form are judged with an empty form; ``fire`` decides.
    """
    with settings.open_engine() as engine:
        _print(settings, engine.allowed(item_id, actor), allowed_table)


COMMANDS: list[click.Command] = [start, fire, show, history, inbox, allowed]
