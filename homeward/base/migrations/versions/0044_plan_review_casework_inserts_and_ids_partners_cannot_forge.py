"""a partner moves an approved plan's review only to the day of its own visit, and seals no
plan, goal or family member; a partner adds a casework row only as its commands add it; no
row's id changes (review of 0043)

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-07 20:00:00

0043 left, through plain SQL as the app's login under a partner's session (ADPARE, a live
participant of a case owned by IOM Italy):

- an approved plan's ``review_due_on`` set to any date (0043 lets a partner change it, as
  ``plans.mark_review_due`` does after a visit); its transaction having written the plan row,
  0041 let it renew the plan's seal with any MAC: the owner's ``seals.check_row`` then refused
  to decrypt the plan (the owner locked out of its plan), and the review could be put off for
  ever;
- a row INSERTed into any casework table in the owner's name (0043 guards UPDATE and DELETE;
  row security asks only whether the case is visible): a second, approved plan that
  ``plans.approved`` gave the owner, a low risk assessment, an owner-only note, a child, a
  visit, a goal, a change of an item signed by the owner's staff;
- (older) the ids of ``login_request`` (no row security) moved past its sequence by an
  UPDATE, or by ``INSERT ... ON CONFLICT (id) DO UPDATE SET id``: every later sign-in request
  then failed on the key. 0042 guards the ids of new rows only.

Here:

- seals: an approved plan's ``review_due_on`` is left out of the plan's MAC
  (``seals.UNSEALED``, as 0043 did for the case's version), its seals made again where the
  row still matches them, on both databases. On PostgreSQL, outside the system scope and for
  every role row security holds, the seal of a ``reintegration_plan``, ``plan_goal`` or
  ``case_person`` row is inserted or renewed only by the case's owner (no other organisation
  writes those rows); a non-owner changes a plan's ``review_due_on`` only to the day (one
  day either side: the configured time zone) of a visit of its own organisation, recorded by
  the staff member acting, on that case, in this transaction (``visits.record_visit`` then
  ``plans.mark_review_due``);
- on PostgreSQL, the same: a new row of the ten casework tables, of a case the organisation
  acting does not own, is what its commands write: a note, a document (not removed), a visit
  of its own organisation in the acting staff member's name (a visit's item its own); an
  assessment signed by the staff member acting, unreviewed, of a kind whose item
  (``assessments.ITEM_FOR``) the organisation holds; an item's change signed by the staff
  member acting, of an item it holds; the NRM referral in the acting staff member's name, by
  the organisation holding the item it completes (``referrals.matching_item``). Plans, goals,
  services and family members are added by the owner only (``plans``, ``family.add_person``,
  ``vault.store_dependant``). Checked once a statement, at its end (``REFERENCING NEW TABLE``:
  as branch ibulk2's 0046): a row the rule passes needs no lookup of its case; the others,
  one owner lookup a case of the statement;
- on PostgreSQL, the same: no row of a table whose id a sequence gives (0042's ``ID_TABLES``)
  changes its id, the owner's neither (no command does).

What stays (a seal's MAC is made with a key the database never holds, so no guard here can
tell a right MAC from a wrong one): a partner renews, with any MAC, the seal of a row its
command writes in that transaction: its own note, document, visit, assessment, item change;
a service of the plan its item holds (started, delivered, cancelled); the NRM referral whose
item it holds; a handoff it answers; its own item. ``audit verify`` then names the row, and
``seals.check_row`` refuses to decrypt it (its text: the referral's number, the service's
note) for everyone, the owner too, until the owner writes it again (a command resealing it).
The review date's day is the app's word (the visit's ``recorded_at``, as every ``now`` of a
command): a partner may set it to a date of its choosing by recording a visit on that date.

Cost: a plan's review date, one owner lookup (the partner's: and one visit lookup) when it
changes; a seal of those three tables, one owner lookup; an UPDATE of ``id``: nothing
(``UPDATE OF id``, its WHEN); an insert, one set-based check a statement. Measured as the
app's login (PostgreSQL 15, the backend's CPU time, the insert guard enabled and disabled in
alternate runs, medians of 7, 10,000 ``case_note`` rows a statement; load 20-22 on 2 cores):
19 us a row with the guard, 18 without (the owner's rows: one lookup of the case), 35 and 38
(a partner's own notes: the rule only): within the measure's resolution (1 us a row).
SQLite: the seals' step only.
"""

from collections.abc import Sequence

from alembic import op
from sqlmodel import Session

from homeward.base.migrations.earlier import earlier

