"""a row's seal is written only with its row, in the same transaction, and deleted only by the
system; a case is taken by its transfer's addressee only with that transfer accepted; a
partner's own item keeps its escalation, start and completions as its commands leave them
(review of 0038)

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-07 14:00:00

0038 guarded the deletion of ``row_seal`` rows only. Through plain SQL as the app's login under
its own session, a partner (ADPARE, a live participant) could still:

- UPDATE every seal of a case it sees (its tamper evidence: the MACs zeroed), and INSERT seals
  for rows that do not exist yet: the next ids of ``case_event`` and ``checklist_item``, so the
  next case anyone opened failed at its commit (``row_seal_pkey``): a denial of service for
  every organisation, kept until an administrator deletes the seals;
- as the addressee of a pending transfer of the whole case (a handoff without item), make
  itself the case's owner (0029's guard lets it while the transfer is proposed, as
  ``handoffs.accept_transfer`` writes the case first), then reject the transfer or leave it
  unanswered, and keep the case;
- on its own item: push ``escalated_at`` ahead (the reminder sweep then stays silent; its
  commands only clear it), move the start of a catalog item (only an ad-hoc appointment has
  one that moves), rewrite another staff member's completion (status, outcome, note, time)
  keeping that member's name, mark an item done by no one, or reopen an item keeping its
  outcome and completion.

Here, on PostgreSQL, outside the system scope and for every role row security holds:

- ``row_seal`` INSERT: a seal of a sealed table (``seals.SEALED``) at version 1, for a row of
  that case written by this transaction (``xmin``: ``seals._reseal`` seals a row at the commit
  of the transaction that wrote it); UPDATE: the same table, row and case, the next version,
  the row written by this transaction; DELETE: the system's only (a purge; no command deletes a
  sealed row outside the system scope);
- ``return_case``: a case taken by the organisation acting (not the system) is committed only
  with its transfer (a handoff without item) from the old owner to it accepted in the same
  transaction (a deferred constraint trigger, as 0038's ``homeward_item_taken``);
- ``checklist_item`` UPDATE by its organisation, not the case's owner: ``escalated_at`` only
  cleared; ``starts_at`` changed on an ad-hoc item only; a change of a done or skipped item's
  status, outcome, completion time or note is signed by the staff member acting
  (``completed_by_id``); a done item names who did it; an item reopened has no outcome nor
  completion.

Cost: a seal of the right shape is checked first, before the scope is asked: its row read by
primary key alone (one static statement a sealed table, chosen by the seal's ``tbl``: the
plans are kept), through ``homeward_seal_row_written``, a definer function past row security,
which answers true only for a row the caller's own transaction wrote (so it tells no one
anything about rows of other cases). Measured as the app's login (PostgreSQL 15, the backend's
CPU time, 1,000 seals of ``case_event`` rows a statement, medians of 7 runs; load 6-8 on 2
cores), over no guard: +6 us a seal inserted and +6 us one renewed (the owner's session), +6
and +6 us (a partner's); the guard as first written (each table's policies on its lookup, the
scope asked first) cost +26 / +26 us (owner) and +32 / +33 us (partner). A case taken, one
handoff lookup at commit; an item's UPDATE compares its old and new row only. SQLite: nothing.
"""

from collections.abc import Sequence

from alembic import op

from homeward.base.migrations.earlier import earlier

revision: str = "0041"
down_revision: str | Sequence[str] | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_0038 = "0038_partner_handoffs_and_items_the_app_cannot_bend.py"
_before = earlier(_0038)
PINNED, EXEMPT, DENIED = _before.PINNED, _before.EXEMPT, _before.DENIED
CURRENT_STAFF = _before.CURRENT_STAFF

# ``homeward.records.seals.SEALED`` (table: its primary key, its case's column), as data: a new
# sealed table needs its line here (tests/protect/test_partner_writes_0041.py checks it).
SEALED = {
    "return_case": ("id", "id"),
    "case_participant": ("id", "case_id"),
    "beneficiary": ("id", "case_id"),
    "case_key": ("case_id", "case_id"),
    "case_event": ("id", "case_id"),
    "consent": ("id", "case_id"),
    "checklist_item": ("id", "case_id"),
    "handoff": ("id", "case_id"),
    "item_change": ("id", "case_id"),
    "reintegration_plan": ("id", "case_id"),
    "plan_goal": ("id", "case_id"),
    "plan_service": ("id", "case_id"),
    "visit": ("id", "case_id"),
    "case_note": ("id", "case_id"),
    "case_document": ("id", "case_id"),
    "case_person": ("id", "case_id"),
    "nrm_referral": ("id", "case_id"),
    "assessment": ("id", "case_id"),
}
THIS_TRANSACTION = "pg_current_xact_id()::xid"  # no command writes a sealed row in a savepoint

