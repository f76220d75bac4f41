"""a case's seal is written by its owner only (its version, which partners bump, is no longer
sealed); a partner changes a casework row only as its commands do, and no one but a purge
deletes one (review of 0042)

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-07 19:00:00

0042 left, through plain SQL as the app's login under a partner's session (ADPARE, a live
participant of a case owned by IOM Italy):

- the owner's case seal, renewed with any MAC: a partner's command bumps the case's version
  (``locking.bump``), the seal covered every column, so the partner's commit resealed the
  owner's case row, and 0041's guard lets a transaction seal a row it wrote. A zeroed MAC wiped
  the case's tamper evidence, and ``vault.case_key`` refused the owner's next read;
- every row of ``case_note``, ``case_document``, ``visit``, ``assessment``, ``case_person``,
  ``nrm_referral``, ``reintegration_plan``, ``plan_goal``, ``plan_service`` and
  ``item_change`` its case shows it (row security says which rows, not what is done to them):
  the owner's owner-only note emptied, a visit's safety note rewritten, an approved plan's
  services cancelled, a referral redated; deleted too (each such row's seal then stayed, so
  ``audit verify`` named it deleted outside Homeward).

Here:

- seals (``homeward.records.seals.UNSEALED``): the case row's ``version`` (its optimistic
  lock, nothing of the case) is left out of its MAC, so a partner's bump needs no new seal.
  Each case seal is made again without it, where its row still matches it (a row changed
  outside Homeward keeps its seal and still fails ``audit verify``): on both databases, with
  the keyring the upgrade runs with, as 0014 and 0018 did;
- on PostgreSQL, outside the system scope and for every role row security holds, a
  ``row_seal`` of a ``return_case`` row is inserted or renewed only by the case's owner (a new
  case; the addressee of a whole-case transfer, once it owns the case; 0041 checks it is
  accepted);
- on PostgreSQL, the same: a row of those ten tables is deleted by no one (a purge: the
  system); updated by the case's owner, or by another organisation only as its commands do:
  the free text of a row it has just written, in this transaction, filled once (a note, a
  document, a visit of its own organisation; an assessment or an item's change signed by the
  staff member acting: ``tasks.journal``, ``tasks.visits``, ``tasks.assessments``,
  ``tasks.checklist_changes``); its own document removed (name and content wiped,
  ``journal.remove_document``); the case's NRM referral recorded or corrected in the acting
  staff member's name by the organisation holding the item it completes
  (``tasks.referrals.record``); a service of the plan started, delivered or cancelled by the
  organisation holding its item (``tasks.plans.service_*``: status, actual dates, cost, the
  cancellation's reason); an approved plan's review date (``plans.mark_review_due``, after a
  visit). Goals, family members and the rest of a plan are the owner's. An UPDATE that
  changes nothing is refused too: it would make an old row look written by this transaction.

Cost: a case seal, one lookup of its case (the trigger's WHEN: no other seal). A casework
row: its old and new rows compared; a partner's allowed change passes without lookup but for
the item a referral or service needs; the owner, one lookup of the case by primary key (as
0035's guards). Measured as the app's login (PostgreSQL 15, the backend's CPU time, the guard
enabled and disabled in alternate runs, medians of 7, 10,000 ``case_note`` rows a statement;
load 14-17 on 2 cores): +34 us a row the owner changes (of 26), +25 us a row whose text a
partner fills in the transaction that wrote it (of 73). SQLite: the seals' step only.
"""

from collections.abc import Sequence

from alembic import op
from sqlmodel import Session

from homeward.base.migrations.earlier import earlier

revision: str = "0043"
down_revision: str | Sequence[str] | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_0038 = "0038_partner_handoffs_and_items_the_app_cannot_bend.py"
_before = earlier(_0038)
PINNED, EXEMPT, DENIED, OWNS = _before.PINNED, _before.EXEMPT, _before.DENIED, _before.OWNS
THIS_TRANSACTION = "pg_current_xact_id()::xid"  # no command writes these rows in a savepoint

