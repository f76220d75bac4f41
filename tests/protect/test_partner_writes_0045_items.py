"""PostgreSQL: a partner's item is completed as its commands complete it: in the name of the
staff member acting, at the database's time, after the item existed; a completion is never
reassigned nor emptied; an outcome or a note only with a completion (migration 0045, after
0042's review, F5).

0041 left a partner (ADPARE, a live participant of ``partner``'s case) free, through plain SQL
as the app's login under its own session, to empty a skipped item's ``completed_by_id``, to
claim another staff member's completion in its own name, to write an outcome or a note on an
open item, signed by no one, and to backdate a completion (years ago, before the item existed)
or date it ahead. Each escape must be refused by a ``homeward:`` line, the rows as they were;
what the commands do still passes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, text

from homeward.base.db import get_engine, write_session
from homeward.base.migrate import alembic_config, head_revision, upgrade
from homeward.records.directory import get_org
from statemachines.cases import get_case
from tasks import adhoc, checklist, checklist_changes
from tests import factories as f
from tests import signin
from tests.conftest import BACKEND
from tests.protect.test_case_owner import PARTNER
from tests.protect.test_case_owner import partner as partner  # the fixture: the case, ADPARE
from tests.protect.test_partner_handoffs import OWN
from tests.protect.test_partner_writes import _rows, _try
from tests.protect.test_partner_writes import case as case  # the fixture: ADPARE's own item

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row security is PostgreSQL's")

SKIPPED = "status = 'skipped', completed_by_id = {staff}, completed_at = now(), note = 'why'"
DONE = "status = 'done', completed_by_id = {staff}, completed_at = {at}"

ESCAPES: dict[str, list[str]] = {
    # a completion emptied, or claimed (the owner's coordinator completed ``by_owner``)
    "empty its skipped item's completer": [
        OWN.format(set=SKIPPED),
        OWN.format(set="completed_by_id = NULL"),
    ],
    "claim another member's completion": [
        "UPDATE checklist_item SET completed_by_id = {staff} WHERE id = {by_owner}"
    ],
    "turn another member's done item into its own skip": [
        "UPDATE checklist_item SET status = 'skipped', note = 'mine', completed_by_id = {staff}, "
        "completed_at = now() WHERE id = {by_owner}"
    ],
    # an outcome, a note on an item not done nor skipped: signed by no one
    "an outcome on its open item": [OWN.format(set="outcome = 'returned'")],
    "a note on its open item": [OWN.format(set="note = 'forged'")],
    "cancel its item with an outcome and a note": [
        OWN.format(set="status = 'cancelled', completed_at = now(), outcome = 'x', note = 'y'")
    ],
    "a status of its own making": [OWN.format(set="status = 'archived'")],
    # a completion's time: before the item existed, ahead, moved
    "complete before the item existed": [
        OWN.format(set=DONE.format(staff="{staff}", at="created_at - interval '1 day'"))
    ],
    "complete 200 years ahead": [
        OWN.format(set=DONE.format(staff="{staff}", at="now() + interval '200 years'"))
    ],
    "complete 200 years ago": [
        OWN.format(set=DONE.format(staff="{staff}", at="now() - interval '200 years'"))
    ],
    "move its own completion back": [
        OWN.format(set=DONE.format(staff="{staff}", at="now()")),
        OWN.format(set="completed_at = completed_at - interval '1 hour'"),
    ],
}


@pytest.fixture
def setup(case, engine: Engine) -> tuple[psycopg.Connection, dict]:
    """``case``, with a second item of ADPARE's done by the owner's coordinator (``by_owner``)."""
    conn, values = case
    with engine.begin() as admin:  # as the tables' owner: row security does not apply
        values["by_owner"] = admin.execute(
            text(
                "INSERT INTO checklist_item (case_id, stage, code, title_key, owner_org_id, "
                "due_at, blocking, created_at, status, completed_by_id, completed_at) "
                "SELECT case_id, stage, code, title_key, owner_org_id, due_at, false, "
                "created_at, 'done', :s, now() FROM checklist_item WHERE id = :i RETURNING id"
            ),
            {"s": values["owner_staff"], "i": values["own_item"]},
        ).scalar_one()
    return conn, values


def test_every_completion_escape_is_refused(setup, engine):
    conn, values = setup
    before = _rows(engine)
    outcomes = {name: _try(conn, steps, values) for name, steps in ESCAPES.items()}
    assert {n: e for n, e in outcomes.items() if not isinstance(e, str)} == {}
    assert {n: e for n, e in outcomes.items() if "homeward: " not in e} == {}
    assert {n: e for n, e in outcomes.items() if "never reassigned" not in e} == {}
    assert _rows(engine) == before


def test_the_controls_as_the_commands_write_them(setup):
    """What ``mark_done``, ``mark_skipped``, ``reopen_item`` and a cancellation write, in one
    statement each, still passes (each rolled back)."""
    conn, values = setup
    done = DONE.format(staff="{staff}", at="now()") + ", outcome = NULL, note = 'n'"
    reopen = "status = 'open', outcome = NULL, completed_by_id = NULL, completed_at = NULL"
    controls = {
        "done": [OWN.format(set=done)],
        "skipped, its note after": [
            OWN.format(set=SKIPPED.replace(", note = 'why'", "")),
            OWN.format(set="note = 'why'"),
        ],
        "done, then reopened": [OWN.format(set=done), OWN.format(set=reopen)],
        "cancelled": [OWN.format(set="status = 'cancelled', completed_at = now()")],
        "another member's completion reopened, then its own": [
            f"UPDATE checklist_item SET {reopen} WHERE id = {{by_owner}}",
            f"UPDATE checklist_item SET {SKIPPED} WHERE id = {{by_owner}}",
        ],
    }
    outcomes = {name: _try(conn, steps, values) for name, steps in controls.items()}
    assert outcomes == {name: [1] * len(steps) for name, steps in controls.items()}


def _real_now() -> datetime:
    """The database's own time, not the suite's wall clock when ``HOMEWARD_TEST_WALL_CLOCK``
    moved it (tests/wallclock)."""
    import os

    from tests.wallclock.sitecustomize import OFFSET_ENV

    return datetime.now(UTC) - timedelta(seconds=float(os.environ.get(OFFSET_ENV) or 0))


@pytest.fixture
def real_clock(setup, engine: Engine) -> Iterator[tuple[psycopg.Connection, dict]]:
    """``setup`` on the database's clock unshifted (as in production), ADPARE signed in at
    that time; the shift put back after the test. ADPARE's item made a month ago."""
    conn, values = setup
    with engine.begin() as admin:
        shift = admin.execute(text("SELECT shift FROM homeward_db_clock")).scalar_one_or_none()
        admin.execute(text("DELETE FROM homeward_db_clock"))
        admin.execute(
            text("UPDATE checklist_item SET created_at = now() - interval '30 days' WHERE id = :i"),
            {"i": values["own_item"]},
        )
    yield conn, {**values, "token": signin.token_for(PARTNER, _real_now())}
    with engine.begin() as admin:
        admin.execute(text("DELETE FROM homeward_db_clock"))
        if shift is not None:
            admin.execute(text("INSERT INTO homeward_db_clock VALUES (1, :s)"), {"s": shift})


