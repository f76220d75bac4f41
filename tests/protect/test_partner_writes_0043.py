"""PostgreSQL: a case's seal is written by its owner only; a partner changes a casework row only
as its commands do, and no one but a purge deletes one (migration 0043, after 0042's review).

0042 left a partner (ADPARE, a live participant of ``partner``'s case) free, through plain SQL
as the app's login under its own session, to renew the owner's case seal with any MAC (a
partner's command bumps the case's version, which the seal covered, so its transaction wrote
the case row and 0041's guard let it seal that row): the case's tamper evidence wiped, the
owner's reads refused. And to update or delete any row of the casework tables its case shows
it: the owner's owner-only note emptied, a visit's safety note rewritten, a risk level lowered,
a child made an adult, the plan's services cancelled. Each escape must be refused by a
``homeward:`` line; what the commands do still passes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, text

from homeward.base.clock import local_date
from homeward.base.db import get_engine, system_scope, write_session
from homeward.base.migrate import alembic_config, head_revision, upgrade
from homeward.base.migrations.earlier import earlier
from homeward.crypt.keys import load_keyring
from homeward.protection import vault
from homeward.records import seals
from statemachines.cases import get_case
from tasks import assessments, checklist, checklist_changes, journal, plans, referrals, visits
from tests import factories as f
from tests import signin
from tests.conftest import BACKEND
from tests.protect.app_login import run_steps
from tests.protect.test_case_owner import PARTNER
from tests.protect.test_case_owner import partner as partner  # the fixture: the case, ADPARE
from tests.protect.test_partner_writes import _try
from tests.protect.test_partner_writes import case as case  # the fixture: ADPARE's own item

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row security is PostgreSQL's")

_0043 = "0043_case_seals_and_casework_partners_cannot_rewrite.py"
# The casework tables, every sealed table of a case no earlier migration guards.
CASEWORK = (
    "assessment",
    "case_document",
    "case_note",
    "case_person",
    "item_change",
    "nrm_referral",
    "plan_goal",
    "plan_service",
    "reintegration_plan",
    "visit",
)
ZEROS = "repeat('0', 64)"
BUMP = "UPDATE return_case SET version = version + 1 WHERE id = {id}"  # as ``locking.bump``
ITEM = (  # an item of ADPARE's own, as the owner would have placed it
    "INSERT INTO checklist_item (case_id, stage, code, title_key, owner_org_id, due_at, "
    "blocking, created_at, status) SELECT case_id, stage, '{code}', title_key, {org}, due_at, "
    "false, created_at, '{status}' FROM checklist_item WHERE id = {own_item} RETURNING id"
)
# One row of each casework table, written as the tables' owner: the owner's (``o_``) and, where
# a partner writes that table, ADPARE's own (``a_``).
ROWS = {
    "o_note": "INSERT INTO case_note (case_id, author_id, org_id, at, visibility, body) VALUES "
    "({id}, {owner_staff}, {owner}, now(), 'owner', 'sealed text') RETURNING id",
    "a_note": "INSERT INTO case_note (case_id, author_id, org_id, at, visibility, body) VALUES "
    "({id}, {staff}, {me}, now(), 'shared', 'sealed text') RETURNING id",
    "o_doc": "INSERT INTO case_document (case_id, kind, media_type, size, filename, content, "
    "visibility, uploaded_by_id, org_id, uploaded_at) VALUES ({id}, 'other', 'text/plain', 4, "
    "'name', '\\x00'::bytea, 'owner', {owner_staff}, {owner}, now()) RETURNING id",
    "a_doc": "INSERT INTO case_document (case_id, kind, media_type, size, filename, content, "
    "visibility, uploaded_by_id, org_id, uploaded_at) VALUES ({id}, 'other', 'text/plain', 4, "
    "'name', '\\x00'::bytea, 'shared', {staff}, {me}, now()) RETURNING id",
    "o_visit": "INSERT INTO visit (case_id, org_id, visited_on, mode, safety_concern, "
    "safety_note, recorded_by_id, recorded_at) VALUES ({id}, {owner}, current_date, 'home', "
    "true, 'sealed text', {owner_staff}, now()) RETURNING id",
    "a_visit": "INSERT INTO visit (case_id, org_id, visited_on, mode, safety_concern, "
    "recorded_by_id, recorded_at) VALUES ({id}, {me}, current_date, 'home', false, {staff}, "
    "now()) RETURNING id",
    "o_risk": "INSERT INTO assessment (case_id, kind, level, needs, answers, assessed_on, "
    "assessed_by_id, recorded_at) VALUES ({id}, 'risk', 'high', '[]', 'sealed text', "
    "current_date, {owner_staff}, now()) RETURNING id",
    "o_child": "INSERT INTO case_person (case_id, relation, is_minor, given_name, created_at) "
    "VALUES ({id}, 'child', true, 'sealed text', now()) RETURNING id",
    "o_referral": "INSERT INTO nrm_referral (case_id, record_no, referred_on, referring_body, "
    "recorded_by_id, recorded_at) VALUES ({id}, 'sealed text', current_date, 'police', "
    "{owner_staff}, now()) RETURNING id",
    "o_plan": "INSERT INTO reintegration_plan (case_id, version, status, summary, "
    "created_by_id, created_at, review_due_on) VALUES ({id}, 1, 'approved', 'sealed text', "
    "{owner_staff}, now(), current_date + 90) RETURNING id",
    "o_goal": "INSERT INTO plan_goal (case_id, plan_id, dimension, text, status) VALUES "
    "({id}, {o_plan}, 'economic', 'sealed text', 'open') RETURNING id",
    "o_service": "INSERT INTO plan_service (case_id, plan_id, service_type, provider_org_id, "
    "status, budget_minor, currency, item_id) VALUES ({id}, {o_plan}, 'housing', {owner}, "
    "'approved', 100000, 'EUR', {o_item}) RETURNING id",
    "a_service": "INSERT INTO plan_service (case_id, plan_id, service_type, provider_org_id, "
    "status, budget_minor, currency, item_id) VALUES ({id}, {o_plan}, 'psychological', {me}, "
    "'approved', 100000, 'EUR', {a_service_item}) RETURNING id",
    "o_change": "INSERT INTO item_change (case_id, item_id, kind, actor_id, at, status_before, "
    "due_before, due_after, reason) VALUES ({id}, {o_item}, 'due_changed', {owner_staff}, "
    "now(), 'open', now(), now() + interval '1 day', 'sealed text') RETURNING id",
}


def _set(table: str, row: str, sets: str) -> str:
    return f"UPDATE {table} SET {sets} WHERE id = {{{row}}}"


def _reseal_also(table: str, row: str) -> str:
    """The escape's second step: the row's seal renewed as the commit would."""
    return (
        f"UPDATE row_seal SET version = version + 1, mac = {ZEROS} "
        f"WHERE tbl = '{table}' AND row_id = {{{row}}}"
    )


CASE_SEAL_ESCAPES: dict[str, list[str]] = {
    "bump the case, renew its seal with zeros": [BUMP, _reseal_also("return_case", "id")],
    "bump the case, renew its seal keeping its MAC": [
        BUMP,
        "UPDATE row_seal SET version = version + 1 WHERE tbl = 'return_case' AND row_id = {id}",
    ],
    "bump the case, seal it anew": [
        BUMP,
        "INSERT INTO row_seal (tbl, row_id, case_id, version, mac) "
        f"VALUES ('return_case', {{id}}, {{id}}, 1, {ZEROS})",
    ],
}

ESCAPES: dict[str, list[str]] = {
    # the journal: the owner's owner-only note, its own notes once written, documents
    "empty the owner's note": [_set("case_note", "o_note", "body = NULL")],
    "empty it and renew its seal": [
        _set("case_note", "o_note", "body = NULL"),
        _reseal_also("case_note", "o_note"),
    ],
    "share the owner's note": [_set("case_note", "o_note", "visibility = 'shared'")],
    "sign the owner's note as its own": [
        _set("case_note", "o_note", "org_id = {me}, author_id = {staff}")
    ],
    "rewrite its own note": [_set("case_note", "a_note", "body = 'forged'")],
    "backdate its own note": [_set("case_note", "a_note", "at = at - interval '1 year'")],
    "delete the owner's note": ["DELETE FROM case_note WHERE id = {o_note}"],
    "delete its own note": ["DELETE FROM case_note WHERE id = {a_note}"],
    "remove the owner's document": [
        _set("case_document", "o_doc", "filename = NULL, content = NULL, removed_at = now()")
    ],
    "swap its own document's content": [_set("case_document", "a_doc", "content = '\\x01'")],
    "remove its document, then put another back": [
        _set("case_document", "a_doc", "filename = NULL, content = NULL, removed_at = now()"),
        _set("case_document", "a_doc", "filename = 'x', content = '\\x01'"),
    ],
    "share the owner's document": [_set("case_document", "o_doc", "visibility = 'shared'")],
    "delete its own document": ["DELETE FROM case_document WHERE id = {a_doc}"],
    # visits, assessments, the family
    "rewrite the owner's visit's safety note": [_set("visit", "o_visit", "safety_note = 'forged'")],
    "clear the owner's visit's safety concern": [
        _set("visit", "o_visit", "safety_concern = false")
    ],
    "add a safety note to its own old visit": [
        _set("visit", "a_visit", "safety_concern = true, safety_note = 'later'")
    ],
    "touch its own old visit, then fill its note": [
        _set("visit", "a_visit", "mode = mode"),
        _set("visit", "a_visit", "progress_note = 'later'"),
    ],
    "delete the owner's visit": ["DELETE FROM visit WHERE id = {o_visit}"],
    "lower the owner's risk level": [_set("assessment", "o_risk", "level = 'low'")],
    "empty the risk assessment's answers": [_set("assessment", "o_risk", "answers = NULL")],
    "drop the assessment's needs": [_set("assessment", "o_risk", "needs = '[\"shelter\"]'")],
    "review the risk assessment itself": [
        _set("assessment", "o_risk", "review = 'agreed', reviewed_by_id = {staff}")
    ],
    "make the child an adult": [_set("case_person", "o_child", "is_minor = false")],
    "remove the child": [_set("case_person", "o_child", "removed_at = now()")],
    "delete the child": ["DELETE FROM case_person WHERE id = {o_child}"],
    # the NRM referral: its item is the owner's
    "redate the referral in its own name": [
        _set(
            "nrm_referral",
            "o_referral",
            "referred_on = current_date - 400, recorded_by_id = {staff}, recorded_at = now()",
        )
    ],
    "delete the referral": ["DELETE FROM nrm_referral WHERE id = {o_referral}"],
    # the plan: the owner's, but what a service's provider records of its own service
    "supersede the approved plan": [_set("reintegration_plan", "o_plan", "status = 'superseded'")],
    "empty the plan's summary": [_set("reintegration_plan", "o_plan", "summary = NULL")],
    "mark a goal achieved": [_set("plan_goal", "o_goal", "status = 'achieved'")],
    "delete a goal": ["DELETE FROM plan_goal WHERE id = {o_goal}"],
    "cancel the owner's service": [
        _set("plan_service", "o_service", "status = 'cancelled', note = 'x'")
    ],
    "raise its own service's budget": [
        _set("plan_service", "a_service", "budget_minor = budget_minor * 10")
    ],
    "give its own service to another provider": [
        _set("plan_service", "a_service", "provider_org_id = {other}")
    ],
    "deliver its own service, then reopen it": [
        _set("plan_service", "a_service", "status = 'delivered', actual_end_on = current_date"),
        _set("plan_service", "a_service", "status = 'in_progress'"),
    ],
    "delete its own service": ["DELETE FROM plan_service WHERE id = {a_service}"],
    # an item's change is history
    "rewrite a change's reason": [_set("item_change", "o_change", "reason = 'forged'")],
    "redate a change": [_set("item_change", "o_change", "due_before = now()")],
    "delete a change": ["DELETE FROM item_change WHERE id = {o_change}"],
}


@pytest.fixture
def work(case, engine: Engine, clock) -> tuple[object, dict]:
    """``case`` with a row of each casework table (the owner's; ADPARE's own where it writes
    one), the case resealed as it now stands, and ADPARE's items for a referral, a family
    assessment, a follow-up visit and a service."""
    conn, values = case
    with engine.begin() as admin:  # as the tables' owner
        for name, code, status in (
            ("a_family_item", "family_assessment", "open"),
            ("a_visit_item", "follow_up_2w", "skipped"),
            ("a_service_item", "service_psychological", "open"),
        ):
            query = ITEM.format(code=code, status=status, org="{me}", own_item="{own_item}")
            values[name] = admin.execute(text(query.format(**values))).scalar_one()
        query = ITEM.format(
            code="service_housing", status="open", org="{owner}", own_item="{own_item}"
        )
        values["o_item"] = admin.execute(text(query.format(**values))).scalar_one()
        for name, query in ROWS.items():
            values[name] = admin.execute(text(query.format(**values))).scalar_one()
        arrived = local_date(clock.now()) - timedelta(days=20)
        admin.execute(text("UPDATE return_case SET arrival_on = :d"), {"d": arrived})
    with write_session() as s, system_scope(s):  # sealed as written through Homeward
        seals.touch_cases(s, [values["id"]])
    return conn, values


def _casework(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    tables = (*CASEWORK, "return_case", "row_seal")
    with engine.connect() as admin:
        return {
            t: [tuple(r) for r in admin.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2"))]  # noqa: S608
            for t in tables
        }


def test_the_partner_reaches_the_rows(work):
    """The control: ADPARE sees each row it tries, so a refusal is a guard's."""
    conn, values = work
    seen = {
        name: _try(conn, [f"SELECT 1 FROM {table} WHERE id = {{{name}}}"], values)
        for name, table in (
            ("o_note", "case_note"),
            ("o_visit", "visit"),
            ("o_risk", "assessment"),
            ("o_child", "case_person"),
            ("o_referral", "nrm_referral"),
            ("o_plan", "reintegration_plan"),
            ("o_goal", "plan_goal"),
            ("o_service", "plan_service"),
            ("o_change", "item_change"),
            ("o_doc", "case_document"),
        )
    }
    assert {n: rows for n, rows in seen.items() if rows != [1]} == {}


