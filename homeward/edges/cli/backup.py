"""``homeward backup`` and ``homeward restore``: online copies of the whole database.

The help texts are single-line paragraphs (typer keeps a docstring's line breaks).
"""

from __future__ import annotations

from pathlib import Path

import typer

from homeward.edges.cli.common import console, local, state
from homeward.protection.backup import backup, database_label, restore

KEYRING_NOTE = (
    "the keyring (HOMEWARD_KEY_FILE) is NOT in the backup: keep a copy of it apart from the "
    "backup (offline); without it the backup's personal data cannot be read"
)
BACKUP_KEY_NOTE = (
    "copy HOMEWARD_BACKUP_KEY_FILE off the machine now, REPLACING the previous copy (never "
    "keep older copies: they would reopen cases purged since)"
)
BACKUP_HELP = "\n\n".join(
    [
        "Back up the database to FILE while Homeward keeps working (one consistent snapshot).",
        "SQLite: a copy of the database file that passed integrity_check. PostgreSQL: a pg_dump "
        "archive (custom format), read back to the end. FILE is written beside itself under a "
        "temporary name, then renamed; it is readable by its owner only (mode 0600), for it "
        "holds the encrypted personal data and the wrapped case keys.",
        "The keyring (HOMEWARD_KEY_FILE) is NOT in the backup and must be backed up "
        "separately: without it the backup's personal data cannot be read.",
        "FILE is sealed under this period's backup key (HOMEWARD_BACKUP_KEY_FILE; one key per "
        "HOMEWARD_BACKUP_KEY_DAYS). The key is destroyed HOMEWARD_BACKUP_RETENTION_DAYS after "
        "its period: from then on FILE opens for nobody, and cases purged since it was made are "
        "gone from it too. Keep one copy of the backup keyring off the machine and replace it "
        "after each backup.",
    ]
)
RESTORE_HELP = "\n\n".join(
    [
        "Replace the database's content with the backup in FILE, then verify the audit log.",
        "The file is checked first: a damaged file, one of the other backend, or a database "
        "that already holds cases (without --force) is refused and nothing changes. A backup "
        "made at an older schema is upgraded after the restore.",
        "Needs the keyring (HOMEWARD_KEY_FILE) that was in use when the backup was taken, and "
        "the backup's key in HOMEWARD_BACKUP_KEY_FILE: a backup whose key expired is refused "
        "(exit 7).",
    ]
)


def backup_command(
    file: Path = typer.Argument(..., metavar="FILE", help="where to write the backup"),
    force: bool = typer.Option(False, "--force", help="replace FILE if it already exists"),
) -> None:
    """Back up the database online (see BACKUP_HELP)."""
    summary = backup(file, force=force, clock=state.clock)
    console.print(f"backup written to {file}: {summary.describe()}; checked", soft_wrap=True)
    console.print(
        f"sealed under backup key {summary.sealed_with}: readable until "
        f"{local(summary.readable_until)}, then by nobody",
        soft_wrap=True,
    )
    console.print(KEYRING_NOTE, soft_wrap=True)
    console.print(BACKUP_KEY_NOTE, soft_wrap=True)


def restore_command(
    file: Path = typer.Argument(..., metavar="FILE", help="a file made by `homeward backup`"),
    force: bool = typer.Option(
        False, "--force", help="replace a database that already holds cases"
    ),
) -> None:
    """Restore a backup (see RESTORE_HELP)."""
    summary = restore(file, force=force, clock=state.clock)
    console.print(
        f"restored {file} into {database_label()}: {summary.describe()}; "
        f"audit log intact: {summary.audit_entries} entries",
        soft_wrap=True,
    )
