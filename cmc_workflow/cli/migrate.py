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
from cmc_workflow.cli.help import Command
from cmc_workflow.cli.options import Settings, clock_options, engine_options
from cmc_workflow.cli.output import cell, emit_json, table
from cmc_workflow.i18n import N_, heading, shown, tr
from cmc_workflow.migration.plan import load_plan, render_migration_schema
from cmc_workflow.migration.run import MigrationReport, Move, migrate_engine, plan_for
from cmc_workflow.migration.run import dry_run as rehearse


def report_text(report: MigrationReport) -> str:
    """The readable report: the moves, then the items left where they are."""
    facts = {
        "run_id": report.run_id,
        "workflow": report.workflow,
        "old": ", ".join(map(str, report.from_revisions)),
        "new": report.to_revision,
        "clocks": report.clocks,
    }
    counts = {"moves": len(report.moves), "left": len(report.left)}
    if report.dry_run:
        title = tr(
            "dry run {run_id}: workflow {workflow}, {old} → {new}, clocks: {clocks}", **facts
        )
        count = tr("would move: {moves}; left: {left}", **counts)
    else:
        title = tr("run {run_id}: workflow {workflow}, {old} → {new}, clocks: {clocks}", **facts)
        count = tr(
            "moved: {moves}; left: {left}; batches: {batches}", **counts, batches=report.batches
        )
    head = shown(*title, sep="\n") + "\n" + shown(*count, sep="\n") + "\n"
    closes = " ({})".format(heading(N_("closes")))
    moves = [
        [
            str(m.item_id),
            f"{m.from_revision} → {m.to_revision}",
            f"{m.from_state} → {m.to_state}" + (closes if m.closes else ""),
            cell(m.data_added or None, 40),
            cell("; ".join(m.clocks) or None, 60),
        ]
        for m in report.moves
    ]
    item, version, state = heading(N_("Item")), heading(N_("Version")), heading(N_("State"))
    out = head + table(
        [item, version, state, heading(N_("Data added")), heading(N_("Clocks"))], moves
    )
    if report.left:
        out += "\n" + shown(*tr("items left where they are:"), sep=" ") + "\n"
        out += table(
            [item, version, state, heading(N_("Reason"))],
            [
                [str(x.item_id), str(x.revision), x.state, shown(x.reason, x.reason_zh)]
                for x in report.left
            ],
        )
    return out


@click.command(
    cls=Command,
    help=N_(
        "Move live items onto another stored version of their workflow, as --plan FILE "
        "says. With --dry-run, print per item what would change and write "
        "nothing. The plan is refused, nothing changed, when it would put an item in an "
        "unknown state, leave it without a way forward, leave a new required field "
        "empty, or break the policies (--policies) on the target version. Rerunning a "
        "plan after a crash moves only the items not yet moved."
    ),
)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False),
    default=None,
    help=N_("The migration plan (kind: migration)."),
)
@click.option("--dry-run", is_flag=True, help=N_("Report what would change; write nothing."))
@click.option(
    "--batch",
    type=click.IntRange(1, 10_000),
    default=None,
    help=N_("Items per transaction (default: the plan's batch:, else 100)."),
)
@click.option(
    "--schema", "show_schema", is_flag=True, help=N_("Print the plan files' JSON Schema.")
)
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
    if show_schema:
        click.echo(render_migration_schema(), nl=False)
        return
    if plan_file is None:
        raise click.UsageError(str(tr("give --plan FILE (or --schema)")))
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
                click.echo(
                    tr("batch {number}: {count} moved", number=number, count=len(moves)), err=True
                )

            report = migrate_engine(engine, prepared, batch=batch, after_batch=progress)
    if settings.as_json:
        emit_json(report)
    else:
        click.echo(report_text(report), nl=False)


COMMANDS: list[click.Command] = [migrate]