def test_every_casework_escape_is_refused(work, engine):
    conn, values = work
    before = _casework(engine)
    outcomes = {name: _try(conn, steps, values) for name, steps in ESCAPES.items()}
    assert {n: e for n, e in outcomes.items() if not isinstance(e, str)} == {}
    assert {n: e for n, e in outcomes.items() if "homeward: " not in e} == {}
    assert _casework(engine) == before
    assert "deleted only by a purge" in outcomes["delete its own note"]
    assert "changed by its case's owner" in outcomes["empty the owner's note"]


def test_every_case_seal_escape_is_refused(work, engine):
    conn, values = work
    before = _casework(engine)
    outcomes = {name: _try(conn, steps, values) for name, steps in CASE_SEAL_ESCAPES.items()}
    assert {n: e for n, e in outcomes.items() if not isinstance(e, str)} == {}
    assert {
        n: e for n, e in outcomes.items() if "seal is written by the case's owner" not in e
    } == {}
    assert _casework(engine) == before


def test_the_owner_keeps_its_case_seal_and_reads_its_case(work, engine, clock):
    """The review's run, committed: ADPARE bumps the case and zeroes its seal. Refused, the
    owner still reads the person's data, and the audit finds every seal as written."""
    conn, values = work
    error = run_steps(conn, CASE_SEAL_ESCAPES["bump the case, renew its seal with zeros"], values)
    assert error is not None and "homeward: " in error
    with write_session() as s:
        case = get_case(s, case_ref=values["ref"], actor=f.actor(s))
        assert vault.case_key(s, case) is not None
    with write_session() as s:
        assert seals.verify_seals(s, load_keyring())[0] is None


