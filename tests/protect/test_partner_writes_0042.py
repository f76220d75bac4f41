"""PostgreSQL: a partner changes nothing of the owner's case but its version (and its owner, by
accepting its transfer); a new row takes an id its sequence has given (migration 0042, after
0041's review).

0041 left a partner (ADPARE, a live participant of ``partner``'s case) free, through plain SQL
as the app's login under its own session, to rewrite any column of the owner's case but its id,
reference and owner: close it thirty years ago with its legal hold lifted (the next retention
run purged the person's data), or make a child an adult around a handoff of a child's reception
item to an NGO. And to insert rows with ids its sequence had not given yet, so the owner's next
case failed on the primary key. Each escape must be refused by a ``homeward:`` line; what the
commands do still passes."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Engine, text

from homeward.base.db import get_engine, write_session
from homeward.base.migrate import alembic_config, head_revision, upgrade
from homeward.base.migrations.earlier import earlier
from homeward.base.models import Organisation
from homeward.protection.retention import purge_due, set_legal_hold
from statemachines.cases import get_case
from tasks import adhoc, checklist, handoffs, providers, transfers
from tests import factories as f
from tests import signin
from tests.conftest import BACKEND
from tests.protect.app_login import run_steps
from tests.protect.test_case_owner import IOM_RO, PARTNER
from tests.protect.test_case_owner import partner as partner  # the fixture: the case, ADPARE
from tests.protect.test_partner_handoffs import HAND
from tests.protect.test_partner_handoffs import setup as setup  # the fixture: FAR, a child
from tests.protect.test_partner_writes import _try
from tests.protect.test_partner_writes import case as case  # the fixture: ADPARE's own item

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row security is PostgreSQL's")

_0042 = "0042_cases_partners_cannot_rewrite_ids_the_app_cannot_squat.py"
CASE = "UPDATE return_case SET {set} WHERE id = {{id}}"
BUMP = "version = version + 1"  # what ``locking.bump`` writes (the ORM's version counter)
CLOSE = "status = 'closed', closed_at = now() - interval '30 years', legal_hold = false"

CASE_ESCAPES: dict[str, list[str]] = {
    # the person's data purged at the next retention run
    "close the case 30 years ago, its hold lifted": [CASE.format(set=f"{CLOSE}, {BUMP}")],
    "the same, without a version": [CASE.format(set=CLOSE)],
    # a child's reception item to an NGO, past 0038's rule (the case a child's again after)
    "an adult for the time of a child's handoff": [
        CASE.format(set=f"is_minor = false, {BUMP}"),
        HAND.format(to="{other}", item="{childs_item}", by="{staff}"),
        CASE.format(set=f"is_minor = true, {BUMP}"),
    ],
    "move the case to another stage": [CASE.format(set=f"state = 'closed', {BUMP}")],
    "set the destination county": [CASE.format(set=f"destination_county = 'RO-CJ', {BUMP}")],
    "rewrite the travel document": [CASE.format(set=f"travel_doc_kind = 'none', {BUMP}")],
    "set its version back": [CASE.format(set="version = version - 1")],
    "jump its version ahead": [CASE.format(set="version = version + 1000")],
}
# ids the sequences have not given yet, for ADPARE's own ad-hoc items and for its case's events
NEXT = "generate_series((SELECT last_value + 1 FROM {seq}), (SELECT last_value + {n} FROM {seq}))"
SQUAT_ITEMS = (
    "INSERT INTO checklist_item (id, case_id, stage, code, title_key, owner_org_id, due_at, "
    "blocking, status, created_at) SELECT g, case_id, stage, 'adhoc_other', title_key, "
    "owner_org_id, due_at, false, 'open', now() FROM checklist_item, "
    + NEXT.format(seq="checklist_item_id_seq", n=300)
    + " g WHERE id = {own_item}"
)
SQUAT_EVENTS = (
    "INSERT INTO case_event (id, case_id, actor_id, at, trigger, from_state, to_state, reason, "
    "data, proof) SELECT g, case_id, actor_id, at, trigger, from_state, to_state, reason, data, "
    "proof FROM "
    "(SELECT * FROM case_event WHERE case_id = {id} ORDER BY id LIMIT 1) e, "
    + NEXT.format(seq="case_event_id_seq", n=50)
    + " g"
)


DRAWN_TABLES = (  # the tables whose id a sequence gives, the app's logins may insert into
    "SELECT relname FROM (SELECT c.relname, c.oid FROM pg_class c "
    "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'id' "
    "WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace OFFSET 0) t "
    "WHERE pg_get_serial_sequence(relname, 'id') = 'public.' || relname || '_id_seq' "
    "AND has_table_privilege('homeward_app', oid, 'INSERT') ORDER BY 1"
)
GUARDED_TABLES = (
    "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
    "WHERE t.tgname = 'homeward_id_drawn' ORDER BY 1"
)


def _case_row(engine: Engine) -> tuple[object, ...]:
    with engine.connect() as admin:
        return tuple(admin.execute(text("SELECT * FROM return_case")).one())


def test_every_case_escape_is_refused(setup, engine):
    conn, values = setup
    before = _case_row(engine)
    outcomes = {name: _try(conn, steps, values) for name, steps in CASE_ESCAPES.items()}
    assert {n: e for n, e in outcomes.items() if not isinstance(e, str)} == {}
    assert {n: e for n, e in outcomes.items() if "is changed by its owner only" not in e} == {}
    assert {n: e for n, e in outcomes.items() if "homeward: " not in e} == {}
    assert _case_row(engine) == before


def test_a_partners_closure_purges_nothing(case, engine, clock):
    """The review's run: ADPARE closes the case thirty years ago, committed; the purge finds
    nothing to purge."""
    conn, values = case
    error = run_steps(conn, CASE_ESCAPES["close the case 30 years ago, its hold lifted"], values)
    assert error is not None and "homeward: " in error
    with write_session() as s:
        assert purge_due(s, now=clock.now(), dry_run=False, actor=None) == []
    with engine.connect() as admin:
        assert admin.execute(text("SELECT status, purged_at FROM return_case")).one() == (
            "active",
            None,
        )


@pytest.mark.parametrize("squat", [SQUAT_ITEMS, SQUAT_EVENTS], ids=["items", "events"])
def test_no_one_squats_the_next_ids(case, engine, clock, squat):
    conn, values = case
    error = run_steps(conn, [squat], values)
    assert error is not None and "homeward: " in error and "not given yet" in error
    f.open_case(clock)  # the owner's next case: its items and events, at the sequences' ids


def test_an_id_drawn_first_is_taken(case):
    """The control: an id drawn from the sequence first (``bulk.new_ids``, ``audit._insert``),
    then written, passes; as does one left to the column's default."""
    conn, values = case
    one = SQUAT_ITEMS.replace(", " + NEXT.format(seq="checklist_item_id_seq", n=300) + " g", "")
    drawn = one.replace("SELECT g, ", "SELECT nextval('checklist_item_id_seq'), ")
    assert _try(conn, [drawn], values) == [1]
    defaulted = one.replace("(id, ", "(").replace("SELECT g, ", "SELECT ")
    assert _try(conn, [defaulted], values) == [1]