# Whether this transaction wrote the row ``sealed_id`` of ``sealed_tbl``, of case
# ``sealed_case``: one static statement a sealed table (its plan kept), only the seal's run; no
# dynamic SQL. It reads as ``homeward_definer`` (row security does not hold for it): the
# policies of the row's table, asked as the app's login (``homeward_case_visible`` and the
# scope, per row), were most of the guard's time. It tells nothing a caller does not
# know: only a row written by the caller's own transaction, which its policies let it write,
# answers true.
WRITTEN = "homeward_seal_row_written(text, integer, integer)"


def _written() -> str:
    """The row read by its primary key alone, its case and ``xmin`` compared on the row found:
    with the case in the WHERE, a kept (generic) plan could take the case's index and read
    every row of the case, this transaction's new ones too. ``enable_seqscan = off`` (its
    plans only): a plan made while a table is empty (a new database) would scan it, and keep
    scanning it as a long import fills it."""
    branches = "\n    ELS".join(
        f"IF sealed_tbl = '{name}' THEN\n        SELECT t.{case} = sealed_case AND "  # noqa: S608
        f"t.xmin = {THIS_TRANSACTION} INTO written FROM public.{name} t WHERE t.{pk} = sealed_id;"
        for name, (pk, case) in SEALED.items()
    )
    return f"{branches}\n    END IF;\n    RETURN coalesce(written, false);"


ROW_WRITTEN = f"""
CREATE OR REPLACE FUNCTION homeward_seal_row_written(sealed_tbl text, sealed_id integer,
                                                     sealed_case integer) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER {PINNED} SET enable_seqscan = off AS $$
DECLARE
    written boolean;
BEGIN
    {_written()}
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

# A seal of the right shape for a row this transaction wrote passes first, without asking the
# scope (EXEMPT: ``homeward_is_system()`` and a ``pg_roles`` lookup, two more statements a
# seal); anything else is the system's, or a superuser's or a BYPASSRLS role's, or refused.
SEAL_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_seal_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.version = 1
           AND public.homeward_seal_row_written(NEW.tbl, NEW.row_id, NEW.case_id) THEN
            RETURN NEW;
        END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        IF (NEW.tbl, NEW.row_id, NEW.case_id) = (OLD.tbl, OLD.row_id, OLD.case_id)
           AND NEW.version = OLD.version + 1
           AND public.homeward_seal_row_written(NEW.tbl, NEW.row_id, NEW.case_id) THEN
            RETURN NEW;
        END IF;
    END IF;
    IF {EXEMPT} THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'homeward: a row''s seal is deleted only by a purge (the system)' {DENIED};
    END IF;
    IF TG_OP = 'INSERT' AND NEW.version IS DISTINCT FROM 1 THEN
        RAISE EXCEPTION 'homeward: a row''s first seal is its version 1' {DENIED};
    END IF;
    IF TG_OP = 'UPDATE' AND ((NEW.tbl, NEW.row_id, NEW.case_id) IS DISTINCT FROM
            (OLD.tbl, OLD.row_id, OLD.case_id) OR NEW.version IS DISTINCT FROM OLD.version + 1) THEN
        RAISE EXCEPTION 'homeward: a seal is renewed for its own row and case, at the next '
            'version' {DENIED};
    END IF;
    RAISE EXCEPTION 'homeward: a row is sealed only by the transaction that wrote it (a '
        'sealed table''s row, of that case)' {DENIED};
END $$
"""

