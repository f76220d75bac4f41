"""PostgreSQL: the INSERT guards on participants, items and ids check a statement's rows
together at its end (migration 0046) and refuse what their row triggers refused.

Each escape is one INSERT of two rows as the app's login acting for ADPARE (a live participant
of the owner's case, and owner of a case of its own), of which the second breaks the rule; the
same statement without that row passes (the control), so the refusal is that row's. In the
system scope the statement passes, as it did.
"""

from __future__ import annotations

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, text

from homeward.base.db import get_engine
from homeward.base.migrate import alembic_config, head_revision, upgrade
from tests import factories as f
from tests.conftest import BACKEND, SYSTEM_LOGIN, login_url
from tests.protect.test_case_owner import partner as partner  # the fixture: the case, ADPARE
from tests.protect.test_partner_writes import _try
from tests.protect.test_partner_writes import case as case  # the fixture: ADPARE's own item

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row security is PostgreSQL's")

# Rows of ADPARE's own case ({mine}) and of the owner's ({id}); a participant that has ended
# (the current-role index does not hold it).
PARTICIPANTS = "INSERT INTO case_participant (case_id, role, org_id, status) VALUES {rows}"
PARTICIPANT = "({case}, 'ngo', {{other}}, 'ended')"
ITEMS = (
    "INSERT INTO checklist_item (case_id, stage, code, title_key, owner_org_id, due_at, "
    "blocking, status, created_at) SELECT case_id, stage, r.code, title_key, r.org, due_at, "
    "r.blocking, 'open', now() FROM checklist_item, (VALUES {rows}) AS r(code, org, blocking) "
    "WHERE id = {{own_item}}"
)
ADHOC = "('adhoc_other', {me}, false)"  # ADPARE's own ad-hoc item: what a partner may add
EVENTS = (  # the id its sequence gives, or (``{far}``) one it has not given yet
    "INSERT INTO case_event (id, case_id, actor_id, at, trigger, from_state, to_state, data) "
    "SELECT CASE WHEN g.far THEN (SELECT last_value + 50 FROM case_event_id_seq) "
    "ELSE nextval('case_event_id_seq') END, case_id, actor_id, at, trigger, from_state, "
    "to_state, data FROM (SELECT * FROM case_event WHERE case_id = {{id}} ORDER BY id LIMIT 1) "
    "e, (VALUES {rows}) AS g(far)"
)


def _rows(statement: str, good: str, bad: str | None) -> str:
    """``statement`` with its good row, and ``bad`` after it if given."""
    return statement.format(rows=", ".join([good, *([bad] if bad else [])]))


# name: (the statement's rows, good and bad; the refusal's words)
ESCAPES: dict[str, tuple[str, str, str, str]] = {
    "name a participant of the owner's case": (
        PARTICIPANTS,
        PARTICIPANT.format(case="{mine}"),
        PARTICIPANT.format(case="{id}"),
        "only a case's owner names the organisations",
    ),
    "give fmb an item of the owner's case": (
        ITEMS,
        ADHOC,
        "('adhoc_other', {other}, false)",
        "an item goes to another organisation only by its case's owner",
    ),
    "add a catalog item of its own": (
        ITEMS,
        ADHOC,
        "('family_assessment', {me}, true)",
        "a partner adds only ad-hoc items of its own",
    ),
    "add an event under an id not given yet": (
        EVENTS,
        "(false)",
        "(true)",
        "a new case_event row takes the id its sequence gives",
    ),
}


@pytest.fixture
def mine(case, engine: Engine, clock) -> tuple[psycopg.Connection, dict]:
    """``case``, and a second case ADPARE owns (``mine``)."""
    conn, values = case
    ref = f.open_case(clock)
    with engine.begin() as admin:  # as the tables' owner: the guards let it
        values["mine"] = admin.execute(
            text("UPDATE return_case SET owner_org_id = :me WHERE case_ref = :ref RETURNING id"),
            {"me": values["me"], "ref": ref},
        ).scalar_one()
    return conn, values


@pytest.mark.parametrize("name", list(ESCAPES))
def test_one_bad_row_refuses_the_statement(mine, name):
    conn, values = mine
    statement, good, bad, words = ESCAPES[name]
    error = _try(conn, [_rows(statement, good, bad).format(**values)], values)
    assert isinstance(error, str) and f"homeward: {words}" in error
    assert _try(conn, [_rows(statement, good, None).format(**values)], values) == [1]


def test_the_system_scope_writes_them(mine, db_url):
    """Every escape's statement, bad row included, in the system scope (``homeward_system``,
    the system login's): the guards let the system through, as their row triggers did."""
    _conn, values = mine
    url = login_url(db_url, SYSTEM_LOGIN).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        for statement, good, bad, _words in ESCAPES.values():
            with conn.transaction() as tx, conn.cursor() as cursor:
                cursor.execute(b"SELECT homeward_system(true)")
                cursor.execute(_rows(statement, good, bad).format(**values).encode())
                assert cursor.rowcount == 2
                raise psycopg.Rollback(tx)


GUARDS = (  # each INSERT guard's trigger, and whether it fires once a row (tgtype's bit 1)
    "SELECT c.relname || '.' || t.tgname, t.tgtype & 1 FROM pg_trigger t "
    "JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgtype & 4 = 4 AND t.tgname IN "
    "('homeward_participant_kept', 'homeward_participant_added', 'homeward_item_keeps_owner', "
    "'homeward_item_added', 'homeward_owner_writes', 'homeward_id_drawn') "
    "AND c.relname IN ('case_participant', 'checklist_item', 'case_key', 'case_event')"
)


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0046_downgrades_to_row_guards_and_upgrades_again(engine):
    def guards() -> dict[str, int]:
        with engine.connect() as conn:
            return dict(conn.execute(text(GUARDS)).tuples().all())

    shared = {  # the same trigger's name, before (once a row) and after (once a statement)
        "case_event.homeward_id_drawn",
        "case_participant.homeward_id_drawn",
        "checklist_item.homeward_id_drawn",
        "checklist_item.homeward_item_added",
    }
    kept = {"case_key.homeward_owner_writes": 1}  # refused before the key's check: a row's
    once_a_statement = dict.fromkeys([*shared, "case_participant.homeward_participant_added"], 0)
    once_a_statement |= kept
    row_guards = [
        "case_participant.homeward_participant_kept",
        "checklist_item.homeward_item_keeps_owner",
    ]
    once_a_row = dict.fromkeys([*shared, *row_guards], 1) | kept
    assert guards() == once_a_statement
    command.downgrade(alembic_config(get_engine()), "0045")
    assert guards() == once_a_row
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert guards() == once_a_statement