def test_the_commands_of_a_partner_and_an_owner_still_write_the_case(case, engine, clock):
    conn, values = case
    own = values["own_item"]
    with write_session() as s:  # ADPARE: its item handed to FMB, then done (a version each)
        handoffs.propose(
            s, item_id=own, to_org_slug="fmb", actor=f.actor(s, PARTNER), now=clock.now()
        )
    with write_session() as s:
        checklist.mark_done(s, item_id=own, actor=f.actor(s, PARTNER), now=clock.now())
    with write_session() as s:  # an appointment of its own
        me, adpare = f.actor(s, PARTNER), s.get(Organisation, values["me"])
        assert adpare is not None
        adhoc.add_item(
            s,
            case=get_case(s, case_ref=values["ref"], actor=me),
            actor=me,
            kind="court_hearing",
            owner=adpare,
            on=clock.now().date(),
            now=clock.now(),
            title="hearing",
        )
    # by hand as the app's login: a version bump alone, as ``locking.bump`` writes it
    assert _try(conn, [CASE.format(set=f"state = state, {BUMP}")], values) == [1]
    # the owner: its commands, and any column by hand
    with write_session() as s:
        case = get_case(s, case_ref=values["ref"], actor=f.actor(s))
        providers.set_county(s, case=case, actor=f.actor(s), county="RO-CJ", now=clock.now())
    with write_session() as s:
        case = get_case(s, case_ref=values["ref"], actor=f.actor(s, f.SUPERVISOR))
        set_legal_hold(s, case=case, actor=f.actor(s, f.SUPERVISOR), hold=True, now=clock.now())
    owner = {**values, "token": signin.token_for(f.COORD, clock.now())}
    assert _try(conn, [CASE.format(set="is_minor = true, arrival_on = current_date")], owner) == [1]
    with engine.connect() as admin:
        county, hold = admin.execute(
            text("SELECT destination_county, legal_hold FROM return_case")
        ).one()
        status = admin.execute(text(f"SELECT status FROM checklist_item WHERE id = {own}"))
    assert (county, hold, status.scalar_one()) == ("RO-CJ", True, "done")


