"""``cmc-workflow migrate``: move live items onto another stored version of their workflow
(``docs/how-to-migrate.md``).

``migrate --plan FILE --dry-run`` judges the plan against the database and prints what
each item would go through, writing nothing; without ``--dry-run`` it does it, one
transaction per batch. A plan the database refutes (an unknown state, no way forward, a
missing default, broken policies) exits 1 with every problem as ``file:line:col: CODE
message``, and nothing is changed. ``migrate --schema`` prints the plan files' JSON Schema
(the same as ``schema --kind migration``).
"""

from __future__ import annotations

import click

from cmc_workflow.cli.exits import problems_found
from cmc_workflow.cli.options import Settings, clock_options, engine_options
from cmc_workflow.cli.output import cell, emit_json, table
from cmc_workflow.migration.plan import load_plan, render_migration_schema
from cmc_workflow.migration.run import MigrationReport, Move, migrate_engine, plan_for
from cmc_workflow.migration.run import dry_run as rehearse


def report_text(report: MigrationReport) -> str:
    """The readable report: the moves, then the items left where they are."""
    verb = "将迁移 would move" if report.dry_run else "已迁移 moved"
    head = (
        f"{'演练 dry run' if report.dry_run else '迁移 run'} {report.run_id}：流程 "
        f"{report.workflow}，第 {', '.join(map(str, report.from_revisions))} 版 → 第 "
        f"{report.to_revision} 版，时钟 clocks: {report.clocks}\n"
        f"{verb}: {len(report.moves)}；未涉及 left: {len(report.left)}"
        + ("" if report.dry_run else f"；批次 batches: {report.batches}")
        + "\n"
    )
    moves = [
        [
            str(m.item_id),
            f"{m.from_revision} → {m.to_revision}",
            f"{m.from_state} → {m.to_state}" + (" (结束 closes)" if m.closes else ""),
            cell(m.data_added or None, 40),
            cell("; ".join(m.clocks) or None, 60),
        ]
        for m in report.moves
    ]
    out = head + table(
        ["事项 item", "版本 revision", "状态 state", "补充数据 data added", "时钟 clocks"], moves
    )
    if report.left:
        out += "\n未迁移的在办事项 items left where they are:\n"
        out += table(
            ["事项 item", "版本 revision", "状态 state", "原因 reason"],
            [
                [str(x.item_id), str(x.revision), x.state, f"{x.reason_zh} / {x.reason}"]
                for x in report.left
            ],
        )
    return out


@click.command()
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The migration plan (kind: migration).",
)
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option(
    "--batch",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Items per transaction (default: the plan's batch:, else 100).",
)
@click.option("--schema", "show_schema", is_flag=True, help="Print the plan files' JSON Schema.")
@engine_options
@clock_options
def migrate(
    settings: Settings,
    *,
    plan_file: str | None,
    dry_run: bool,
    batch: int | None,
    show_schema: bool,
) -> None:
    """Move live items onto another stored version of their workflow, as --plan FILE says
    (迁移在办事项). With --dry-run, print per item what would change and write nothing.
    The plan is refused, nothing changed, when it would put an item in an unknown state,
    leave it without a way forward, leave a new required field empty, or break the
    policies (--policies) on the target version. Rerunning a plan after a crash moves only
    the items not yet moved."""
    if show_schema:
        click.echo(render_migration_schema(), nl=False)
        return
    if plan_file is None:
        raise click.UsageError("give --plan FILE (or --schema)")
    plan, doc, problems = load_plan(plan_file)
    problems_found(problems)
    assert plan is not None
    assert doc is not None
    with settings.open_engine() as engine:
        # the target version must pass the checks and proof of the policies this engine
        # enforces (--policies), as opening the engine on it would
        prepared = plan_for(engine, plan, doc)
        if dry_run:
            report = rehearse(engine.store, prepared)
        else:

            def progress(number: int, moves: list[Move]) -> None:
                click.echo(f"第 {number} 批 batch {number}: {len(moves)} moved", err=True)

            report = migrate_engine(engine, prepared, batch=batch, after_batch=progress)
    if settings.as_json:
        emit_json(report)
    else:
        click.echo(report_text(report), nl=False)


COMMANDS: list[click.Command] = [migrate]