# At commit (deferred), for a case taken by the organisation acting outside the system scope
# (the trigger's WHEN, at the row): its transfer to it accepted in this transaction.
CASE_TAKEN = f"""
CREATE OR REPLACE FUNCTION homeward_case_taken() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
BEGIN
    IF EXISTS (SELECT FROM public.handoff h WHERE h.case_id = NEW.id AND h.item_id IS NULL
               AND h.from_org_id = OLD.owner_org_id AND h.to_org_id = NEW.owner_org_id
               AND h.status = 'accepted' AND h.xmin = {THIS_TRANSACTION}) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'homeward: case % is taken by the addressee of its transfer only with that '
        'transfer accepted (not rejected, revoked or left unanswered)', NEW.id {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

COMPLETED = "('done', 'skipped')"
BENT = (
    _before.BENT
    + " OR (NEW.escalated_at IS NOT NULL AND NEW.escalated_at IS DISTINCT FROM OLD.escalated_at)"
    " OR (NEW.starts_at IS DISTINCT FROM OLD.starts_at AND OLD.code NOT LIKE 'adhoc\\_%')"
    f" OR (NEW.status IN {COMPLETED} AND (NEW.status, NEW.outcome, NEW.completed_at, NEW.note)"
    " IS DISTINCT FROM (OLD.status, OLD.outcome, OLD.completed_at, OLD.note)"
    f" AND NEW.completed_by_id IS DISTINCT FROM {CURRENT_STAFF})"
    " OR (NEW.status = 'done' AND NEW.completed_by_id IS NULL)"
    " OR (NEW.status = 'open' AND OLD.status IS DISTINCT FROM 'open'"
    " AND NOT ROW(NEW.outcome, NEW.completed_by_id, NEW.completed_at) IS NULL)"
)
_OLD_BENT = f"({_before.BENT})"
assert _before.ITEM_GUARD.count(_OLD_BENT) == 1  # noqa: S101 (0038's body, as written)
ITEM_GUARD = _before.ITEM_GUARD.replace(_OLD_BENT, f"({BENT})")

# A handoff is proposed undecided; an answer (accepted, rejected) is signed by the staff member
# acting, never by no one (only a revocation may be: a sweep, a family member leaving).
_INSERT = "    IF TG_OP = 'INSERT' THEN\n"
_ANSWER = "        IF OLD.status = 'proposed' AND NEW.status IN ('accepted', 'rejected') THEN\n"
assert _before.HANDOFF_GUARD.count(_INSERT) == _before.HANDOFF_GUARD.count(_ANSWER) == 1  # noqa: S101
HANDOFF_GUARD = _before.HANDOFF_GUARD.replace(
    _INSERT,
    _INSERT + "        IF NOT ROW(NEW.decided_by_id, NEW.decided_at) IS NULL THEN\n"
    "            RAISE EXCEPTION 'homeward: a handoff is proposed unanswered' "
    + DENIED
    + ";\n        END IF;\n",
).replace(
    _ANSWER,
    _ANSWER + "            IF NOT coalesce(NEW.decided_by_id = staff, false) THEN\n"
    "                RAISE EXCEPTION 'homeward: a handoff is accepted or rejected in the name of "
    "the staff member acting' " + DENIED + ";\n            END IF;\n",
)
# A consent is recorded given: its withdrawal is a later UPDATE (0038's guard), signed.
_RECORDED = "(TG_OP = 'INSERT' OR ("
assert _before.CONSENT_GUARD.count(_RECORDED) == 1  # noqa: S101
CONSENT_GUARD = _before.CONSENT_GUARD.replace(
    _RECORDED,
    "((TG_OP = 'INSERT' AND ROW(NEW.withdrawn_on, NEW.withdrawn_by_id) IS NULL) OR (",
)

NEW_FUNCTIONS = ("homeward_case_taken()", WRITTEN)
TRIGGERS = """
DROP TRIGGER homeward_seal_kept ON row_seal;
CREATE TRIGGER homeward_seal_kept BEFORE INSERT OR UPDATE OR DELETE ON row_seal
    FOR EACH ROW EXECUTE FUNCTION homeward_seal_kept();
CREATE CONSTRAINT TRIGGER homeward_case_taken AFTER UPDATE OF owner_org_id ON return_case
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.owner_org_id IS DISTINCT FROM NEW.owner_org_id
          AND NEW.owner_org_id = homeward_current_org() AND NOT homeward_is_system())
    EXECUTE FUNCTION homeward_case_taken();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(ROW_WRITTEN)  # before the guard that calls it
    op.execute(f"ALTER FUNCTION {WRITTEN} OWNER TO homeward_definer")  # BYPASSRLS (0005)
    for function in (SEAL_GUARD, ITEM_GUARD, HANDOFF_GUARD, CONSENT_GUARD, CASE_TAKEN):
        op.execute(function)  # CREATE OR REPLACE keeps the owner and the grants
    for name in NEW_FUNCTIONS:  # 0025: no one else needs them; a trigger calls the first
        op.execute(f"REVOKE EXECUTE ON FUNCTION {name} FROM PUBLIC")
    # the seal's guard runs as the login writing the seal: every app and system login
    op.execute(f"GRANT EXECUTE ON FUNCTION {WRITTEN} TO homeward_app")
    op.execute(TRIGGERS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS homeward_case_taken ON return_case")
    op.execute(_before.SEAL_GUARD)
    for function in (_before.ITEM_GUARD, _before.HANDOFF_GUARD, _before.CONSENT_GUARD):
        op.execute(function)
    op.execute("DROP TRIGGER homeward_seal_kept ON row_seal")
    op.execute(
        "CREATE TRIGGER homeward_seal_kept BEFORE DELETE ON row_seal "
        "FOR EACH ROW EXECUTE FUNCTION homeward_seal_kept()"
    )
    for name in NEW_FUNCTIONS:  # once no guard calls them
        op.execute(f"DROP FUNCTION IF EXISTS {name}")