def test_the_addressee_still_takes_the_case_it_accepts(partner, engine, clock):
    """IOM Romania accepts the owner's pending transfer (``tasks.transfers.accept_transfer``):
    not the owner when it writes the case, it sets the owner to itself; then, the owner, it
    changes the case."""
    _conn, values = partner
    with write_session() as s:
        ro = f.actor(s, IOM_RO)
        case = get_case(s, case_ref=values["ref"], actor=ro)
        transfers.accept_transfer(s, case=case, actor=ro, now=clock.now())
    with write_session() as s:
        ro = f.actor(s, IOM_RO)
        case = get_case(s, case_ref=values["ref"], actor=ro)
        providers.set_county(s, case=case, actor=ro, county="RO-B", now=clock.now())
    with engine.connect() as admin:
        owner, county = admin.execute(
            text(
                "SELECT o.slug, c.destination_county FROM return_case c "
                "JOIN organisation o ON o.id = c.owner_org_id"
            )
        ).one()
    assert (owner, county) == ("iom-ro", "RO-B")


def test_the_guarded_tables_are_every_table_the_app_draws_ids_for(engine) -> None:
    """0042's list: every table whose ``id`` a sequence gives and the app's logins insert."""
    with engine.connect() as admin:
        found = admin.execute(text(DRAWN_TABLES)).scalars().all()
        guarded = admin.execute(text(GUARDED_TABLES)).scalars().all()
        listed = earlier(_0042)
        assert [t for t in found if t not in listed.SINGLE_ROW] == list(guarded)
        assert list(guarded) == sorted(listed.ID_TABLES)


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0042_downgrades_to_0041s_guards_and_upgrades_again(engine):
    def state() -> tuple[int, int]:
        with engine.connect() as conn:
            case, ids = conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE tgname = 'homeward_case_kept'), "
                    "count(*) FILTER (WHERE tgname = 'homeward_id_drawn') FROM pg_trigger"
                )
            ).one()
        return int(case), int(ids)

    tables = len(earlier(_0042).ID_TABLES)
    assert state() == (1, tables)
    command.downgrade(alembic_config(get_engine()), "0041")
    assert state() == (0, 0)
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert state() == (1, tables)


def test_the_guards_are_called_by_no_login(engine) -> None:
    with engine.connect() as conn:
        callable_by_app = conn.execute(
            text(
                "SELECT proname FROM pg_proc WHERE proname IN "
                "('homeward_case_kept', 'homeward_id_drawn') "
                "AND has_function_privilege('homeward_app', oid, 'EXECUTE')"
            )
        ).scalars()
        assert list(callable_by_app) == []