def test_a_completion_is_at_the_databases_time(real_clock):
    """After the item existed is not enough: a month-old item completed the day after it was
    made, or 20 minutes ahead, is refused; now (and a few minutes apart) passes."""
    conn, values = real_clock
    at = {
        "the day after it was made": "created_at + interval '1 day'",
        "an hour ago": "now() - interval '1 hour'",
        "20 minutes ahead": "now() + interval '20 minutes'",
    }
    refused = {
        name: _try(conn, [OWN.format(set=DONE.format(staff="{staff}", at=when))], values)
        for name, when in at.items()
    }
    assert {
        n: e for n, e in refused.items() if not (isinstance(e, str) and "homeward: " in e)
    } == {}
    for when in ("now()", "now() - interval '3 minutes'", "now() + interval '3 minutes'"):
        assert _try(conn, [OWN.format(set=DONE.format(staff="{staff}", at=when))], values) == [1]


def test_the_partner_still_completes_reopens_and_cancels(setup, engine, clock):
    """Through the commands: ADPARE skips its item, reopens it, does it; adds an appointment and
    cancels it."""
    _conn, values = setup
    own = values["own_item"]
    with write_session() as s:
        me = f.actor(s, PARTNER)
        checklist.mark_skipped(s, item_id=own, actor=me, now=clock.now(), reason="not needed now")
    with write_session() as s:
        checklist_changes.reopen_item(
            s, item_id=own, actor=f.actor(s, PARTNER), reason="needed after all", now=clock.now()
        )
    with write_session() as s:
        checklist.mark_done(s, item_id=own, actor=f.actor(s, PARTNER), now=clock.now(), note="ok")
    with write_session() as s:
        me = f.actor(s, PARTNER)
        item = adhoc.add_item(
            s,
            case=get_case(s, case_ref=values["ref"], actor=me),
            actor=me,
            kind="court_hearing",
            owner=get_org(session=s, slug="adpare"),
            on=clock.now().date() + timedelta(days=3),
            now=clock.now(),
            title="hearing",
        )
    with write_session() as s:
        adhoc.cancel(
            s, item_id=item.id or 0, actor=f.actor(s, PARTNER), reason="called off", now=clock.now()
        )
    with engine.connect() as admin:
        mine = admin.execute(
            text("SELECT status, completed_by_id FROM checklist_item WHERE id = :i"), {"i": own}
        ).one()
    assert tuple(mine) == ("done", values["staff"])


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0045_downgrades_to_0044_and_upgrades_again(engine):
    def guarded() -> bool:
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT count(*) FROM pg_trigger WHERE tgname = 'homeward_item_worked'")
            ).scalar_one()
        return found == 1

    assert guarded()
    command.downgrade(alembic_config(get_engine()), "0044")
    assert not guarded()
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert guarded()