# A case's seal: its owner's (a new case, a case just taken by an accepted transfer), or the
# system's. One lookup of the case by primary key, only for seals of ``return_case`` rows
# (the trigger's WHEN).
CASE_SEAL = f"""
CREATE OR REPLACE FUNCTION homeward_case_seal_owned() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer := public.homeward_current_org();
BEGIN
    IF {OWNS.format(cid="NEW.row_id")} THEN
        RETURN NEW;
    END IF;
    IF {EXEMPT} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'homeward: a case''s seal is written by the case''s owner only (a '
        'partner''s command changes only its version, which no seal covers)' {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)


def _fill(*columns: str) -> str:
    """The columns still empty may be given a value (an encrypted text written after the row's
    id is known)."""
    return "".join(
        f"\n            IF OLD.{c} IS NULL THEN kept.{c} := NULL; END IF;" for c in columns
    )


def _back(*columns: str) -> str:
    """These columns may change."""
    return "".join(f"\n            kept.{c} := OLD.{c};" for c in columns)


FRESH = f"OLD.xmin = {THIS_TRANSACTION}"
# The organisation holding the case's item a referral completes (``referrals.matching_item``:
# ``ITEM_BY_ROUTE``), not cancelled.
REFERRAL_ITEM = (
    "EXISTS (SELECT FROM public.checklist_item i JOIN public.return_case c ON c.id = i.case_id "
    "WHERE i.case_id = OLD.case_id AND i.owner_org_id = org AND i.status <> 'cancelled' "
    "AND i.code = CASE c.route WHEN 'internal' THEN 'nrm_referral' ELSE 'anitp_notified' END)"
)
SERVICE_ITEM = (
    "EXISTS (SELECT FROM public.checklist_item i WHERE i.id = OLD.item_id AND i.owner_org_id = org)"
)
SERVICE_OPEN = "('approved', 'in_progress')"  # ``plans.OPEN_SERVICE`` once approved


# What a non-owner may change, table by table: PL/pgSQL putting back into ``kept`` (a copy of
# NEW) the columns it may change; then, if ``kept`` is the old row whole (later columns are
# covered), ``lookup`` (after the cheap checks: who holds the item) decides. "" and "true":
# nothing (the owner's, or the system's, alone).
RULES: dict[str, tuple[str, str]] = {
    "case_note": (
        f"IF {FRESH} AND OLD.org_id = org THEN{_fill('body')}\n        END IF;",
        "true",
    ),
    "case_document": (
        "IF OLD.org_id = org AND OLD.removed_at IS NULL THEN\n"
        f"            IF {FRESH} THEN{_fill('filename', 'content')} END IF;\n"
        "            IF NEW.removed_at IS NOT NULL AND ROW(NEW.filename, NEW.content) IS NULL "
        f"THEN{_back('filename', 'content', 'removed_at')} END IF;\n        END IF;",
        "true",
    ),
    "visit": (
        f"IF {FRESH} AND OLD.org_id = org THEN"
        f"{_fill('attended', 'safety_note', 'progress_note', 'answers')}\n        END IF;",
        "true",
    ),
    "assessment": (
        f"IF {FRESH} AND OLD.assessed_by_id = staff THEN{_fill('answers')}\n        END IF;",
        "true",
    ),
    "item_change": (
        f"IF {FRESH} AND OLD.actor_id = staff THEN{_fill('reason')}\n        END IF;",
        "true",
    ),
    "nrm_referral": (
        "IF NEW.recorded_by_id = staff THEN"
        f"{_back('record_no', 'referred_on', 'referring_body', 'recorded_by_id', 'recorded_at')}"
        "\n        END IF;",
        REFERRAL_ITEM,
    ),
    "plan_service": (
        f"IF OLD.status IN {SERVICE_OPEN} AND NEW.status <> OLD.status AND (NEW.status IN "
        "('delivered', 'cancelled') OR (NEW.status = 'in_progress' AND OLD.status = 'approved'"
        ")) THEN"
        f"{_back('status', 'actual_start_on', 'actual_end_on')}\n"
        "            IF NEW.status = 'delivered' THEN kept.cost_minor := OLD.cost_minor; END IF;\n"
        "            IF NEW.status = 'cancelled' THEN kept.note := OLD.note; END IF;\n"
        f"        ELSIF OLD.status = 'cancelled' AND {FRESH} THEN{_back('note')}\n"
        "        END IF;",
        SERVICE_ITEM,
    ),
    "reintegration_plan": (
        "IF OLD.status = 'approved' AND NEW.review_due_on IS NOT NULL THEN"
        f"{_back('review_due_on')}\n        END IF;",
        "true",
    ),
    "plan_goal": ("", "false"),
    "case_person": ("", "false"),
}
# Tables with a JSON column (no equality operator, so no row comparison): compared as jsonb.
JSON_TABLES = ("assessment",)


def _compare(table: str) -> str:
    """Statements setting ``same`` (``kept`` is the old row) and ``changed`` (NEW is not)."""
    if table in JSON_TABLES:
        return (
            "same := to_jsonb(kept) = to_jsonb(OLD);\n"
            "        changed := to_jsonb(NEW) <> to_jsonb(OLD);"
        )
    return "same := kept IS NOT DISTINCT FROM OLD;\n        changed := NEW IS DISTINCT FROM OLD;"


def guard(table: str) -> str:
    """The trigger function of ``table``: the owner (and the system) change its rows; a
    non-owner as ``RULES`` says; no one but the system deletes them."""
    rules, lookup = RULES[table]
    return f"""
