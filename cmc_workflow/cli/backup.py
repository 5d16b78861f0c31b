"""``cmc-workflow backup``, ``backup verify`` and ``restore`` (SEC-4, 应设置异地备份).

``backup --db URL --to DIR [--keep N]`` writes a consistent copy of the live database and
its manifest into DIR (the folder an administrator points at off-site storage);
``backup verify FILE|DIR`` restores a backup into a scratch database and proves it whole
(checksum, audit chains, counts), exit 1 naming each broken item; ``restore FILE --db
URL [--force]`` verifies, then restores. Errors carry a code (``E-BACKUP-...``), the
same in both languages; exit statuses are rows of :data:`cmc_workflow.exits.EXIT_CODES`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from cmc_workflow.backup import (
    Restored,
    Verified,
    backups_in,
    restore_backup,
    take_backup,
    verify_backup,
)
from cmc_workflow.backup.census import Census
from cmc_workflow.cli.exits import Exit, fail, handled
from cmc_workflow.cli.help import Command, Group
from cmc_workflow.cli.options import db_option, json_option
from cmc_workflow.cli.output import emit_json
from cmc_workflow.errors import BackupError
from cmc_workflow.i18n import N_, Text, shown, tr

EXITS: dict[str, Exit] = {
    "E-BACKUP-TOOL-MISSING": Exit.DATABASE,
    "E-BACKUP-TOOL-VERSION": Exit.DATABASE,
    "E-BACKUP-TOOL-FAILED": Exit.DATABASE,
    "E-BACKUP-SCRATCH": Exit.DATABASE,
    "E-BACKUP-FAILED": Exit.DATABASE,
    "E-RESTORE-FAILED": Exit.DATABASE,
    "E-BACKUP-MANIFEST": Exit.PROBLEMS,
}
"""The exit status of each error code; the others (a folder, a source, a target refused)
exit :attr:`Exit.USAGE`."""


@contextmanager
def _handled(as_json: bool) -> Iterator[None]:
    """:func:`handled`, and a :class:`BackupError` as its code, place and both languages."""
    with handled(as_json):
        try:
            yield
        except BackupError as exc:  # before handled() takes it as any library error
            fail(
                Exit(EXITS.get(exc.code, Exit.USAGE)),
                f"{exc.where}: {exc.code} {exc.reason_en}\n{exc.where}：{exc.code} {exc.reason_zh}",
                as_json,
                rule=exc.code,
                where=exc.where,
                message_zh=exc.reason_zh,
            )


pg_dump_option = click.option(
    "--pg-dump",
    default=None,
    envvar="CMC_PG_DUMP",
    help=N_("The pg_dump program (pg_restore is looked for beside it)  [default: on PATH]"),
)
scratch_option = click.option(
    "--scratch-url",
    default=None,
    envvar="CMC_SCRATCH_URL",
    help=N_(
        "PostgreSQL server (URL of a user that may create databases) to restore a dump "
        "into for the check; a database is made there and dropped after."
    ),
)


@click.group(
    "backup",
    invoke_without_command=True,
    cls=Group,
    help=N_(
        "Back the database at --db up into --to DIR, consistently while daemons and "
        "commands write: a copy and its manifest (time, versions, counts, audit chain "
        "anchors, SHA-256). `backup verify` proves a backup restores."
    ),
)
@db_option
@click.option(
    "--to",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="CMC_BACKUP_DIR",
    help=N_("The folder the backup goes into (created if missing): point it at off-site storage."),
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    help=N_(
        "Then remove the oldest backups of the folder beyond the newest N (only those "
        "this tool wrote)."
    ),
)
@pg_dump_option
@json_option
@click.pass_context
def backup_group(
    ctx: click.Context,
    db: str,
    folder: Path | None,
    keep: int | None,
    pg_dump: str | None,
    as_json: bool,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    if folder is None:
        raise click.UsageError(
            str(tr("give the folder to write into: --to DIR (or CMC_BACKUP_DIR)"))
        )
    with _handled(as_json):
        taken = take_backup(db, folder, keep=keep, pg_dump=pg_dump)
    census = taken.census
    if as_json:
        emit_json(
            {
                "file": str(taken.file),
                "manifest": str(taken.manifest),
                "size": taken.size,
                "sha256": taken.sha256,
                "seconds": round(taken.seconds, 3),
                "items": census.item_count,
                "history_rows": census.history_rows,
                "audit_records": census.audit_records,
                "audit_chains": len(census.audit_heads),
                "removed": [str(p) for p in taken.removed],
            }
        )
        return
    seconds = f"{taken.seconds:.2f}"
    written = tr(
        "backup written: {file} ({size} bytes, {seconds} s)",
        file=taken.file,
        size=taken.size,
        seconds=seconds,
    )
    click.echo(shown(*written, sep="\n"))
    click.echo(
        tr("manifest: {manifest}  sha256 {sha256}", manifest=taken.manifest, sha256=taken.sha256)
    )
    click.echo(_census(census))
    for path in taken.removed:
        click.echo(tr("removed (--keep {keep}): {path}", keep=keep, path=path))


def _census(census: Census) -> Text:
    """What a backup holds: items, history rows, audit records and chains."""
    return tr(
        "{items} items, {history} history rows, {records} audit records in {chains} chains",
        items=census.item_count,
        history=census.history_rows,
        records=census.audit_records,
        chains=len(census.audit_heads),
    )


def _report(verified: Verified) -> None:
    """The human report of a verification: each issue in both languages, then a verdict."""
    for issue in verified.issues:
        click.echo(str(issue))
        click.echo(f"    {issue.zh}")
    census = verified.census
    if census is not None:
        click.echo(
            tr(
                "restored into a scratch database: {items} items, {history} history rows, "
                "{records} audit records",
                items=census.item_count,
                history=census.history_rows,
                records=census.audit_records,
            )
        )
    name = verified.backup.file.name
    if verified.ok:
        click.echo(tr("{name}: intact, restores", name=name))
    else:
        click.echo(tr("{name}: {count} finding(s)", name=name, count=len(verified.issues)))


@backup_group.command(
    "verify",
    help=N_(
        "Prove the backup PATH (its file, its .json manifest, or a folder: its newest, "
        "or each with --all) restores: checksum, restore into a scratch database, audit "
        "verification, item counts and chain anchors against the manifest. Exit 0 "
        "intact, 1 with findings (each naming the item and its workflow)."
    ),
)
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--all",
    "every",
    is_flag=True,
    help=N_("With a folder: verify each of its backups, not only the newest."),
)
@scratch_option
@click.option(
    "--db",
    "db",
    default=None,
    envvar="CMC_DB",
    help=N_("Without --scratch-url: the scratch database for a dump is made on this server."),
)
@pg_dump_option
@json_option
def verify(
    path: Path,
    every: bool,
    scratch_url: str | None,
    db: str | None,
    pg_dump: str | None,
    as_json: bool,
) -> None:
    scratch = scratch_url or (db if db and db.startswith("postgres") else None)
    with _handled(as_json):
        paths = [b.manifest_path for b in backups_in(path)] if every and path.is_dir() else []
        results = [verify_backup(p, scratch_url=scratch, pg_dump=pg_dump) for p in paths or [path]]
    if as_json:
        if every:
            emit_json({"ok": all(r.ok for r in results), "backups": [r.as_json() for r in results]})
        else:
            emit_json(results[0].as_json())
    else:
        for verified in results:
            _report(verified)
    if not all(r.ok for r in results):
        raise SystemExit(Exit.PROBLEMS)


@click.command(
    "restore",
    cls=Command,
    help=N_(
        "Restore the backup PATH into --db: verified first (as `backup verify`); a "
        "target that holds tables is refused unless --force. Exit 0 restored, 1 the "
        "backup failed its checks (nothing written), 2 refused."
    ),
)
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@db_option
@click.option(
    "--force",
    is_flag=True,
    help=N_("Replace the contents of a target that is not empty (stop its daemons first)."),
)
@scratch_option
@pg_dump_option
@json_option
def restore(
    path: Path,
    db: str,
    force: bool,
    scratch_url: str | None,
    pg_dump: str | None,
    as_json: bool,
) -> None:
    with _handled(as_json):
        restored = restore_backup(path, db, force=force, scratch_url=scratch_url, pg_dump=pg_dump)
    _restored(restored, as_json)
    if not restored.ok:
        raise SystemExit(Exit.PROBLEMS)


def _restored(restored: Restored, as_json: bool) -> None:
    census = restored.census
    if as_json:
        emit_json(
            {
                "ok": restored.ok,
                "restored": census is not None,
                "target": restored.target,
                "verification": restored.verified.as_json(),
                "items": census.item_count if census else None,
                "issues": [i.as_json() for i in restored.issues],
            }
        )
        return
    _report(restored.verified)
    for issue in restored.issues:
        click.echo(str(issue))
        click.echo(f"    {issue.zh}")
    if census is None:
        click.echo(tr("nothing restored: the backup failed its checks"))
    else:
        click.echo(
            tr(
                "restored into {target}: {items} items",
                target=restored.target,
                items=census.item_count,
            )
        )


COMMANDS: list[click.Command] = [backup_group, restore]
