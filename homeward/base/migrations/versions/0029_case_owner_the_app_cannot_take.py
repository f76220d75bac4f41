"""a case's owner, ref and id change only in the system scope or by an accepted transfer: a
partner can no longer make itself the owner (security review of 0015's return_case policy)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 07:10:00

0015's ``return_case`` policy lets any organisation that takes part in a case update its row
(USING ``homeward_case_touched``) and checks the new row (WITH CHECK ``owner_org_id = org OR
...``): ``UPDATE return_case SET owner_org_id = <its own id>`` passed, and from then on the
owner-only rules, and 0027's owner shortcut, took the partner for the owner.

Row security cannot compare a row's old and new values, so two triggers do, on PostgreSQL,
outside the system scope (``homeward_is_system()``: the scheduler's and the operator's logins):

- ``return_case``: ``id`` and ``case_ref`` never change; ``owner_org_id`` changes only to the
  organisation acting, and only while a transfer of the case (a ``handoff`` with no item) from
  the old owner to it is proposed, or was accepted in this very transaction (``accept_transfer``
  writes the answer and the new owner in one flush, in either order). That is the one change of
  owner the app makes (``tasks.transfers.accept_transfer``, by the addressee);
- ``handoff``, for transfers only (no item, before or after): a transfer is inserted only by
  the case's owner, from itself, proposed; its case, item, sender and addressee never change;
  its answer is given once (``proposed`` to anything, ``accepted`` to ``revoked`` when sharing
  is withdrawn), accepted or rejected only by its addressee. So the proposed transfer the first
  trigger asks for was the owner's own offer to the organisation now taking the case.

Neither function is SECURITY DEFINER: each reads the rows as the caller, under its policies. A
case the caller cannot see has no transfer it can see: refused. SQLite has no row security nor
app login: nothing to do.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | Sequence[str] | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PINNED = "SET search_path = pg_catalog, public, pg_temp"

CASE_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_case_keeps_owner() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
BEGIN
    IF public.homeward_is_system() THEN
        RETURN NEW;
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.case_ref IS DISTINCT FROM OLD.case_ref THEN
        RAISE EXCEPTION 'homeward: a case''s id and case_ref never change'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.owner_org_id IS DISTINCT FROM OLD.owner_org_id AND NOT coalesce(
        NEW.owner_org_id = public.homeward_current_org()
        AND EXISTS (SELECT FROM public.handoff h WHERE h.case_id = OLD.id AND h.item_id IS NULL
                    AND h.from_org_id = OLD.owner_org_id AND h.to_org_id = NEW.owner_org_id
                    AND (h.status = 'proposed' OR (h.status = 'accepted'
                         AND h.xmin = pg_current_xact_id()::xid))), false) THEN
        RAISE EXCEPTION 'homeward: case % changes owner only when the organisation it was '
            'transferred to accepts the transfer', OLD.case_ref
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$
"""

TRANSFER_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_transfer_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer;
BEGIN
    IF public.homeward_is_system() THEN
        RETURN NEW;
    END IF;
    IF NEW.item_id IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.item_id IS NOT NULL) THEN
        RETURN NEW;  -- an item's handoff: not a transfer of the case
    END IF;
    org := public.homeward_current_org();
    IF TG_OP = 'INSERT' THEN
        IF coalesce(NEW.status = 'proposed' AND NEW.from_org_id = org AND EXISTS (
            SELECT FROM public.return_case c WHERE c.id = NEW.case_id AND c.owner_org_id = org),
            false) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'homeward: only a case''s owner proposes its transfer, from itself'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.case_id, NEW.item_id, NEW.from_org_id, NEW.to_org_id)
       IS DISTINCT FROM (OLD.case_id, OLD.item_id, OLD.from_org_id, OLD.to_org_id) THEN
        RAISE EXCEPTION 'homeward: a transfer''s case, sender and addressee never change'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT coalesce(
        (OLD.status = 'proposed' AND NEW.status = 'revoked')
        OR (OLD.status = 'accepted' AND NEW.status = 'revoked')
        OR (OLD.status = 'proposed' AND NEW.status IN ('accepted', 'rejected')
            AND OLD.to_org_id = org), false) THEN
        RAISE EXCEPTION 'homeward: a transfer is answered once, by the organisation it was '
            'offered to' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

FUNCTIONS = ("homeward_case_keeps_owner()", "homeward_transfer_kept()")

TRIGGERS = """
CREATE TRIGGER homeward_case_keeps_owner BEFORE UPDATE OF id, case_ref, owner_org_id
    ON return_case FOR EACH ROW EXECUTE FUNCTION homeward_case_keeps_owner();
CREATE TRIGGER homeward_transfer_kept BEFORE INSERT OR UPDATE ON handoff
    FOR EACH ROW EXECUTE FUNCTION homeward_transfer_kept();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CASE_GUARD)
    op.execute(TRANSFER_GUARD)
    for function in FUNCTIONS:  # a trigger calls it; no one else needs to (0025)
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
    op.execute(TRIGGERS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS homeward_transfer_kept ON handoff")
    op.execute("DROP TRIGGER IF EXISTS homeward_case_keeps_owner ON return_case")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