CREATE OR REPLACE FUNCTION homeward_{table}_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer := public.homeward_current_org();
    staff integer := public.homeward_current_staff();
    kept public.{table};
    same boolean;
    changed boolean;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        kept := NEW;
        {rules}
        {_compare(table)}
        IF same AND changed AND {lookup} THEN
            RETURN NEW;
        END IF;
        IF NEW.case_id = OLD.case_id AND {OWNS.format(cid="OLD.case_id")} THEN
            RETURN NEW;
        END IF;
    END IF;
    IF {EXEMPT} THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'homeward: % rows are deleted only by a purge (the system)',
            TG_TABLE_NAME {DENIED};
    END IF;
    RAISE EXCEPTION 'homeward: % row % is changed by its case''s owner; another organisation '
        'changes only what its commands do (its own new row''s text, its own document '
        'removed, its item''s referral or service)', TG_TABLE_NAME, OLD.id {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)


CASEWORK = tuple(RULES)
FUNCTIONS = ("homeward_case_seal_owned()", *(f"homeward_{t}_kept()" for t in CASEWORK))


def _triggers() -> str:
    lines = [  # after 0041's homeward_seal_kept (a table's triggers run by name)
        "CREATE TRIGGER homeward_seal_owned BEFORE INSERT OR UPDATE ON row_seal "
        "FOR EACH ROW WHEN (NEW.tbl = 'return_case') "
        "EXECUTE FUNCTION homeward_case_seal_owned();"
    ]
    lines += [
        f"CREATE TRIGGER homeward_casework_kept BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION homeward_{table}_kept();"
        for table in CASEWORK
    ]
    return "\n".join(lines)


def _reseal(*, left_out: bool) -> None:
    """The case seals made again without (or, going down, with) the case's version: where
    there are any, with the keyring (as 0014 and 0018)."""
    from homeward.records.seals import reseal_left_out  # noqa: PLC0415 (needs keys only here)

    with Session(bind=op.get_bind()) as session:
        reseal_left_out(session, left_out=left_out)


def upgrade() -> None:
    _reseal(left_out=True)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CASE_SEAL)
    for table in CASEWORK:
        op.execute(guard(table))
    for name in FUNCTIONS:  # 0025: a trigger calls them, no login does
        op.execute(f"REVOKE EXECUTE ON FUNCTION {name} FROM PUBLIC")
    op.execute(_triggers())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS homeward_seal_owned ON row_seal")
        for table in CASEWORK:
            op.execute(f"DROP TRIGGER IF EXISTS homeward_casework_kept ON {table}")
        for name in FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}")
    _reseal(left_out=False)
