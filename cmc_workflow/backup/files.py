"""The backup folder: file names that sort by time, manifests, checksums, retention.

A backup is two files side by side in the target folder::

    cmc-backup-20261202T020000Z.sqlite3   the copy (SQLite) or .pgdump (pg_dump, custom format)
    cmc-backup-20261202T020000Z.json      its manifest

Both are written under a temporary name (``.partial``), flushed to disk and renamed, the
manifest last: a folder that is synchronised off-site while a backup runs (rsync, an NFS
or SMB mount, an object-store mount) never holds half a backup under a final name, and a
backup without its manifest is not one of ours. Retention (:func:`prune`) removes only
pairs this tool wrote: a manifest of :data:`FORMAT` naming a file beside it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmc_workflow.backup.census import Census
from cmc_workflow.errors import BackupError
from cmc_workflow.i18n import tr

FORMAT = "cmc-workflow-backup/1"
"""The manifest's ``format``: what marks a backup as written by this tool."""

PREFIX = "cmc-backup-"
SUFFIXES = {"sqlite": ".sqlite3", "postgresql": ".pgdump"}
"""The backup file's suffix per database kind."""

_NAME = re.compile(r"^cmc-backup-(\d{8}T\d{6}Z)(-\d{2,})?\.json$")
"""A manifest's name: the UTC time the backup was taken, and a counter for a second
backup in the same second."""

_STEM = re.compile(r"^cmc-backup-(\d{8}T\d{6}Z)(-\d{2,})?\.")
"""The name of any file of a backup (its copy, its manifest, either being written)."""

CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """The SHA-256 (hex) of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """Flush ``path`` (a file or a folder) to disk; a folder that cannot be opened (some
    network mounts) is left to the file system."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # folders on some network file systems refuse fsync: nothing more to do
    finally:
        os.close(fd)


def prepare_folder(folder: Path) -> Path:
    """``folder``, created if missing; a :class:`BackupError` when it cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(
            "E-BACKUP-FOLDER",
            str(folder),
            *tr("the backup folder cannot be created: {error}", error=exc.strerror or exc),
        ) from exc
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise BackupError(
            "E-BACKUP-FOLDER",
            str(folder),
            *tr(
                "the backup folder is not a folder this process may write (check the mount "
                "and its permissions)"
            ),
        )
    return folder


def new_stem(folder: Path, now: dt.datetime) -> str:
    """A name for a backup taken at ``now`` that sorts after every backup of ``folder``
    taken in the same second (UTC, then a counter: ``...Z``, ``...Z-01``, ...), even one
    that retention has removed since."""
    base = f"{PREFIX}{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"
    taken = [
        int(found.group(2)[1:]) if found.group(2) else 0
        for path in folder.glob(f"{base}*")
        if (found := _STEM.match(path.name))
    ]
    if not taken:
        return base
    return f"{base}-{max(taken) + 1:02d}"


@dataclass(frozen=True, slots=True)
class Backup:
    """One backup in a folder: its manifest's path, the file it describes, and the
    manifest's content."""

    manifest_path: Path
    manifest: Mapping[str, Any]

    @property
    def file(self) -> Path:
        """The backup file (named in the manifest, beside it)."""
        return self.manifest_path.with_name(str(self.manifest["file"]))

    @property
    def kind(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return str(self.manifest["database"]["kind"])


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest`` to ``path`` atomically (a temporary name, flushed, renamed)."""
    partial = path.with_name(path.name + ".partial")
    text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    with partial.open("w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    partial.replace(path)
    fsync_path(path.parent)


def read_manifest(path: Path) -> Backup:
    """The backup whose manifest is at ``path``; :class:`BackupError` when it is missing,
    unreadable or not one of ours."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(
            "E-BACKUP-MANIFEST",
            str(path),
            *tr(
                "the backup's manifest is missing: a backup is its file and the .json "
                "manifest beside it; copy both"
            ),
        ) from exc
    except (OSError, ValueError) as exc:
        raise BackupError(
            "E-BACKUP-MANIFEST",
            str(path),
            *tr("the backup's manifest cannot be read as JSON: {error}", error=exc),
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(
            "E-BACKUP-MANIFEST",
            str(path),
            *tr(
                "not a manifest of cmc-workflow (its format is not {format})",
                format=repr(FORMAT),
            ),
        )
    for key in ("file", "sha256", "database", "census", "created_at", "schema"):
        if key not in manifest:
            raise BackupError(
                "E-BACKUP-MANIFEST",
                str(path),
                *tr("the manifest has no {key}: it was edited or cut short", key=repr(key)),
            )
    try:
        Census.from_json(manifest["census"])
        kind = manifest["database"]["kind"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BackupError(
            "E-BACKUP-MANIFEST",
            str(path),
            *tr(
                "the manifest's census or database kind cannot be read ({error}): it was edited",
                error=repr(exc),
            ),
        ) from exc
    if kind not in SUFFIXES:
        raise BackupError(
            "E-BACKUP-MANIFEST",
            str(path),
            *tr("the manifest names an unknown database kind {kind}", kind=repr(kind)),
        )
    return Backup(path, manifest)


def backups_in(folder: Path) -> list[Backup]:
    """Every backup this tool wrote in ``folder``, oldest first (manifests that do not
    read are skipped: they are not ours, or not finished)."""
    found = []
    for path in sorted(folder.glob(f"{PREFIX}*.json"), key=_order):
        if not _NAME.match(path.name):
            continue
        try:
            backup = read_manifest(path)
        except BackupError:
            continue
        if backup.file.parent == folder and Path(str(backup.manifest["file"])).name == str(
            backup.manifest["file"]
        ):
            found.append(backup)
    return found


def _order(path: Path) -> tuple[str, int]:
    """Oldest first: the time in the name, then the counter of a second backup in the same
    second (``-01`` would sort before ``.json`` as text)."""
    found = _NAME.match(path.name)
    if found is None:
        return (path.name, 0)
    return (found.group(1), int(found.group(2)[1:]) if found.group(2) else 0)


def locate(path: Path) -> Backup:
    """The backup named by ``path``: its manifest, its file (the manifest beside it), or a
    folder (its newest backup)."""
    if path.is_dir():
        found = backups_in(path)
        if not found:
            raise BackupError(
                "E-BACKUP-NONE",
                str(path),
                *tr("the folder holds no backup of cmc-workflow (cmc-backup-*.json with its file)"),
            )
        return found[-1]
    if path.suffix == ".json":
        return read_manifest(path)
    if not path.exists():
        raise BackupError(
            "E-BACKUP-NONE",
            str(path),
            *tr("no such backup file"),
        )
    return read_manifest(path.with_suffix(".json"))


def prune(folder: Path, keep: int) -> list[Path]:
    """Remove the oldest backups of ``folder`` beyond the newest ``keep``; only pairs this
    tool wrote (a manifest of :data:`FORMAT` and the file it names). Returns the removed
    files."""
    removed: list[Path] = []
    backups = backups_in(folder)
    for backup in backups[: max(0, len(backups) - keep)]:
        for path in (backup.file, backup.manifest_path):  # the manifest last: never a file
            try:  # left behind that no manifest names
                path.unlink()
                removed.append(path)
            except FileNotFoundError:
                continue
    if removed:
        fsync_path(folder)
    return removed
