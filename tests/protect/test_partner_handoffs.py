"""PostgreSQL: a partner proposes, answers and keeps only the handoffs and items Homeward's own
commands would let it (migration 0038, after 0035's review).

0035 left a partner (ADPARE, a live participant of ``partner``'s case) free, through plain SQL
as the app's login under its own session, to hand its own item to any organisation (which then
saw the case), done or already offered; to rewrite every column of its own item; and, as an
addressee, to take the item its handoff offers and then reject or revoke that handoff, keeping
the item. Each escape must be refused by a ``homeward:`` line, the rows as they were; what the
commands do (``tasks.handoffs``, ``tasks.checklist``, ``tasks.adhoc``) still passes."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, text

from homeward.base.db import get_engine, write_session
from homeward.base.migrate import alembic_config, head_revision, upgrade
from homeward.base.migrations.earlier import earlier
from homeward.base.models import Organisation, ParticipantRole
from homeward.records import seals
from homeward.records.directory import OrganisationIn, add_org, validate
from statemachines.cases import get_case
from tasks import adhoc, catalog, checklist, checklist_changes, handoffs
from tasks.catalog import load_catalog
from tasks.transfers import MINOR_RECEPTION_STAGES
from tests import factories as f
from tests import signin
from tests.conftest import BACKEND
from tests.protect.app_login import run_steps
from tests.protect.test_case_owner import PARTNER
from tests.protect.test_case_owner import partner as partner  # the fixture: the case, ADPARE
from tests.protect.test_partner_writes import OWNERS_ITEM, _rows, _try
from tests.protect.test_partner_writes import case as case  # the fixture: ADPARE's own item

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row security is PostgreSQL's")

HAND = (  # ADPARE's handoff of its own item, as ``handoffs.propose`` writes it
    "INSERT INTO handoff (case_id, item_id, stage, from_org_id, to_org_id, proposed_by_id, "
    "proposed_at, status) SELECT case_id, id, stage, owner_org_id, {to}, {by}, now(), "
    "'proposed' FROM checklist_item WHERE id = {item}"
)
OWN = "UPDATE checklist_item SET {set} WHERE id = {{own_item}}"
# A child's reception item (``owner_if_minor: dgaspc``) that ADPARE holds on a child's case.
CHILDS_ITEM = (
    "INSERT INTO checklist_item (case_id, stage, code, title_key, owner_org_id, due_at, "
    "blocking, created_at, status) SELECT case_id, 'received', 'shelter_arranged', "
    "'item.shelter_arranged.title', {me}, due_at, false, created_at, 'open' FROM "
    "checklist_item WHERE id = {own_item} RETURNING id"
)
ADDED = (
    "INSERT INTO checklist_item (case_id, stage, code, title_key, owner_org_id, due_at, "
    "blocking, status, created_at) SELECT case_id, stage, {code}, title_key, owner_org_id, "
    "due_at, {how}, now() FROM checklist_item WHERE id = {{own_item}}"
)


def _hand(to: str, item: str = "{own_item}", by: str = "{staff}") -> str:
    return HAND.format(to=to, item=item, by=by)


ESCAPES: dict[str, list[str]] = {
    # to whom the person never consented, or withdrew the consent from
    "hand its item to an organisation without consent": [_hand("{far}")],
    "hand its item to one whose consent was withdrawn": [_hand("{withdrawn}")],
    "hand its item to itself": [_hand("{me}")],
    "hand off its done item": [OWN.format(set="status = 'done'"), _hand("{other}")],
    "hand off its cancelled item": [OWN.format(set="status = 'cancelled'"), _hand("{other}")],
    "offer its item twice": [_hand("{other}"), _hand("{iom_ro}")],
    "a child's reception item to an NGO": [_hand("{other}", item="{childs_item}")],
    "a proposal signed by the owner's staff": [_hand("{other}", by="{owner_staff}")],
    # its own item's columns that no command of a partner's changes
    "restage its item": [OWN.format(set="stage = 'closed'")],
    "recode its item": [OWN.format(set="code = 'x', title_key = 'x'")],
    "make its item blocking": [OWN.format(set="blocking = true")],
    "backdate its item": [OWN.format(set="created_at = created_at - interval '1 year'")],
    "point its item at another person": [OWN.format(set="person_id = 1")],
    "have its item wait for a partner": [OWN.format(set="partner_needed = 'ngo'")],
    "complete its item in the owner's staff's name": [
        OWN.format(set="status = 'done', completed_by_id = {owner_staff}, completed_at = now()")
    ],
    "reopen its cancelled item": [
        OWN.format(set="status = 'cancelled'"),
        OWN.format(set="status = 'open'"),
    ],
    # an answer in another's name; the case's tamper evidence
    "reject a handoff in the owner's staff's name": [
        "UPDATE handoff SET status = 'rejected', decided_by_id = {owner_staff}, "
        "decided_at = now() WHERE to_org_id = {me} AND status = 'proposed'"
    ],
    "delete the case's seals": ["DELETE FROM row_seal"],
    # items of its own: ad-hoc ones only, open, not blocking (``tasks.adhoc.add_item``)
    "add a catalog item of its own": [ADDED.format(code="'family_assessment'", how="true, 'open'")],
    "add an ad-hoc item already done": [ADDED.format(code="'adhoc_other'", how="false, 'done'")],
    "add a blocking ad-hoc item": [ADDED.format(code="'adhoc_other'", how="true, 'open'")],
}
# The case's owner, on the person's consents: recorded, then only withdrawn, once.
OWNERS_ESCAPES: dict[str, list[str]] = {
    "undo a withdrawal": [
        "UPDATE consent SET withdrawn_on = NULL, withdrawn_by_id = NULL "
        "WHERE withdrawn_on IS NOT NULL"
    ],
    "readdress a consent": ["UPDATE consent SET org_id = {far} WHERE org_id = {other}"],
    "backdate a consent": ["UPDATE consent SET given_on = given_on - 365 WHERE org_id = {other}"],
    "withdraw in a partner's name": [
        "UPDATE consent SET withdrawn_on = current_date, withdrawn_by_id = {staff} "
        "WHERE org_id = {other}"
    ],
    "withdraw twice, the second later": [
        "UPDATE consent SET withdrawn_on = current_date + 1 WHERE withdrawn_on IS NOT NULL"
    ],
}

OFFERED = (  # the owner's handoff of an item of its own (not handed yet) to ADPARE
    "INSERT INTO handoff (case_id, item_id, stage, from_org_id, to_org_id, proposed_by_id, "
    "proposed_at, status) SELECT case_id, id, stage, owner_org_id, {me}, 1, now(), 'proposed' "
    f"FROM checklist_item WHERE id = ({OWNERS_ITEM}) RETURNING item_id"
)


@pytest.fixture
def setup(case, engine: Engine, clock) -> tuple[psycopg.Connection, dict]:
    """``case``, with an organisation the person never consented to sharing with (FAR), the
    consent to the consulate withdrawn, and the case a child's with a reception item of
    ADPARE's (as if the catalog gave it to ADPARE)."""
    conn, values = case
    with write_session() as s:
        far = validate(OrganisationIn, slug="far", name="Far", kind="ngo", country="RO")
        add_org(session=s, org_in=far)
    with engine.begin() as admin:  # as the tables' owner: row security does not apply
        orgs = dict(admin.execute(text("SELECT slug, id FROM organisation")).tuples().all())
        admin.execute(
            text("UPDATE consent SET withdrawn_on = current_date WHERE org_id = :o"),
            {"o": orgs["cons-rome"]},
        )
        admin.execute(text("UPDATE return_case SET is_minor = true"))
        values["childs_item"] = admin.execute(text(CHILDS_ITEM.format(**values))).scalar_one()
        admin.execute(text(OFFERED.format(**values)))  # a handoff for ADPARE to answer
    with write_session() as s:  # the case and its consents changed by hand: sealed again, as
        seals.touch_cases(s, [values["id"]])  # if Homeward had written them (review F4)
    values |= {"far": orgs["far"], "withdrawn": orgs["cons-rome"], "dgaspc": orgs["dgaspc-bv"]}
    return conn, values


