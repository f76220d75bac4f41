"""a partner changes nothing of an owner's case but its version (and, accepting its transfer, its
owner); a new row takes an id its table's sequence has already given (review of 0041)

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-07 17:00:00

0041 left, through plain SQL as the app's login under a partner's session (ADPARE, a live
participant of a case owned by IOM Italy):

- every column of the owner's ``return_case`` row but its id, reference and owner (0029's guard
  holds only those; row security lets a partner UPDATE the row, as its commands bump the
  case's version): ``status = 'closed', closed_at`` thirty years ago and ``legal_hold`` off, so
  the next ``retention run`` purged the person's data for good; ``is_minor`` turned off around
  a handoff, past 0038's rule that a child's reception items stay with a DGASPC;
- rows inserted with ids their sequence has not given yet (``last_value + 1`` to ``+ 300`` of
  ``checklist_item`` or ``case_event``: an ad-hoc item of its own, events of its case), so the
  owner's next case, or any command writing an event, failed on the primary key (events are
  append-only: the squatted rows stayed).

Here, on PostgreSQL, outside the system scope and for every role row security holds:

- ``return_case`` UPDATE by an organisation that does not own the case: the row as it was but
  its version (the next one, or the same), and its owner set to the organisation acting (a
  whole-case transfer accepted: 0029's guard and 0041's ``homeward_case_taken`` say whether
  that is allowed). What
  partner commands write on the case is ``homeward.records.locking.bump`` (the version alone,
  every command working an item, a handoff, a note, a plan ...) and
  ``tasks.transfers.accept_transfer`` (the owner); every other column is the owner's
  (``permissions.RULES``: ``FIRE_TRIGGER``, ``LEGAL_HOLD``, ``DECIDE_CLOSURE`` ... relation
  ``OWNER``) or the system's (a purge);
- INSERT into a table whose id a sequence gives (``ID_TABLES``): the id at most the sequence's
  ``last_value`` (the default ``nextval`` runs before the trigger; ``homeward.base.bulk.new_ids``
  and ``homeward.records.audit`` draw theirs with ``nextval`` first). Every login of the app
  has SELECT and USAGE on every sequence (0005), as ``pg_sequence_last_value`` needs.

Cost: the case's guard, once a case UPDATE (the owner passes on one comparison); the id's guard,
one ``pg_sequence_last_value`` a row (the sequence named by the trigger's argument), before the
scope is asked (only a refused row asks it). Measured as the app's login (PostgreSQL 15, the
backend's CPU time, the guard enabled and disabled in alternate runs, medians of 7; load 5 on 2
cores): +2 us a row inserted (1,000 ``case_event`` or ``checklist_item`` rows a statement, of
28 and 38 us); +11 us a case's version bump by its owner, +17 us by a partner (of 64 and 142
us). SQLite: nothing.
"""

from collections.abc import Sequence

from alembic import op

from homeward.base.migrations.earlier import earlier

revision: str = "0042"
down_revision: str | Sequence[str] | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_0038 = "0038_partner_handoffs_and_items_the_app_cannot_bend.py"
_before = earlier(_0038)
PINNED, EXEMPT, DENIED = _before.PINNED, _before.EXEMPT, _before.DENIED

# The tables whose ``id`` a sequence gives (``<table>_id_seq``) and the app's logins insert into:
# a new such table needs its line here (tests/protect/test_partner_writes_0042.py checks it), or
# in ``SINGLE_ROW``.
ID_TABLES = (
    "assessment",
    "beneficiary",
    "calendar_entry",
    "case_document",
    "case_event",
    "case_note",
    "case_participant",
    "case_person",
    "checklist_item",
    "consent",
    "enrolment",
    "handoff",
    "imported_case",
    "item_change",
    "login_request",
    "nrm_referral",
    "organisation",
    "outbox_message",
    "outbox_recipient",
    "plan_goal",
    "plan_service",
    "programme",
    "programme_target",
    "provider_service",
    "reintegration_plan",
    "reminder",
    "reminder_run",
    "request_key",
    "return_case",
    "staff_member",
    "visit",
)

# One row at id 1 (``homeward.crypt.binding``), its sequence never used: not guarded.
SINGLE_ROW = ("keyring_binding",)

# The owner acting passes at once; anyone else's UPDATE is the row as it was, but its next
# version and, for the organisation acting, its owner (a transfer it accepts: 0029, 0041). The
# version may also stay (an UPDATE that changes nothing: the control of
# tests/protect/test_case_owner.py; the owner taken by hand, as that file's addressee does).
CASE_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_case_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer := public.homeward_current_org();
    kept public.return_case;
BEGIN
    IF OLD.owner_org_id = org THEN
        RETURN NEW;
    END IF;
    kept := NEW;
    kept.version := OLD.version;
    IF NEW.owner_org_id = org THEN
        kept.owner_org_id := OLD.owner_org_id;
    END IF;
    IF NEW.version IN (OLD.version, OLD.version + 1) AND kept IS NOT DISTINCT FROM OLD THEN
        RETURN NEW;
    END IF;
    IF {EXEMPT} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'homeward: case % is changed by its owner only; a partner''s command '
        'changes only its version (and its owner, accepting its transfer)', OLD.case_ref {DENIED};
END $$
"""

# A row's id as its sequence gave it (the trigger's argument: the sequence), checked first; a
# refused row only asks the scope.
ID_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_id_drawn() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
BEGIN
    IF NEW.id <= pg_catalog.pg_sequence_last_value(TG_ARGV[0]::regclass) THEN
        RETURN NEW;
    END IF;
    IF {EXEMPT} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'homeward: a new % row takes the id its sequence gives (%), not % (an id '
        'not given yet)', TG_TABLE_NAME, TG_ARGV[0], NEW.id {DENIED};
END $$
"""

FUNCTIONS = ("homeward_case_kept()", "homeward_id_drawn()")


def _triggers() -> str:
    lines = [
        "CREATE TRIGGER homeward_case_kept BEFORE UPDATE ON return_case "
        "FOR EACH ROW EXECUTE FUNCTION homeward_case_kept();"
    ]
    lines += [
        f"CREATE TRIGGER homeward_id_drawn BEFORE INSERT ON {table} FOR EACH ROW "
        f"EXECUTE FUNCTION homeward_id_drawn('public.{table}_id_seq');"
        for table in ID_TABLES
    ]
    return "\n".join(lines)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in (CASE_GUARD, ID_GUARD):
        op.execute(function)
    for name in FUNCTIONS:  # 0025: a trigger calls them, no login does
        op.execute(f"REVOKE EXECUTE ON FUNCTION {name} FROM PUBLIC")
    op.execute(_triggers())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS homeward_case_kept ON return_case")
    for table in ID_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS homeward_id_drawn ON {table}")
    for name in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {name}")
