"""Commands about definition files: ``validate``, ``schema``, ``graph``, ``explain``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from cmc_workflow.cli.exits import Exit, problems_found
from cmc_workflow.cli.findings import chosen, format_option, report
from cmc_workflow.cli.help import Command
from cmc_workflow.cli.options import workflows_option
from cmc_workflow.definition.models import Workflow
from cmc_workflow.diagram import explain_table, to_dot, to_mermaid
from cmc_workflow.i18n import N_
from cmc_workflow.language import iter_yaml_files, load_paths, near_miss_warnings, no_files_problem
from cmc_workflow.located import load_located, read_source


@click.command(
    cls=Command,
    help=N_(
        "Check definition files (workflows, schedules, policies, calendars) and "
        "folders; print problems as file:line:col: CODE message.\n\n"
        "--format json prints one JSON document and --format sarif a SARIF 2.1.0 log on "
        "stdout, problems or not. Exits 0 when no file has an error (warnings, W- "
        "codes, pass unless --strict), 1 otherwise, also when no definition file was "
        "found."
    ),
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@format_option
def validate(paths: tuple[str, ...], fmt: str | None, strict: bool) -> None:
    loaded = load_paths(paths)
    problems = [*loaded.problems, *loaded.warnings]
    # nothing read: one error naming the near misses; else a warning for each
    problems += [no_files_problem(paths)] if not loaded.files else near_miss_warnings(paths)
    code = report(
        "validate",
        problems,
        fmt=chosen(fmt, False),
        strict=strict,
        extra={"files": loaded.files, "workflows": sorted(loaded.workflows)},
    )
    sys.exit(Exit(code))


SCHEMA_KINDS = (
    "calendar",
    "definition",
    "migration",
    "notifications",
    "policy",
    "schedules",
    "workflow",
)
"""The names of :data:`cmc_workflow.schemas.SCHEMAS`, sorted (a test keeps them equal):
``validate``, in this module too, need not build every kind's models to list them."""


@click.command(
    cls=Command,
    help=N_(
        "Print the JSON Schema (draft-07) of one kind of definition file.\n\n"
        "Regenerate the checked-in copies with: cmc-workflow schema --kind KIND > "
        "schema/KIND.schema.json (for KIND in workflow, policy, schedules, calendar, "
        "definition)."
    ),
)
@click.option(
    "--kind",
    type=click.Choice(SCHEMA_KINDS),
    default="workflow",
    show_default=True,
    help=N_(
        "The file kind: workflow, policy, schedules, calendar, or definition (any of the "
        "first three, chosen by the file's kind:)."
    ),
)
def schema(kind: str) -> None:
    from cmc_workflow.schemas import render  # every kind's models: only for this command

    click.echo(render(kind), nl=False)


_LANG_OPTION = click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default="zh",
    show_default=True,
    help=N_("Language of the labels."),
)


def _files_for(workflow: str, workflows: Sequence[str]) -> list[Path]:
    """The file(s) holding ``workflow``: a path as given, else the files with that id
    under ``--workflows``."""
    path = Path(workflow)
    if path.is_file():
        return [path]
    if not workflows:
        raise click.BadParameter(
            f"{workflow!r} is not a file, and the folder 'workflows' does not exist",
            param_hint="WORKFLOW",
        )
    found: list[Path] = []
    known: list[str] = []
    for file in iter_yaml_files(workflows):
        text, _refused = read_source(file)  # never blocks on a FIFO named x.yaml
        data = load_located(text, str(file))[0].data if text is not None else None
        ident = data.get("id") if isinstance(data, dict) else None
        if isinstance(ident, str):
            known.append(ident)
        if ident == workflow or (ident is None and file.stem == workflow):
            found.append(file)
    if not found:
        raise click.BadParameter(
            f"no workflow {workflow!r} in {', '.join(workflows)} "
            f"(ids there: {', '.join(sorted(known)) or 'none'})",
            param_hint="WORKFLOW",
        )
    return found


def _load_one(workflow: str, workflows: Sequence[str]) -> Workflow:
    """The checked definition of ``workflow``; on problems print them and exit 1."""
    files = _files_for(workflow, workflows)
    loaded = load_paths(files, across=False)  # its links are validate's business
    problems_found(loaded.problems)
    if not loaded.workflows:
        click.echo(f"{files[0]}: not a workflow definition", err=True)
        sys.exit(Exit.PROBLEMS)
    return next(iter(loaded.workflows.values())).definition


@click.command(
    cls=Command,
    help=N_(
        "Print the state diagram of WORKFLOW (an id in --workflows, or a YAML file).\n\n"
        "Exits 1, printing the problems, when the definition is broken."
    ),
)
@click.argument("workflow")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot"]),
    default="mermaid",
    show_default=True,
    help=N_("Mermaid stateDiagram-v2, or Graphviz DOT."),
)
@workflows_option
@_LANG_OPTION
def graph(workflow: str, fmt: str, workflows: list[str], lang: str) -> None:
    wf = _load_one(workflow, workflows)
    render = to_mermaid if fmt == "mermaid" else to_dot
    click.echo(render(wf, "en" if lang == "en" else "zh"), nl=False)


@click.command(
    cls=Command,
    help=N_(
        "Print a table of WORKFLOW: states, who may fire what, guards, forms, "
        "deadlines.\n\n"
        "WORKFLOW is an id found in --workflows, or a YAML file. Exits 1, printing the "
        "problems, when the definition is broken."
    ),
)
@click.argument("workflow")
@workflows_option
def explain(workflow: str, workflows: list[str]) -> None:
    click.echo(explain_table(_load_one(workflow, workflows)), nl=False)


COMMANDS: list[click.Command] = [validate, schema, graph, explain]
