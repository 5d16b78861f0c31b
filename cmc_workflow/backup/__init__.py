"""Backups proven to restore (SEC-4: 应设置异地备份, off-site backup must be set up).

- :func:`take_backup` copies a live database into a folder, consistently while runners
  write (SQLite's online backup API in one read snapshot; ``pg_dump`` from an exported
  snapshot), with a manifest: when, engine and schema version, the census of the copy
  (items per workflow and state, audit and history anchors) and the file's SHA-256;
  ``keep`` prunes the oldest backups this tool wrote.
- :func:`verify_backup` restores a backup into a scratch database and proves it whole: the
  checksum, the audit verification of every chain, the census against the manifest.
- :func:`restore_backup` verifies, then restores into a target (an empty one, or with
  ``force``).

Where the folder is kept (an NFS or SMB mount, a folder synchronised off-site, an object
store mounted as a folder) is the administrator's choice: ``docs/how-to-backup.md``.
This package sits above the store (it reads the tables with SQLAlchemy and runs the
store's verification) and below the runner and the command line, which call it.
"""

from __future__ import annotations

from cmc_workflow.backup.check import Issue, Restored, Verified, restore_backup, verify_backup
from cmc_workflow.backup.files import Backup, backups_in, locate, prune
from cmc_workflow.backup.take import Taken, take_backup

__all__ = [
    "Backup",
    "Issue",
    "Restored",
    "Taken",
    "Verified",
    "backups_in",
    "locate",
    "prune",
    "restore_backup",
    "take_backup",
    "verify_backup",
]
