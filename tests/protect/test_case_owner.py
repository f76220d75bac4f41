"""PostgreSQL: a partner taking part in a case cannot make itself its owner (migration 0029).

0015's policy let any organisation that takes part in a case rewrite the case's row, its owner
included, as long as the new row was one it could see. Each escape below runs as the app's
login acting for ADPARE (a live partner of the case, sharing consented) and must leave IOM
Italy the owner; the owner's own transfer to IOM Romania still goes through."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlmodel import select

from homeward.base.db import get_engine, write_session
from homeward.base.migrate import alembic_config, head_revision, upgrade
from homeward.base.models import Handoff
from statemachines.cases import get_case
from tasks import handoffs, transfers
from tests import factories as f
from tests import signin
from tests.conftest import APP_LOGIN, BACKEND, login_url
from tests.protect.app_login import run_steps

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row security is PostgreSQL's")

PARTNER, IOM_RO = "cw@adpare.example.org", "coord@iom-ro.example.org"
TRANSFER = (  # a transfer of the case to ADPARE, as the owner would have proposed it
    "INSERT INTO handoff (case_id, item_id, stage, from_org_id, to_org_id, proposed_by_id, "
    "proposed_at, status) VALUES ({id}, NULL, 'identified', {owner}, {me}, {staff}, now(), '{s}')"
)
TAKE = "UPDATE return_case SET owner_org_id = {me} WHERE id = {id}"

GUARDS = {
    "homeward_case_keeps_owner",
    "homeward_handoff_kept",
    "homeward_participant_kept",
    "homeward_item_keeps_owner",
}
ITEM = (  # an item of the owner's, in the columns a new row needs
    "INSERT INTO checklist_item (case_id, stage, code, title_key, owner_org_id, due_at, "
    "blocking, created_at, status) SELECT case_id, stage, code || '-x', title_key, {to}, due_at, "
    "blocking, created_at, 'open' FROM checklist_item WHERE owner_org_id = {owner} LIMIT 1"
)
TAKE_ITEMS = "UPDATE checklist_item SET owner_org_id = {me} WHERE owner_org_id = {owner}"
ITEM_HANDOFF = (  # a handoff of the owner's first item to ADPARE, as if the owner proposed it
    "INSERT INTO handoff (case_id, item_id, stage, from_org_id, to_org_id, proposed_by_id, "
    "proposed_at, status) SELECT case_id, id, stage, owner_org_id, {me}, {staff}, now(), "
    "'proposed' FROM checklist_item WHERE owner_org_id = {owner} ORDER BY id LIMIT 1"
)

# Each escape: statements in one transaction as the app's login acting for ADPARE.
ESCAPES: dict[str, list[str]] = {
    "set itself the owner": [TAKE],
    "set itself the owner, through a case_ref": [
        "UPDATE return_case SET owner_org_id = {me} WHERE case_ref = '{ref}'"
    ],
    "set another partner the owner": [
        "UPDATE return_case SET owner_org_id = {other} WHERE id = {id}"
    ],
    "a proposed transfer to itself, then take": [TRANSFER.replace("{s}", "proposed"), TAKE],
    "an accepted transfer to itself, then take": [TRANSFER.replace("{s}", "accepted"), TAKE],
    "readdress the owner's transfer to iom-ro, then take": [
        "UPDATE handoff SET to_org_id = {me} WHERE item_id IS NULL",
        TAKE,
    ],
    "answer the transfer offered to iom-ro, then take": [
        "UPDATE handoff SET status = 'accepted' WHERE item_id IS NULL",
        TAKE,
    ],
    "turn an item's handoff into a transfer": [
        "UPDATE handoff SET item_id = NULL, to_org_id = {me} WHERE item_id IS NOT NULL",
        TAKE,
    ],
    "change the case_ref": ["UPDATE return_case SET case_ref = 'RT-XXXX-XX' WHERE id = {id}"],
    "change the id": ["UPDATE return_case SET id = id + 1000 WHERE id = {id}"],
    # the same pattern on the rows that say who takes part and who owns the work
    "take the owner's items": [TAKE_ITEMS],
    "hand the owner's items to fmb (no consent)": [TAKE_ITEMS.replace("{me}", "{other}")],
    "a handoff of the owner's item to itself, then take it": [
        ITEM_HANDOFF,
        TAKE_ITEMS + " AND id = (SELECT max(item_id) FROM handoff)",
    ],
    "an item for fmb (no consent)": [ITEM.replace("{to}", "{other}")],
    "name fmb a live participant (no consent)": [
        "INSERT INTO case_participant (case_id, role, org_id, status) "
        "VALUES ({id}, 'shelter', {other}, 'live')"
    ],
    "give its part to fmb": ["UPDATE case_participant SET org_id = {other} WHERE org_id = {me}"],
    "name itself in another part": [
        "INSERT INTO case_participant (case_id, role, org_id, status) "
        "VALUES ({id}, 'shelter', {me}, 'live')"
    ],
}


@pytest.fixture
def partner(db_url: str, engine: Engine, clock) -> Iterator[tuple[psycopg.Connection, dict]]:
    """The app's login with ADPARE's live token; the case, a pending transfer of it to IOM
    Romania and an item handed from the owner to FMB (so every kind of handoff row exists)."""
    f.seed()
    ref = f.open_case(clock)
    item = f.items(ref)[0]
    with write_session() as s:
        case = get_case(s, case_ref=ref, actor=f.actor(s))
        transfers.propose_transfer(
            s, case=case, to_org_slug="iom-ro", actor=f.actor(s), now=clock.now()
        )
    with write_session() as s:
        handoffs.propose(
            s, item_id=item.id or 0, to_org_slug="fmb", actor=f.actor(s), now=clock.now()
        )
    with engine.connect() as conn:
        ids = dict(conn.execute(text("SELECT slug, id FROM organisation")).tuples().all())
        case_id = conn.execute(text("SELECT id FROM return_case")).scalar_one()
        staff = conn.execute(
            text("SELECT id FROM staff_member WHERE email = :e"), {"e": PARTNER}
        ).scalar_one()
    values = {
        "id": case_id,
        "ref": ref,
        "owner": ids["iom-it"],
        "me": ids["adpare"],
        "other": ids["fmb"],
        "staff": staff,
        "token": signin.token_for(PARTNER, clock.now()),
    }
    url = login_url(db_url, APP_LOGIN).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        yield conn, values


def _owner(engine: Engine) -> tuple[int, str, int]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT owner_org_id, case_ref, id FROM return_case")).one()
    return row[0], row[1], row[2]


def test_the_partner_sees_and_may_write_the_case_row(partner):
    """The control: ADPARE reaches the row (an UPDATE that keeps the owner touches it), so a
    refusal below is the guard's, not row security hiding the case."""
    conn, values = partner
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(b"SELECT homeward_act(%s)", [values["token"]])
        cursor.execute(
            f"UPDATE return_case SET owner_org_id = owner_org_id WHERE id = {values['id']}".encode()
        )  # noqa: E501
        assert cursor.rowcount == 1


