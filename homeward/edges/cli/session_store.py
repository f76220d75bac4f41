"""Where ``homeward login`` keeps this user's session token: one file (mode 0600) in the user's
config directory, one token per database, so signing in to a test database does not sign you
out of the real one. ``HOMEWARD_SESSION`` (a token in the environment) wins over the file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from pathlib import Path

from homeward.base.errors import Refused
from homeward.base.settings import get_settings

ENV = "HOMEWARD_SESSION"


def _path() -> Path:
    return Path(get_settings().session_file).expanduser()


def _database() -> str:
    """Which database a token belongs to: a hash of its URL (the URL itself may hold a password)."""
    return hashlib.sha256(get_settings().database_url.encode()).hexdigest()[:16]


def _read_all(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise Refused(
            f"session: {path} can be read by others (mode {mode:o}); "
            f"run `chmod 600 {path}` or `homeward logout`"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def read() -> str | None:
    """This database's token: ``HOMEWARD_SESSION``, else the session file's, else None."""
    return os.environ.get(ENV) or _read_all(_path()).get(_database())


def _write_all(path: Path, tokens: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".new")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(tokens, file)
    os.replace(temporary, path)


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
