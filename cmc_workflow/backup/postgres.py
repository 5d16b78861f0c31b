"""PostgreSQL backups with ``pg_dump`` (custom format, ``--no-owner``) and ``pg_restore``.

The dump and the manifest's census see the same data: a REPEATABLE READ transaction
exports its snapshot (``pg_export_snapshot()``), the census is counted in it, and
``pg_dump --snapshot`` dumps exactly that snapshot while the transaction stays open. The
runners go on committing meanwhile; none of their commits after the export is in the dump,
every one before it is.

The programs are found on ``PATH`` or given by path (``--pg-dump``; ``pg_restore`` is
looked for beside it first). ``pg_dump`` refuses a server of a newer major version than
its own; that is checked first, and named, rather than left to its message. Passwords go
to the programs in ``PGPASSWORD``, never on their command line (which ``ps`` shows).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, make_url

from cmc_workflow.backup.census import Census, take_census
from cmc_workflow.errors import BackupError
from cmc_workflow.i18n import Text, tr
from cmc_workflow.store.database import normalize_url, open_database


def hint(major: int | str = "N") -> Text:
    """What to do when the client programs are missing or too old (both languages)."""
    return tr(
        "install the PostgreSQL client programs of the server's major version or newer "
        "(Debian/Ubuntu: apt install postgresql-client-{major}; RHEL: dnf install "
        "postgresql{major}), or pass --pg-dump /path/to/pg_dump",
        major=major,
    )


def find_tool(name: str, given: str | None = None, server: int | None = None) -> Path:
    """The program ``name`` (``pg_dump`` or ``pg_restore``): ``given`` (a path to
    ``pg_dump``; ``pg_restore`` is looked for beside it), else on ``PATH``; ``server``
    (its major version) makes the hint name the package to install."""
    candidates: list[str] = []
    if given:
        given_path = Path(given)
        if name == "pg_dump" or given_path.name == name:
            candidates.append(str(given_path))
        else:
            candidates.append(str(given_path.with_name(name)))
    for candidate in candidates:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    fix = hint(server or "N")
    if given and name == "pg_dump":
        raise BackupError(
            "E-BACKUP-TOOL-MISSING",
            given,
            *tr("--pg-dump names no executable program; {hint}", hint=fix),
        )
    found = shutil.which(name)
    if found is None:
        path = os.environ.get("PATH", "")
        raise BackupError(
            "E-BACKUP-TOOL-MISSING",
            name,
            *tr(
                "{name} is needed for PostgreSQL backups and was not found on PATH ({path}); "
                "{hint}",
                name=name,
                path=path,
                hint=fix,
            ),
        )
    return Path(found)


def tool_major(tool: Path) -> int:
    """The major version of a PostgreSQL client program (``pg_dump --version``)."""
    done = _run([str(tool), "--version"], tool, env=None)
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", done)
    if found is None:
        raise BackupError(
            "E-BACKUP-TOOL-FAILED",
            str(tool),
            *tr("does not say its version like pg_dump does: {said}", said=repr(done.strip())),
        )
    return int(found.group(1))


def libpq(url: str | URL) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy URL as a libpq connection URI without its password, and the
    environment that gives the password (``PGPASSWORD``)."""
    parsed = make_url(normalize_url(str(url) if isinstance(url, URL) else url))
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(args: Sequence[str], tool: Path, env: dict[str, str] | None) -> str:
    try:
        done = subprocess.run(
            list(args), capture_output=True, text=True, env=env, check=False, timeout=None
        )
    except OSError as exc:
        raise BackupError(
            "E-BACKUP-TOOL-FAILED",
            str(tool),
            *tr("could not be started: {error}", error=exc),
        ) from exc
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()
        raise BackupError(
            "E-BACKUP-TOOL-FAILED",
            str(tool),
            *tr("exited with {status}: {said}", status=done.returncode, said=said),
        )
    return done.stdout


def dump(url: str, target: Path, pg_dump: str | None = None) -> tuple[Census, str]:
    """Dump the database of ``url`` into ``target`` (custom format, no owners) from one
    exported snapshot; returns the census of that snapshot and the program used
    (``pg_dump 15``)."""
    engine = open_database(url)
    try:
        with engine.connect() as conn:
            server = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
            tool = find_tool("pg_dump", pg_dump, server)
            major = tool_major(tool)
            if major < server:
                raise BackupError(
                    "E-BACKUP-TOOL-VERSION",
                    str(tool),
                    *tr(
                        "pg_dump {major} cannot dump a PostgreSQL {server} server; {hint}",
                        major=major,
                        server=server,
                        hint=hint(server),
                    ),
                )
            conn.commit()
            snapshot_conn = conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            with snapshot_conn.begin():
                snapshot = str(snapshot_conn.execute(text("SELECT pg_export_snapshot()")).scalar())
                census = take_census(snapshot_conn)
                uri, env = libpq(engine.url)
                _run(
                    [
                        str(tool),
                        "--format=custom",
                        "--no-owner",
                        "--no-privileges",
                        f"--snapshot={snapshot}",
                        f"--file={target}",
                        f"--dbname={uri}",
                    ],
                    tool,
                    env,
                )
    finally:
        engine.dispose()
    return census, f"pg_dump {major}"


def restore(backup: Path, url: str, pg_dump: str | None = None, *, clean: bool = False) -> None:
    """Load the dump ``backup`` into the database of ``url`` with ``pg_restore`` (in one
    transaction; ``clean`` drops the dump's objects first)."""
    tool = find_tool("pg_restore", pg_dump)
    uri, env = libpq(url)
    args = [str(tool), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if clean:
        args += ["--clean", "--if-exists"]
    _run([*args, f"--dbname={uri}", str(backup)], tool, env)


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``server_url`` (whose user may create
    databases), yielded as a URL and dropped afterwards whatever happened."""
    base = make_url(normalize_url(server_url))
    name = f"cmc_verify_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        raise BackupError(
            "E-BACKUP-SCRATCH",
            base.render_as_string(hide_password=True),
            *tr(
                "cannot create a scratch database there to restore into: {error}; pass "
                "--scratch-url with a user that may create databases",
                error=exc,
            ),
        ) from exc
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as conn:
                _drop(conn, name)
        finally:
            admin.dispose()


def _drop(conn: Connection, name: str) -> None:
    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
