"""PostgreSQL: a partner writes only what Homeward's own commands let it write (migration 0035).

Row security decides which rows an organisation may touch, not what it may do to them: until
0035 a partner of a case (ADPARE: live, sharing consented), through plain SQL under its own
session, could revoke or rewrite the owner's handoffs, delete handoffs, items and consents,
complete or assign the owner's items, and record or withdraw the person's consents. Each escape
below runs as the app's login acting for ADPARE and must be refused by a ``homeward:`` line,
the rows as they were; the commands' own writes (the item's organisation working its item, the
case's owner managing its items, handoffs and consents, an addressee answering) still pass."""

from __future__ import annotations

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlmodel import select

from homeward.base.db import get_engine, write_session
from homeward.base.migrate import alembic_config, head_revision, upgrade
from homeward.base.models import ChecklistItem, Handoff, StaffMember
from homeward.protection.consent import ConsentIn
from statemachines.cases import get_case
from tasks import checklist, consents, handoffs
from tests import factories as f
from tests import signin
from tests.conftest import BACKEND, SYSTEM_LOGIN, login_url
from tests.protect.test_case_owner import PARTNER
from tests.protect.test_case_owner import partner as partner  # the fixture: the case, ADPARE

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row security is PostgreSQL's")

FMB = "cw@fmb.example.org"
OWN_ITEM = (  # an item of ADPARE's own, as the owner would have placed it
    "INSERT INTO checklist_item (case_id, stage, code, title_key, owner_org_id, due_at, "
    "blocking, created_at, status) SELECT case_id, stage, code, title_key, {me}, due_at, "
    "false, created_at, 'open' FROM checklist_item WHERE code = 'rights_informed' RETURNING id"
)
OWNERS_ITEM = (
    "SELECT min(id) FROM checklist_item WHERE owner_org_id = {owner} AND id NOT IN "
    "(SELECT item_id FROM handoff WHERE item_id IS NOT NULL)"
)
OLD_TRANSFER = (  # the case's transfer to ADPARE, accepted long ago (ADPARE has given it back)
    "INSERT INTO handoff (case_id, item_id, stage, from_org_id, to_org_id, proposed_by_id, "
    "proposed_at, status, decided_by_id, decided_at) VALUES ({id}, NULL, 'identified_abroad', "
    "{owner}, {me}, 1, now() - interval '1 year', 'accepted', {staff}, "
    "now() - interval '1 year')"
)
CONSENT = (
    "INSERT INTO consent (case_id, purpose, org_id, method, language, interpreter, given_on, "
    "recorded_by_id, recorded_at) VALUES ({case}, '{purpose}', {org}, 'signed', 'ro', false, "
    "current_date, {staff}, now())"
)

