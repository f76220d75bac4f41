"""Files Homeward writes are its owner's alone (0600): the database, exports, charts, backups.

Everything Homeward writes may hold or point at personal data, so nothing it creates is
readable by the group or by others, whatever the user's umask. ``owner_only`` also covers files
a library creates for us (openpyxl's workbook, SQLite's ``-wal`` and ``-shm``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE = 0o600
LOOSE = stat.S_IRWXG | stat.S_IRWXO  # any permission for the group or for others


@contextmanager
def owner_only() -> Iterator[None]:
    """Inside the block, new files and directories are created for their owner only."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def tighten(path: Path) -> None:
    """Make an existing file 0600 (a file someone else owns is left as it is)."""
    try:
        if path.stat().st_mode & LOOSE:
            os.chmod(path, PRIVATE)
    except OSError:
        pass  # not ours to change, or gone; what we create ourselves is 0600 regardless


def write_private(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, created 0600 (an existing file is made 0600 first)."""
    if path.exists():
        tighten(path)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)


def is_loose(path: Path) -> bool:
    """Whether the group or others may read, write or run ``path``."""
    return bool(path.stat().st_mode & LOOSE)
