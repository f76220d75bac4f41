"""Where ``homeward login`` keeps this user's session token: one file (mode 0600) in the user's
config directory, one token per database, so signing in to a test database does not sign you
out of the real one. ``HOMEWARD_SESSION`` (a token in the environment) wins over the file.

The file is written whole (a new 0600 file renamed over the old one, never a moment readable
by others) and refused when others could read it or it is not the user's own."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path

from homeward.base.errors import Refused
from homeward.base.settings import get_settings

ENV = "HOMEWARD_SESSION"


def _path() -> Path:
    return Path(get_settings().session_file).expanduser()


def _database() -> str:
    """Which database a token belongs to: a hash of its URL (the URL itself may hold a password)."""
    return hashlib.sha256(get_settings().database_url.encode()).hexdigest()[:16]


def _check_private(path: Path, status: os.stat_result) -> None:
    """Refuse a token file others could read, or one another user put there."""
    if hasattr(os, "getuid") and status.st_uid != os.getuid():
        raise Refused(f"session: {path} belongs to another user; remove it, then `homeward login`")
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077:
        raise Refused(
            f"session: {path} can be read by others (mode {mode:o}); "
            f"run `chmod 600 {path}` or `homeward logout`"
        )


def _read_all(path: Path) -> dict[str, str]:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise Refused(f"session: cannot read {path} ({exc.strerror}); fix or remove it") from None
    with os.fdopen(descriptor) as file:
        _check_private(path, os.fstat(file.fileno()))  # the file opened, not a name
        try:
            data = json.load(file)
        except (OSError, ValueError):
            return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def check() -> Path:
    """The session file, refused now (before a sign-in code is used up) if it could not keep
    a token safely."""
    path = _path()
    _read_all(path)
    return path


def read() -> str | None:
    """This database's token: ``HOMEWARD_SESSION``, else the session file's, else None."""
    return os.environ.get(ENV) or stored()


def stored() -> str | None:
    """This database's token in the session file (not the environment's), or None."""
    return _read_all(_path()).get(_database())


def _write_all(path: Path, tokens: dict[str, str]) -> None:
    """Replace the file at once: a new file made 0600 from the start, synced, renamed over."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as file:
            json.dump(tokens, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def store(token: str) -> Path:
    """Keep ``token`` as this database's session; returns the file."""
    path = _path()
    tokens = _read_all(path)
    tokens[_database()] = token
    _write_all(path, tokens)
    return path


def forget() -> None:
    """Drop this database's token from the file (the session itself is ended by the caller)."""
    path = _path()
    tokens = _read_all(path)
    if tokens.pop(_database(), None) is not None:
        _write_all(path, tokens)
