"""row security on the outbox and the calendar entries: an organisation reads its own mail

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 02:45:00

``outbox_message``, ``outbox_recipient`` and ``calendar_entry`` had no policy: the app's login,
acting for one organisation, read every organisation's mail (case_refs, item titles, stages,
staff addresses) and could rewrite or redirect it. From here, on PostgreSQL:

- an outbox message is the system login's (the sender, the sweeps, the operator, whether or
  not its transaction chose a scope), its readers' organisation's (``org_id``), or, when its
  ``context`` names a case (``case_ref``), of whoever may see that case
  (``homeward_case_ref_visible``): the organisation whose change queued a notice to a
  partner, or whose consent withdrawal drops the partner's mail about the case, still does it
  in its own transaction (``homeward.base.hooks``). A message written in the transaction
  itself is read back (``INSERT ... RETURNING``, its recipients' rows). A digest or an
  operators' alert (no ``case_ref``, or ``org_id`` another's) is its organisation's or the
  system's alone. A sign-in code (``login_code``), queued and sent by the web workspace
  before anyone is signed in, is readable with its code while unsent (a second, as it is
  sent at once; longer only while the mail server is down); once sent or expired its code
  is gone from it (``notifications.sender``), and only the rest can be read;
- an outbox recipient follows its message (the message's own policy decides);
- a calendar entry follows its checklist item (``checklist_item``'s policy decides), and the
  system login reads them all.

So under the app's login (the web workspace, a staff member's command) ``mail stats`` counts,
and ``mail retry`` and ``mail redirect`` find, the acting organisation's mail only (a platform
administrator fixing another organisation's mail does it at the server, under the system
login); under the system login they see it all, as before. An app transaction that chose no
organisation reads only the sign-in emails: their codes while unsent. SQLite has no row security: the app's checks apply.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SAFE = "SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"

# Whether the acting organisation may see the case with this case_ref, or answered a handoff
# of it in this transaction (the answer's notice to the proposer is written there), as
# ``homeward_case_touched`` says; false for none.
REF_VISIBLE = f"""
CREATE FUNCTION homeward_case_ref_visible(ref text) RETURNS boolean
LANGUAGE plpgsql STABLE {SAFE} AS $$
DECLARE
    cid integer;
BEGIN
    IF ref IS NULL THEN
        RETURN false;
    END IF;
    IF NOT public.homeward_is_system() AND public.homeward_current_org() IS NULL THEN
        RETURN false;  -- no organisation chosen (a sign-in): no case's mail, and no raise
    END IF;
    SELECT c.id INTO cid FROM public.return_case c WHERE c.case_ref = ref;
    RETURN cid IS NOT NULL AND public.homeward_case_touched(cid);
END $$
"""

# The system login (the sender, the sweeps, the operator; ``homeward db roles``) reads all the
# mail, scoped or not, as 0015 trusts it to act for the system: checked on ``session_user``,
# which SET ROLE cannot change. Scalar subqueries: computed once per statement.
SYSTEM = (
    "(SELECT pg_has_role(session_user, 'homeward_system_scope', 'MEMBER')) "
    "OR (SELECT homeward_is_system())"
)
ORG = "(SELECT homeward_current_org())"
ABOUT = "homeward_case_ref_visible(context ->> 'case_ref')"
# The web workspace (the app's login, no organisation yet) queues a sign-in code and sends it
# at once (``homeward.commands.signin``): it reads the code only while it is unsent (the
# sender then scrubs it from the context; the row must stay readable to be updated).
CODE = "template = 'login_code'"
UNSENT_OR_SCRUBBED = "(status IN ('queued', 'sending') OR context ->> 'code' IS NULL)"
# A row is checked before it is stored (its xmin unset): reading back what this transaction
# wrote is for USING only, as 0015 does for handoffs.
NOW = "xmin = pg_current_xact_id()::xid"
POLICIES = {  # table: (USING, WITH CHECK)
    "outbox_message": (
        f"{SYSTEM} OR org_id = {ORG} OR ({CODE} AND {UNSENT_OR_SCRUBBED}) "
        f"OR {NOW} OR {ABOUT}",
        f"{SYSTEM} OR org_id = {ORG} OR {CODE} OR {ABOUT}",
    ),
    "outbox_recipient": (
        f"{SYSTEM} OR EXISTS (SELECT 1 FROM outbox_message m "
        "WHERE m.id = outbox_recipient.message_id)",
    )
    * 2,
    "calendar_entry": (
        f"{SYSTEM} OR EXISTS (SELECT 1 FROM checklist_item i "
        "WHERE i.id = calendar_entry.item_id)",
    )
    * 2,
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(REF_VISIBLE)
    op.execute("ALTER FUNCTION homeward_case_ref_visible(text) OWNER TO homeward_definer")
    for table, (using, check) in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY homeward_scope ON {table} USING ({using}) WITH CHECK ({check})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in POLICIES:
        op.execute(f"DROP POLICY IF EXISTS homeward_scope ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION IF EXISTS homeward_case_ref_visible(text)")
