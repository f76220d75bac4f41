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
outside the system scope (``homeward_is_system()``: the scheduler's and the operator's logins)
and for every role row security holds (not a superuser's nor a BYPASSRLS role's):

- ``return_case``: ``id`` and ``case_ref`` never change; ``owner_org_id`` changes only to the
  organisation acting, and only while a transfer of the case (a ``handoff`` with no item) from
  the old owner to it is proposed, or was accepted in this very transaction (``accept_transfer``
  writes the answer and the new owner in one flush, in either order). That is the one change of
  owner the app makes (``tasks.transfers.accept_transfer``, by the addressee);
- ``handoff``: a transfer (no item) is inserted only by the case's owner, from itself; an
  item's handoff only by the item's organisation or the case's owner, from the item's
  organisation; both proposed. Its case, item, sender and addressee never change; it is
  answered once (``proposed`` to anything, ``accepted`` to ``revoked`` when sharing is
  withdrawn), accepted or rejected only by its addressee. So the proposed transfer the first
  trigger asks for was the owner's own offer to the organisation now taking the case.

The same pattern held on the rows that say who takes part and who owns the work (a partner
could name a third organisation a live participant, or give it the owner's items, and so show
it the case without the person's consent; or take the owner's items itself):

- ``case_participant``: written (inserted, changed, deleted) only by the case's owner: starting
  the case, a partner joining or leaving with its sharing consent (``tasks.participation``);
- ``checklist_item``: a new item is the acting organisation's own, or placed by the case's
  owner; an item's organisation (or case) changes only by the case's owner (a partner joining
  takes the items waiting for it, ``participation._move_items``) or to the addressee of the
  item's handoff, proposed or accepted in this transaction (``tasks.handoffs.accept``).

No function is SECURITY DEFINER: each reads the rows as the caller, under its policies. A
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
# Whom row security does not hold either (a superuser, a BYPASSRLS role: the operator at the
# console, the tests' tamperer): a guard that held them would guard nothing.
EXEMPT = (
    "(SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r "
    "WHERE r.rolname = current_user)"
)

CASE_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_case_keeps_owner() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
BEGIN
    IF public.homeward_is_system() OR {EXEMPT} THEN
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

HANDOFF_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_handoff_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer;
BEGIN
    IF public.homeward_is_system() OR {EXEMPT} THEN
        RETURN NEW;
    END IF;
    org := public.homeward_current_org();
    IF TG_OP = 'INSERT' THEN
        IF coalesce(NEW.status = 'proposed' AND CASE WHEN NEW.item_id IS NULL THEN
                NEW.from_org_id = org AND EXISTS (SELECT FROM public.return_case c
                    WHERE c.id = NEW.case_id AND (c.owner_org_id = org) IS TRUE)
            ELSE EXISTS (SELECT FROM public.checklist_item i
                    JOIN public.return_case c ON c.id = i.case_id
                    WHERE i.id = NEW.item_id AND i.case_id = NEW.case_id
                    AND i.owner_org_id = NEW.from_org_id
                    AND org IN (i.owner_org_id, c.owner_org_id)) END, false) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'homeward: a handoff is proposed by the case''s owner, from itself, '
            'or of an item by its organisation or the case''s owner, from the item''s '
            'organisation' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.case_id, NEW.item_id, NEW.from_org_id, NEW.to_org_id)
       IS DISTINCT FROM (OLD.case_id, OLD.item_id, OLD.from_org_id, OLD.to_org_id) THEN
        RAISE EXCEPTION 'homeward: a handoff''s case, item, sender and addressee never change'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT coalesce(
        (OLD.status = 'proposed' AND NEW.status = 'revoked')
        OR (OLD.status = 'accepted' AND NEW.status = 'revoked')
        OR (OLD.status = 'proposed' AND NEW.status IN ('accepted', 'rejected')
            AND OLD.to_org_id = org), false) THEN
        RAISE EXCEPTION 'homeward: a handoff is answered once, by the organisation it was '
            'offered to' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

