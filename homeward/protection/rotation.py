"""Master-key rotation: re-wrap every case key under a new master key, resumably.

The keyring first gains the new key (made active), then case keys are re-wrapped in small
committed batches, each row moving from old to new in one transaction; a kill at any point
leaves every row readable under the key its ``master_key_id`` names. Rerunning continues where
it stopped; once no row uses an old key, the old keys are dropped from the keyring. Nothing
starts until the keyring proves to be the one the database is sealed with.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import col, select

from homeward.base.db import system_scope, write_session
from homeward.base.models import CaseKey
from homeward.crypt import crypto
from homeward.crypt.binding import check_keyring
from homeward.crypt.keys import begin_rotation, load_keyring, retire_old_keys


@dataclass(frozen=True)
class RotationReport:
    active: str
    rewrapped: int
    retired: list[str]


def _rewrap_batch(engine: Engine, active: str, batch: int) -> int:
    keyring = load_keyring()
    with write_session(engine) as session, system_scope(session):
        rows = session.exec(
            select(CaseKey)
            .where(CaseKey.master_key_id != active, col(CaseKey.wrapped).is_not(None))
            .order_by(col(CaseKey.case_id))
            .limit(batch)
        ).all()
        for row in rows:
            assert row.wrapped is not None  # noqa: S101
            data_key = crypto.unwrap_key(
                keyring.master(row.master_key_id), row.wrapped, case_id=row.case_id
            )
            row.wrapped = crypto.wrap_key(keyring.active_master, data_key, case_id=row.case_id)
            row.master_key_id = active
            session.add(row)
        return len(rows)


def rotate(engine: Engine, *, batch: int = 200) -> RotationReport:
    """Rotate (or finish an interrupted rotation) to a new master key.

    The keyring is first checked to be this database's own (``WrongKeyring`` otherwise): a
    wrong one is refused before the key file or any row changes. Rotation replaces master keys
    only, so the fingerprint the database recorded still matches afterwards."""
    with write_session(engine) as session:
        check_keyring(session)
    active = begin_rotation()
    total = 0
    while moved := _rewrap_batch(engine, active, batch):
        total += moved
    with write_session(engine) as session, system_scope(session):  # relabel destroyed keys
        for row in session.exec(select(CaseKey).where(CaseKey.master_key_id != active)):
            row.master_key_id = active
            session.add(row)
    return RotationReport(active=active, rewrapped=total, retired=retire_old_keys())
