"""PostgreSQL: a row's seal is written only with its row; a case is taken only with its transfer
accepted; a partner's own item keeps its escalation, start and completions (migration 0041,
after 0038's review).

0038 left a partner (ADPARE, a live participant of ``partner``'s case) free, through plain SQL
as the app's login under its own session, to zero a case's seals and to squat the seals of rows
not yet written (the next case anyone opened then failed at its commit); as the addressee of a
whole-case transfer, to take the case and reject the transfer; and to push its item's
escalation ahead, move a catalog item's start, rewrite another staff member's completion, or
reopen an item keeping its completion. Each escape must be refused by a ``homeward:`` line;
what the commands do still passes."""

from __future__ import annotations

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, text

from homeward.base.db import get_engine, write_session
from homeward.base.migrate import alembic_config, head_revision, upgrade
from homeward.base.migrations.earlier import earlier
from homeward.records import seals
from statemachines.cases import get_case
from tasks import transfers
from tests import factories as f
from tests import signin
from tests.conftest import BACKEND
from tests.protect.app_login import run_steps
from tests.protect.test_case_owner import IOM_RO
from tests.protect.test_case_owner import partner as partner  # the fixture: the case, ADPARE
from tests.protect.test_partner_handoffs import ADDED, OWN
from tests.protect.test_partner_handoffs import setup as setup  # the fixture: FAR, a child
from tests.protect.test_partner_writes import _try
from tests.protect.test_partner_writes import case as case  # the fixture: ADPARE's own item

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row security is PostgreSQL's")

_0041 = "0041_seals_cases_and_items_the_app_cannot_bend.py"
ZEROS = "repeat('0', 64)"
SEAL = (
    "INSERT INTO row_seal (tbl, row_id, case_id, version, mac) VALUES ({row}, {{id}}, {v}, {mac})"
)
NEXT = "(SELECT coalesce(max(id), 0) + {n} FROM {table})"

ESCAPES: dict[str, list[str]] = {
    # the case's tamper evidence, and everyone's next case
    "zero the case's seals": [f"UPDATE row_seal SET mac = {ZEROS}"],
    "squat the seal of the next event": [
        SEAL.format(row="'case_event', " + NEXT.format(n=1, table="case_event"), v=1, mac=ZEROS)
    ],
    "squat the seals of the next 200 items": [
        "INSERT INTO row_seal (tbl, row_id, case_id, version, mac) SELECT 'checklist_item', g, "
        f"{{id}}, 1, {ZEROS} FROM generate_series({NEXT.format(n=1, table='checklist_item')}, "
        f"{NEXT.format(n=200, table='checklist_item')}) g"
    ],
    "seal a row of a table not sealed": [SEAL.format(row="'organisation', {me}", v=1, mac=ZEROS)],
    "reseal its case, not written": [
        f"UPDATE row_seal SET version = version + 1, mac = {ZEROS} "
        "WHERE tbl = 'return_case' AND row_id = {id}"
    ],
    "seal its new item at version 7": [
        ADDED.format(code="'adhoc_other'", how="false, 'open'"),
        SEAL.format(
            row="'checklist_item', " + NEXT.format(n=0, table="checklist_item"), v=7, mac=ZEROS
        ),
    ],
    "move a seal to another row": [
        "UPDATE row_seal SET row_id = row_id + 100000, version = version + 1 "
        "WHERE tbl = 'return_case' AND row_id = {id}"
    ],
    "delete the case's seals": ["DELETE FROM row_seal"],
    # its own item: the sweep silenced, a catalog item's start, a completion
    "escalate its item 50 years ahead": [
        OWN.format(set="escalated_at = now() + interval '50 years'")
    ],
    "start a catalog item": [OWN.format(set="starts_at = now()")],
    "mark its item done by no one": [
        OWN.format(set="status = 'done', completed_at = now() - interval '1 year'")
    ],
    "reopen its item keeping the completion": [
        OWN.format(set="status = 'skipped', completed_by_id = {staff}, completed_at = now()"),
        OWN.format(set="status = 'open'"),
    ],
}


def test_every_seal_and_item_escape_is_refused(setup, engine):
    conn, values = setup
    outcomes = {name: _try(conn, steps, values) for name, steps in ESCAPES.items()}
    assert {n: e for n, e in outcomes.items() if not isinstance(e, str)} == {}
    assert {n: e for n, e in outcomes.items() if "homeward: " not in e} == {}
    assert "transaction that wrote it" in outcomes["squat the seal of the next event"]
    assert "next version" in outcomes["move a seal to another row"]
    assert "version 1" in outcomes["seal its new item at version 7"]


