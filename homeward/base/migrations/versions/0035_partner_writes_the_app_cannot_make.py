"""a partner of a case writes only what Homeward's commands let it: its own items, its answer
to a handoff offered to it; handoffs, items and consents are never deleted by an app session
(the security review of 0029)

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 09:00:00

Row security says which rows of a case an organisation may touch, not what it may do to them:
a partner (a live participant, or the addressee of a handoff) could, through plain SQL under
its own session, revoke the owner's handoffs, rewrite their reason, stage or proposer, delete
them; complete, cancel, reschedule or assign the owner's items, give its own items to another
organisation's staff, delete items; record, withdraw, readdress or delete the person's
consents. And a no-op UPDATE of a handoff (``SET status = status``) made its row look written
by this transaction (``xmin``), which 0029's owner guard reads as "accepted just now": an
organisation a case was once transferred to and given back took it again.

As 0029, triggers on PostgreSQL, outside the system scope (``homeward_is_system()``) and for
every role row security holds; what each allows is what the commands do:

- ``handoff`` (0029's guard, widened): never deleted. Its case, item, sender, addressee, stage
  and proposal never change. A proposed one is accepted or rejected by its addressee
  (``tasks.handoffs``, ``tasks.transfers``), revoked by its sender, the item's organisation
  or the case's owner (an item done, skipped or cancelled: ``tasks.checklist``,
  ``tasks.moves``; a transfer when consent is withdrawn); an accepted one is revoked by the
  case's owner only (sharing withdrawn: ``tasks.consents``). Its reason and decision change
  only in the UPDATE that answers or revokes it, or, while proposed, its sender's reason (a
  proposal's reason is written right after its row, under the row's id). Any other UPDATE,
  a no-op included, is refused;
- ``checklist_item``: never deleted (an item is cancelled). An UPDATE is the item's
  organisation's (``RECORD_OWN_ITEM``, ``ASSIGN_OWN_ITEM``, ...), the case owner's
  (``WORK_ANY_ITEM``, stage moves, consent changes), or the one 0029 allows, to the
  organisation taking it by a handoff. An assignee is staff of the item's organisation
  (``tasks.checklist.assign``, ``tasks.adhoc.add_item``), on insert as on update;
- ``consent``: inserted and changed only by the case's owner (``CHANGE_CONSENT``), its case
  never changed; never deleted (a consent is withdrawn);
- ``beneficiary`` updated and ``case_key`` inserted only by the case's owner (or the system);
- ``case_key`` changed or deleted, ``beneficiary`` deleted, only by the system (a purge, a key
  rotation): a partner deleting or emptying a case's key crypto-shredded the case.

Cost: the item's organisation changing its own item, the addressee answering, the sender
revoking, an insert with no assignee (the trigger's ``WHEN``: no call): no lookup. The case's
owner on a partner's row, and every consent row: one lookup of ``return_case`` by primary key
(0027's). Nothing is SECURITY DEFINER: each reads as the caller. SQLite: nothing to do.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

from homeward.base.migrations.earlier import earlier

revision: str = "0035"
down_revision: str | Sequence[str] | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PINNED = "SET search_path = pg_catalog, public, pg_temp"
EXEMPT = (  # as 0029: whom row security does not hold, or the system scope
    "public.homeward_is_system() OR (SELECT r.rolsuper OR r.rolbypassrls "
    "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)"
)
# The organisation acting owns the case (0027's one lookup by primary key).
OWNS = (
    "coalesce(EXISTS (SELECT FROM public.return_case c WHERE c.id = {cid} "
    "AND (c.owner_org_id = org) IS TRUE), false)"
)
DENIED = "USING ERRCODE = 'insufficient_privilege'"
# The handoff's sender, the item's organisation, or the case's owner: who may revoke it.
SENDER = (
    "(coalesce(OLD.from_org_id = org, false) OR "
    + OWNS.format(cid="OLD.case_id")
    + " OR coalesce(EXISTS (SELECT FROM public.checklist_item i WHERE i.id = OLD.item_id "
    "AND (i.owner_org_id = org) IS TRUE), false))"
)

HANDOFF_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_handoff_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer;
BEGIN
    IF {EXEMPT} THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'homeward: a handoff is never deleted; it is revoked' {DENIED};
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
            'organisation' {DENIED};
    END IF;
    IF (NEW.id, NEW.case_id, NEW.item_id, NEW.from_org_id, NEW.to_org_id, NEW.stage,
        NEW.proposed_by_id, NEW.proposed_at)
       IS DISTINCT FROM (OLD.id, OLD.case_id, OLD.item_id, OLD.from_org_id, OLD.to_org_id,
        OLD.stage, OLD.proposed_by_id, OLD.proposed_at) THEN
        RAISE EXCEPTION 'homeward: a handoff''s case, item, sender, addressee, stage and '
            'proposal never change' {DENIED};
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF OLD.status = 'proposed' AND NEW.status IN ('accepted', 'rejected') THEN
            IF coalesce(OLD.to_org_id = org, false) THEN
                RETURN NEW;
            END IF;
        ELSIF OLD.status = 'proposed' AND NEW.status = 'revoked' THEN
            IF {SENDER} THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'homeward: a handoff is revoked by the organisation that proposed '
                'it, the item''s organisation or the case''s owner' {DENIED};
        ELSIF OLD.status = 'accepted' AND NEW.status = 'revoked' THEN
            IF {OWNS.format(cid="OLD.case_id")} THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'homeward: an accepted handoff is revoked by the case''s owner only '
                '(sharing withdrawn)' {DENIED};
        END IF;
        RAISE EXCEPTION 'homeward: a handoff is answered once, by the organisation it was '
            'offered to' {DENIED};
    END IF;
    -- Its status unchanged: only the sender's reason on its pending proposal.
    IF OLD.status = 'proposed' AND NEW.reason IS DISTINCT FROM OLD.reason
       AND (NEW.decided_by_id, NEW.decided_at) IS NOT DISTINCT FROM
           (OLD.decided_by_id, OLD.decided_at) AND {SENDER} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'homeward: a handoff changes only when it is answered or revoked (its '
        'sender may give a pending one its reason); an answer is never rewritten' {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

ITEM_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_item_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF {EXEMPT} THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'homeward: a checklist item is never deleted; it is cancelled' {DENIED};
    END IF;
    org := public.homeward_current_org();
    -- Not its item (nor one it takes by a handoff, which 0029's guard checks): the case's
    -- owner's to change.
    IF TG_OP = 'UPDATE' AND NOT coalesce(org IN (OLD.owner_org_id, NEW.owner_org_id), false)
       AND NOT {OWNS.format(cid="OLD.case_id")} THEN
        IF {EXEMPT} THEN
            RETURN NEW;
        ELSE
            RAISE EXCEPTION 'homeward: item % is changed only by its organisation or its case''s '
                'owner', OLD.id {DENIED};
        END IF;
    END IF;
    IF NEW.assignee_id IS NOT NULL AND (TG_OP = 'INSERT'
            OR (NEW.assignee_id, NEW.owner_org_id) IS DISTINCT FROM
               (OLD.assignee_id, OLD.owner_org_id))
       AND NOT EXISTS (SELECT FROM public.staff_member m WHERE m.id = NEW.assignee_id
                       AND m.org_id = NEW.owner_org_id) AND NOT ({EXEMPT}) THEN
        RAISE EXCEPTION 'homeward: an item is assigned only to staff of the item''s '
            'organisation' {DENIED};
    END IF;
    RETURN NEW;
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

CONSENT_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_consent_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer;
BEGIN
    IF TG_OP <> 'DELETE' THEN
        org := public.homeward_current_org();
        IF (TG_OP = 'INSERT' OR NEW.case_id = OLD.case_id)
           AND {OWNS.format(cid="NEW.case_id")} THEN
            RETURN NEW;
        END IF;
    END IF;
    IF {EXEMPT} THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'homeward: a consent is never deleted; the case''s owner records its '
            'withdrawal' {DENIED};
    END IF;
    RAISE EXCEPTION 'homeward: only a case''s owner records or withdraws the person''s '
        'consents' {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

# A case's key and its person's record: an app session (a partner) deleting the key, or
# emptying it, crypto-shredded the case; deleting ``beneficiary`` erased the person. Only a
# purge (``homeward.protection.retention``) and a key rotation change them: the system's.
SYSTEM_ONLY = f"""
CREATE OR REPLACE FUNCTION homeward_system_changes() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
BEGIN
    IF {EXEMPT} THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'homeward: % rows are changed or deleted only by a purge or a key rotation '
        '(the system login)', TG_TABLE_NAME {DENIED};