def test_every_way_to_take_the_case_is_refused(partner, engine):
    conn, values = partner
    before = _owner(engine)
    outcomes = {name: run_steps(conn, steps, values) for name, steps in ESCAPES.items()}
    assert [name for name, error in outcomes.items() if error is None] == []
    # refused by a guard (not by a column the statement forgot)
    assert {n: e for n, e in outcomes.items() if "homeward: " not in (e or "")} == {}
    assert _owner(engine) == before
    assert "transferred to accepts the transfer" in outcomes["set itself the owner"]
    assert (
        "a handoff is proposed by the case's owner"
        in outcomes["a proposed transfer to itself, then take"]
    )
    assert "id and case_ref never change" in outcomes["change the case_ref"]
    assert "only a case's owner names" in outcomes["give its part to fmb"]
    assert "only by its case's owner" in outcomes["take the owner's items"]


def test_the_owners_transfer_is_still_accepted_by_its_addressee(partner, engine, clock):
    conn, values = partner
    with write_session() as s:
        case = get_case(s, case_ref=values["ref"], actor=f.actor(s, IOM_RO))
        transfers.accept_transfer(s, case=case, actor=f.actor(s, IOM_RO), now=clock.now())
    with engine.connect() as conn2:
        slug = conn2.execute(
            text("SELECT o.slug FROM return_case c JOIN organisation o ON o.id = c.owner_org_id")
        ).scalar_one()
        status = conn2.execute(
            text("SELECT status FROM handoff WHERE item_id IS NULL")
        ).scalar_one()
    assert (slug, status) == ("iom-ro", "accepted")
    # fmb answers the owner's handoff of an item (the fixture's) and the item is its own
    with write_session() as s:
        fmb = f.actor(s, "cw@fmb.example.org")
        item_id = s.exec(select(Handoff.item_id).where(Handoff.item_id != None)).one()  # noqa: E711
        handoffs.accept(s, item_id=item_id or 0, actor=fmb, now=clock.now())
    with engine.connect() as conn2:
        owner = conn2.execute(
            text(
                "SELECT o.slug FROM checklist_item i JOIN organisation o ON o.id = i.owner_org_id "
                "WHERE i.id = :i"
            ),
            {"i": item_id},
        ).scalar_one()
    assert owner == "fmb"
    # answered: the transfer cannot be opened again and taken a second time
    reopen = ["UPDATE handoff SET status = 'proposed', to_org_id = {me} WHERE item_id IS NULL"]
    assert run_steps(conn, reopen, values) is not None


