"""Commands about definition files: ``validate``, ``schema``, ``graph``, ``explain``."""

from __future__ import annotations

import sys

import click

from cmc_workflow.definition import load_paths


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
def validate(paths: tuple[str, ...]) -> None:
    """Check workflow and policy files; print problems as file:line:col: CODE message.

    Exits 0 when every file is clean, 1 when any problem was found.
    """
    loaded = load_paths(paths)
    for problem in loaded.problems:
        click.echo(str(problem))
    sys.exit(1 if loaded.problems else 0)


COMMANDS: list[click.Command] = [validate]