# Each escape: statements in one transaction as the app's login acting for ADPARE.
ESCAPES: dict[str, list[str]] = {
    # handoffs it did not make: the owner's transfer to IOM Romania, its item's to FMB
    "revoke the owner's transfer": ["UPDATE handoff SET status = 'revoked' WHERE item_id IS NULL"],
    "revoke the owner's item handoff": [
        "UPDATE handoff SET status = 'revoked' WHERE item_id IS NOT NULL"
    ],
    "rewrite a handoff's reason": ["UPDATE handoff SET reason = 'x'"],
    "sign a handoff's decision": [
        "UPDATE handoff SET decided_by_id = {staff}, decided_at = now() WHERE item_id IS NULL"
    ],
    "restage a handoff": ["UPDATE handoff SET stage = 'closed'"],
    "claim a handoff's proposal": [
        "UPDATE handoff SET proposed_by_id = {staff}, proposed_at = now()"
    ],
    "touch a handoff (a no-op, as if answered now)": ["UPDATE handoff SET status = status"],
    "delete the handoffs": ["DELETE FROM handoff"],
    # a transfer once accepted by ADPARE (the case since given back to the owner): touched
    # (``xmin``: as if accepted by this transaction), 0029 let it take the case again
    "touch its old accepted transfer, then take the case": [
        "UPDATE handoff SET status = status WHERE to_org_id = {me}",
        "UPDATE return_case SET owner_org_id = {me} WHERE id = {id}",
    ],
    "rewrite its accepted answer": [
        "UPDATE handoff SET decided_at = now(), decided_by_id = {staff} WHERE to_org_id = {me}"
    ],
    "revoke its accepted answer": ["UPDATE handoff SET status = 'revoked' WHERE to_org_id = {me}"],
    # the owner's items
    "complete the owner's item": [
        f"UPDATE checklist_item SET status = 'done' WHERE id = ({OWNERS_ITEM})"
    ],
    "cancel the owner's items": [
        "UPDATE checklist_item SET status = 'cancelled' WHERE owner_org_id = {owner}"
    ],
    "assign the owner's item to itself": [
        f"UPDATE checklist_item SET assignee_id = {{staff}} WHERE id = ({OWNERS_ITEM})"
    ],
    "move the owner's item's due date": [
        f"UPDATE checklist_item SET due_at = due_at + interval '1 year' WHERE id = ({OWNERS_ITEM})"
    ],
    "delete the owner's item": [f"DELETE FROM checklist_item WHERE id = ({OWNERS_ITEM})"],
    "delete its own item": ["DELETE FROM checklist_item WHERE owner_org_id = {me}"],
    "assign its own item to the owner's staff": [
        "UPDATE checklist_item SET assignee_id = {owner_staff} WHERE owner_org_id = {me}"
    ],
    "an item of its own assigned to fmb's staff": [
        "INSERT INTO checklist_item (case_id, stage, code, title_key, owner_org_id, "
        "assignee_id, due_at, blocking, created_at, status) SELECT case_id, stage, 'x', "
        "title_key, {me}, {fmb_staff}, due_at, false, created_at, 'open' FROM checklist_item "
        "WHERE id = {own_item}"
    ],
    # the person's consents: the owner's to record
    "consent to sharing with fmb": [
        CONSENT.format(case="{id}", purpose="sharing", org="{other}", staff="{staff}")
    ],
    "consent to sharing with itself again": [
        CONSENT.format(case="{id}", purpose="sharing", org="{me}", staff="{staff}")
    ],
    "a consent to the return": [
        CONSENT.format(case="{id}", purpose="return", org="NULL", staff="{staff}")
    ],
    "withdraw fmb's sharing": [
        "UPDATE consent SET withdrawn_on = current_date, withdrawn_by_id = {staff} "
        "WHERE org_id = {other}"
    ],
    "readdress a consent to fmb": ["UPDATE consent SET org_id = {other} WHERE org_id = {iom_ro}"],
    "delete the consents": ["DELETE FROM consent"],
    # the case's key and the person's record: a purge's alone (the system's)
    "crypto-shred the case: delete its key": ["DELETE FROM case_key"],
    "crypto-shred the case: empty its key": ["UPDATE case_key SET wrapped = NULL"],
    "erase the person's record": ["DELETE FROM beneficiary"],
    "empty the person's record": ["UPDATE beneficiary SET given_name = NULL, family_name = NULL"],
    # the case's key: the owner's to make (a second row would only fail its primary key; the
    # guard refuses it first, as it refuses a key for a case that has none yet)
    "a key of its own for the case": [
        "INSERT INTO case_key (case_id, master_key_id, wrapped, created_at) "
        "SELECT case_id, master_key_id, NULL, created_at FROM case_key"
    ],
}


@pytest.fixture
def case(partner, engine: Engine) -> tuple[psycopg.Connection, dict]:
    """``partner``'s case with an open item of ADPARE's own, and the ids the escapes name."""
    conn, values = partner
    with engine.begin() as admin:  # as the tables' owner: row security does not apply
        values["own_item"] = admin.execute(text(OWN_ITEM.format(**values))).scalar_one()
        admin.execute(text(OLD_TRANSFER.format(**values)))
        staff = dict(admin.execute(text("SELECT email, id FROM staff_member")).tuples().all())
        values["iom_ro"] = admin.execute(
            text("SELECT id FROM organisation WHERE slug = 'iom-ro'")
        ).scalar_one()
    values |= {"owner_staff": staff["coord@iom-it.example.org"], "fmb_staff": staff[FMB]}
    return conn, values


def _try(conn: psycopg.Connection, steps: list[str], values: dict) -> str | list[int]:
    """Run the steps as ADPARE in one transaction, then roll it back: the error, or else the
    rows each step changed (an escape open before 0035 changed at least one row a step)."""
    changed: list[int] = []
    try:
        with conn.transaction() as tx, conn.cursor() as cursor:
            cursor.execute(b"SELECT homeward_act(%s)", [values["token"]])
            for step in steps:
                cursor.execute(step.format(**values).encode())
                changed.append(cursor.rowcount)
            raise psycopg.Rollback(tx)
    except psycopg.Error as exc:
        return str(exc).splitlines()[0]
    return changed


def _rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {
            table: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]  # noqa: S608
            for table in ("handoff", "checklist_item", "consent", "case_key", "beneficiary")
        }


