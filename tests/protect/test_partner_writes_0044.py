"""PostgreSQL: a partner brings an approved plan's review forward only to the day of its own
visit, and seals no plan, goal or family member; it adds a casework row only as its commands
add it; no row's id changes (migration 0044, after 0043's review).

0043 left a partner (ADPARE, a live participant of ``partner``'s case) free, through plain
SQL as the app's login under its own session, to put the owner's plan review off to 2099 and
renew the plan's seal with zeros (the owner then locked out of its plan), to INSERT casework
rows in the owner's name (a second approved plan ``plans.approved`` gave the owner, a low risk
assessment, a child, an owner-only note ...), and (older) to move ``login_request`` ids past
their sequence by an UPDATE, so every later sign-in request failed on the key. Each escape
must be refused by a ``homeward:`` line; what the commands do still passes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, text

from homeward.base.clock import local_date
from homeward.base.db import get_engine, write_session
from homeward.base.migrate import alembic_config, head_revision, upgrade
from homeward.base.migrations.earlier import earlier
from homeward.crypt.keys import load_keyring
from homeward.records import seals
from statemachines.cases import get_case
from tasks import plans, visits
from tests import factories as f
from tests import signin
from tests.conftest import BACKEND
from tests.protect.app_login import run_steps
from tests.protect.test_case_owner import PARTNER
from tests.protect.test_case_owner import partner as partner  # the fixture: the case, ADPARE
from tests.protect.test_partner_writes import _try
from tests.protect.test_partner_writes import case as case  # the fixture: ADPARE's own item
from tests.protect.test_partner_writes_0043 import CASEWORK, ITEM, ZEROS
from tests.protect.test_partner_writes_0043 import work as work  # the fixture: casework rows

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row security is PostgreSQL's")

_0044 = "0044_plan_review_casework_inserts_and_ids_partners_cannot_forge.py"
_0042 = "0042_cases_partners_cannot_rewrite_ids_the_app_cannot_squat.py"

PLAN_SEAL_ZEROED = (
    "UPDATE row_seal SET version = version + 1, mac = "
    f"{ZEROS} WHERE tbl = 'reintegration_plan' AND row_id = {{o_plan}}"
)
OWN_VISIT = (  # as ``visits.record_visit`` writes it, in this transaction
    "INSERT INTO visit (case_id, org_id, visited_on, mode, safety_concern, recorded_by_id, "
    "recorded_at) VALUES ({id}, {me}, current_date, 'home', false, {staff}, now())"
)
REVIEW = "UPDATE reintegration_plan SET review_due_on = {on} WHERE id = {{o_plan}}"

REVIEW_ESCAPES: dict[str, list[str]] = {
    "put the owner's plan review off to 2099": [REVIEW.format(on="'2099-12-31'")],
    "put it off and zero the plan's seal": [REVIEW.format(on="'2099-12-31'"), PLAN_SEAL_ZEROED],
    "record a visit, then put the review off": [OWN_VISIT, REVIEW.format(on="'2099-12-31'")],
    "record a visit, bring the review to its day, zero the plan's seal": [
        OWN_VISIT,
        REVIEW.format(on="current_date"),
        PLAN_SEAL_ZEROED,
    ],
    "clear the review date after a visit": [OWN_VISIT, REVIEW.format(on="NULL")],
}

PLAN = (
    "INSERT INTO reintegration_plan (case_id, version, status, summary, created_by_id, "
    "created_at, review_due_on) VALUES ({{id}}, 2, 'approved', NULL, {who}, now(), '2099-01-01')"
)
RISK = (
    "INSERT INTO assessment (case_id, kind, level, needs, answers, assessed_on, assessed_by_id, "
    "recorded_at{more}) VALUES ({{id}}, '{kind}', 'low', '[]', NULL, current_date, {who}, "
    "now(){values})"
)
NOTE = (
    "INSERT INTO case_note (case_id, author_id, org_id, at, visibility, body) VALUES "
    "({{id}}, {who}, {org}, now(), 'owner', NULL)"
)
VISIT = (
    "INSERT INTO visit (case_id, org_id, visited_on, mode, safety_concern, recorded_by_id, "
    "recorded_at, item_id) VALUES ({{id}}, {org}, current_date, 'home', false, {who}, now(), "
    "{item})"
)
DOC = (
    "INSERT INTO case_document (case_id, kind, media_type, size, filename, content, "
    "visibility, uploaded_by_id, org_id, uploaded_at, removed_at) VALUES ({{id}}, 'other', "
    "'text/plain', 4, NULL, NULL, 'owner', {who}, {org}, now(), {removed})"
)
CHANGE = (
    "INSERT INTO item_change (case_id, item_id, kind, actor_id, at, status_before, due_before, "
    "due_after, reason) VALUES ({{id}}, {item}, 'due_changed', {who}, now(), 'open', now(), "
    "now() + interval '1 day', NULL)"
)

INSERT_ESCAPES: dict[str, list[str]] = {
    # the plan, its goals and services, the family: the owner's
    "a second approved plan in the owner's name": [PLAN.format(who="{owner_staff}")],
    "a plan in its own name": [PLAN.format(who="{staff}")],
    "a goal on the owner's plan": [
        "INSERT INTO plan_goal (case_id, plan_id, dimension, text, status) VALUES "
        "({id}, {o_plan}, 'economic', NULL, 'achieved')"
    ],
    "a service of its own on the plan": [
        "INSERT INTO plan_service (case_id, plan_id, service_type, provider_org_id, status, "
        "budget_minor, currency, item_id) VALUES ({id}, {o_plan}, 'psychological', {me}, "
        "'approved', 900000, 'EUR', {a_service_item})"
    ],
    "a fake child": [
        "INSERT INTO case_person (case_id, relation, is_minor, given_name, created_at) "
        "VALUES ({id}, 'child', true, NULL, now())"
    ],
    # assessments: signed by the staff member acting, of an item it holds, unreviewed
    "a low risk assessment in the owner's name": [
        RISK.format(kind="risk", who="{owner_staff}", more="", values="")
    ],
    "a low risk assessment in its own name (the risk item is the owner's)": [
        RISK.format(kind="risk", who="{staff}", more="", values="")
    ],
    "a family assessment (its item) in the owner's name": [
        RISK.format(kind="family", who="{owner_staff}", more="", values="")
    ],
    "a family assessment (its item) already reviewed": [
        RISK.format(
            kind="family",
            who="{staff}",
            more=", review, reviewed_by_id, reviewed_at",
            values=", 'agreed', {staff}, now()",
        )
    ],
    # the journal, visits, changes: its own organisation, the staff member acting, its item
    "an owner-only note in the owner's name": [NOTE.format(who="{owner_staff}", org="{owner}")],
    "a note of the owner's organisation signed by itself": [
        NOTE.format(who="{staff}", org="{owner}")
    ],
    "a note of its own signed by the owner's staff": [NOTE.format(who="{owner_staff}", org="{me}")],
    "its own note and the owner's, in one statement": [
        NOTE.format(who="{staff}", org="{me}").replace(
            "NULL)", "NULL), ({id}, {owner_staff}, {owner}, now(), 'owner', NULL)"
        )
    ],
    "a document in the owner's name": [
        DOC.format(who="{owner_staff}", org="{owner}", removed="NULL")
    ],
    "a document of its own, removed": [DOC.format(who="{staff}", org="{me}", removed="now()")],
    "a visit of the owner": [VISIT.format(who="{owner_staff}", org="{owner}", item="NULL")],
    "a visit of its own signed by the owner's staff": [
        VISIT.format(who="{owner_staff}", org="{me}", item="NULL")
    ],
    "a visit of its own for the owner's item": [
        VISIT.format(who="{staff}", org="{me}", item="{o_item}")
    ],
    "a change of its item under the owner's staff": [
        CHANGE.format(who="{owner_staff}", item="{own_item}")
    ],
    "a change of the owner's item in its own name": [CHANGE.format(who="{staff}", item="{o_item}")],
}

# Each is what a command of ADPARE's writes (rolled back): the control of the escapes above.
INSERTS_ALLOWED: dict[str, list[str]] = {
    "its own note": [NOTE.format(who="{staff}", org="{me}")],
    "its own document": [DOC.format(who="{staff}", org="{me}", removed="NULL")],
    "its own visit": [VISIT.format(who="{staff}", org="{me}", item="NULL")],
    "its own visit for its item": [VISIT.format(who="{staff}", org="{me}", item="{a_visit_item}")],
    "its family assessment": [RISK.format(kind="family", who="{staff}", more="", values="")],
    "a change of its own item": [CHANGE.format(who="{staff}", item="{own_item}")],
    "a visit bringing the review to its day": [OWN_VISIT, REVIEW.format(on="current_date")],
}

LOGIN_REQUEST = (
    "INSERT INTO login_request (address_tag, at) SELECT 'squat', now() FROM generate_series(1, 5)"
)
ID_ESCAPES: dict[str, list[str]] = {
    "move sign-in requests past the sequence": [
        LOGIN_REQUEST,
        "UPDATE login_request SET id = id + 5 WHERE address_tag = 'squat'",
    ],
    "move one by ON CONFLICT": [
        LOGIN_REQUEST,
        "INSERT INTO login_request (id, address_tag, at) SELECT max(id), 'x', now() FROM "
        "login_request ON CONFLICT (id) DO UPDATE SET id = (SELECT last_value + 100 FROM "
        "login_request_id_seq)",
    ],
    "move its own note's id": [
        NOTE.format(who="{staff}", org="{me}"),
        "UPDATE case_note SET id = id + 1000 WHERE org_id = {me} AND at = now()",
    ],
    "move its own item's id": ["UPDATE checklist_item SET id = id + 1000 WHERE id = {own_item}"],
}


def _refused(conn, escapes: dict[str, list[str]], values: dict) -> dict[str, str | list[int]]:
    """The escapes not refused by a ``homeward:`` line (none, if every guard holds)."""
    outcomes = {name: _try(conn, steps, values) for name, steps in escapes.items()}
    return {n: e for n, e in outcomes.items() if not (isinstance(e, str) and "homeward: " in e)}


def _casework(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    tables = (*CASEWORK, "return_case", "row_seal", "login_request")
    with engine.connect() as admin:
        return {
            t: [tuple(r) for r in admin.execute(text(f"SELECT * FROM {t} ORDER BY 1"))]  # noqa: S608
            for t in tables
        }


def test_every_review_escape_is_refused(work, engine):
    conn, values = work
    before = _casework(engine)
    assert _refused(conn, REVIEW_ESCAPES, values) == {}
    assert _casework(engine) == before


def test_every_insert_escape_is_refused_and_the_commands_rows_pass(work, engine):
    conn, values = work
    before = _casework(engine)
    assert _refused(conn, INSERT_ESCAPES, values) == {}
    allowed = {name: _try(conn, steps, values) for name, steps in INSERTS_ALLOWED.items()}
    assert {n: r for n, r in allowed.items() if not isinstance(r, list)} == {}
    assert _casework(engine) == before


def test_a_referral_is_added_only_by_the_holder_of_its_item(case, engine):
    """No referral yet (its key is one a case): ADPARE records one in its own name while no
    item it holds asks for it; then, holding the item, in the owner's staff's name; the
    control: holding it, in its own name (``referrals.record``)."""
    conn, values = case
    referral = (
        "INSERT INTO nrm_referral (case_id, record_no, referred_on, referring_body, "
        "recorded_by_id, recorded_at) VALUES ({{id}}, NULL, current_date, 'ngo', {who}, now())"
    )
    assert _refused(conn, {"not its item": [referral.format(who="{staff}")]}, values) == {}
    with engine.begin() as admin:  # the item the referral completes, handed to ADPARE
        route = admin.execute(text("SELECT route FROM return_case")).scalar_one()
        code = "nrm_referral" if route == "internal" else "anitp_notified"
        query = ITEM.format(code=code, status="open", org="{me}", own_item="{own_item}")
        admin.execute(text(query.format(**values)))
    held = {"held, the owner's name": [referral.format(who="{owner_staff}")]}
    assert _refused(conn, held, values) == {}
    assert _try(conn, [referral.format(who="{staff}")], values) == [1]


def test_no_id_moves(work, engine, clock):
    conn, values = work
    owner = {**values, "token": signin.token_for(f.COORD, clock.now())}  # (a sign-in request)
    before = _casework(engine)
    assert _refused(conn, ID_ESCAPES, values) == {}
    moved = _try(conn, ["UPDATE case_note SET id = id + 1000 WHERE id = {o_note}"], owner)
    assert isinstance(moved, str) and "keeps the id its sequence gave it" in moved
    assert _try(conn, [LOGIN_REQUEST], values) == [5]  # the control: the rows themselves pass
    assert _casework(engine) == before


def _plan_seal(engine: Engine, plan_id: int) -> tuple[int, str]:
    with engine.connect() as admin:
        row = admin.execute(
            text(
                "SELECT version, mac FROM row_seal WHERE tbl = 'reintegration_plan' AND row_id = :i"
            ),
            {"i": plan_id},
        ).one()
    return row[0], row[1]


def test_the_owner_keeps_its_plan_after_the_reviews_run(work, engine):
    """The review's run, committed: refused; the owner's plan reads, the seals verify."""
    conn, values = work
    error = run_steps(conn, REVIEW_ESCAPES["put it off and zero the plan's seal"], values)
    assert error is not None and "homeward: " in error
    with write_session() as s:
        seals.check_row(s, "reintegration_plan", values["o_plan"])
        assert seals.verify_seals(s, load_keyring())[0] is None


def test_a_partners_visit_brings_the_review_forward_leaving_the_plan_seal(work, engine, clock):
    """ADPARE's visit (the real command): the approved plan's review falls due that day; the
    plan's seal, which no longer covers the date, is not written; the owner still reads its
    plan (``check_row``), ``plans.approved`` gives it, and the seals verify."""
    _conn, values = work
    now = clock.now()
    seal = _plan_seal(engine, values["o_plan"])
    with write_session() as s:
        me = f.actor(s, PARTNER)
        case = get_case(s, case_ref=values["ref"], actor=me)
        visit = visits.VisitIn(visited_on=local_date(now) - timedelta(days=1), mode="home")
        visits.record_visit(s, case=case, visit_in=visit, actor=me, now=now)
    assert _plan_seal(engine, values["o_plan"]) == seal
    with write_session() as s:
        case = get_case(s, case_ref=values["ref"], actor=f.actor(s))
        plan = plans.approved(s, case)
        assert plan is not None and plan.id == values["o_plan"]
        assert plan.review_due_on == local_date(now)
        seals.check_row(s, "reintegration_plan", values["o_plan"])
        assert seals.verify_seals(s, load_keyring())[0] is None


def test_the_guards_are_on_every_table_and_called_by_no_login(engine) -> None:
    migration = earlier(_0044)
    with engine.connect() as conn:

        def tables(trigger: str) -> list[str]:
            query = (
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname = :t ORDER BY 1"
            )
            return list(conn.execute(text(query), {"t": trigger}).scalars())

        callable_by_app = conn.execute(
            text(
                "SELECT proname FROM pg_proc WHERE proname = ANY(:n) "
                "AND has_function_privilege('homeward_app', oid, 'EXECUTE')"
            ),
            {"n": [name.removesuffix("()") for name in migration.FUNCTIONS]},
        ).scalars()
        assert tables("homeward_casework_added") == list(CASEWORK)
        assert tables("homeward_id_kept") == sorted(earlier(_0042).ID_TABLES)
        assert tables("homeward_plan_review_kept") == ["reintegration_plan"]
        assert tables("homeward_seal_owners") == ["row_seal"]
        assert list(callable_by_app) == []
    assert seals.UNSEALED["reintegration_plan"] == frozenset({"review_due_on"})


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0044_downgrades_to_0043_and_upgrades_again_its_seals_verifying(work, engine):
    def state() -> tuple[int, str | None]:
        with engine.connect() as conn:
            guards = conn.execute(
                text(
                    "SELECT count(*) FROM pg_trigger WHERE tgname IN ('homeward_casework_added', "
                    "'homeward_id_kept', 'homeward_plan_review_kept', 'homeward_seal_owners')"
                )
            ).scalar_one()
        with write_session() as s:
            return int(guards), seals.verify_seals(s, load_keyring())[0]

    every = len(CASEWORK) + len(earlier(_0042).ID_TABLES) + 2
    assert state() == (every, None)
    command.downgrade(alembic_config(get_engine()), "0043")
    with engine.connect() as conn:
        mac = conn.execute(
            text("SELECT mac FROM row_seal WHERE tbl = 'reintegration_plan'")
        ).scalar_one()
    with write_session() as s:  # the plan's seal over every column again: its review date too
        sealer = seals._Sealer(load_keyring(), "reintegration_plan", every_column=True)
        row = s.connection().execute(text("SELECT * FROM reintegration_plan")).mappings().one()
        version = (
            s.connection()
            .execute(text("SELECT version FROM row_seal WHERE tbl = 'reintegration_plan'"))
            .scalar_one()
        )
        assert sealer.mac(row, version) == mac
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert state() == (every, None)
