"""``cmc-workflow console``: the web console's sign-in credentials
(:mod:`cmc_workflow.console.passwords`).

- ``console password --db URL PERSON`` asks twice for a new password (or reads one line
  from standard input with ``--stdin``), stores its scrypt hash and ends the person's open
  console sessions. The person must be filed in the staff register.
"""

from __future__ import annotations

import datetime as dt
import getpass
import sys

import click

from cmc_workflow.cli.exits import Exit, fail, handled
from cmc_workflow.cli.help import Group
from cmc_workflow.cli.options import db_option
from cmc_workflow.i18n import N_, tr


@click.group("console", cls=Group, help=N_("The web console's sign-in: console passwords."))
def console_group() -> None:
    pass


@console_group.command(
    "password",
    help=N_(
        "Set PERSON's console password (a person of the staff register); their open "
        "console sessions end. The database keeps an scrypt hash, never the password."
    ),
)
@db_option
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help=N_("Read the password from the first line of standard input (scripts)."),
)
@click.argument("person")
def password(db: str, from_stdin: bool, person: str) -> None:
    from cmc_workflow.console.passwords import password_problem, set_password
    from cmc_workflow.runner.assemble import existing_store

    if from_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    else:
        secret = click.prompt(str(tr("password")), hide_input=True, confirmation_prompt=True)
    problem = password_problem(secret)
    if problem is not None:
        fail(Exit.USAGE, str(problem), False)
    with handled(False), existing_store(db) as store:
        try:
            row = set_password(
                store, person, secret, by=getpass.getuser(), now=dt.datetime.now(dt.UTC)
            )
        except ValueError as exc:
            fail(Exit.USAGE, str(exc), False)
    click.echo(tr("console password of {person} set; their sessions ended", person=row.person_id))


COMMANDS: list[click.Command] = [console_group]
