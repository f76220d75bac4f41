"""What a stage move that creates items costs the database: its statements, counted (issue 19,
point 3), and the rows it writes sealed as a read-back would seal them.

The consents and the new items are written as plain rows and sealed from the values written;
the audit entries as plain rows. A regression to one ORM object a row, or to a
read-back of every row at commit, adds statements and fails the count.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select

import notifications  # noqa: F401  (its listeners, as every command has them)
from homeward.base import models
from homeward.base.clock import SimulatedClock
from homeward.base.db import get_engine, write_session
from homeward.base.models import RowSeal
from homeward.crypt.keys import load_keyring
from homeward.records import seals
from homeward.records.auditlog import verify
from homeward.records.seals import row_mac
from statemachines.cases import fire
from tests import factories as f

# record_consent with the notifications' listeners on: 23 statements on SQLite (BEGIN and the
# actor's read included), 28 on PostgreSQL (the row-security scopes' settings, the event's id
# drawn before its insert); before issue 19 point 3, 36 and 40; before the case's row was
# written once, the event not read back, the head written only at commit and the login's
# rights asked once a connection, 28 and 33. One more each since the case's row is checked
# against its seal before it is first written (``seals.refuse_altered``: review F4), 24 and 29.
# Two fewer each since the old stage's open items are read once (the guard's read serves what
# the move cancels) and the new stage's items with those waiting for a partner: 22 and 27.
# One fewer each since the move reads the case locked with its seal beside it and checks the
# case against that seal as read (``seals.hold``), not read again before writing it: 21 and 26.
MOST = {"sqlite": 21, "postgresql": 26}


@pytest.fixture
def seeded(db_url: str) -> None:
    f.seed()


def test_record_consent_statements_counted(seeded: None, clock: SimulatedClock) -> None:
    warm, ref = f.open_case(clock, share=False), f.open_case(clock, share=False)
    for case_ref in (warm, ref):
        f.complete_stage(case_ref, clock)
    # the first move of a process asks what it then remembers (the schema, the login's rights)
    f.advance(warm, "record_consent", clock, {"method": "signed", "language": "ro"})
    engine = get_engine()
    said: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        said.append(statement.split(None, 1)[0])

    event.listen(engine, "before_cursor_execute", count)
    try:
        with write_session() as s:
            fire(
                s,
                case_ref=ref,
                trigger="record_consent",
                actor=f.actor(s),
                data={"method": "signed", "language": "ro"},
                now=clock.now(),
            )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(said) <= MOST[engine.dialect.name], said
    assert said.count("UPDATE") <= 3, said  # the case, its seal, the head: once each


def test_rows_written_as_plain_rows_are_sealed_as_read_back(
    seeded: None, clock: SimulatedClock
) -> None:
    ref = f.open_case(clock, share=False)
    f.complete_stage(ref, clock)
    case = f.advance(ref, "record_consent", clock, {"method": "signed", "language": "ro"})
    keyring = load_keyring()
    with f.admin_read() as s:
        assert verify(s).ok
        conn = s.connection()
        for name in ("case_event", "consent", "checklist_item"):
            table = models.metadata().tables[name]
            rows = conn.execute(select(table).where(table.c.case_id == case.id)).mappings().all()
            assert rows
            for row in rows:
                seal = s.get(RowSeal, (table.name, row["id"]))
                assert seal is not None, (table.name, row["id"])
                assert seal.mac == row_mac(keyring, table.name, row, seal.version)
                assert seal.case_id == case.id
        assert seals.sealing(s)