revision: str = "0044"
down_revision: str | Sequence[str] | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_0038 = "0038_partner_handoffs_and_items_the_app_cannot_bend.py"
_0042 = "0042_cases_partners_cannot_rewrite_ids_the_app_cannot_squat.py"
_0043 = "0043_case_seals_and_casework_partners_cannot_rewrite.py"
_before = earlier(_0038)
PINNED, EXEMPT, DENIED, OWNS = _before.PINNED, _before.EXEMPT, _before.DENIED, _before.OWNS
ID_TABLES = earlier(_0042).ID_TABLES
_casework = earlier(_0043)
THIS_TRANSACTION, CASEWORK = _casework.THIS_TRANSACTION, _casework.CASEWORK

# --- an approved plan's review date, and the seals of rows the owner alone writes

OWNER_SEALED = ("reintegration_plan", "plan_goal", "case_person")

SEAL_OWNED = f"""
CREATE OR REPLACE FUNCTION homeward_owners_seal() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer := public.homeward_current_org();
BEGIN
    IF {OWNS.format(cid="NEW.case_id")} THEN
        RETURN NEW;
    END IF;
    IF {EXEMPT} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'homeward: a % row''s seal is written by the case''s owner only (no other '
        'organisation writes its row)', NEW.tbl {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

# ``plans.mark_review_due`` after ``visits.record_visit``: the review falls due on the day of
# the visit just recorded (``local_date(now)``, in the configured time zone: a day either
# side of the visit's UTC date).
OWN_VISIT = (
    "EXISTS (SELECT FROM public.visit v WHERE v.case_id = OLD.case_id AND v.org_id = org "
    f"AND v.recorded_by_id = public.homeward_current_staff() AND v.xmin = {THIS_TRANSACTION} "
    "AND NEW.review_due_on BETWEEN (v.recorded_at - interval '1 day')::date "
    "AND (v.recorded_at + interval '1 day')::date)"
)

PLAN_REVIEW = f"""
CREATE OR REPLACE FUNCTION homeward_plan_review_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer := public.homeward_current_org();
BEGIN
    IF {OWNS.format(cid="OLD.case_id")} THEN
        RETURN NEW;
    END IF;
    IF NEW.review_due_on IS NOT NULL AND {OWN_VISIT} THEN
        RETURN NEW;
    END IF;
    IF {EXEMPT} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'homeward: plan % is brought up for review by another organisation only '
        'on the day of the visit it records', OLD.id {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

# --- new casework rows

PLANNED = "SET enable_seqscan = off SET jit = off"  # as 0046: a lookup a case, by its key
NEW_ROWS = "REFERENCING NEW TABLE AS added FOR EACH STATEMENT"
NOT_OWNED = (  # a case among ``need`` the organisation acting does not own (0027's test)
    "SELECT n.case_id FROM need n WHERE NOT coalesce((SELECT (c.owner_org_id = org) IS TRUE "
    "FROM public.return_case c WHERE c.id = n.case_id), false) LIMIT 1"
)


def _its_item(item: str) -> str:
    """``item`` is an item of the row's case that the organisation acting holds."""
    return (
        f"EXISTS (SELECT FROM public.checklist_item i WHERE i.id = {item} "
        "AND i.case_id = a.case_id AND i.owner_org_id = org)"
    )


# ``tasks.assessments.ITEM_FOR`` (and ``RISK_ITEMS``: a suspended case's reassessment), as data.
ASSESSMENT_ITEMS = {
    "risk": ("risk_assessment", "risk_reassessment"),
    "needs": ("needs_assessment",),
    "family": ("family_assessment",),
}
_KINDS = " ".join(
    f"WHEN '{kind}' THEN ARRAY[{', '.join(repr(c) for c in codes)}]"
    for kind, codes in ASSESSMENT_ITEMS.items()
)
# ``referrals.matching_item`` (0043's ``REFERRAL_ITEM``, of a new row).
REFERRAL_ITEM = _casework.REFERRAL_ITEM.replace("OLD.case_id", "a.case_id")
assert "OLD." not in REFERRAL_ITEM  # noqa: S101 (0043's text, as written)

# What a row of a case the organisation acting does not own must be (``a``: the new row;
# ``org``, ``staff``: who acts); "false": the owner's alone.
ADDED: dict[str, str] = {
    "case_note": "a.org_id = org AND a.author_id = staff",
    "case_document": "a.org_id = org AND a.uploaded_by_id = staff AND a.removed_at IS NULL",
    "visit": (
        "a.org_id = org AND a.recorded_by_id = staff "
        f"AND (a.item_id IS NULL OR {_its_item('a.item_id')})"
    ),
    "assessment": (
        "a.assessed_by_id = staff AND ROW(a.reviewed_by_id, a.reviewed_at, a.review) IS NULL "
        "AND EXISTS (SELECT FROM public.checklist_item i WHERE i.case_id = a.case_id "
        "AND i.owner_org_id = org AND i.status <> 'cancelled' "
        f"AND i.code = ANY (CASE a.kind {_KINDS} END))"
    ),
    "item_change": f"a.actor_id = staff AND {_its_item('a.item_id')}",
    "nrm_referral": f"a.recorded_by_id = staff AND {REFERRAL_ITEM}",
    "plan_service": "false",
    "reintegration_plan": "false",
    "plan_goal": "false",
    "case_person": "false",
}
assert sorted(ADDED) == sorted(CASEWORK)  # noqa: S101 (0043's tables, each with its rule)


def added(table: str) -> str:
    """The statement's new rows of ``table``: each passes its rule, or its case is owned by the
    organisation acting (or the system's, or an exempt role's)."""
    return f"""
CREATE OR REPLACE FUNCTION homeward_{table}_added() RETURNS trigger
LANGUAGE plpgsql {PINNED} {PLANNED} AS $$
DECLARE
    org integer := public.homeward_current_org();
    staff integer := public.homeward_current_staff();
BEGIN
    IF NOT EXISTS (WITH need AS (SELECT DISTINCT a.case_id FROM added a
                                 WHERE NOT coalesce({ADDED[table]}, false)) {NOT_OWNED}) THEN
        RETURN NULL;
    END IF;
    IF {EXEMPT} THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'homeward: a new % row of a case another organisation owns is written only '
        'as its commands write it (for the organisation acting, signed by the staff member '
        'acting, of an item it holds; plans, goals, services and family members: the owner''s)',
        TG_TABLE_NAME {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)


# --- ids

ID_KEPT = f"""
CREATE OR REPLACE FUNCTION homeward_id_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
BEGIN
    IF {EXEMPT} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'homeward: a % row keeps the id its sequence gave it (%)', TG_TABLE_NAME,
        OLD.id {DENIED};
END $$
"""

FUNCTIONS = (
    "homeward_owners_seal()",
    "homeward_plan_review_kept()",
    "homeward_id_kept()",
    *(f"homeward_{t}_added()" for t in ADDED),
)


def _triggers() -> str:
    tables = ", ".join(f"'{t}'" for t in OWNER_SEALED)
    lines = [
        "CREATE TRIGGER homeward_seal_owners BEFORE INSERT OR UPDATE ON row_seal FOR EACH ROW "
        f"WHEN (NEW.tbl IN ({tables})) EXECUTE FUNCTION homeward_owners_seal();",
        "CREATE TRIGGER homeward_plan_review_kept BEFORE UPDATE OF review_due_on "
        "ON reintegration_plan FOR EACH ROW "
        "WHEN (OLD.review_due_on IS DISTINCT FROM NEW.review_due_on) "
        "EXECUTE FUNCTION homeward_plan_review_kept();",
    ]
    lines += [
        f"CREATE TRIGGER homeward_casework_added AFTER INSERT ON {table} {NEW_ROWS} "
        f"EXECUTE FUNCTION homeward_{table}_added();"
        for table in ADDED
    ]
    lines += [
        f"CREATE TRIGGER homeward_id_kept BEFORE UPDATE OF id ON {table} FOR EACH ROW "
        "WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION homeward_id_kept();"
        for table in ID_TABLES
    ]
    return "\n".join(lines)


def _reseal(*, left_out: bool) -> None:
    """The plans' seals made again without (or, going down, with) their review date."""
    from homeward.records.seals import reseal_left_out  # noqa: PLC0415 (needs keys only here)

    with Session(bind=op.get_bind()) as session:
        reseal_left_out(session, left_out=left_out, tables=("reintegration_plan",))


def upgrade() -> None:
    _reseal(left_out=True)
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in (SEAL_OWNED, PLAN_REVIEW, ID_KEPT, *(added(t) for t in ADDED)):
        op.execute(function)
    for name in FUNCTIONS:  # 0025: a trigger calls them, no login does
        op.execute(f"REVOKE EXECUTE ON FUNCTION {name} FROM PUBLIC")
    op.execute(_triggers())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS homeward_seal_owners ON row_seal")
        op.execute("DROP TRIGGER IF EXISTS homeward_plan_review_kept ON reintegration_plan")
        for table in ADDED:
            op.execute(f"DROP TRIGGER IF EXISTS homeward_casework_added ON {table}")
        for table in ID_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS homeward_id_kept ON {table}")
        for name in FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}")
    _reseal(left_out=False)
