"""``cmc-workflow serve``: the HTTP API (:mod:`cmc_workflow.api`) under uvicorn.

``cmc-workflow serve --db URL --workflows DIR --policies DIR --host 127.0.0.1 --port N``
serves the API until SIGTERM/SIGINT; ``cmc-workflow serve --openapi`` prints the OpenAPI
document and exits (no database is opened); ``--openapi-markdown`` prints the reference
page generated from it (:mod:`cmc_workflow.api.reference`, ``docs/api-reference.md``).
Needs the ``api`` extra (``pip install 'cmc-workflow[api]'``).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from cmc_workflow.cli.exits import Exit, fail, handled
from cmc_workflow.cli.help import Command
from cmc_workflow.cli.options import (
    CalendarChoice,
    calendar_options,
    db_option,
    log_level_option,
    need,
    policies_option,
    workflows_option,
)
from cmc_workflow.i18n import N_, tr


def _api() -> Any:
    try:
        import fastapi  # noqa: F401  # only to tell a missing extra apart
        import uvicorn  # noqa: F401
    except ImportError as exc:
        said = tr(
            "the HTTP API needs the 'api' extra: pip install 'cmc-workflow[api]' ({error})",
            error=exc,
        )
        fail(Exit.USAGE, str(said), False)
    from cmc_workflow import api

    return api


def _compliance(loaded: Any) -> Any:
    def build() -> dict[str, Any]:
        from cmc_workflow.compliance.matrix import compliance_matrix
        from cmc_workflow.compliance.render import matrix_json
        from cmc_workflow.compliance.requirements import (
            BUNDLED_DISPLAY,
            bundled_requirements_text,
            parse_requirements,
        )

        requirements = parse_requirements(bundled_requirements_text())
        matrix = compliance_matrix(requirements, loaded, None, requirements_file=BUNDLED_DISPLAY)
        return matrix_json(matrix)

    return build


@click.command(
    cls=Command,
    help=N_(
        "Serve the HTTP API: commands, queries, reports and calendar arithmetic over "
        "HTTP for host systems (Java, PHP, .NET), with API tokens (`cmc-workflow token "
        "create`).\n\n"
        "Errors are RFC 9457 problem documents in Chinese (default) or English. "
        "SIGTERM/SIGINT stop it gracefully. Exit codes: 0 stopped, 1 definition "
        "problems, 2 bad command line or the api extra missing, 3 database unavailable "
        "or out of date."
    ),
)
@db_option
@workflows_option
@policies_option
@calendar_options
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="CMC_HOST",
    help=N_("The address to listen on."),
)
@click.option(
    "--port",
    default=8080,
    show_default=True,
    envvar="CMC_PORT",
    type=click.IntRange(0, 65535),
    help=N_("The TCP port to listen on."),
)
@click.option(
    "--max-body",
    default=1_048_576,
    show_default=True,
    envvar="CMC_MAX_BODY",
    type=click.IntRange(min=1024),
    help=N_("The largest request body taken, in bytes (larger: 413)."),
)
@click.option(
    "--auth-failures",
    default=10,
    show_default=True,
    envvar="CMC_AUTH_FAILURES",
    type=click.IntRange(min=1),
    help=N_("Failed sign-ins per client address within --auth-window before 429."),
)
@click.option(
    "--auth-window",
    default=60.0,
    show_default=True,
    envvar="CMC_AUTH_WINDOW",
    type=click.FloatRange(min=1.0),
    help=N_("Seconds over which failed sign-ins are counted."),
)
@click.option(
    "--migrate/--no-migrate",
    default=None,
    envvar="CMC_MIGRATE",
    help=N_("Upgrade the database schema at start (default: only a fresh SQLite file)."),
)
@click.option("--openapi", is_flag=True, help=N_("Print the OpenAPI document and exit."))
@click.option(
    "--openapi-markdown",
    is_flag=True,
    help=N_("Print the API reference in Markdown (docs/api-reference.md) and exit."),
)
@log_level_option("info")
def serve(
    db: str,
    workflows: list[str],
    policies: list[str],
    cal: CalendarChoice,
    host: str,
    port: int,
    max_body: int,
    auth_failures: int,
    auth_window: float,
    migrate: bool | None,
    openapi: bool,
    openapi_markdown: bool,
) -> None:
    api = _api()
    from cmc_workflow.api.app import create_app
    from cmc_workflow.api.guards import FailureLimiter
    from cmc_workflow.runner.assemble import load_definitions, open_engine

    with handled(False):
        loaded = load_definitions([*workflows, *policies])
        if openapi or openapi_markdown:
            from cmc_workflow.api.reference import markdown
            from cmc_workflow.engine import assemble
            from cmc_workflow.store.memory import MemoryStore

            engine = assemble(MemoryStore(), loaded, calendar=cal.load())
            document = create_app(engine, loaded=loaded).openapi()
            engine.close()
            if openapi_markdown:
                click.echo(markdown(document), nl=False)
            else:
                click.echo(json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True))
            return
        need(workflows, "--workflows", "workflows")
        calendar = cal.load()
        from cmc_workflow.webhooks.extension import Webhooks

        webhook_key = os.environ.get("CMC_WEBHOOK_KEY") or None  # a secret: never an option
        engine = open_engine(
            db,
            loaded,
            calendar=calendar,
            handlers=None,
            deliver_inline=False,
            migrate=migrate,
            extensions=[Webhooks(webhook_key)],
        )
    import uvicorn

    try:
        app = create_app(
            engine,
            loaded=loaded,
            calendar=calendar,
            max_body=max_body,
            failures=FailureLimiter(auth_failures, auth_window),
            compliance=_compliance(loaded),
            webhook_key=webhook_key,
        )
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
        )
        server = uvicorn.Server(config)
        click.echo(
            tr(
                "cmc-workflow API on http://{host}:{port} (OpenAPI: /openapi.json)",
                host=host,
                port=port,
            ),
            err=True,
        )
        server.run()
    finally:
        engine.close()
    del api
    sys.exit(Exit.OK)


COMMANDS: list[click.Command] = [serve]