# The organisation acting owns the case (0027's one lookup by primary key).
OWNS = (
    "coalesce(EXISTS (SELECT FROM public.return_case c WHERE c.id = {cid} "
    "AND (c.owner_org_id = public.homeward_current_org()) IS TRUE), false)"
)

PARTICIPANT_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_participant_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
BEGIN
    IF public.homeward_is_system() OR {EXEMPT} THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF (TG_OP <> 'INSERT' AND NOT {OWNS.format(cid="OLD.case_id")})
       OR (TG_OP <> 'DELETE' AND NOT {OWNS.format(cid="NEW.case_id")}) THEN
        RAISE EXCEPTION 'homeward: only a case''s owner names the organisations that take '
            'part in it' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

ITEM_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_item_keeps_owner() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer;
BEGIN
    org := public.homeward_current_org();
    IF TG_OP = 'INSERT' AND NEW.owner_org_id = org THEN
        RETURN NEW;  -- its own item (most rows: no lookup)
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.case_id, NEW.owner_org_id)
       IS NOT DISTINCT FROM (OLD.case_id, OLD.owner_org_id) THEN
        RETURN NEW;
    END IF;
    IF public.homeward_is_system() OR {EXEMPT} THEN
        RETURN NEW;
    END IF;
    IF (TG_OP = 'INSERT' OR NEW.case_id = OLD.case_id) AND {OWNS.format(cid="NEW.case_id")} THEN
        RETURN NEW;  -- the case's owner places its items
    END IF;
    IF TG_OP = 'UPDATE' AND coalesce(NEW.case_id = OLD.case_id AND NEW.owner_org_id = org
        AND EXISTS (SELECT FROM public.handoff h WHERE h.item_id = OLD.id
                    AND h.from_org_id = OLD.owner_org_id AND h.to_org_id = org
                    AND (h.status = 'proposed' OR (h.status = 'accepted'
                         AND h.xmin = pg_current_xact_id()::xid))), false) THEN
        RETURN NEW;  -- the addressee of the item's handoff takes it
    END IF;
    RAISE EXCEPTION 'homeward: an item goes to another organisation only by its case''s owner '
        'or by a handoff its addressee accepts' USING ERRCODE = 'insufficient_privilege';
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

FUNCTIONS = (
    "homeward_case_keeps_owner()",
    "homeward_handoff_kept()",
    "homeward_participant_kept()",
    "homeward_item_keeps_owner()",
)

TRIGGERS = """
CREATE TRIGGER homeward_case_keeps_owner BEFORE UPDATE OF id, case_ref, owner_org_id
    ON return_case FOR EACH ROW EXECUTE FUNCTION homeward_case_keeps_owner();
CREATE TRIGGER homeward_handoff_kept BEFORE INSERT OR UPDATE ON handoff
    FOR EACH ROW EXECUTE FUNCTION homeward_handoff_kept();
CREATE TRIGGER homeward_participant_kept BEFORE INSERT OR UPDATE OR DELETE ON case_participant
    FOR EACH ROW EXECUTE FUNCTION homeward_participant_kept();
CREATE TRIGGER homeward_item_keeps_owner BEFORE INSERT OR UPDATE OF case_id, owner_org_id
    ON checklist_item FOR EACH ROW EXECUTE FUNCTION homeward_item_keeps_owner();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CASE_GUARD)
    op.execute(HANDOFF_GUARD)
    op.execute(PARTICIPANT_GUARD)
    op.execute(ITEM_GUARD)
    for function in FUNCTIONS:  # a trigger calls it; no one else needs to (0025)
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
    op.execute(TRIGGERS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS homeward_item_keeps_owner ON checklist_item")
    op.execute("DROP TRIGGER IF EXISTS homeward_participant_kept ON case_participant")
    op.execute("DROP TRIGGER IF EXISTS homeward_handoff_kept ON handoff")
    op.execute("DROP TRIGGER IF EXISTS homeward_case_keeps_owner ON return_case")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
