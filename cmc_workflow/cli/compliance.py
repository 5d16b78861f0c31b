"""Commands about the requirements: ``compliance`` (the matrix) and ``docs`` (workflow pages).

Exit codes: 0 done (``compliance``: every ``must`` requirement is carried out at its level —
enforced and proven, host and documented, or reported where the clause itself asks only
for a report — and nothing is broken); 1 a
definition file has problems (listed as ``file:line:col: CODE message``); 2 a usage error
(a bad option, a requirements file with no ids); 5 ``compliance`` found a ``must`` that is
a gap (only recorded, only reported where the clause asks for more, partial, unproven,
cited or nothing) or something broken (the
matrix is still printed or written).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cmc_workflow.cli.exits import Exit, problems_found
from cmc_workflow.cli.help import Command
from cmc_workflow.cli.options import need, policies_option, workflows_option
from cmc_workflow.compliance.citations import relative
from cmc_workflow.compliance.knockout import TIMEOUT, Result, knockout
from cmc_workflow.compliance.matrix import compliance_matrix, proofs_under
from cmc_workflow.compliance.pages import DOCS_COMMAND, GENERATED_MARK, workflow_pages
from cmc_workflow.compliance.render import (
    MARKDOWN_COMMAND,
    render_json,
    render_markdown,
    render_table,
)
from cmc_workflow.compliance.requirements import (
    BUNDLED_DISPLAY,
    Requirement,
    bundled_requirements_text,
    duplicate_ids,
    parse_requirements,
)
from cmc_workflow.definition.loader import LoadedSet
from cmc_workflow.i18n import N_, tr
from cmc_workflow.language import load_paths

EXIT_DEFINITION = Exit.PROBLEMS
EXIT_UNCOVERED = Exit.UNCOVERED
"""``compliance``: a must requirement is uncovered, or a citation is broken."""

_requirements_option = click.option(
    "--requirements",
    "requirements_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help=N_(
        "The requirements file (REQUIREMENTS.md)  [default: the copy shipped with cmc-workflow]"
    ),
)


def _requirements(requirements_file: str | None, base: Path) -> tuple[list[Requirement], str]:
    """The requirement list and how to name its file; a file without ids is a usage error."""
    if requirements_file is None:
        text, name = bundled_requirements_text(), BUNDLED_DISPLAY
    else:
        text = Path(requirements_file).read_text(encoding="utf-8")
        name = relative(requirements_file, base)
    requirements = parse_requirements(text)
    if not requirements:
        raise click.BadParameter(
            str(
                tr(
                    "{name} states no requirement id (bullets '- **PUB-1 Title.** text' or table "
                    "rows '| INS-1 | duty | ... |')",
                    name=name,
                )
            ),
            param_hint="--requirements",
        )
    for ident in duplicate_ids(text):
        click.echo(f"{name}: requirement {ident} is stated twice; the first counts", err=True)
    return requirements, name


def _definitions(workflows: list[str], policies: list[str]) -> LoadedSet:
    """Every definition; on problems print them and exit 1."""
    loaded = load_paths([*need(workflows, "--workflows", "workflows"), *policies])
    problems_found(loaded.problems)
    return loaded


def _write(text: str, output: str | None) -> None:
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@click.command(
    cls=Command,
    help=N_(
        "The compliance matrix: per requirement id, its level, its enforcement kind "
        "(enforced, recorded, reported, host), the elements citing it and the tests "
        'that prove it (pytest.mark.enforces("ID", element="file#yaml.path")).\n\n'
        "Kinds are declared in cmc_workflow/compliance/kinds.py and checked: an id is "
        "enforced only when a marked test proves it, host only when its docs anchor "
        "exists. A must is met when enforced or host, or reported when its clause asks "
        "only for a report (the declaration quotes the clause's words); a should or may "
        "when anything but unproven, cited or nothing. Exits 0 when every must is met "
        "and nothing is broken; 5 otherwise (gaps and problems are listed); 1 when a "
        "definition file has problems. With --knockout, every marked test runs without "
        "its element (a few seconds each). Regenerate the docs page with: cmc-workflow "
        "compliance --format markdown --output docs/compliance.md"
    ),
)
@workflows_option
@policies_option
@click.option(
    "--tests",
    "tests_dir",
    default=None,
    type=click.Path(exists=True),
    help=N_("Test modules whose pytest.mark.req markers count  [default: tests/ when it exists]"),
)
@_requirements_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "json"]),
    default="table",
    show_default=True,
    help=N_("A table for the terminal, the Markdown of docs/compliance.md, or JSON."),
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help=N_("Write to this file instead of stdout."),
)
@click.option(
    "--knockout",
    "run_knockout",
    is_flag=True,
    help=N_(
        "Run every test marked enforces(ID, element=...) on the intact definitions (it "
        "must pass) and on a copy without its element (it must fail); needs the repository "
        "(tests/, workflows/, policies/) as the current folder."
    ),
)
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="ID",
    help=N_("With --knockout: only the proofs of these requirement ids; repeatable."),
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=TIMEOUT,
    show_default=True,
    help=N_("With --knockout: seconds one test run may take before it is killed."),
)
def compliance(
    workflows: list[str],
    policies: list[str],
    tests_dir: str | None,
    requirements_file: str | None,
    fmt: str,
    output: str | None,
    run_knockout: bool,
    only: tuple[str, ...],
    timeout: float,
) -> None:
    base = Path.cwd()
    requirements, name = _requirements(requirements_file, base)
    loaded = _definitions(workflows, policies)
    if tests_dir is None and Path("tests").is_dir():
        tests_dir = "tests"
    results: list[Result] | None = None
    if run_knockout:
        if not tests_dir:
            raise click.BadParameter(
                str(tr("--knockout needs the tests (--tests)")), param_hint="--tests"
            )
        proofs = [
            p for p in proofs_under(Path(tests_dir), base) if not only or p.requirement in only
        ]
        click.echo(
            f"knockout: {len(proofs)} proof(s), one test run each (and once intact)", err=True
        )
        results = knockout(proofs, base, timeout=timeout, progress=_progress)
    matrix = compliance_matrix(
        requirements,
        loaded,
        Path(tests_dir) if tests_dir else None,
        requirements_file=name,
        base=base,
        results=results,
    )
    if fmt == "markdown":
        _write(render_markdown(matrix, MARKDOWN_COMMAND), output)
    elif fmt == "json":
        _write(render_json(matrix), output)
    else:
        _write(render_table(matrix), output)
    if output not in (None, "-") and not matrix.ok:
        click.echo(
            f"{len(matrix.must_gaps)} must requirement(s) not met, "
            f"{len(matrix.issues)} problem(s) (see {output})",
            err=True,
        )
    sys.exit(Exit.OK if matrix.ok else Exit.UNCOVERED)


@click.command(
    cls=Command,
    help=N_(
        "Write a Markdown page per workflow (diagram, states, transitions, policies and "
        "the clauses it carries out) and an index README.md into --output.\n\n"
        "Pages of workflows that no longer exist are removed (only files that this "
        "command generated). Exits 0, or 1 when a definition file has problems. The "
        "bundled pages are regenerated with: cmc-workflow docs --output docs/workflows"
    ),
)
@workflows_option
@policies_option
@_requirements_option
@click.option(
    "--output",
    default="docs/workflows",
    show_default=True,
    type=click.Path(file_okay=False),
    help=N_("The folder of the pages."),
)
def docs(
    workflows: list[str], policies: list[str], requirements_file: str | None, output: str
) -> None:
    base = Path.cwd()
    requirements, _ = _requirements(requirements_file, base)
    loaded = _definitions(workflows, policies)
    pages = workflow_pages(loaded, requirements, base=base, command=DOCS_COMMAND)
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in sorted(folder.glob("*.md")):
        if stale.name not in pages and _generated(stale):
            stale.unlink()
            click.echo(f"removed {relative(stale, base)}")
    for name, text in pages.items():
        path = folder / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            click.echo(f"wrote {relative(path, base)}")


def _progress(result: Result) -> None:
    proof = result.proof
    click.echo(
        f"  {result.outcome:<17} {proof.requirement:<7} {proof.element} "
        f"({proof.node_id}, {result.seconds:.1f} s)",
        err=True,
    )


def _generated(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.read(len(GENERATED_MARK)) == GENERATED_MARK
    except (OSError, UnicodeDecodeError):
        return False


COMMANDS: list[click.Command] = [compliance, docs]
