"""The backup keyring: one key per period seals that period's backups, and expires on schedule.

Kept in its own file (``HOMEWARD_BACKUP_KEY_FILE``, mode 0600), apart from the keyring. A
backup is sealed under the key of the period it is made in (``HOMEWARD_BACKUP_KEY_DAYS`` days,
counted from a Monday); the key expires ``HOMEWARD_BACKUP_RETENTION_DAYS`` after its period
ends and is then destroyed: only its id and dates stay, so a restore can say why it refuses.

Why a key of its own: the keyring (master keys) is kept offline for good, so whatever it
opens stays open for good. A backup holds the wrapped case keys of cases purged since; sealed
under a key that is destroyed on schedule, it holds nothing the keyring alone can open.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ValidationError

from homeward.base.files import is_loose
from homeward.base.settings import get_settings
from homeward.crypt.crypto import KEY_BYTES, new_key
from homeward.crypt.keys import KeysMissing

EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday: weekly periods run Monday to Monday


class BackupKey(BaseModel):
    """A period's key (base64), or, once destroyed, only its dates (``key`` is None)."""

    period_start: datetime
    expires_at: datetime
    key: str | None
    destroyed_at: datetime | None = None


class BackupKeyring(BaseModel):
    version: int = 1
    keys: dict[str, BackupKey] = {}


def key_file() -> Path:
    """Where the backup keyring lives."""
    return Path(get_settings().backup_key_file).expanduser()


def period_start(now: datetime) -> datetime:
    """The start of the key period ``now`` falls in."""
    days = get_settings().backup_key_days
    return EPOCH + timedelta(days=days * ((now - EPOCH).days // days))


def expiry(start: datetime) -> datetime:
    """When the key of the period starting at ``start`` expires (and is destroyed)."""
    settings = get_settings()
    return start + timedelta(days=settings.backup_key_days + settings.backup_retention_days)


def load(path: Path | None = None) -> BackupKeyring:
    """The backup keyring (empty if there is none yet)."""
    path = path or key_file()
    if not path.exists():
        return BackupKeyring()
    if is_loose(path):
        raise KeysMissing(
            f"HOMEWARD_BACKUP_KEY_FILE: {path} is readable by others; run `chmod 600 {path}`"
        )
    try:
        return BackupKeyring.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError):
        raise KeysMissing(
            f"HOMEWARD_BACKUP_KEY_FILE: {path} is unreadable or damaged; restore your latest "
            "copy of it"
        ) from None


def _write(path: Path, ring: BackupKeyring) -> None:
    """Atomically replace the file, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(ring.model_dump_json(indent=2))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def expire(now: datetime, path: Path | None = None) -> list[str]:
    """Destroy every key past its expiry; the ids destroyed now."""
    path = path or key_file()
    ring = load(path)
    due = [i for i, k in ring.keys.items() if k.key is not None and k.expires_at <= now]
    for key_id in due:
        ring.keys[key_id] = ring.keys[key_id].model_copy(update={"key": None, "destroyed_at": now})
    if due:
        _write(path, ring)
    return due


def current(now: datetime, path: Path | None = None) -> tuple[str, bytes, datetime]:
    """The id, key and expiry of the key sealing backups made at ``now`` (made if needed)."""
    path = path or key_file()
    ring = load(path)
    start = period_start(now)
    for key_id, held in ring.keys.items():
        if held.key is not None and held.period_start == start and held.expires_at > now:
            return key_id, base64.b64decode(held.key), held.expires_at
    key_id = f"bk-{start:%Y%m%d}-{secrets.token_hex(3)}"
    fresh = BackupKey(
        period_start=start, expires_at=expiry(start), key=base64.b64encode(new_key()).decode()
    )
    ring.keys[key_id] = fresh
    _write(path, ring)
    return key_id, base64.b64decode(fresh.key or ""), fresh.expires_at


def opening(key_id: str, now: datetime, path: Path | None = None) -> bytes:
    """The key ``key_id``; ``KeysMissing`` once it expired or was destroyed, or if unknown."""
    path = path or key_file()
    held = load(path).keys.get(key_id)
    if held is None:
        raise KeysMissing(
            f"backup key {key_id} is not in HOMEWARD_BACKUP_KEY_FILE ({path}); point it at "
            "the backup keyring that made this backup"
        )
    if held.key is None or held.expires_at <= now:
        raise KeysMissing(
            f"backup key {key_id} expired on {held.expires_at:%Y-%m-%d} and is destroyed: "
            "this backup can no longer be read (by design); restore a newer one"
        )
    key = base64.b64decode(held.key)
    if len(key) != KEY_BYTES:
        raise KeysMissing(f"backup key {key_id} in {path} has the wrong size")
    return key


def last_expiry(now: datetime, path: Path | None = None) -> datetime | None:
    """When the last key alive at ``now`` expires: no backup made before ``now`` opens after."""
    alive = [k.expires_at for k in load(path).keys.values() if k.key and k.expires_at > now]
    return max(alive, default=None)