def test_every_partner_handoff_and_item_escape_is_refused(setup, engine):
    conn, values = setup
    before = _rows(engine)
    outcomes = {name: _try(conn, steps, values) for name, steps in ESCAPES.items()}
    assert {n: e for n, e in outcomes.items() if not isinstance(e, str)} == {}
    twice = outcomes.pop("offer its item twice")  # the index refuses it, not a guard
    assert {n: e for n, e in outcomes.items() if "homeward: " not in e} == {}
    assert _rows(engine) == before
    assert "uq_handoff_pending_item" in twice
    assert (
        "consents to sharing with" in outcomes["hand its item to one whose consent was withdrawn"]
    )
    assert "to a DGASPC only" in outcomes["a child's reception item to an NGO"]
    assert "staff member acting" in outcomes["a proposal signed by the owner's staff"]
    assert "the rest, and a cancelled item" in outcomes["restage its item"]
    assert "ad-hoc items of its own" in outcomes["add a catalog item of its own"]


def test_the_owner_neither_undoes_nor_rewrites_a_consent(setup, engine, clock):
    conn, values = setup
    owner = {**values, "token": signin.token_for(f.COORD, clock.now())}
    before = _rows(engine)
    outcomes = {name: _try(conn, steps, owner) for name, steps in OWNERS_ESCAPES.items()}
    assert {n: e for n, e in outcomes.items() if not isinstance(e, str)} == {}
    assert {n: e for n, e in outcomes.items() if "a withdrawal is never undone" not in e} == {}
    assert _rows(engine) == before
    assert _try(
        conn,
        [
            "UPDATE consent SET withdrawn_on = current_date, withdrawn_by_id = "
            "(SELECT id FROM staff_member WHERE email = 'coord@iom-it.example.org') "
            "WHERE org_id = {other}"
        ],
        owner,
    ) == [1]


