"""Proving a backup restores: ``backup verify`` and ``restore``.

:func:`verify_backup` checks the file's SHA-256 against its manifest, restores it into a
scratch database (a temporary SQLite file; for a dump, a temporary PostgreSQL database
loaded by ``pg_restore`` and dropped afterwards), migrates that copy to this release's
schema if it is older, runs the audit verification of ``cmc-workflow audit verify`` on it
(:func:`cmc_workflow.store.verification.verify`: every audit and history chain against
its anchor), and takes the census again to compare with the manifest's: items per
workflow and state, history rows, audit records, and every chain's anchor. Each finding
names the item (id and workflow) where there is one. A wrong checksum does not stop the
check: the restore and the audit still run, so that the edited item is named.

:func:`restore_backup` verifies first, refuses a target that holds tables unless
``force``, restores, and takes the census of the target to prove the copy arrived whole.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError

from cmc_workflow.backup import postgres, sqlite
from cmc_workflow.backup.census import Census, anchor_key, take_census
from cmc_workflow.backup.files import Backup, locate, sha256_of
from cmc_workflow.backup.take import database_kind
from cmc_workflow.errors import BackupError, StoreError
from cmc_workflow.i18n import N_, Text, tr
from cmc_workflow.store import schema
from cmc_workflow.store.database import open_database
from cmc_workflow.store.tables import audit, history
from cmc_workflow.store.verification import Finding, Verification, verify


@dataclass(frozen=True, slots=True)
class Issue:
    """One thing wrong with a backup: a stable ``code`` (the same in both languages), what
    broke in English and Chinese, and the item concerned where there is one."""

    code: str
    message: str
    message_zh: str
    item_id: int | None = None
    workflow: str | None = None
    table: str | None = None
    row_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "item_id": self.item_id,
            "workflow": self.workflow,
            "table": self.table,
            "row_id": self.row_id,
            "message": self.message,
            "message_zh": self.message_zh,
        }

    def __str__(self) -> str:
        return f"{self.code} {self._item().en}{self.message}"

    @property
    def zh(self) -> str:
        """The issue in Chinese, its code first."""
        return f"{self.code} {self._item().zh}{self.message_zh}"

    def _item(self) -> Text:
        if not self.item_id:
            return Text("", "")
        return tr("item {item} ({workflow}): ", item=self.item_id, workflow=self.workflow or "?")


@dataclass(slots=True)
class Verified:
    """The outcome of :func:`verify_backup`."""

    backup: Backup
    checksum_ok: bool = False
    issues: list[Issue] = field(default_factory=list)
    census: Census | None = None
    audit: Verification | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the checksum holds and nothing was found."""
        return self.checksum_ok and not self.issues

    def as_json(self) -> dict[str, Any]:
        census = self.census
        return {
            "ok": self.ok,
            "file": str(self.backup.file),
            "manifest": str(self.backup.manifest_path),
            "created_at": self.backup.manifest["created_at"],
            "kind": self.backup.kind,
            "checksum_ok": self.checksum_ok,
            "items": census.item_count if census else None,
            "history_rows": census.history_rows if census else None,
            "audit_records": census.audit_records if census else None,
            "audit_chains": self.audit.chains if self.audit else None,
            "seconds": round(self.seconds, 3),
            "issues": [i.as_json() for i in self.issues],
        }


def verify_backup(
    path: Path, *, scratch_url: str | None = None, pg_dump: str | None = None
) -> Verified:
    """Verify the backup at ``path`` (its file, its manifest, or a folder: the newest)."""
    began = time.monotonic()
    backup = locate(path)
    if not backup.file.exists():
        raise BackupError(
            "E-BACKUP-NONE",
            str(backup.file),
            *tr("the manifest names a backup file that is not there: copy both files"),
        )
    result = Verified(backup)
    expected = str(backup.manifest["sha256"])
    actual = sha256_of(backup.file)
    result.checksum_ok = actual == expected
    if not result.checksum_ok:
        result.issues.append(
            Issue(
                "E-BACKUP-CHECKSUM",
                *tr(
                    "{file}: its SHA-256 is {actual}, the manifest says {expected}: the file "
                    "was changed or damaged after it was written",
                    file=backup.file.name,
                    actual=actual,
                    expected=expected,
                ),
            )
        )
    schema.refuse_unknown(backup.manifest.get("schema"))  # a newer release's backup
    with _scratch(backup, scratch_url, pg_dump, result) as url:
        if url is not None:
            _check_restored(url, backup, result)
    result.seconds = time.monotonic() - began
    return result


