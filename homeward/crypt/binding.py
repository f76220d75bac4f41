"""The keyring a database is sealed with: recorded once, and every other keyring refused.

The database keeps the keyring's fingerprint (``Keyring.fingerprint``) in ``keyring_binding``.
An empty database records it in the transaction of its first write (so a write that fails
records nothing); a database that held data before is bound by ``homeward db upgrade``. From
then on every write path (the commands runner, the CLI's operator commands, sign-in, rotation,
backups) asks ``check_keyring`` first, and a keyring whose fingerprint differs is refused
before anything is sealed, written or rotated. Rotation replaces master keys only, so the
fingerprint, derived from the audit and index keys, stays the same through it.

The answer is kept per database and keyring for the life of the process: the binding is only
ever inserted, never changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from homeward.base.db import insert_for
from homeward.base.models import KeyringBinding
from homeward.crypt.keys import Keyring, WrongKeyring, load_keyring

_MATCHED: set[tuple[str, str]] = set()  # (database, fingerprint) found bound in this process


def forget() -> None:
    """Drop what this process knows (the tests: a database emptied under a running process)."""
    _MATCHED.clear()


def short(fingerprint: str) -> str:
    """How a fingerprint is shown: its first 12 hex digits."""
    return f"{fingerprint[:12]}…"


@dataclass(frozen=True)
class BindingStatus:
    keyring: str  # the keyring's fingerprint
    database: str | None  # the fingerprint recorded, or None while the database is unbound

    @property
    def matches(self) -> bool:
        return self.database is None or self.database == self.keyring


def _where(session: Session) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=True)


def status(session: Session, keyring: Keyring | None = None) -> BindingStatus:
    """The keyring's fingerprint and the one the database recorded (nothing is written)."""
    keyring = keyring or load_keyring()
    row = session.get(KeyringBinding, 1)
    return BindingStatus(keyring.fingerprint, row.fingerprint if row else None)


def refusal(recorded: str) -> WrongKeyring:
    return WrongKeyring(
        f"keys: this database was sealed with another keyring (fingerprint {short(recorded)}); "
        "point HOMEWARD_KEY_FILE at the right one"
    )


def check_keyring(session: Session, *, bind: bool = True) -> Keyring:
    """The keyring, once it proves to be the one this database is sealed with.

    ``bind``: a write transaction records the keyring when the database has none yet (the row
    commits or rolls back with the write). Raises ``WrongKeyring`` for another keyring and
    ``KeysMissing`` when there is none."""
    keyring = load_keyring()
    fingerprint = keyring.fingerprint
    where = _where(session)
    if (where, fingerprint) in _MATCHED:
        return keyring
    recorded = session.get(KeyringBinding, 1)
    if recorded is None:
        if bind:
            _insert(session, fingerprint)
        return keyring  # known once the write that records it has committed
    if recorded.fingerprint != fingerprint:
        raise refusal(recorded.fingerprint)
    _MATCHED.add((where, fingerprint))
    return keyring


def _insert(session: Session, fingerprint: str) -> None:
    """Record the binding unless a concurrent first write just did; then check that one."""
    values = {"id": 1, "fingerprint": fingerprint, "bound_at": datetime.now(UTC)}
    insert = insert_for(session)(KeyringBinding)
    session.execute(insert.values(**values).on_conflict_do_nothing())
    recorded = session.get(KeyringBinding, 1)
    if recorded is not None and recorded.fingerprint != fingerprint:
        raise refusal(recorded.fingerprint)