def _case_seal(engine: Engine, case_id: int) -> tuple[int, str, int]:
    with engine.connect() as admin:
        version, mac = admin.execute(
            text("SELECT version, mac FROM row_seal WHERE tbl = 'return_case' AND row_id = :i"),
            {"i": case_id},
        ).one()
        case_version = admin.execute(
            text("SELECT version FROM return_case WHERE id = :i"), {"i": case_id}
        ).scalar_one()
    return version, mac, case_version


def test_a_partners_command_leaves_the_case_seal_as_it_was(work, engine, clock):
    """ADPARE's command bumps the case's version; the case's seal, which no longer covers it,
    is not written (before 0043 the partner's commit renewed it)."""
    _conn, values = work
    seal_version, mac, case_version = _case_seal(engine, values["id"])
    with write_session() as s:
        checklist.mark_done(
            s, item_id=values["own_item"], actor=f.actor(s, PARTNER), now=clock.now()
        )
    assert _case_seal(engine, values["id"]) == (seal_version, mac, case_version + 1)


def test_the_partners_commands_still_write_their_rows(work, engine, clock):
    """ADPARE's own commands on every casework table it writes, then the owner's; the seals
    verify after them."""
    _conn, values = work
    now, ref = clock.now(), values["ref"]
    today = local_date(now)

    def me(s):
        return f.actor(s, PARTNER)

    with write_session() as s:  # a note and a document, the document then removed
        case = get_case(s, case_ref=ref, actor=me(s))
        journal.add_note(s, case=case, actor=me(s), text="met the family", shared=None, now=now)
        doc = journal.add_document(
            s,
            case=case,
            actor=me(s),
            kind="other",
            filename="a.txt",
            content=b"hello",
            shared=None,
            now=now,
        )
        doc_id = doc.id
    with write_session() as s:
        journal.remove_document(
            s, document_id=doc_id or 0, actor=me(s), reason="wrong file", now=now
        )
    with write_session() as s:  # its own item's due date moved (an item change)
        checklist_changes.change_due(
            s,
            item_id=values["own_item"],
            actor=me(s),
            on=today + timedelta(days=9),
            reason="the family asked for later",
            now=now,
        )
    with engine.begin() as admin:  # the referral's item, ADPARE's (the escapes': the owner's)
        query = ITEM.format(code="anitp_notified", status="open", org="{me}", own_item="{own_item}")
        admin.execute(text(query.format(**values)))
    for record_no in ("RO-2026/001", "RO-2026/002"):  # the referral, recorded then corrected
        with write_session() as s:
            case = get_case(s, case_ref=ref, actor=me(s))
            given = referrals.ReferralIn(record_no, today, "ngo")
            referrals.record(s, case=case, given=given, actor=me(s), now=now)
    with write_session() as s:  # its family assessment
        case = get_case(s, case_ref=ref, actor=me(s))
        answers = {
            "family_support": "partly",
            "family_involved": "no",
            "safe_to_return_home": "yes",
        }
        assessments.record(s, case=case, actor=me(s), kind="family", answers=answers, now=now)
    with write_session() as s:  # a visit (and so the approved plan's review falls due)
        case = get_case(s, case_ref=ref, actor=me(s))
        visit = visits.VisitIn(
            visited_on=today, mode="home", attended="the mother", progress_note="settling in"
        )
        visits.record_visit(s, case=case, visit_in=visit, actor=me(s), now=now)
    with write_session() as s:  # its service started, then delivered
        plans.service_started(s, service_id=values["a_service"], actor=me(s), on=today, now=now)
    with write_session() as s:
        plans.service_delivered(
            s,
            service_id=values["a_service"],
            actor=me(s),
            on=today,
            cost_minor=90000,
            currency=None,
            now=now,
        )
    with write_session() as s:  # the owner cancels its own service, reviews the risk
        plans.service_cancelled(
            s,
            service_id=values["o_service"],
            actor=f.actor(s),
            reason="no longer needed",
            now=now,
        )
    with engine.connect() as admin:
        rows = {
            "notes": admin.execute(
                text("SELECT count(*) FROM case_note WHERE org_id = :o AND body IS NOT NULL"),
                {"o": values["me"]},
            ).scalar_one(),
            "doc": admin.execute(
                text(
                    "SELECT removed_at IS NOT NULL, content IS NULL FROM "
                    "case_document WHERE id = :i"
                ),
                {"i": doc_id},
            ).one(),
            "changes": admin.execute(
                text("SELECT count(*) FROM item_change WHERE reason IS NOT NULL")
            ).scalar_one(),
            "referral": admin.execute(
                text("SELECT count(*), max(recorded_by_id) FROM nrm_referral")
            ).one(),
            "family": admin.execute(
                text("SELECT answers IS NOT NULL FROM assessment WHERE kind = 'family'")
            ).scalar_one(),
            "visit": admin.execute(
                text("SELECT progress_note IS NOT NULL FROM visit WHERE org_id = :o AND id <> :v"),
                {"o": values["me"], "v": values["a_visit"]},
            ).scalar_one(),
            "plan": admin.execute(
                text("SELECT review_due_on FROM reintegration_plan")
            ).scalar_one(),
            "services": admin.execute(
                text("SELECT id, status, cost_minor FROM plan_service ORDER BY id")
            ).all(),
        }
    assert rows["notes"] == 3  # its old one, its new one, the document's removal
    assert tuple(rows["doc"]) == (True, True) and rows["changes"] == 2
    assert tuple(rows["referral"]) == (1, values["staff"]) and rows["family"] and rows["visit"]
    assert rows["plan"] == today
    assert [tuple(r) for r in rows["services"]] == [
        (values["o_service"], "cancelled", None),
        (values["a_service"], "delivered", 90000),
    ]
    with write_session() as s:
        assert seals.verify_seals(s, load_keyring())[0] is None