END $$
"""

# Writing the person's record (``vault.store_person``: ENTER_PERSON, the owner's alone) and a
# case's first key (``ensure_case_key``, the import): the case's owner's, or the system's. A
# partner emptied the record by an UPDATE (as erasing it), or gave a case without a key one of
# its own making (NULL: the case read as purged; a bogus one: the owner could store nothing),
# which only the system could then undo (review).
OWNER_ONLY = f"""
CREATE OR REPLACE FUNCTION homeward_owner_writes() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer := public.homeward_current_org();
BEGIN
    IF (TG_OP = 'INSERT' OR NEW.case_id = OLD.case_id) AND {OWNS.format(cid="NEW.case_id")} THEN
        RETURN NEW;
    END IF;
    IF {EXEMPT} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'homeward: % rows are written only by the case''s owner', TG_TABLE_NAME
        {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

FUNCTIONS = (
    "homeward_item_kept()",
    "homeward_consent_kept()",
    "homeward_system_changes()",
    "homeward_owner_writes()",
)

TRIGGERS = """
DROP TRIGGER homeward_handoff_kept ON handoff;
CREATE TRIGGER homeward_handoff_kept BEFORE INSERT OR UPDATE OR DELETE ON handoff
    FOR EACH ROW EXECUTE FUNCTION homeward_handoff_kept();
CREATE TRIGGER homeward_item_kept BEFORE UPDATE OR DELETE ON checklist_item
    FOR EACH ROW EXECUTE FUNCTION homeward_item_kept();
CREATE TRIGGER homeward_item_assigned BEFORE INSERT ON checklist_item
    FOR EACH ROW WHEN (NEW.assignee_id IS NOT NULL) EXECUTE FUNCTION homeward_item_kept();
CREATE TRIGGER homeward_consent_kept BEFORE INSERT OR UPDATE OR DELETE ON consent
    FOR EACH ROW EXECUTE FUNCTION homeward_consent_kept();
CREATE TRIGGER homeward_system_changes BEFORE UPDATE OR DELETE ON case_key
    FOR EACH ROW EXECUTE FUNCTION homeward_system_changes();
CREATE TRIGGER homeward_system_changes BEFORE DELETE ON beneficiary
    FOR EACH ROW EXECUTE FUNCTION homeward_system_changes();
CREATE TRIGGER homeward_owner_writes BEFORE UPDATE ON beneficiary
    FOR EACH ROW EXECUTE FUNCTION homeward_owner_writes();
CREATE TRIGGER homeward_owner_writes BEFORE INSERT ON case_key
    FOR EACH ROW EXECUTE FUNCTION homeward_owner_writes();
"""



def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in (HANDOFF_GUARD, ITEM_GUARD, CONSENT_GUARD, SYSTEM_ONLY, OWNER_ONLY):
        op.execute(function)  # CREATE OR REPLACE keeps 0029's owner and grants
    for function in FUNCTIONS:  # a trigger calls it; no one else needs to (0025)
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
    op.execute(TRIGGERS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS homeward_owner_writes ON case_key")
    op.execute("DROP TRIGGER IF EXISTS homeward_owner_writes ON beneficiary")
    op.execute("DROP TRIGGER IF EXISTS homeward_system_changes ON beneficiary")
    op.execute("DROP TRIGGER IF EXISTS homeward_system_changes ON case_key")
    op.execute("DROP TRIGGER IF EXISTS homeward_consent_kept ON consent")
    op.execute("DROP TRIGGER IF EXISTS homeward_item_assigned ON checklist_item")
    op.execute("DROP TRIGGER IF EXISTS homeward_item_kept ON checklist_item")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.execute("DROP TRIGGER IF EXISTS homeward_handoff_kept ON handoff")
    op.execute(earlier("0029_case_owner_the_app_cannot_take.py").HANDOFF_GUARD)
    op.execute(
        "CREATE TRIGGER homeward_handoff_kept BEFORE INSERT OR UPDATE ON handoff "
        "FOR EACH ROW EXECUTE FUNCTION homeward_handoff_kept()"
    )
