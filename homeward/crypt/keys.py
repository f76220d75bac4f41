"""The keyring: master keys (wrapping case data keys), the blind-index key and the audit key.

Kept in a JSON file outside the database (``HOMEWARD_KEY_FILE``, default in the user's config
directory), readable by its owner only. Back it up offline: without it nothing can be read.
Rotation adds a new master key and makes it active; ``homeward keys rotate`` re-wraps every
case key under it and only then retires the old one.

A process keeps the keyring it last read, for as long as the file is the same one: each use
looks at the file (one ``stat``) and reads it again when its inode, device, size, mode, or
modification or change time differ, so a rotation, a restore or a ``chmod`` is seen at once.
The keys never appear in a repr.

A keyring's fingerprint (HKDF-SHA256 of its audit and index keys, which rotation never
changes) names it without revealing any key; the database records it on its first write and
refuses another keyring from then on (``homeward.crypt.binding``).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from homeward.base.errors import Conflict, HomewardError
from homeward.base.files import is_loose
from homeward.base.settings import get_settings
from homeward.crypt.crypto import KEY_BYTES, new_key


class KeysMissing(HomewardError):
    """No usable keyring: the app refuses to touch protected data."""

    exit_code = 7


class WrongKeyring(HomewardError):
    """The keyring is not the one this database was sealed with: nothing is read or written."""

    exit_code = 15


class Keyring(BaseModel):
    """What the key file holds (keys base64-encoded; none of them in its repr). Frozen: one
    instance serves the whole process (``load_keyring``); rotation writes a new one."""

    model_config = ConfigDict(frozen=True)

    version: int = 1
    active: str
    master_keys: dict[str, str] = Field(repr=False)
    index_key: str = Field(repr=False)
    audit_key: str = Field(repr=False)

    def master(self, key_id: str) -> bytes:
        """The master key ``key_id``."""
        if key_id not in self.master_keys:
            raise KeysMissing(f"master key {key_id} is not in the keyring; restore it from backup")
        return base64.b64decode(self.master_keys[key_id])

    @property
    def active_master(self) -> bytes:
        return self.master(self.active)

    @property
    def index(self) -> bytes:
        return base64.b64decode(self.index_key)

    @property
    def audit(self) -> bytes:
        return base64.b64decode(self.audit_key)

    def derive(self, purpose: str) -> bytes:
        """A 256-bit key for one purpose (row seals, the audit head, checkpoints), derived from
        the audit key: rotation never changes it, and no two purposes share a key."""
        return _derive(self.audit, purpose)

    @property
    def fingerprint(self) -> str:
        """Names this keyring (hex), stable across rotations, and reveals nothing of its keys.

        Derived from the audit and index keys, which rotation never replaces: the master keys
        come and go, the fingerprint stays."""
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"homeward keyring fingerprint",
        )
        return hkdf.derive(self.audit + self.index).hex()


@lru_cache(maxsize=32)
def _derive(audit: bytes, purpose: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"homeward {purpose}".encode()
    )
    return hkdf.derive(audit)


_override: list[Path] = []  # set by ``using_keyring`` (the demo's throw-away keys)


def key_file() -> Path:
    """Where the keyring lives."""
    if _override:
        return _override[-1]
    return Path(get_settings().key_file).expanduser()


@contextmanager
def using_keyring(path: Path) -> Iterator[Path]:
    """Use the keyring at ``path`` inside the block (for throw-away databases)."""
    _override.append(path)
    try:
        yield path
    finally:
        _override.pop()


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _new_key_id() -> str:
    return f"mk-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


def _write(path: Path, keyring: Keyring) -> None:
    """Atomically replace the key file, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(keyring.model_dump_json(indent=2))
    os.replace(tmp, path)


def init_keyring(path: Path | None = None) -> Path:
    """Create a new keyring; refuses to overwrite one (that would destroy every case's data)."""
    path = path or key_file()
    if path.exists():
        raise Conflict(f"a keyring already exists at {path}; it was left untouched")
    key_id = _new_key_id()
    _write(
        path,
        Keyring(
            active=key_id,
            master_keys={key_id: _b64(new_key())},
            index_key=_b64(new_key()),
            audit_key=_b64(new_key()),
        ),
    )
    return path


def _refuse_loose(path: Path) -> None:
    """A keyring the group or others can read is refused: its keys may already be copied."""
    try:
        loose = is_loose(path)
    except OSError:
        return  # missing or unreadable: said below
    if loose:
        raise KeysMissing(
            f"HOMEWARD_KEY_FILE: the keyring at {path} is readable by others; "
            f"run `chmod 600 {path}` (and consider its keys exposed)"
        )


# The keyring last read, per file: (what the file looked like, what it held).
_loaded: dict[Path, tuple[tuple[int, ...], Keyring]] = {}
_loaded_lock = threading.Lock()


def _signature(found: os.stat_result) -> tuple[int, ...]:
    """What names one version of the key file: a replaced file (rotation writes a new one and
    renames it over) has a new inode; an edit in place, a new size or times; a chmod, a new
    mode and change time."""
    return (
        found.st_dev,
        found.st_ino,
        found.st_size,
        found.st_mtime_ns,
        found.st_ctime_ns,
        found.st_mode,
    )


def load_keyring(path: Path | None = None) -> Keyring:
    """The keyring, or how to create one. Read again whenever the file changed (see above)."""
    path = path or key_file()
    try:
        signature = _signature(path.stat())
    except OSError:
        signature = None  # missing or unreadable: said by the read below
    if signature is not None:
        with _loaded_lock:
            cached = _loaded.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
    keyring = _read(path)
    if signature is not None:
        with _loaded_lock:
            _loaded[path] = (signature, keyring)
    return keyring


def forget_keyrings() -> None:
    """Drop every keyring this process holds (the next use reads the file)."""
    with _loaded_lock:
        _loaded.clear()


def _read(path: Path) -> Keyring:
    """Read the key file itself, refusing a loose or damaged one."""
    _refuse_loose(path)
    try:
        keyring = Keyring.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise KeysMissing(
            f"no encryption keys at {path}; create them with `homeward keys init` "
            "(or point HOMEWARD_KEY_FILE at your keyring)"
        ) from None
    except (OSError, ValueError, ValidationError):
        raise KeysMissing(
            f"the keyring at {path} is unreadable or damaged; restore it from your offline backup"
        ) from None
    if any(len(base64.b64decode(k)) != KEY_BYTES for k in keyring.master_keys.values()):
        raise KeysMissing(f"the keyring at {path} holds a key of the wrong size")
    return keyring


def begin_rotation(path: Path | None = None) -> str:
    """Add a new master key and make it active (kept if a rotation is already under way)."""
    path = path or key_file()
    keyring = _read(path)
    if len(keyring.master_keys) > 1:
        return keyring.active  # resume the rotation in progress
    key_id = _new_key_id()
    masters = {**keyring.master_keys, key_id: _b64(new_key())}
    _write(path, keyring.model_copy(update={"master_keys": masters, "active": key_id}))
    return key_id


def retire_old_keys(path: Path | None = None) -> list[str]:
    """Drop every master key but the active one (call only when nothing uses them)."""
    path = path or key_file()
    keyring = _read(path)
    retired = [k for k in keyring.master_keys if k != keyring.active]
    kept = {keyring.active: keyring.master_keys[keyring.active]}
    _write(path, keyring.model_copy(update={"master_keys": kept}))
    return retired