@contextmanager
def _scratch(
    backup: Backup, scratch_url: str | None, pg_dump: str | None, result: Verified
) -> Iterator[str | None]:
    """The backup restored into a scratch database (None when it does not restore: an
    issue says why), dropped afterwards."""
    if backup.kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="cmc-verify-") as folder:
            target = Path(folder) / "scratch.sqlite3"
            try:
                sqlite.restore_file(backup.file, target)
                _integrity(target)
            except sqlite3.DatabaseError as exc:
                result.issues.append(_unreadable(backup, exc))
                yield None
                return
            except (OSError, sqlite3.Error) as exc:  # no room in the temporary folder
                raise BackupError(
                    "E-BACKUP-SCRATCH",
                    folder,
                    *tr(
                        "the backup cannot be restored into the temporary folder: {error} (set "
                        "TMPDIR to a folder with room for a copy)",
                        error=exc,
                    ),
                ) from exc
            yield f"sqlite:///{target}"
        return
    if scratch_url is None or database_kind(scratch_url) != "postgresql":
        raise BackupError(
            "E-BACKUP-SCRATCH",
            str(backup.file),
            *tr(
                "a PostgreSQL dump is verified in a scratch database: pass --scratch-url "
                "postgresql://USER@HOST/DB (a user that may create databases), or --db"
            ),
        )
    with postgres.scratch_database(scratch_url) as url:
        try:
            postgres.restore(backup.file, url, pg_dump)
        except BackupError as exc:
            if exc.code != "E-BACKUP-TOOL-FAILED":
                raise
            result.issues.append(_unreadable(backup, exc))
            yield None
            return
        yield url


def _unreadable(backup: Backup, exc: Exception) -> Issue:
    return Issue(
        "E-BACKUP-UNREADABLE",
        *tr("{file} does not restore: {error}", file=backup.file.name, error=exc),
    )


