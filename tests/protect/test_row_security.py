"""PostgreSQL row security: forced policies on every case table, the app not the owner."""

from __future__ import annotations

import re

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from homeward.base.db import act_as, get_engine, system_scope, write_session
from homeward.base.migrate import alembic_config, head_revision, upgrade
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
        tables |= {"outbox_recipient", "calendar_entry"}  # by their message and item (0026)
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


def _visible(conn: Connection, org_id: int, case_id: int) -> bool:
    with conn.begin():
        act_as(conn, org_id)
        seen: bool = conn.execute(text("SELECT homeward_case_visible(:c)"), {"c": case_id}).scalar()
        return seen


def test_the_check_by_key_still_refuses_another_organisations_case(db_url, clock):
    """0023 reads one case's rows by key: the owner and a live participant see the case, an
    organisation not taking part neither sees it nor writes into it."""
    f.seed()
    ref = f.open_case(clock, share=False)  # iom-it's; fmb takes no part
    with get_engine().connect() as conn:
        with conn.begin(), system_scope(conn):
            orgs = dict(conn.execute(text("SELECT slug, id FROM organisation")).all())
            case_id = conn.execute(
                text("SELECT id FROM return_case WHERE case_ref = :r"), {"r": ref}
            ).scalar_one()
        assert _visible(conn, orgs["iom-it"], case_id)
        assert not _visible(conn, orgs["fmb"], case_id)
        assert not _visible(conn, orgs["iom-it"], case_id + 1000)  # no such case
        with conn.begin():
            act_as(conn, orgs["fmb"])
            for sql in (
                "INSERT INTO case_participant (case_id, role, org_id, status) "
                "VALUES (:c, 'le', :o, 'live')",
                "INSERT INTO case_key (case_id, master_key_id, wrapped, created_at) "
                "VALUES (:c, 'k', 'w', now())",
            ):
                # a participant row meets 0029's guard first, a case key 0035's (the same
                # answer for no case)
                refused = "row-level security|only a case's owner names|only by the case's owner"
                with pytest.raises(DBAPIError, match=refused), conn.begin_nested():
                    conn.execute(text(sql), {"c": case_id, "o": orgs["fmb"]})


ORG_INDEXES = re.compile(r"ix_\w+_(owner_org_id|org_id|to_org_id|owner_open)\b")


def test_a_check_never_walks_an_organisations_rows(db_url, engine, clock):
    """Each query of the policy functions names the case alone, so no plan (whatever the
    statistics say) can read an organisation's index and filter by case: a bulk import's
    checks stay one case's rows each (issue 19: they had walked every case of the importer)."""
    f.seed()
    ref = f.open_case(clock, share=False)
    plans: list[str] = []
    with engine.connect() as conn:
        driver = conn.connection.dbapi_connection
        assert driver is not None
        driver.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
        with conn.begin():
            case_id, org_id = conn.execute(
                text(
                    "SELECT c.id, o.id FROM return_case c, organisation o "
                    "WHERE c.case_ref = :r AND o.slug = 'fmb'"
                ),
                {"r": ref},
            ).one()
            for setting in (
                "LOAD 'auto_explain'",
                "SET LOCAL auto_explain.log_min_duration = 0",
                "SET LOCAL auto_explain.log_nested_statements = on",
                "SET LOCAL auto_explain.log_level = notice",
                "SET LOCAL enable_seqscan = off",  # as if the tables were large
            ):
                conn.execute(text(setting))
            act_as(conn, org_id)  # not taking part: every branch of the rule runs
            for _ in range(7):  # past PL/pgSQL's five custom plans, onto its cached one
                conn.execute(text("SELECT homeward_case_touched(:c)"), {"c": case_id})
                conn.execute(text("SELECT homeward_item_offered(:c)"), {"c": case_id})
    nested = [
        p
        for p in plans
        if "return_case" in p
        or "case_participant" in p
        or "checklist_item" in p
        or "handoff" in p
        or "consent" in p
    ]
    assert nested, "auto_explain logged no plan"
    assert [p for p in nested if ORG_INDEXES.search(p)] == []


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0023_downgrades_to_the_old_check_and_upgrades_again(engine):
    def source(name: str) -> str:
        with engine.connect() as conn:
            found: str = conn.execute(
                text("SELECT prosrc FROM pg_proc WHERE proname = :n"), {"n": name}
            ).scalar_one()
            return found

    command.downgrade(alembic_config(get_engine()), "0022")
    assert "EXISTS" in source("homeward_case_visible")
    assert "FILTER" not in source("homeward_item_offered")
    assert "homeward_scope_row" in source("homeward_is_system")
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert "FILTER" in source("homeward_case_visible")
    assert "FILTER" in source("homeward_item_offered")
    assert "plpgsql" == _language(engine, "homeward_is_system")