def test_the_owner_still_changes_its_casework(work, engine, clock):
    """The owner, by hand as the app's login: its note's visibility, the plan's summary, a
    goal achieved, the child removed (no command of its does each; the guard does not hold
    the owner)."""
    conn, values = work
    owner = {**values, "token": signin.token_for(f.COORD, clock.now())}
    steps = [
        _set("case_note", "o_note", "visibility = 'shared'"),
        _set("reintegration_plan", "o_plan", "summary = NULL"),
        _set("plan_goal", "o_goal", "status = 'achieved'"),
        _set("case_person", "o_child", "removed_at = now()"),
        _set("nrm_referral", "o_referral", "referred_on = current_date - 1"),
    ]
    assert _try(conn, steps, owner) == [1, 1, 1, 1, 1]
    deleted = _try(conn, ["DELETE FROM case_note WHERE id = {o_note}"], owner)
    assert isinstance(deleted, str) and "deleted only by a purge" in deleted


def test_the_guards_are_on_every_casework_table_and_called_by_no_login(engine) -> None:
    with engine.connect() as conn:
        guarded = conn.execute(
            text(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname = 'homeward_casework_kept' ORDER BY 1"
            )
        ).scalars()
        callable_by_app = conn.execute(
            text(
                "SELECT proname FROM pg_proc WHERE proname LIKE 'homeward\\_%\\_kept' "
                "AND has_function_privilege('homeward_app', oid, 'EXECUTE') "
                "OR proname = 'homeward_case_seal_owned' "
                "AND has_function_privilege('homeward_app', oid, 'EXECUTE')"
            )
        ).scalars()
        assert list(guarded) == sorted(earlier(_0043).CASEWORK) == list(CASEWORK)
        assert list(callable_by_app) == []
    guarded_before = {  # 0029, 0035, 0038, 0041, 0042; case_event is append-only (0001)
        "return_case",
        "case_participant",
        "beneficiary",
        "case_key",
        "case_event",
        "consent",
        "checklist_item",
        "handoff",
    }
    assert set(seals.SEALED) - guarded_before == set(CASEWORK)


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0043_downgrades_to_0042_and_upgrades_again_its_seals_verifying(work, engine):
    def state() -> tuple[int, str | None]:
        with engine.connect() as conn:
            guards = conn.execute(
                text(
                    "SELECT count(*) FROM pg_trigger WHERE tgname IN "
                    "('homeward_casework_kept', 'homeward_seal_owned')"
                )
            ).scalar_one()
        with write_session() as s:
            return int(guards), seals.verify_seals(s, load_keyring())[0]

    tables = len(CASEWORK)
    assert state() == (tables + 1, None)
    command.downgrade(alembic_config(get_engine()), "0042")
    with engine.connect() as conn:  # seals made over every column again: the version's among them
        case_seal = conn.execute(
            text("SELECT r.mac FROM row_seal r WHERE r.tbl = 'return_case'")
        ).scalar_one()
    with write_session() as s:
        every = seals._Sealer(load_keyring(), "return_case", every_column=True)
        row = s.connection().execute(text("SELECT * FROM return_case")).mappings().one()
        seal = (
            s.connection()
            .execute(text("SELECT version FROM row_seal WHERE tbl = 'return_case'"))
            .scalar_one()
        )
        assert every.mac(row, seal) == case_seal
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert state() == (tables + 1, None)
