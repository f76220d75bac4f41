"""PostgreSQL row security: forced policies on every case table, the app not the owner."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from homeward.base.db import act_as, get_engine, system_scope, write_session
from statemachines.cases import get_case
from tasks import checklist
from tasks.consents import withdraw_consent
from tests import factories as f
from tests.conftest import BACKEND, SYSTEM_LOGIN

IOM_RO = "coord@iom-ro.example.org"
pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row security is PostgreSQL's")


def test_every_table_with_an_org_or_case_column_has_a_forced_policy(engine):
    with engine.connect() as conn:
        tables = set(
            conn.execute(
                text(
                    "SELECT DISTINCT table_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name <> 'alembic_version' "
                    "AND (column_name LIKE '%org%' OR column_name = 'case_id' "
                    "     OR table_name = 'return_case')"
                )
            ).scalars()
        )
        forced = dict(
            conn.execute(
                text(
                    "SELECT relname, relrowsecurity AND relforcerowsecurity FROM pg_class "
                    "WHERE relname = ANY(:t)"
                ),
                {"t": list(tables)},
            ).all()
        )
        policies = set(
            conn.execute(
                text("SELECT tablename FROM pg_policies WHERE schemaname = 'public'")
            ).scalars()
        )
    # outbox_message.org_id names its readers' organisation, for quiet hours only: the outbox
    # holds no personal data and was never scoped by organisation (the system's sender drains
    # it). Scoping it and its recipients by organisation is left open (issue 17's note).
    tables.discard("outbox_message")
    assert {"return_case", "checklist_item", "handoff", "consent", "beneficiary"} <= tables
    assert {t for t in tables if not forced.get(t)} == set()
    assert tables - policies == set()


def test_the_app_is_not_the_owner_and_cannot_bypass(engine):
    with get_engine().connect() as conn:
        role = conn.execute(text("SELECT current_user")).scalar()
        bypass = conn.execute(
            text("SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user")
        ).scalar()
    with engine.connect() as conn:
        owner = conn.execute(
            text("SELECT tableowner FROM pg_tables WHERE tablename = 'return_case'")
        ).scalar()
    assert role == SYSTEM_LOGIN and role != owner and not bypass


def test_policies_show_each_organisation_only_its_cases(db_url, clock):
    f.seed()
    adult = f.open_case(clock, share=False)
    minor = f.open_case(clock, minor=True, share=False, ngo="fmb")
    with get_engine().connect() as conn:
        with conn.begin():
            orgs = dict(conn.execute(text("SELECT slug, id FROM organisation")).all())
        seen = {}
        for slug in ("iom-it", "adpare", "fmb", "dgaspc-bv", "iom-ro"):
            with conn.begin():
                act_as(conn, orgs[slug])
                seen[slug] = set(conn.execute(text("SELECT case_ref FROM return_case")).scalars())
                items = conn.execute(
                    text(
                        "SELECT count(*) FROM checklist_item ci JOIN "
                        "return_case c ON c.id = ci.case_id"
                    )
                ).scalar()
                assert (items > 0) == bool(seen[slug])
        with conn.begin():
            with pytest.raises(DBAPIError, match="acts for no organisation"):
                conn.execute(text("SELECT * FROM return_case")).all()
        with conn.begin(), system_scope(conn):
            everything = set(conn.execute(text("SELECT case_ref FROM return_case")).scalars())
    assert seen["iom-it"] == everything == {adult, minor}
    # Without sharing consent the named NGOs wait (issue 12): a minor's DGASPC acts by law.
    assert seen["adpare"] == set() and seen["fmb"] == set() and seen["dgaspc-bv"] == {minor}


def test_a_write_outside_the_actors_cases_is_refused_by_the_database(db_url, clock):
    f.seed()
    adult = f.open_case(clock, share=False)
    with get_engine().connect() as conn, conn.begin():
        orgs = dict(conn.execute(text("SELECT slug, id FROM organisation")).all())
        act_as(conn, orgs["fmb"])
        changed = conn.execute(
            text("UPDATE return_case SET state = 'closed' WHERE case_ref = :r"), {"r": adult}
        ).rowcount
        assert changed == 0
        with pytest.raises(DBAPIError, match="row-level security"):
            conn.execute(
                text(
                    "INSERT INTO return_case (case_ref, state, stage_entered_at, "
                    "process_version, is_minor, owner_org_id, host_country, "
                    "destination_country, opened_at, interpreter_used, legal_hold, "
                    "version) VALUES ('RT-XXXX-XX', 'closed', now(), 'v1', false, "
                    ":o, 'IT', 'RO', now(), false, false, 1)"
                ),
                {"o": orgs["iom-it"]},
            )
    assert f.load_case(adult).phase == "identified_abroad"


def _visible_to(slug: str) -> tuple[set[str], int]:
    """Case refs and checklist items the database shows to ``slug``'s transactions."""
    with get_engine().connect() as conn, conn.begin():
        org_id = conn.execute(
            text("SELECT id FROM organisation WHERE slug = :s"), {"s": slug}
        ).scalar_one()
        act_as(conn, org_id)
        refs = set(conn.execute(text("SELECT case_ref FROM return_case")).scalars())
        items = conn.execute(text("SELECT count(*) FROM checklist_item")).scalar_one()
        return refs, items


def test_the_database_shows_a_partner_the_case_only_while_sharing_is_consented(db_url, clock):
    f.seed()
    ref = f.open_case(clock, share=False)
    f.drive_to(ref, "consent_obtained", clock)
    assert _visible_to("iom-ro") == (set(), 0)  # named, waiting for consent
    f.give_sharing(ref, clock, "iom-ro")
    refs, items = _visible_to("iom-ro")
    assert refs == {ref} and items > 0
    (family,) = [i for i in f.items(ref) if i.code == "family_assessment"]
    with write_session() as s:
        checklist.mark_done(s, item_id=family.id or 0, actor=f.actor(s, IOM_RO), now=clock.now())
    with write_session() as s:
        case = get_case(s, case_ref=ref, actor=f.actor(s))
        iom_ro = f.actor(s, IOM_RO).org_id
        withdraw_consent(
            s, case=case, purpose="sharing", org_id=iom_ro, actor=f.actor(s), now=clock.now()
        )
    assert _visible_to("iom-ro") == (set(), 0)  # its done item no longer shows the case