def _integrity(path: Path) -> None:
    """SQLite's own check of the restored file; a damaged one raises DatabaseError."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        found = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    if found != ["ok"]:
        raise sqlite3.DatabaseError("; ".join(found[:5]))


def _check_restored(url: str, backup: Backup, result: Verified) -> None:
    """Audit verification and census of the restored copy at ``url``."""
    engine = open_database(url)
    try:
        if schema.current_revision(engine) != schema.HEAD:
            schema.upgrade(engine)  # the scratch copy only: the backup stays as it is
        with engine.connect() as conn, conn.begin():
            result.audit = verify(conn)
            result.census = take_census(conn)
            result.issues += [_named(conn, f, result.census) for f in result.audit.findings]
    except SQLAlchemyError as exc:
        result.issues.append(_unreadable(backup, exc))
        return
    finally:
        engine.dispose()
    manifest = Census.from_json(backup.manifest["census"])
    result.issues += compare(manifest, result.census)


def _named(conn: Connection, finding: Finding, census: Census) -> Issue:
    """An audit finding with the item it concerns: from its chain (``item:<id>``), else
    from the row it names."""
    item_id: int | None = None
    workflow: str | None = None
    if finding.chain and finding.chain.startswith("item:"):
        item_id = int(finding.chain.removeprefix("item:"))
    elif finding.table == "items" and finding.row_id is not None:
        item_id = finding.row_id
    elif finding.table == "history" and finding.row_id is not None:
        item_id = conn.execute(
            select(history.c.item_id).where(history.c.id == finding.row_id)
        ).scalar()
    elif finding.table == "audit" and finding.row_id is not None:
        found = conn.execute(
            select(audit.c.item_id, audit.c.workflow_id).where(audit.c.id == finding.row_id)
        ).first()
        if found is not None:
            item_id, workflow = found.item_id, found.workflow_id
    if item_id is not None and workflow is None:
        workflow = census.workflows.get(f"item:{item_id}")
        if workflow is None:
            workflow = conn.execute(
                select(audit.c.workflow_id).where(audit.c.item_id == item_id).limit(1)
            ).scalar()
    return Issue(
        f"E-AUDIT-{finding.kind.upper()}",
        finding.message,
        finding.message_zh,
        item_id,
        workflow,
        finding.table,
        finding.row_id,
    )


def compare(manifest: Census, restored: Census) -> list[Issue]:
    """What the restored copy holds that its manifest does not say, and the reverse."""
    issues: list[Issue] = []
    for workflow in sorted({*manifest.items, *restored.items}):
        before, after = manifest.items.get(workflow, {}), restored.items.get(workflow, {})
        for state in sorted({*before, *after}):
            want, got = before.get(state, 0), after.get(state, 0)
            if want != got:
                issues.append(
                    Issue(
                        "E-BACKUP-COUNTS",
                        *tr(
                            "workflow {workflow}, state {state}: the manifest counts {want} "
                            "item(s), the restored copy holds {got}",
                            workflow=workflow,
                            state=state,
                            want=want,
                            got=got,
                        ),
                        workflow=workflow,
                    )
                )
    for counts, want, got in (
        (
            N_("the manifest counts {want} history rows, the restored copy holds {got}"),
            manifest.history_rows,
            restored.history_rows,
        ),
        (
            N_("the manifest counts {want} audit records, the restored copy holds {got}"),
            manifest.audit_records,
            restored.audit_records,
        ),
    ):
        if want != got:
            issues.append(Issue("E-BACKUP-COUNTS", *tr(counts, want=want, got=got)))
    for moved, want_heads, got_heads in (
        (
            N_(
                "the audit chain of {chain} ends at {want} in the manifest, at {got} in the "
                "restored copy: rewritten after the backup was taken"
            ),
            manifest.audit_heads,
            restored.audit_heads,
        ),
        (
            N_(
                "the history of {chain} ends at {want} in the manifest, at {got} in the "
                "restored copy: rewritten after the backup was taken"
            ),
            manifest.history_heads,
            restored.history_heads,
        ),
    ):
        for chain in sorted({*want_heads, *got_heads}):
            want_head, got_head = want_heads.get(chain), got_heads.get(chain)
            if anchor_key(want_head) == anchor_key(got_head):
                continue
            item_id = int(chain.removeprefix("item:")) if chain.startswith("item:") else None
            named = manifest.workflows.get(chain) or restored.workflows.get(chain)
            issues.append(
                Issue(
                    "E-BACKUP-ANCHOR",
                    *tr(moved, chain=chain, want=_head(want_head), got=_head(got_head)),
                    item_id=item_id,
                    workflow=named,
                )
            )
    return issues


def _head(head: tuple[int, str] | None) -> Text:
    if head is None:
        return tr("nothing")
    shown = f"#{head[0]} {head[1][:16]}"
    return Text(shown, shown)


# -- restore --------------------------------------------------------------------------------------
@dataclass(slots=True)
class Restored:
    """The outcome of :func:`restore_backup`: the verification first, then the target's
    census (None when the restore was not done)."""

    verified: Verified
    target: str
    census: Census | None = None
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verified.ok and self.census is not None and not self.issues


def restore_backup(
    path: Path,
    url: str,
    *,
    force: bool = False,
    scratch_url: str | None = None,
    pg_dump: str | None = None,
) -> Restored:
    """Verify the backup at ``path``, then restore it into the database of ``url``:
    refused (:class:`BackupError` ``E-RESTORE-TARGET-NOT-EMPTY``) when the target holds
    tables, unless ``force``. Nothing is written when the verification finds anything."""
    kind = database_kind(url)
    backup = locate(path)
    if backup.kind != kind:
        raise BackupError(
            "E-RESTORE-KIND",
            url,
            *tr(
                "a {backup} backup cannot be restored into a {kind} database",
                backup=backup.kind,
                kind=kind,
            ),
        )
    tables = _tables(url)
    if tables and not force:
        raise BackupError(
            "E-RESTORE-TARGET-NOT-EMPTY",
            url,
            *tr(
                "the target database is not empty (it holds {tables}): stop every daemon on "
                "it and pass --force to replace its contents, or restore into a new database",
                tables=_listed(tables),
            ),
        )
    scratch = scratch_url or (url if kind == "postgresql" else None)
    verified = verify_backup(path, scratch_url=scratch, pg_dump=pg_dump)
    restored = Restored(verified, make_url(url).render_as_string(hide_password=True))
    if not verified.ok:
        return restored
    try:
        if kind == "sqlite":
            sqlite.restore_file(backup.file, sqlite.sqlite_path(url))
        else:
            postgres.restore(backup.file, url, pg_dump, clean=bool(tables))
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(
            "E-RESTORE-FAILED",
            restored.target,
            *tr("the backup could not be written there: {error}", error=exc),
        ) from exc
    engine = open_database(url)
    try:
        with engine.connect() as conn, conn.begin():
            restored.census = take_census(conn)
    except SQLAlchemyError as exc:
        raise StoreError(tr("the restored database cannot be read: {exc}", exc=exc)) from exc
    finally:
        engine.dispose()
    restored.issues = compare(Census.from_json(backup.manifest["census"]), restored.census)
    return restored


def _listed(tables: list[str]) -> Text:
    """The first five of ``tables``, and a sign that there are more."""
    shown = ", ".join(tables[:5])
    if len(tables) <= 5:
        return Text(shown, shown)
    return tr("{names}, ...", names=shown)


def _tables(url: str) -> list[str]:
    """The tables the database at ``url`` holds (none for a SQLite file not there yet)."""
    is_sqlite = database_kind(url) == "sqlite"
    if is_sqlite and not sqlite.sqlite_path(url).exists():
        return []
    engine = open_database(url, read_only=True) if is_sqlite else open_database(url)
    try:
        with engine.connect() as conn:
            return sorted(inspect(conn).get_table_names())
    except SQLAlchemyError as exc:
        raise StoreError(
            tr("cannot open the target database {url}: {exc}", url=repr(url), exc=exc)
        ) from exc
    finally:
        engine.dispose()
