"""``cmc-workflow versions``: the stored versions of a workflow, and what changed between
two of them (``versions diff``).

``versions WORKFLOW`` (the same as ``versions list WORKFLOW``) lists the stored revisions;
``versions diff WORKFLOW OLD NEW`` compares two stored revisions, ``versions diff WORKFLOW
OLD --new-from workflows/`` the stored one with the file on disk, and shows for each
removed or changed state how many live items of OLD rest in it. The diff only reads the
database: it opens no engine, so it stores no new version.
"""

from __future__ import annotations

from typing import Any

import click

from cmc_workflow.cli.help import Group
from cmc_workflow.cli.items import versions_table
from cmc_workflow.cli.options import Settings, engine_options
from cmc_workflow.cli.output import cell, emit_json, table
from cmc_workflow.errors import WorkflowNotFound
from cmc_workflow.i18n import N_, heading, shown, tr
from cmc_workflow.migration.diff import HOW_ZH, WHAT_ZH, PolicyView, VersionDiff, diff_versions


class _Versions(Group):
    """``versions WORKFLOW`` reads as ``versions list WORKFLOW`` (the command before
    ``diff`` existed)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(
    cls=_Versions,
    help=N_(
        "The stored versions of a workflow: `versions WORKFLOW` lists them, `versions "
        "diff WORKFLOW OLD NEW` shows what changed."
    ),
)
def versions() -> None:
    pass


@versions.command(
    "list",
    help=N_(
        "List the stored versions of WORKFLOW: revision, label, hash prefix, loaded at, "
        "open items, and which one new items start on (current)."
    ),
)
@click.argument("workflow")
@engine_options
def list_versions(settings: Settings, *, workflow: str) -> None:
    with settings.open_engine() as engine:
        found = engine.versions(workflow)
        if settings.as_json:
            emit_json(found)
        else:
            click.echo(versions_table(found), nl=False)


def diff_text(diff: VersionDiff) -> str:
    """The readable diff: one table, Chinese labels first."""
    rows = [
        [
            f"{WHAT_ZH.get(c.what, c.what)} {c.what}",
            f"{HOW_ZH.get(c.how, c.how)} {c.how}",
            c.key,
            "—" if c.live is None else str(c.live),
            cell(shown(c.detail, c.detail_zh, sep=" / "), 80),
        ]
        for c in diff.changes
    ]
    new = (
        tr("revision {n}", n=diff.new)
        if isinstance(diff.new, int)
        else tr("file {path}", path=diff.new)
    )
    head = tr(
        "workflow {workflow}: revision {old} -> {new}, {count} difference(s)",
        workflow=diff.workflow,
        old=diff.old,
        new=new,
        count=len(diff.changes),
    )
    headers = [N_("What"), N_("Change"), N_("Identifier"), N_("Live items"), N_("Detail")]
    return shown(*head, sep="\n") + "\n" + table([heading(h) for h in headers], rows)


@versions.command(
    "diff",
    help=N_(
        "What changed from revision OLD of WORKFLOW to revision NEW (or to its file "
        "under --new-from): states, transitions, form and data fields, deadlines, and, "
        "with --policies, the policy rules that apply; each removed or changed state "
        "with its number of live items on OLD. Reads the database only."
    ),
)
@click.argument("workflow")
@click.argument("old", type=int)
@click.argument("new", type=int, required=False)
@click.option(
    "--new-from",
    "new_from",
    type=click.Path(exists=True),
    default=None,
    help=N_(
        "Compare with WORKFLOW's file found under this path (a file or a folder) instead "
        "of a stored revision NEW."
    ),
)
@engine_options
def diff(
    settings: Settings, *, workflow: str, old: int, new: int | None, new_from: str | None
) -> None:
    from cmc_workflow.language import load_paths
    from cmc_workflow.store import Store

    if (new is None) == (new_from is None):
        raise click.UsageError(str(tr("give NEW (a stored revision) or --new-from PATH, not both")))
    target: Any = new
    if new_from is not None:
        loaded = load_paths([new_from], across=False)
        loaded.raise_for_problems()
        if workflow not in loaded.workflows:
            raise WorkflowNotFound(
                tr("no workflow {workflow!r} under {path}", workflow=workflow, path=new_from)
            )
        target = loaded.workflows[workflow]
    policies = PolicyView([*settings.workflows, *settings.policies]) if settings.policies else None
    store = Store.open(settings.db)
    try:
        found = diff_versions(store, workflow, old, target, policies=policies)
    finally:
        store.close()
    if settings.as_json:
        emit_json(found)
    else:
        click.echo(diff_text(found), nl=False)


COMMANDS: list[click.Command] = [versions]
