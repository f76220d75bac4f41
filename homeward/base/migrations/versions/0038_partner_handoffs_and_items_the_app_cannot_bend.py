"""a partner proposes a handoff only as ``tasks.handoffs.propose`` would, changes of its own
item only what its commands change, and keeps no item it took without accepting its handoff;
an answer, a completion and a withdrawal are signed by the staff member acting; a withdrawal
is never undone; a seal is deleted only by the system or the case's owner; a partner adds
only ad-hoc items (review of 0035)

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 12:00:00

0035's guards said who writes a handoff, an item, a consent; not what. Through plain SQL as the
app's login under its own session, a partner (ADPARE, a live participant) could still:

- propose a handoff of its own item to ANY organisation (0035's INSERT branch asked only that
  the sender owns the item): the addressee then saw the case (``homeward_case_visible``: the
  receiver of a live handoff), its items and events, and could accept and take the item; or
  offer an item done or cancelled, to itself, twice, or a child's reception item to an NGO;
- rewrite every column of its own item: its stage, code, blocking, creation, the person it is
  about, whom it waits for, un-cancel it, or complete it in another staff member's name;
- as an addressee, take the item (0029's guard lets it while the handoff is proposed, as
  ``handoffs.accept`` writes the item first), then reject or revoke the handoff, or leave it
  unanswered: the item stayed its own;
- sign a proposal or an answer with another staff member's id; delete ``row_seal`` rows (a
  case's tamper evidence); and the case's owner could undo a consent's withdrawal, or readdress
  a consent, by an UPDATE.

Here, on PostgreSQL, outside the system scope and for every role row security holds:

- ``handoff`` INSERT: proposed in the name of the staff member acting (``proposed_by_id``);
  an item's handoff proposed by a partner (not the case's owner) is what ``propose`` checks: the
  item open, to another organisation, the case's owner or one the person consents to sharing
  with (a ``sharing`` consent for it, not withdrawn: ``consent.has_sharing_consent``; a consent
  has no expiry), and a child's reception item (``transfers.ensure_item_stays_with_dgaspc``:
  ``DGASPC_ITEMS``, the catalog's ``owner_if_minor: dgaspc`` items of the reception stages) to a
  DGASPC only. At most one proposed handoff per item: ``uq_handoff_pending_item``, a partial
  unique index (``pending_handoff``: "at most one per item is pending"), on SQLite too;
- ``handoff`` UPDATE: an answer or revocation is signed by the staff member acting, or by no one
  (a sweep, a family member leaving: ``decided_by_id`` NULL);
- ``checklist_item`` UPDATE by its organisation (or the one taking it), not the case's owner:
  only ``ITEM_WORK`` changes (``mark_done``, ``mark_skipped``, ``assign``, ``reopen_item``, due
  dates, ``adhoc``'s title, moves and cancellation, ``handoffs.accept``): never its id, case,
  stage, code, title key, blocking, creation or person; ``partner_needed`` only cleared; a
  cancelled item stays cancelled; ``completed_by_id`` is the staff member acting, or cleared;
- ``checklist_item``: an item taken by the organisation acting (not the system) is committed
  only with its handoff to that organisation accepted in the same transaction, or the case
  owned by it (a deferred constraint trigger, queued by its ``WHEN`` at the row: at commit
  the scope may differ, the rows do not);
- ``consent`` UPDATE: a withdrawal only, once (``withdrawn_on`` from NULL), every other column
  kept, signed by the staff member acting;
- ``row_seal`` DELETE: by the system (a purge), or the case's owner (no partner deletes a
  sealed row: ``homeward.records.seals`` deletes the seal of a row deleted through Homeward);
- ``checklist_item`` INSERT of its own by a partner: an ad-hoc item as ``tasks.adhoc.add_item``
  makes it (open, not blocking, nothing completed); the catalog's items, a plan's services, a
  renewal are issued by the case's owner's commands (``FIRE_TRIGGER``, ``plans.approve``).

Cost: a partner's proposal reads its item and case (one join by primary keys), the consent
(``ix_consent_case_id``) and the addressee's organisation; the owner's proposal no more than
0035's. An item's own UPDATE compares its old and new row (no lookup; one for the case's owner
only if a fixed column changed; a completion reads the staff member acting); an item taken by
its addressee, one handoff lookup at commit; an item the case's owner adds for itself, one
lookup of the case (a partner's ad-hoc item: none). Measured per row in the report of this
change. SQLite: the index only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from homeward.base.migrations.earlier import earlier

revision: str = "0038"
down_revision: str | Sequence[str] | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_0035 = "0035_partner_writes_the_app_cannot_make.py"
PINNED = "SET search_path = pg_catalog, public, pg_temp"
EXEMPT = (  # as 0029: whom row security does not hold, or the system scope
    "public.homeward_is_system() OR (SELECT r.rolsuper OR r.rolbypassrls "
    "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)"
)
OWNS = (  # the organisation acting owns the case (0027's one lookup by primary key)
    "coalesce(EXISTS (SELECT FROM public.return_case c WHERE c.id = {cid} "
    "AND (c.owner_org_id = org) IS TRUE), false)"
)
DENIED = "USING ERRCODE = 'insufficient_privilege'"
# ``value`` is the staff member acting, when the scope names one (the app's login always does:
# ``homeward_act``); NULL allowed where a command writes no one (a sweep, ``actor=None``).
CURRENT_STAFF = "public.homeward_current_staff()"
SIGNED = "({value} IS NULL OR {value} = coalesce({staff}, {value}))"

# ``tasks.transfers.ensure_item_stays_with_dgaspc``, as data: on a child's case, an item in one
# of these stages whose code the catalog gives a DGASPC (``owner_if_minor: dgaspc``), by process
# version. A new catalog version needs its codes here (tests/protect/test_partner_handoffs.py).
MINOR_RECEPTION_STAGES = ("in_transit", "received", "reintegration")
DGASPC_ITEMS = {
    "v1": (
        "family_assessment",
        "first_counselling",
        "follow_up_1m",
        "follow_up_2w",
        "follow_up_3m",
        "follow_up_6m",
        "medical_care",
        "met_on_arrival",
        "reintegration_plan",
        "ro_basic_needs_met",
        "shelter_arranged",
    ),
}


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _childs_reception() -> str:
    """Whether ``item`` (the INSERT's lookup) is a child's reception item a DGASPC keeps."""
    kept = " OR ".join(
        f"(item.process_version = '{version}' AND item.code IN ({_sql_list(codes)}))"
        for version, codes in DGASPC_ITEMS.items()
    )
    return (
        f"coalesce(item.is_minor AND item.stage IN ({_sql_list(MINOR_RECEPTION_STAGES)}) "
        f"AND ({kept}), false)"
    )


HANDOFF_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_handoff_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer;
    staff integer;
    item record;
BEGIN
    IF {EXEMPT} THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'homeward: a handoff is never deleted; it is revoked' {DENIED};
    END IF;
    org := public.homeward_current_org();
    staff := public.homeward_current_staff();
    IF TG_OP = 'INSERT' THEN
        IF NOT {SIGNED.format(value="NEW.proposed_by_id", staff="staff")} THEN
            RAISE EXCEPTION 'homeward: a handoff is proposed in the name of the staff member '
                'acting' {DENIED};
        END IF;
        IF coalesce(NEW.status = 'proposed' AND NEW.item_id IS NULL AND NEW.from_org_id = org,
                    false) AND {OWNS.format(cid="NEW.case_id")} THEN
            RETURN NEW;  -- the case's owner offers the case (``propose_transfer``)
        END IF;
        SELECT i.status, i.stage, i.code, i.owner_org_id, c.owner_org_id AS case_owner,
               c.is_minor, c.process_version
        INTO item FROM public.checklist_item i JOIN public.return_case c ON c.id = i.case_id
        WHERE i.id = NEW.item_id AND i.case_id = NEW.case_id;
        IF NOT coalesce(NEW.status = 'proposed' AND item.owner_org_id = NEW.from_org_id
                        AND org IN (item.owner_org_id, item.case_owner), false) THEN
            RAISE EXCEPTION 'homeward: a handoff is proposed by the case''s owner, from itself, '
                'or of an item by its organisation or the case''s owner, from the item''s '
                'organisation' {DENIED};
        END IF;
        IF item.case_owner = org THEN
            RETURN NEW;  -- the case's owner: it may record the consents itself
        END IF;
        -- A partner's proposal: what ``tasks.handoffs.propose`` checks, else the addressee
        -- would see the case (``homeward_case_visible``) without the person's consent.
        IF item.status IS DISTINCT FROM 'open' OR NEW.to_org_id = item.owner_org_id THEN
            RAISE EXCEPTION 'homeward: only an open item is handed off, to another '
                'organisation' {DENIED};
        END IF;
        IF NEW.to_org_id IS DISTINCT FROM item.case_owner AND NOT EXISTS (
                SELECT FROM public.consent k WHERE k.case_id = NEW.case_id
                AND k.purpose = 'sharing' AND k.org_id = NEW.to_org_id
                AND k.withdrawn_on IS NULL) THEN
            RAISE EXCEPTION 'homeward: an item is handed off only to the case''s owner or an '
                'organisation the person consents to sharing with' {DENIED};
        END IF;
        IF {_childs_reception()} AND NOT EXISTS (SELECT FROM public.organisation o
                WHERE o.id = NEW.to_org_id AND o.kind = 'dgaspc') THEN
            RAISE EXCEPTION 'homeward: a child''s reception item is handed off to a DGASPC '
                'only' {DENIED};
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.case_id, NEW.item_id, NEW.from_org_id, NEW.to_org_id, NEW.stage,
        NEW.proposed_by_id, NEW.proposed_at)
       IS DISTINCT FROM (OLD.id, OLD.case_id, OLD.item_id, OLD.from_org_id, OLD.to_org_id,
        OLD.stage, OLD.proposed_by_id, OLD.proposed_at) THEN
        RAISE EXCEPTION 'homeward: a handoff''s case, item, sender, addressee, stage and '
            'proposal never change' {DENIED};
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NOT {SIGNED.format(value="NEW.decided_by_id", staff="staff")} THEN
            RAISE EXCEPTION 'homeward: a handoff is answered or revoked in the name of the '
                'staff member acting' {DENIED};
        END IF;
        IF OLD.status = 'proposed' AND NEW.status IN ('accepted', 'rejected') THEN
            IF coalesce(OLD.to_org_id = org, false) THEN
                RETURN NEW;
            END IF;
        ELSIF OLD.status = 'proposed' AND NEW.status = 'revoked' THEN
            IF {earlier(_0035).SENDER} THEN
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
           (OLD.decided_by_id, OLD.decided_at) AND {earlier(_0035).SENDER} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'homeward: a handoff changes only when it is answered or revoked (its '
        'sender may give a pending one its reason); an answer is never rewritten' {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

# What no command of an item's organisation changes (the case's owner's, or the catalog's).
ITEM_FIXED = ("id", "case_id", "stage", "code", "title_key", "blocking", "created_at", "person_id")
ITEM_WORK = (  # what they do change, for the reader (any column not fixed above)
    "status, outcome, completed_by_id, completed_at, note, assignee_id, due_at, starts_at, "
    "escalated_at, title; owner_org_id by a handoff (0029); partner_needed cleared"
)
BENT = (
    "("
    + ", ".join(f"NEW.{c}" for c in ITEM_FIXED)
    + ") IS DISTINCT FROM ("
    + ", ".join(f"OLD.{c}" for c in ITEM_FIXED)
    + ")"
    " OR (NEW.partner_needed IS NOT NULL AND NEW.partner_needed IS DISTINCT FROM"
    " OLD.partner_needed)"
    " OR (OLD.status = 'cancelled' AND NEW.status IS DISTINCT FROM OLD.status)"
    " OR (NEW.completed_by_id IS DISTINCT FROM OLD.completed_by_id AND NOT "
    + SIGNED.format(value="NEW.completed_by_id", staff=CURRENT_STAFF)
    + ")"
)

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
    -- Its own item: what its commands change (no lookup unless something else changed).
    IF TG_OP = 'UPDATE' AND ({BENT}) AND NOT {OWNS.format(cid="OLD.case_id")}
       AND NOT ({EXEMPT}) THEN
        RAISE EXCEPTION 'homeward: item %''s organisation changes its status, outcome, '
            'completion (in its own name), note, title, assignee and dates; the rest, and a '
            'cancelled item, are its case''s owner''s', OLD.id {DENIED};
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

# At commit (deferred), for an item taken by the organisation acting outside the system scope
# (the trigger's WHEN, at the row): its handoff to it accepted in this transaction, or the case
# its own. 0029's guard lets the addressee take the item while the handoff is only proposed
# (``handoffs.accept`` writes the item before the answer); a take then answered otherwise, or
# not at all, is refused here. The rows decide, not the scope (which may have changed).
ITEM_TAKEN = f"""
CREATE OR REPLACE FUNCTION homeward_item_taken() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
BEGIN
    IF EXISTS (SELECT FROM public.handoff h WHERE h.item_id = NEW.id
               AND h.from_org_id = OLD.owner_org_id AND h.to_org_id = NEW.owner_org_id
               AND h.status = 'accepted' AND h.xmin = pg_current_xact_id()::xid)
       OR EXISTS (SELECT FROM public.return_case c WHERE c.id = NEW.case_id
                  AND c.owner_org_id = NEW.owner_org_id) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'homeward: item % is taken by the addressee of its handoff only with that '
        'handoff accepted (not rejected, revoked or left unanswered)', NEW.id {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

CONSENT_KEPT = (
    "OLD.withdrawn_on IS NULL AND NEW.withdrawn_on IS NOT NULL AND "
    "(NEW.id, NEW.case_id, NEW.purpose, NEW.org_id, NEW.method, NEW.language, NEW.interpreter, "
    "NEW.given_on, NEW.recorded_by_id, NEW.recorded_at, NEW.representative) IS NOT DISTINCT "
    "FROM (OLD.id, OLD.case_id, OLD.purpose, OLD.org_id, OLD.method, OLD.language, "
    "OLD.interpreter, OLD.given_on, OLD.recorded_by_id, OLD.recorded_at, OLD.representative) "
    "AND NEW.withdrawn_by_id IS NOT NULL AND "
    + SIGNED.format(value="NEW.withdrawn_by_id", staff=CURRENT_STAFF)
)

CONSENT_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_consent_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer;
BEGIN
    IF TG_OP <> 'DELETE' THEN
        org := public.homeward_current_org();
        IF (TG_OP = 'INSERT' OR ({CONSENT_KEPT})) AND {OWNS.format(cid="NEW.case_id")} THEN
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
    IF TG_OP = 'UPDATE' AND {OWNS.format(cid="OLD.case_id")} THEN
        RAISE EXCEPTION 'homeward: a consent once recorded is only withdrawn, once, in the name '
            'of the staff member acting; a withdrawal is never undone' {DENIED};
    END IF;
    RAISE EXCEPTION 'homeward: only a case''s owner records or withdraws the person''s '
        'consents' {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

SEAL_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_seal_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer := public.homeward_current_org();
BEGIN
    IF {OWNS.format(cid="OLD.case_id")} OR {EXEMPT} THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'homeward: a row''s seal is deleted only by a purge (the system) or the '
        'case''s owner' {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

# A partner's own new item: as ``tasks.adhoc.add_item`` makes it (moving stages, issuing the
# catalog's items, a plan's services are the case owner's: ``FIRE_TRIGGER``, ``approve``). An
# item for another organisation is 0029's guard's to refuse. The shape is read first (no
# lookup); another own item asks whether the organisation owns the case (one lookup).
ADHOC_SHAPE = (
    "NEW.code LIKE 'adhoc\\_%' AND NOT NEW.blocking AND NEW.status = 'open' AND ROW(NEW.outcome, "
    "NEW.completed_by_id, NEW.completed_at, NEW.escalated_at, NEW.partner_needed, "
    "NEW.person_id, NEW.note) IS NULL"
)
ITEM_ADDED = f"""
CREATE OR REPLACE FUNCTION homeward_item_added() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer := public.homeward_current_org();
BEGIN
    IF NEW.owner_org_id IS DISTINCT FROM org OR coalesce({ADHOC_SHAPE}, false) THEN
        RETURN NEW;
    END IF;
    IF {OWNS.format(cid="NEW.case_id")} OR {EXEMPT} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'homeward: a partner adds only ad-hoc items of its own, open and not '
        'blocking; the case''s other items are its owner''s' {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

NEW_FUNCTIONS = ("homeward_item_taken()", "homeward_seal_kept()", "homeward_item_added()")
TRIGGERS = """
CREATE CONSTRAINT TRIGGER homeward_item_taken AFTER UPDATE OF owner_org_id ON checklist_item
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.owner_org_id IS DISTINCT FROM NEW.owner_org_id
          AND NEW.owner_org_id = homeward_current_org() AND NOT homeward_is_system())
    EXECUTE FUNCTION homeward_item_taken();
CREATE TRIGGER homeward_seal_kept BEFORE DELETE ON row_seal
    FOR EACH ROW EXECUTE FUNCTION homeward_seal_kept();
CREATE TRIGGER homeward_item_added BEFORE INSERT ON checklist_item
    FOR EACH ROW EXECUTE FUNCTION homeward_item_added();
"""
PENDING = "status = 'proposed'"


def upgrade() -> None:
    # ``tasks.handoffs.pending_handoff``: at most one per item (a transfer has no item: NULL)
    op.create_index(
        "uq_handoff_pending_item",
        "handoff",
        ["item_id"],
        unique=True,
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in (HANDOFF_GUARD, ITEM_GUARD, CONSENT_GUARD):
        op.execute(function)  # CREATE OR REPLACE keeps the owner and 0035's grants
    for function in (ITEM_TAKEN, SEAL_GUARD, ITEM_ADDED):
        op.execute(function)
    for name in NEW_FUNCTIONS:  # a trigger calls it; no one else needs to (0025)
        op.execute(f"REVOKE EXECUTE ON FUNCTION {name} FROM PUBLIC")
    op.execute(TRIGGERS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS homeward_seal_kept ON row_seal")
        op.execute("DROP TRIGGER IF EXISTS homeward_item_added ON checklist_item")
        op.execute("DROP TRIGGER IF EXISTS homeward_item_taken ON checklist_item")
        for name in NEW_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}")
        before = earlier(_0035)
        for function in (before.HANDOFF_GUARD, before.ITEM_GUARD, before.CONSENT_GUARD):
            op.execute(function)
    op.drop_index("uq_handoff_pending_item", table_name="handoff")