def test_the_owner_deletes_no_seal(setup, clock):
    """0038 let the case's owner delete its seals; no command does outside a purge."""
    conn, values = setup
    owner = {**values, "token": signin.token_for(f.COORD, clock.now())}
    error = _try(conn, ["DELETE FROM row_seal WHERE tbl = 'checklist_item'"], owner)
    assert isinstance(error, str) and "only by a purge" in error


def test_no_one_rewrites_another_members_completion(setup, engine):
    """The owner's coordinator completed ADPARE's item; ADPARE rewrites the completion (its
    status, outcome, note, time), keeping the coordinator's name."""
    conn, values = setup
    with engine.begin() as admin:  # as the tables' owner
        admin.execute(
            text(
                "UPDATE checklist_item SET status = 'done', completed_by_id = :s, "
                "completed_at = now(), note = 'owner note' WHERE id = :i"
            ),
            {"s": values["owner_staff"], "i": values["own_item"]},
        )
    forged = "status = 'skipped', note = 'forged', completed_at = now() - interval '3 years'"
    error = _try(conn, [OWN.format(set=forged)], values)
    assert isinstance(error, str) and "homeward: " in error
    reopened = "status = 'open', outcome = NULL, completed_by_id = NULL, completed_at = NULL"
    signed = "status = 'skipped', note = 'redone', completed_by_id = {staff}, completed_at = now()"
    # in its own name, reopened first (0045: a completion is never claimed): reopen_item, then
    # mark_skipped
    assert _try(conn, [OWN.format(set=reopened), OWN.format(set=signed)], values) == [1, 1]


def test_a_squatted_seal_no_longer_stops_the_next_case(setup, clock):
    conn, values = setup
    squat = ESCAPES["squat the seals of the next 200 items"]
    error = run_steps(conn, squat, values)
    assert error is not None and "homeward: " in error
    f.open_case(clock)  # the owner's next case: its items' seals are its own


def _owner_of_case(engine: Engine) -> int:
    with engine.connect() as admin:
        return int(admin.execute(text("SELECT owner_org_id FROM return_case")).scalar_one())


TAKE_CASE = "UPDATE return_case SET owner_org_id = {ro} WHERE id = {id}"
ANSWER_TRANSFER = (
    "UPDATE handoff SET status = '{to}', decided_by_id = {ro_staff}, decided_at = now() "
    "WHERE item_id IS NULL AND status = 'proposed'"
)


@pytest.mark.parametrize(
    "answer",
    [[ANSWER_TRANSFER.replace("{to}", "rejected")], []],
    ids=["rejected", "unanswered"],
)
def test_an_addressee_keeps_no_case_it_did_not_accept(partner, engine, clock, answer):
    """IOM Romania, the addressee of the owner's pending transfer, makes itself the case's
    owner (0029 allows it while the transfer is proposed), then rejects the transfer or leaves
    it unanswered: the transaction is refused at its commit."""
    conn, values = partner
    with engine.connect() as admin:
        ro = admin.execute(text("SELECT id FROM organisation WHERE slug = 'iom-ro'")).scalar_one()
        query = text("SELECT id FROM staff_member WHERE email = :e")
        ro_staff = admin.execute(query, {"e": IOM_RO}).scalar_one()
    token = signin.token_for(IOM_RO, clock.now())
    ro_values = {**values, "token": token, "ro": ro, "ro_staff": ro_staff}
    owner = _owner_of_case(engine)
    error = run_steps(conn, [TAKE_CASE, *answer], ro_values)
    assert error is not None and "homeward: " in error
    assert _owner_of_case(engine) == owner
    with write_session() as s:  # the control: the command takes it
        case = get_case(s, case_ref=values["ref"], actor=f.actor(s, IOM_RO))
        transfers.accept_transfer(s, case=case, actor=f.actor(s, IOM_RO), now=clock.now())
    assert _owner_of_case(engine) == ro


def test_the_sealed_tables_are_the_sealers() -> None:
    """0041's list of the sealed tables, their keys and case columns, is ``seals.SEALED``."""
    guard = earlier(_0041)
    found = {n: (seals._pk(seals._table(n)).name, c) for n, c in seals.SEALED.items()}
    assert guard.SEALED == found


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0041_downgrades_to_0038s_guards_and_upgrades_again(engine):
    def state() -> tuple[bool, bool, bool]:
        with engine.connect() as conn:
            taken = conn.execute(
                text("SELECT count(*) FROM pg_trigger WHERE tgname = 'homeward_case_taken'")
            ).scalar_one()
            seal = conn.execute(
                text("SELECT prosrc FROM pg_proc WHERE proname = 'homeward_seal_kept'")
            ).scalar_one()
            item = conn.execute(
                text("SELECT prosrc FROM pg_proc WHERE proname = 'homeward_item_kept'")
            ).scalar_one()
        return taken == 1, "wrote it" in seal, "escalated_at" in item

    assert state() == (True, True, True)
    command.downgrade(alembic_config(get_engine()), "0040")
    assert state() == (False, False, False)
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert state() == (True, True, True)


