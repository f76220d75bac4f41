"""The basic auth string that guards the Prefect server ``homeward up`` starts on a non-loopback
address: made once, kept in a file of mode 0600 under the server's home, reused on every start.

Prefect 3.8's open-source server checks ``PREFECT_SERVER_API_AUTH_STRING`` ("user:password") on
every API request except ``GET /api/health`` and ``/api/ready``, and its UI then asks for it; its
clients send ``PREFECT_API_AUTH_STRING`` as an ``Authorization: Basic`` header. One string, no
user accounts: it keeps strangers off the API, it does not tell staff apart.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from homeward.base.errors import Refused

AUTH_FILE_NAME = "api-auth-string"
AUTH_USER = "homeward"
FILE_MODE = 0o600


@dataclass(frozen=True)
class ApiAuth:
    """The auth string, the file it lives in, and whether this start made it."""

    secret: str = field(repr=False)
    path: Path
    created: bool


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine: ``localhost``, 127.0.0.0/8 or ``::1``.

    Any other name, ``0.0.0.0`` and ``::`` included, may be reached from elsewhere.
    """
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_file(home: Path) -> Path:
    """Where the auth string of the server living under ``home`` is kept."""
    return home / AUTH_FILE_NAME


def load_or_create(home: Path) -> ApiAuth:
    """The auth string kept under ``home``, made (``homeward:`` and 32 random bytes) if missing.

    The file is created with ``O_EXCL`` and mode 0600, so it is never readable by others, not
    even for an instant, and two starts never both write it.

    Raises:
        Refused: the file exists but others may read it, or it holds no ``user:password``.
    """
    path = auth_file(home)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return ApiAuth(_read(path), path, created=False)
    secret = f"{AUTH_USER}:{secrets.token_urlsafe(32)}"
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(secret + "\n")
    return ApiAuth(secret, path, created=True)


def _read(path: Path) -> str:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise Refused(f"{path}: cannot be read ({exc.strerror}); fix or delete it") from None
    if mode & ~FILE_MODE:
        raise Refused(
            f"{path}: mode {mode:04o} lets others read the Prefect API auth string; "
            f"run `chmod 600 {path}` (or delete it to have a new one made)"
        )
    if ":" not in secret:
        raise Refused(f"{path}: holds no user:password; delete it to have a new one made")
    return secret


def basic_auth_headers(auth_string: str | None) -> dict[str, str]:
    """The header a Prefect client sends for ``auth_string`` (none without one)."""
    if not auth_string:
        return {}
    token = base64.b64encode(auth_string.encode("utf-8")).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def announcement(auth: ApiAuth) -> str:
    """What ``homeward up`` says about auth: the string itself only on the start that made it."""
    if auth.created:
        return (
            f"Prefect API auth is on: the UI and the API now need this user:password "
            f"(shown this once; stored in {auth.path}, mode 0600): {auth.secret}"
        )
    return f"Prefect API auth is on: the UI and the API need the user:password in {auth.path}"