def test_the_partner_reaches_the_rows(case):
    """The control: ADPARE sees the handoffs, the owner's items and the consents, so a refusal
    below is a guard's, not row security hiding the row."""
    conn, values = case
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(b"SELECT homeward_act(%s)", [values["token"]])
        seen = {
            table: cursor.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()[0]  # type: ignore[index]
            for table in ("handoff", "checklist_item", "consent", "case_key", "beneficiary")
        }
    assert seen["case_key"] == seen["beneficiary"] == 1
    assert seen["handoff"] == 3 and seen["checklist_item"] >= 5 and seen["consent"] >= 5


def test_every_partner_escape_is_refused(case, engine):
    conn, values = case
    before = _rows(engine)
    outcomes = {name: _try(conn, steps, values) for name, steps in ESCAPES.items()}
    assert {n: e for n, e in outcomes.items() if not isinstance(e, str)} == {}
    assert {n: e for n, e in outcomes.items() if "homeward: " not in e} == {}
    assert _rows(engine) == before
    assert "by the organisation that proposed it" in outcomes["revoke the owner's transfer"]
    assert "never deleted" in outcomes["delete the handoffs"]
    assert (
        "an answer is never rewritten"
        in outcomes["touch its old accepted transfer, then take the case"]
    )
    assert "only by its organisation or its case's owner" in outcomes["complete the owner's item"]
    assert (
        "staff of the item's organisation" in outcomes["assign its own item to the owner's staff"]
    )
    assert "only a case's owner records" in outcomes["consent to sharing with fmb"]
    assert "never deleted" in outcomes["delete the consents"]
    assert (
        "case_key rows are changed or deleted only by a purge"
        in outcomes["crypto-shred the case: delete its key"]
    )
    assert (
        "beneficiary rows are written only by the case's owner"
        in (outcomes["empty the person's record"])
    )
    assert (
        "case_key rows are written only by the case's owner"
        in (outcomes["a key of its own for the case"])
    )


def _all(engine: Engine, query: str) -> list[tuple[object, ...]]:
    with engine.connect() as admin:
        return [tuple(row) for row in admin.execute(text(query))]


def _as_app(conn: psycopg.Connection, token: str, *steps: str) -> list[int]:
    """Run ``steps`` as the app's login acting for ``token``'s organisation; rows changed."""
    changed = []
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(b"SELECT homeward_act(%s)", [token])
        for step in steps:
            cursor.execute(step.encode())
            changed.append(cursor.rowcount)
    return changed


def test_the_partner_still_works_its_own_item(case, engine, clock):
    conn, values = case
    own = values["own_item"]
    # by hand, as the app's login: its own item's due date, its own staff as assignee
    assert _as_app(
        conn,
        values["token"],
        f"UPDATE checklist_item SET due_at = due_at + interval '1 day' WHERE id = {own}",
        f"UPDATE checklist_item SET assignee_id = {values['staff']} WHERE id = {own}",
        f"UPDATE checklist_item SET assignee_id = NULL WHERE id = {own}",
    ) == [1, 1, 1]
    # through the commands: assigned, handed off with a reason, then done (which revokes it)
    with write_session() as s:
        me = f.actor(s, PARTNER)
        checklist.assign(s, item_id=own, assignee=me, actor=me, now=clock.now())
    with write_session() as s:
        handoffs.propose(
            s,
            item_id=own,
            to_org_slug="fmb",
            actor=f.actor(s, PARTNER),
            now=clock.now(),
            reason="closer to the family",
        )
    with write_session() as s:
        checklist.mark_done(s, item_id=own, actor=f.actor(s, PARTNER), now=clock.now())
    with engine.connect() as admin:
        item = admin.execute(
            text(f"SELECT status, assignee_id FROM checklist_item WHERE id = {own}")
        ).one()
        handed = admin.execute(
            text(f"SELECT status FROM handoff WHERE item_id = {own}")
        ).scalar_one()
    assert tuple(item) == ("done", values["staff"]) and handed == "revoked"