DECIDED = (  # ADPARE's proposal of its own item to FMB (consented), already answered
    "INSERT INTO handoff (case_id, item_id, stage, from_org_id, to_org_id, proposed_by_id, "
    "proposed_at, status, decided_by_id, decided_at) SELECT case_id, id, stage, owner_org_id, "
    "{other}, {staff}, now(), 'proposed', {owner_staff}, now() FROM checklist_item "
    "WHERE id = {own_item}"
)
UNSIGNED = (  # ADPARE answers the owner's handoff to it in no one's name
    "UPDATE handoff SET status = '{to}', decided_at = now() WHERE to_org_id = {{me}} "
    "AND status = 'proposed' AND item_id IS NOT NULL"
)
WITHDRAWN = (  # the owner records a consent already withdrawn, in a partner's name
    "INSERT INTO consent (case_id, purpose, org_id, method, language, interpreter, given_on, "
    "recorded_by_id, recorded_at, withdrawn_on, withdrawn_by_id) VALUES ({id}, 'sharing', "
    "{far}, 'signed', 'ro', false, current_date, {owner_staff}, now(), current_date, {staff})"
)


def test_answers_and_withdrawals_are_signed_from_the_start(setup, clock):
    conn, values = setup
    outcomes = {
        "propose a handoff already answered": _try(conn, [DECIDED], values),
        "accept in no one's name": _try(conn, [UNSIGNED.format(to="accepted")], values),
        "reject in no one's name": _try(conn, [UNSIGNED.format(to="rejected")], values),
    }
    owner = {**values, "token": signin.token_for(f.COORD, clock.now())}
    outcomes["record a consent withdrawn"] = _try(conn, [WITHDRAWN], owner)
    assert {n: e for n, e in outcomes.items() if not isinstance(e, str)} == {}
    assert {n: e for n, e in outcomes.items() if "homeward: " not in e} == {}
    signed = UNSIGNED.format(to="rejected").replace(
        "decided_at", "decided_by_id = {staff}, decided_at"
    )
    assert _try(conn, [signed], values) == [1]  # the control: as ``handoffs.reject`` writes it


def test_the_guards_lookup_past_row_security_answers_nothing_new(setup, engine, clock):
    """The guard asks ``homeward_seal_row_written`` (as ``homeward_definer``, past row
    security): only a row this very transaction wrote answers true, so a seal for another
    case's row is refused as one for a row that does not exist (no oracle of other cases' row
    ids), and a direct call tells the caller nothing either."""
    conn, values = setup
    f.open_case(clock)  # another case of the owner's, with its items
    with engine.connect() as admin:  # as the tables' owner
        other_case, other_item = admin.execute(
            text("SELECT case_id, id FROM checklist_item WHERE case_id <> :c ORDER BY id LIMIT 1"),
            {"c": values["id"]},
        ).one()
        unused = admin.execute(text("SELECT max(id) + 1000 FROM checklist_item")).scalar_one()
    seal = "INSERT INTO row_seal (tbl, row_id, case_id, version, mac) VALUES " + (
        f"('checklist_item', {{row}}, {other_case}, 1, {ZEROS})"
    )
    errors = {
        row: _try(conn, [seal.replace("{row}", str(row))], values) for row in (other_item, unused)
    }
    assert errors[other_item] == errors[unused]
    assert isinstance(errors[unused], str) and "transaction that wrote it" in errors[unused]
    ask = f"SELECT homeward_seal_row_written('checklist_item', {other_item}, {other_case})"
    with conn.transaction() as tx, conn.cursor() as cursor:
        cursor.execute(b"SELECT homeward_act(%s)", [values["token"]])
        cursor.execute(ask.encode())
        assert cursor.fetchone() == (False,)
        raise psycopg.Rollback(tx)
    with engine.connect() as admin:  # the function runs as the definer, who bypasses policies
        owner, definer = admin.execute(
            text(
                "SELECT pg_get_userbyid(p.proowner), p.prosecdef FROM pg_proc p "
                "WHERE p.proname = 'homeward_seal_row_written'"
            )
        ).one()
    assert (owner, definer) == ("homeward_definer", True)
