"""Audit checkpoints: the chain's head, signed and kept outside the database.

Whoever holds the database alone could cut the newest entries off the chain (or wipe it) and
put back an older head, copied earlier, that matches what is left. A checkpoint is one JSON
line: when, how many entries the chain held, the last one's MAC, the row seals' count and sum
and which keyring; with an HMAC under a key derived from the keyring, appended (``O_APPEND``,
created 0600) to ``HOMEWARD_AUDIT_ANCHOR_FILE`` by ``homeward audit checkpoint`` and daily by
the scheduler (flow ``audit-checkpoint``). ``verify_anchored`` checks the database against the
newest checkpoint: fewer entries than anchored (truncation, wipe) or another entry where one
was anchored (a rewritten chain) is a broken log. A checkpoint holds no personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from homeward.base.clock import utc
from homeward.base.errors import AuditBroken
from homeward.base.files import PRIVATE
from homeward.base.models import AuditEntry, AuditHead
from homeward.base.settings import get_settings
from homeward.crypt.keys import Keyring, load_keyring
from homeward.records.auditlog import Verdict, verify


@dataclass(frozen=True)
class Checkpoint:
    """The audit head at one moment, as a checkpoint line records it."""

    at: datetime
    entries: int
    last_mac: str
    seal_count: int
    seal_state: str

    def body(self, keyring: Keyring) -> dict[str, Any]:
        return {
            "at": utc(self.at).isoformat(),
            "entries": self.entries,
            "last_mac": self.last_mac,
            "seal_count": self.seal_count,
            "seal_state": self.seal_state,
            "keyring": keyring.fingerprint[:16],
        }

    @property
    def when(self) -> str:
        return f"{utc(self.at):%Y-%m-%d %H:%M} UTC"


def anchor_file() -> Path:
    """Where checkpoints go (``HOMEWARD_AUDIT_ANCHOR_FILE``)."""
    return Path(get_settings().audit_anchor_file).expanduser()


def _sign(keyring: Keyring, body: dict[str, Any]) -> str:
    content = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(keyring.derive("audit checkpoint"), content, hashlib.sha256).hexdigest()


def append(checkpoint: Checkpoint, keyring: Keyring, path: Path | None = None) -> Path:
    """Append one signed checkpoint line (the file is only ever appended to)."""
    path = path or anchor_file()
    body = checkpoint.body(keyring)
    line = json.dumps(body | {"mac": _sign(keyring, body)}, sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def latest(keyring: Keyring, path: Path | None = None) -> tuple[Checkpoint | None, str]:
    """The newest checkpoint of this keyring's database, or a problem with the file."""
    path = path or anchor_file()
    if not path.exists():
        return None, ""
    ours, best = keyring.fingerprint[:16], None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            body = json.loads(line)
            if body.get("keyring") != ours:
                continue  # another database's checkpoints
            mac = body.pop("mac")
            found = Checkpoint(
                datetime.fromisoformat(body["at"]),
                int(body["entries"]),
                body["last_mac"],
                int(body["seal_count"]),
                body["seal_state"],
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None, f"checkpoint file line {number} is damaged"
        if not hmac.compare_digest(str(mac), _sign(keyring, body)):
            return None, f"checkpoint file line {number} was altered (its MAC does not hold)"
        if best is None or found.entries >= best.entries:
            best = found
    return best, ""


def _against(session: Session, checked: int, checkpoint: Checkpoint) -> str:
    if checked < checkpoint.entries:
        return (
            f"the chain holds {checked} entries but the checkpoint of {checkpoint.when} "
            f"anchored {checkpoint.entries}: entries were removed (truncated or wiped)"
        )
    entry = session.get(AuditEntry, checkpoint.entries) if checkpoint.entries else None
    if entry is not None and not hmac.compare_digest(entry.mac, checkpoint.last_mac):
        return (
            f"entry {checkpoint.entries} is not the one the checkpoint of {checkpoint.when} "
            "anchored: the chain was rewritten"
        )
    return ""


def verify_anchored(
    session: Session, path: Path | None = None
) -> tuple[Verdict, Checkpoint | None]:
    """``verify`` the database, then against the newest checkpoint (None: there is none yet)."""
    verdict = verify(session)
    if not verdict.ok:
        return verdict, None
    checkpoint, problem = latest(load_keyring(), path)
    if not problem and checkpoint is not None:
        problem = _against(session, verdict.checked, checkpoint)
    return (Verdict(verdict.checked, None, problem) if problem else verdict), checkpoint


def broken(verdict: Verdict) -> AuditBroken:
    """The one line that says what broke (never personal data: ids, counts, table names)."""
    if verdict.first_bad is not None:
        return AuditBroken(
            f"audit log broken at entry {verdict.first_bad}: {verdict.problem} "
            f"({verdict.checked} entries before it hold)"
        )
    return AuditBroken(f"audit log broken: {verdict.problem}")


def checkpoint(session: Session, *, now: datetime, path: Path | None = None) -> Checkpoint:
    """Verify everything, then append the head as a new checkpoint; refuses a broken log."""
    verdict, _previous = verify_anchored(session, path)
    if not verdict.ok:
        raise broken(verdict)
    head = session.exec(select(AuditHead).where(AuditHead.id == 1)).first() or AuditHead()
    made = Checkpoint(now, head.last_id, head.last_mac, head.seal_count, head.seal_state)
    append(made, load_keyring(), path)
    return made