def test_the_app_login_itself_accepts_a_transfer_offered_to_it(partner, engine, clock):
    """The legitimate path by hand, as the app's login acting for the addressee: the answer
    (signed by the staff member acting, as ``decide`` writes it: 0041) and the new owner in
    either order in one transaction."""
    _conn, values = partner
    url = _conn.info.dsn
    token = signin.token_for(IOM_RO, clock.now())
    with engine.connect() as admin:
        iom_ro = admin.execute(text("SELECT id FROM organisation WHERE slug = 'iom-ro'")).scalar()
        query = text("SELECT id FROM staff_member WHERE email = :e")
        ro_staff = admin.execute(query, {"e": IOM_RO}).scalar_one()
    with psycopg.connect(url) as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.execute(b"SELECT homeward_act(%s)", [token])
        cursor.execute(
            f"UPDATE return_case SET owner_org_id = {iom_ro} WHERE id = {values['id']}".encode()
        )  # noqa: E501
        cursor.execute(
            f"UPDATE handoff SET status = 'accepted', decided_by_id = {ro_staff}, "
            "decided_at = now() WHERE item_id IS NULL".encode()
        )
        assert cursor.rowcount == 1
    assert _owner(engine)[0] == iom_ro


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0029_downgrades_to_no_guard_and_upgrades_again(engine):
    def triggers() -> set[str]:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'homeward_%'")
            ).scalars()
            return set(rows)

    assert triggers() >= GUARDS
    command.downgrade(alembic_config(get_engine()), "0028")
    assert not triggers() & GUARDS
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert triggers() >= GUARDS


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0034_downgrades_to_0029s_order_of_tests_and_upgrades_again(engine):
    """0034 only reorders the participant and item guards' tests (the owner's first): down,
    0029's bodies are back; up again, the owner's test comes first."""

    def owner_first() -> dict[str, bool]:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT proname, prosrc FROM pg_proc WHERE proname IN "
                    "('homeward_participant_kept', 'homeward_item_keeps_owner')"
                )
            ).all()
        return {
            name: source.index("return_case") < source.index("homeward_is_system")
            for name, source in rows
        }

    both = {"homeward_participant_kept", "homeward_item_keeps_owner"}
    assert owner_first() == dict.fromkeys(both, True)
    command.downgrade(alembic_config(get_engine()), "0033")
    assert owner_first() == dict.fromkeys(both, False)
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert owner_first() == dict.fromkeys(both, True)