def _language(engine: Engine, name: str) -> str:
    with engine.connect() as conn:
        found: str = conn.execute(
            text(
                "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
                "WHERE p.proname = :n"
            ),
            {"n": name},
        ).scalar_one()
        return found


def _checks_calling(conn: Connection, org_id: int, case_id: int, event_id: int) -> int:
    """Write a seal of ``case_id``'s event ``event_id`` (written by this transaction: 0041's
    guard refuses the seal of any other row before row security sees it) acting for
    ``org_id`` as the app's role (in a savepoint, undone): how many calls of the case functions
    its WITH CHECK made (-1: refused)."""
    with conn.begin_nested() as savepoint:
        conn.execute(text("RESET ROLE"))  # acting for an organisation is the owner's (0025)
        conn.execute(text("SELECT homeward_act_for(:o, NULL)"), {"o": org_id})
        conn.execute(text("SET LOCAL ROLE homeward_app"))
        before = _case_function_calls(conn)
        try:
            with conn.begin_nested():
                conn.execute(
                    text(
                        "INSERT INTO row_seal (tbl, row_id, case_id, version, mac) "
                        "VALUES ('case_event', :e, :c, 1, 'x')"
                    ),
                    {"c": case_id, "e": event_id},
                )
        except DBAPIError as exc:
            assert "row-level security" in str(exc)
            calls = -1
        else:
            calls = _case_function_calls(conn) - before
        savepoint.rollback()
    return calls


def _case_function_calls(conn: Connection) -> int:
    found: int = conn.execute(
        text(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions "
            "WHERE funcname IN ('homeward_case_visible', 'homeward_case_touched')"
        )
    ).scalar_one()
    return found


def test_an_owners_row_passes_its_check_by_one_lookup_and_others_as_before(engine, clock):
    """0027: the owner's rows pass WITH CHECK without calling the case functions (a bulk
    import wrote ten rows a case, each paying a call); anyone else is checked as before."""
    f.seed()
    ref = f.open_case(clock, share=False)
    with engine.connect() as conn, conn.begin():
        orgs = dict(conn.execute(text("SELECT slug, id FROM organisation")).all())
        find = text("SELECT id FROM return_case WHERE case_ref = :r")
        case_id = conn.execute(find, {"r": ref}).scalar_one()
        live = text(
            "SELECT org_id FROM case_participant WHERE case_id = :c AND status = 'live' "
            "AND org_id <> :o ORDER BY org_id LIMIT 1"
        )
        partner = conn.execute(live, {"c": case_id, "o": orgs["iom-it"]}).scalar_one()
        event = conn.execute(  # outside any savepoint: its xmin is the transaction's own
            text(
                "INSERT INTO case_event (case_id, at, trigger, data) "
                "VALUES (:c, now(), 'probe', '{}') RETURNING id"
            ),
            {"c": case_id},
        ).scalar_one()
        conn.execute(text("SET LOCAL track_functions = 'pl'"))  # the owner's (superuser's)
        conn.execute(text("SET LOCAL ROLE homeward_app"))  # row security applies from here
        assert _checks_calling(conn, orgs["iom-it"], case_id, event) == 0  # the owner
        refused = _checks_calling(conn, orgs["fmb"], case_id, event)
        assert refused == -1  # no part in the case
        assert _checks_calling(conn, partner, case_id, event) > 0  # a live partner: by the function


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0027_downgrades_to_the_function_alone_and_upgrades_again(engine):
    def check(table: str) -> str:
        with engine.connect() as conn:
            found: str = conn.execute(
                text("SELECT with_check FROM pg_policies WHERE tablename = :t"), {"t": table}
            ).scalar_one()
            return found

    command.downgrade(alembic_config(get_engine()), "0026")
    assert "return_case" not in check("checklist_item")
    assert "return_case" not in check("imported_case")
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    for table in ("checklist_item", "row_seal", "case_event", "imported_case"):
        assert "IS TRUE" in check(table) and "return_case" in check(table)