def test_the_owner_still_manages_its_items_handoffs_and_consents(case, engine, clock):
    _conn, values = case
    ref, own, me = values["ref"], values["own_item"], values["me"]
    # the owner completes its item handed to FMB: the pending handoff is revoked
    with write_session() as s:
        owner = f.actor(s)  # (the transaction's scope: the owner's organisation)
        item_id = s.exec(select(Handoff.item_id).where(Handoff.item_id != None)).one()  # noqa: E711
        checklist.mark_done(s, item_id=item_id or 0, actor=owner, now=clock.now())
    # the owner works ADPARE's item (any item of its case): assigns it to ADPARE's staff
    with write_session() as s:
        adpare = s.get(StaffMember, values["staff"])
        assert adpare is not None
        checklist.assign(
            s, item_id=values["own_item"], assignee=adpare, actor=f.actor(s), now=clock.now()
        )
    # ADPARE takes a handoff from the owner, which the owner then revokes by withdrawing sharing
    with write_session() as s:
        owner = f.actor(s)
        item = s.exec(
            select(ChecklistItem)
            .where(ChecklistItem.owner_org_id == values["owner"])
            .where(ChecklistItem.status == "open")
            .order_by(ChecklistItem.id)
        ).first()
        assert item is not None and item.id is not None
        handoffs.propose(s, item_id=item.id, to_org_slug="adpare", actor=owner, now=clock.now())
        taken = item.id
    with write_session() as s:
        handoffs.accept(s, item_id=taken, actor=f.actor(s, PARTNER), now=clock.now())
    with write_session() as s:
        case = get_case(s, case_ref=ref, actor=f.actor(s))
        consents.withdraw_consent(
            s, case=case, purpose="sharing", org_id=values["me"], actor=f.actor(s), now=clock.now()
        )
    with write_session() as s:  # and gives it again
        case = get_case(s, case_ref=ref, actor=f.actor(s))
        given = ConsentIn(purpose="sharing", org="adpare", method="signed", language="ro")
        consents.give_consent(s, case=case, given=given, actor=f.actor(s), now=clock.now())
    statuses = dict(_all(engine, "SELECT item_id, status FROM handoff WHERE item_id IS NOT NULL"))
    cancelled = _all(engine, f"SELECT status FROM checklist_item WHERE id IN ({own}, {taken})")
    sharing = _all(engine, f"SELECT withdrawn_on IS NULL FROM consent WHERE org_id = {me}")
    assert statuses == {item_id: "revoked", taken: "revoked"}
    assert {row[0] for row in cancelled} == {"cancelled"}
    assert sorted(row[0] for row in sharing) == [False, True]


def test_an_addressee_still_answers_once(case, engine, clock):
    """FMB rejects the owner's item handoff with a reason (its answer and reason in one row);
    then neither it nor the owner rewrites that answer."""
    conn, values = case
    with write_session() as s:
        fmb_cw = f.actor(s, FMB)
        item_id = s.exec(select(Handoff.item_id).where(Handoff.item_id != None)).one()  # noqa: E711
        handoffs.reject(s, item_id=item_id or 0, actor=fmb_cw, now=clock.now(), reason="too far")
    fmb, owner = signin.token_for(FMB, clock.now()), signin.token_for(f.COORD, clock.now())
    rewrite = "UPDATE handoff SET reason = 'x' WHERE item_id IS NOT NULL"
    before = _rows(engine)["handoff"]
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="an answer is never rewritten"):
        _as_app(conn, owner, rewrite)
    assert _as_app(conn, fmb, rewrite) == [0]  # rejected, the case is no longer FMB's to see
    assert _rows(engine)["handoff"] == before
    # the owner's transfer is revoked by the owner by hand (the app's login)
    assert _as_app(
        conn,
        owner,
        "UPDATE handoff SET status = 'revoked', decided_at = now() "
        "WHERE item_id IS NULL AND status = 'proposed'",
    ) == [1]


def test_the_system_scope_and_the_tables_owner_still_write(case, engine, db_url):
    """Neither guard holds the system login's system scope (the operator, the sweeps) nor a
    role row security does not hold (the tables' owner)."""
    url = login_url(db_url, SYSTEM_LOGIN).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.execute(b"SELECT homeward_system(true)")
        cursor.execute(b"UPDATE handoff SET reason = NULL")
        cursor.execute(b"DELETE FROM consent WHERE org_id IS NOT NULL")
        assert cursor.rowcount >= 1
    with engine.begin() as admin:
        admin.execute(text("DELETE FROM handoff"))
        admin.execute(text("DELETE FROM checklist_item"))
    assert _rows(engine)["checklist_item"] == []


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0035_downgrades_to_0029s_guards_and_upgrades_again(engine):
    def triggers() -> dict[str, int]:  # each guard's trigger, and its events (pg_trigger.tgtype)
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT tgname, tgtype FROM pg_trigger WHERE tgname IN ('homeward_item_kept', "
                    "'homeward_item_assigned', 'homeward_consent_kept', 'homeward_handoff_kept') "
                    "OR (tgname = 'homeward_system_changes' AND tgrelid = 'case_key'::regclass)"
                )
            )
            return {name: kind & 8 for name, kind in rows}  # 8: fires on DELETE

    after = {
        "homeward_handoff_kept": 8,
        "homeward_item_kept": 8,
        "homeward_item_assigned": 0,
        "homeward_consent_kept": 8,
        "homeward_system_changes": 8,
    }
    assert triggers() == after
    command.downgrade(alembic_config(get_engine()), "0034")
    assert triggers() == {"homeward_handoff_kept": 0}  # 0029's: on INSERT and UPDATE
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert triggers() == after