def test_the_partner_still_hands_its_items_where_the_commands_would(setup, engine):
    """The control: the same INSERT to a consented organisation, back to the case's owner, a
    child's reception item to the DGASPC; each in its own transaction, rolled back."""
    conn, values = setup
    for to, item in (
        ("{other}", "{own_item}"),
        ("{owner}", "{own_item}"),
        ("{dgaspc}", "{childs_item}"),
        ("{iom_ro}", "{own_item}"),
    ):
        assert _try(conn, [_hand(to, item)], values) == [1]
    adhoc_item = ADDED.format(code="'adhoc_other'", how="false, 'open'")
    assert _try(conn, [adhoc_item], values) == [1]


def _offered(engine: Engine, values: dict) -> int:
    with engine.begin() as admin:  # as the tables' owner
        return int(admin.execute(text(OFFERED.format(**values))).scalar_one())


def _owner_of(engine: Engine, item: int) -> int:
    with engine.connect() as admin:
        query = text("SELECT owner_org_id FROM checklist_item WHERE id = :i")
        return int(admin.execute(query, {"i": item}).scalar_one())


TAKE = "UPDATE checklist_item SET owner_org_id = {me}, assignee_id = NULL WHERE id = {item}"
ANSWER = (
    "UPDATE handoff SET status = '{to}', decided_by_id = {staff}, decided_at = now() "
    "WHERE item_id = {item} AND to_org_id = {me}"
)


@pytest.mark.parametrize(
    "answer",
    [
        [ANSWER.replace("{to}", "rejected")],
        [ANSWER.replace("{to}", "revoked")],  # as the item's organisation, once it took it
        [],  # left proposed: the item taken without an answer
    ],
    ids=["rejected", "revoked", "unanswered"],
)
def test_an_addressee_keeps_no_item_it_did_not_accept(partner, engine, answer):
    """A handoff of the owner's item to ADPARE: ADPARE takes the item (0029 allows it while the
    handoff is proposed, as ``handoffs.accept`` writes the item first), then rejects or
    revokes the handoff, or leaves it unanswered; the transaction is refused at its commit."""
    conn, values = partner
    item = _offered(engine, values)
    owner = _owner_of(engine, item)
    steps = [TAKE, *answer]
    error = run_steps(conn, [s.replace("{item}", str(item)) for s in steps], values)
    assert error is not None and "homeward: " in error
    assert _owner_of(engine, item) == owner


