"""The ``bpmn`` command: workflows as BPMN 2.0 XML for bpmn.io and Camunda Modeler."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cmc_workflow.bpmn import file_name, to_bpmn
from cmc_workflow.bpmn.timers import Lang
from cmc_workflow.cli.definitions import _load_one
from cmc_workflow.cli.exits import Exit, problems_found
from cmc_workflow.cli.help import Command
from cmc_workflow.cli.options import need, workflows_option
from cmc_workflow.i18n import N_, tr
from cmc_workflow.language import load_paths


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless it already holds exactly that, and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        click.echo(tr("unchanged {path}", path=path))
        return
    path.write_text(text, encoding="utf-8")
    click.echo(tr("wrote {path}", path=path))


@click.command(
    cls=Command,
    help=N_(
        "Export WORKFLOW (an id in --workflows, or a YAML file) as BPMN 2.0 XML with "
        "its diagram, to open in bpmn.io or Camunda Modeler; or every workflow with "
        "--all DIR.\n\n"
        "Roles become lanes of one pool, deadlines timer boundary events; requirement "
        "ids, forms and guards go into the documentation. Exits 0; 1, printing the "
        "problems, when a definition is broken; 2 on a malformed command line."
    ),
)
@click.argument("workflow", required=False)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help=N_("Write WORKFLOW's export to this file instead of stdout."),
)
@click.option(
    "--all",
    "folder",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help=N_("Export every workflow in --workflows into DIR, one <id>.bpmn each."),
)
@workflows_option
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default="zh",
    show_default=True,
    help=N_("Language of the names in the diagram."),
)
def bpmn(
    workflow: str | None,
    output: str | None,
    folder: str | None,
    workflows: list[str],
    lang: str,
) -> None:
    language: Lang = "en" if lang == "en" else "zh"
    if (workflow is None) == (folder is None):
        raise click.UsageError(str(tr("give WORKFLOW or --all DIR, one of them")))
    if folder is not None:
        if output is not None:
            raise click.UsageError(
                str(tr("-o/--output exports one WORKFLOW; --all writes into its DIR"))
            )
        loaded = load_paths(need(workflows, "--workflows", "workflows"), across=False)
        problems_found(loaded.problems)
        for warning in loaded.warnings:  # W- codes: said, and the export goes on
            click.echo(str(warning), err=True)
        for ident in sorted(loaded.workflows):
            wf = loaded.workflows[ident].definition
            _write(Path(folder) / file_name(wf.id), to_bpmn(wf, language))
        sys.exit(Exit.OK)
    assert workflow is not None
    text = to_bpmn(_load_one(workflow, workflows), language)
    if output is None or output == "-":
        click.echo(text, nl=False)
    else:
        _write(Path(output), text)


COMMANDS: list[click.Command] = [bpmn]
