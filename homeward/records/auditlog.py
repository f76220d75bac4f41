"""The tamper-evident audit log: who did or read what, chained row to row with a keyed HMAC.

Each entry's MAC covers its own content and the previous entry's MAC, under the keyring's audit
key (outside the database), so an edit, deletion, insertion or reordering anywhere breaks the
chain from that row on, and nobody without the key can rebuild it. ``AuditHead`` holds the last
link, which also catches deletion of the newest entries. Appends serialise on the head row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from homeward.base.clock import utc
from homeward.base.models import AuditEntry, AuditHead, StaffMember
from homeward.crypt.keys import load_keyring

GENESIS = "0" * 64


def _mac(key: bytes, prev_mac: str, entry: AuditEntry) -> str:
    content = json.dumps(
        [
            entry.id,
            utc(entry.at).isoformat(),
            entry.actor_id,
            entry.action,
            entry.case_ref,
            entry.fields,
            prev_mac,
        ],
        separators=(",", ":"),
    )
    return hmac.new(key, content.encode(), hashlib.sha256).hexdigest()


def _head(session: Session) -> AuditHead:
    head = session.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()
    if head is None:
        head = AuditHead(id=1, last_id=0, last_mac=GENESIS)
        session.add(head)
        session.flush()
    return head


def audit(
    session: Session,
    *,
    actor: StaffMember | None,
    action: str,
    at: datetime,
    case_ref: str | None = None,
    fields: Iterable[str] = (),
) -> AuditEntry:
    """Append one entry in the caller's transaction. ``fields`` are names, never values."""
    head = _head(session)
    entry = AuditEntry(
        id=head.last_id + 1,
        at=at,
        actor_id=actor.id if actor else None,
        action=action,
        case_ref=case_ref,
        fields=",".join(fields),
        prev_mac=head.last_mac,
        mac="",
    )
    entry.mac = _mac(load_keyring().audit, head.last_mac, entry)
    head.last_id, head.last_mac = entry.id, entry.mac
    session.add(entry)
    session.add(head)
    session.flush()
    return entry


@dataclass(frozen=True)
class Verdict:
    """The outcome of ``verify``: ``first_bad`` is None when the whole chain holds."""

    checked: int
    first_bad: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad is None


def verify(session: Session) -> Verdict:
    """Walk the chain from the first entry; name the first row that does not hold."""
    key, expected_id, prev = load_keyring().audit, 1, GENESIS
    checked = 0
    for entry in session.exec(select(AuditEntry).order_by(col(AuditEntry.id))):
        if entry.id != expected_id:
            return Verdict(checked, expected_id, f"entry {expected_id} is missing")
        if entry.prev_mac != prev:
            return Verdict(checked, entry.id, f"entry {entry.id} does not follow the one before")
        if not hmac.compare_digest(entry.mac, _mac(key, prev, entry)):
            return Verdict(checked, entry.id, f"entry {entry.id} was altered")
        prev, expected_id, checked = entry.mac, expected_id + 1, checked + 1
    head = session.get(AuditHead, 1)
    last_id, last_mac = (head.last_id, head.last_mac) if head else (0, GENESIS)
    if (last_id, last_mac) != (expected_id - 1, prev):
        return Verdict(
            checked,
            min(last_id, expected_id),
            f"the chain ends at entry "
            f"{expected_id - 1} but its head says {last_id}: entries were removed",
        )
    return Verdict(checked)