def test_an_addressee_still_accepts_and_works_the_item(partner, engine, clock):
    conn, values = partner
    item = _offered(engine, values)
    with write_session() as s:
        handoffs.accept(s, item_id=item, actor=f.actor(s, PARTNER), now=clock.now())
    assert _owner_of(engine, item) == values["me"]
    with write_session() as s:  # and completes it, then reopens it (the item's organisation)
        checklist.mark_done(s, item_id=item, actor=f.actor(s, PARTNER), now=clock.now())
    with write_session() as s:
        checklist_changes.reopen_item(
            s, item_id=item, actor=f.actor(s, PARTNER), reason="done too early", now=clock.now()
        )
    with write_session() as s:  # an appointment of its own: added, titled, moved, cancelled
        me, adpare = f.actor(s, PARTNER), s.get(Organisation, values["me"])
        case = get_case(s, case_ref=values["ref"], actor=me)
        assert adpare is not None
        added = adhoc.add_item(
            s,
            case=case,
            actor=me,
            kind="court_hearing",
            owner=adpare,
            on=clock.now().date(),
            now=clock.now(),
            title="hearing",
        )
        new = added.id or 0
    with write_session() as s:
        adhoc.reschedule(
            s,
            item_id=new,
            actor=f.actor(s, PARTNER),
            on=clock.now().date().replace(day=20),
            reason="court moved it",
            now=clock.now(),
        )
    with write_session() as s:
        adhoc.cancel(
            s, item_id=new, actor=f.actor(s, PARTNER), reason="called off", now=clock.now()
        )
    with engine.connect() as admin:
        query = text("SELECT status FROM checklist_item WHERE id IN (:a, :b) ORDER BY id")
        assert list(admin.execute(query, {"a": item, "b": new}).scalars()) == ["open", "cancelled"]


def test_the_dgaspc_items_are_the_catalogs():
    """0038's list of the items a DGASPC keeps on a child's case, in a reception stage, is what
    ``ensure_item_stays_with_dgaspc`` reads from the catalog, for every process version."""
    guard = earlier("0038_partner_handoffs_and_items_the_app_cannot_bend.py")
    assert set(guard.MINOR_RECEPTION_STAGES) == MINOR_RECEPTION_STAGES
    versions = [path.stem for path in Path(catalog.__file__).with_name("catalog").glob("*.json")]
    kept = {}
    for version in versions:
        found = load_catalog(version)
        codes = {spec.code for specs in found.stages.values() for spec in specs}
        dgaspc = (c for c in codes if found.spec(c).owner_if_minor == ParticipantRole.DGASPC)
        kept[version] = tuple(sorted(dgaspc))
    assert guard.DGASPC_ITEMS == kept


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0038_downgrades_to_0035s_guards_and_upgrades_again(engine):
    def state() -> tuple[set[str], bool, bool]:
        with engine.connect() as conn:
            triggers = set(
                conn.execute(
                    text(
                        "SELECT tgname FROM pg_trigger WHERE tgname IN "
                        "('homeward_item_taken', 'homeward_seal_kept', 'homeward_item_added')"
                    )
                ).scalars()
            )
            index = conn.execute(text("SELECT to_regclass('uq_handoff_pending_item')")).scalar()
            body = conn.execute(
                text("SELECT prosrc FROM pg_proc WHERE proname = 'homeward_handoff_kept'")
            ).scalar_one()
        return triggers, index is not None, "staff member acting" in body

    after = ({"homeward_item_taken", "homeward_seal_kept", "homeward_item_added"}, True, True)
    assert state() == after
    command.downgrade(alembic_config(get_engine()), "0037")
    assert state() == (set(), False, False)
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert state() == after
