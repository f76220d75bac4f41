"""The tamper-evident audit log: who did or read what, chained row to row with a keyed HMAC.

Each entry's MAC covers its own content and the previous entry's MAC, under the keyring's audit
key (outside the database), so an edit, deletion, insertion or reordering anywhere breaks the
chain from that row on, and nobody without the key can rebuild it. ``AuditHead`` holds the last
link, which also catches deletion of the newest entries, and the sum of the case data's row
seals (``homeward.records.seals``), under a MAC of its own. Appends serialise on the head row.
``verify`` checks the chain, the head and every seal; checking against the last checkpoint
outside the database (truncation, wipes) is ``homeward.records.anchor``'s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Insert
from sqlalchemy.exc import DataError
from sqlmodel import Session, col, select

from homeward.base import models
from homeward.base.clock import utc
from homeward.crypt.keys import Keyring, load_keyring
from homeward.records import seals
from homeward.records.seals import GENESIS

if TYPE_CHECKING:
    from homeward.base.models import AuditEntry, AuditHead, StaffMember

# The audit tables are named where they are used (``models.AuditEntry``): a command that writes
# no audit line (a read such as ``homeward case show``) never defines them (issue 19).


def _mac(key: bytes, prev_mac: str, entry: AuditEntry | Mapping[str, Any]) -> str:
    """An entry's MAC (``entry`` a row, or its values by column name)."""
    get: Callable[[str], Any] = (
        entry.__getitem__ if isinstance(entry, Mapping) else partial(getattr, entry)
    )
    content = json.dumps(
        [
            get("id"),
            utc(get("at")).isoformat(),
            get("actor_id"),
            get("action"),
            get("case_ref"),
            get("fields"),
            prev_mac,
        ],
        separators=(",", ":"),
    )
    return hmac.new(key, content.encode(), hashlib.sha256).hexdigest()


@cache
def _insert() -> Insert:
    return models.AuditEntry.__table__.insert()  # type: ignore[attr-defined,no-any-return]


def audit(
    session: Session,
    *,
    actor: StaffMember | None,
    action: str,
    at: datetime,
    case_ref: str | None = None,
    fields: Iterable[str] = (),
) -> None:
    """Append one entry in the caller's transaction. ``fields`` are names, never values.

    The entry is written at once, as a plain row (append-only: nothing reads it back as an
    object); the head, locked now, at commit."""
    audit_each(session, actor=actor, actions=[action], at=at, case_ref=case_ref, fields=fields)


def audit_each(
    session: Session,
    *,
    actor: StaffMember | None,
    actions: Iterable[str],
    at: datetime,
    case_ref: str | None = None,
    fields: Iterable[str] = (),
) -> None:
    """``audit`` for each of ``actions`` in turn (the same actor, moment, case and fields),
    the entries chained one to the next and written in one statement."""
    head = seals.locked_head(session)
    key = load_keyring().audit
    last_id, last_mac = seals.chain_end(session, head)
    names = ",".join(fields)
    entries: list[dict[str, Any]] = []
    for action in actions:
        entry: dict[str, Any] = {
            "id": last_id + 1,
            "at": at,
            "actor_id": actor.id if actor else None,
            "action": action,
            "case_ref": case_ref,
            "fields": names,
            "prev_mac": last_mac,
        }
        entry["mac"] = _mac(key, last_mac, entry)
        entries.append(entry)
        last_id, last_mac = entry["id"], entry["mac"]
    if not entries:
        return
    session.connection().execute(_insert(), entries)
    seals.head_moved(session, last_id, last_mac)  # the head's, at commit (with its new MAC)


@dataclass(frozen=True)
class Verdict:
    """The outcome of ``verify``: ``problem`` is empty when everything holds; ``first_bad`` names
    the first entry of the chain that does not (None when the chain holds but something else
    does not: the head, a row seal, the checkpoint)."""

    checked: int
    first_bad: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def verify(session: Session) -> Verdict:
    """Walk the chain from the first entry, then the head, then every row seal."""
    try:
        return _verify(session, load_keyring())
    except (ValueError, TypeError, LookupError, DataError):  # a value Homeward never wrote
        session.rollback()
        return Verdict(0, None, "a row holds a value Homeward cannot read: altered outside it")


def _verify(session: Session, keyring: Keyring) -> Verdict:
    key, expected_id, prev = keyring.audit, 1, GENESIS
    checked = 0
    entries = models.AuditEntry
    for entry in session.exec(select(entries).order_by(col(entries.id))):
        if entry.id != expected_id:
            return Verdict(checked, expected_id, f"entry {expected_id} is missing")
        if entry.prev_mac != prev:
            return Verdict(checked, entry.id, f"entry {entry.id} does not follow the one before")
        if not hmac.compare_digest(entry.mac, _mac(key, prev, entry)):
            return Verdict(checked, entry.id, f"entry {entry.id} was altered")
        prev, expected_id, checked = entry.mac, expected_id + 1, checked + 1
    head = session.exec(seals.head_query(session)).first() or models.AuditHead(id=1, seal_count=0)
    if not seals.sealing(session):  # an older schema (a backup's, before its upgrade)
        return _verify_end(checked, expected_id, prev, head) or Verdict(checked)
    if head.mac is not None and not hmac.compare_digest(head.mac, seals.head_mac(keyring, head)):
        return Verdict(checked, None, "the chain head was rewritten (its MAC does not hold)")
    if head.mac is None and (head.last_id or head.seal_count or checked):
        return Verdict(checked, None, "the chain head was rewritten (its MAC is gone)")
    return _verify_end(checked, expected_id, prev, head) or _verify_seals(
        session, keyring, head, checked
    )


def _verify_end(checked: int, expected_id: int, prev: str, head: AuditHead) -> Verdict | None:
    if (head.last_id, head.last_mac) != (expected_id - 1, prev):
        return Verdict(
            checked,
            min(head.last_id, expected_id),
            f"the chain ends at entry "
            f"{expected_id - 1} but its head says {head.last_id}: entries were removed",
        )
    return None


def _verify_seals(session: Session, keyring: Keyring, head: AuditHead, checked: int) -> Verdict:
    problem, total = seals.verify_seals(session, keyring)
    if problem:
        return Verdict(checked, None, problem)
    if (total.count, total.state) != (head.seal_count, head.seal_state):
        return Verdict(
            checked,
            None,
            f"the case data holds {total.count} sealed rows but the head records "
            f"{head.seal_count} (or another sum): rows were removed with their seals, or older "
            "rows put back",
        )
    return Verdict(checked)
