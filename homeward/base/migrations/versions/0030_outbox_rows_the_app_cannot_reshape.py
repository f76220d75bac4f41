"""outbox rows an app login cannot reshape into a sign-in code, nor fill with templates or
recipients the app never queues (the security review of 0026/0028)

Revision ID: 0030
Revises: 0028
Create Date: 2026-12-07 07:00:00

On PostgreSQL, for an app session (not the system login, not a definer function):

- an outbox message keeps its ``template``, ``key``, ``org_id``, ``message_id`` and
  ``created_at`` for good. An app session could insert a message of its own, give it a
  recipient at another organisation, then turn it into a ``login_code`` holding its own valid
  code (the UPDATE's WITH CHECK passed through the key it named in ``homeward.mail_keys``): the
  sender then sent another staff member a genuine sign-in link to the attacker's account.
  ``to_addrs`` may only grow at its end (``notifications.redelivery.redirect`` appends the
  address it redirects to); a sign-in email's ``to_addrs`` never changes and its ``context``
  only loses fields (its code, wiped once sent);
- every recipient's address is one of its message's ``to_addrs``, checked at commit (a
  redirect inserts the recipient and appends the address in one transaction, in either order);
- it inserts no ``test`` nor ``health_alert`` message: the app sends the test email directly
  (``homeward mail send-test``) and health alerts come from the scheduler (the system login).
  ``login_code`` stays the definer function's alone (0026).

SQLite has no such login: the app's checks apply.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | Sequence[str] | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the system login (the sender, the sweeps, the operator), a system scope, or a definer
# function (``homeward_drop_case_mail`` strips a digest's lines)
EXEMPT = (
    "pg_has_role(session_user, 'homeward_system_scope', 'MEMBER') "
    "OR current_user = 'homeward_definer' OR public.homeward_is_system()"
)

SYSTEM_SESSION = (
    "pg_has_role(session_user, 'homeward_system_scope', 'MEMBER') OR public.homeward_is_system()"
)
NAMED_FUNCTION = "homeward_outbox_recipient_named()"
KEPT_FUNCTION = "homeward_outbox_message_kept()"

KEPT = f"""
CREATE FUNCTION homeward_outbox_message_kept() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    before jsonb := coalesce(OLD.to_addrs::jsonb, '[]'::jsonb);
    after jsonb := coalesce(NEW.to_addrs::jsonb, '[]'::jsonb);
BEGIN
    IF {EXEMPT} THEN
        RETURN NEW;
    END IF;
    IF NEW.template IS DISTINCT FROM OLD.template OR NEW.key IS DISTINCT FROM OLD.key
       OR NEW.org_id IS DISTINCT FROM OLD.org_id
       OR NEW.message_id IS DISTINCT FROM OLD.message_id
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'homeward: an outbox message keeps its template, key, organisation, '
            'message id and time queued';
    END IF;
    IF jsonb_typeof(after) IS DISTINCT FROM 'array' OR jsonb_array_length(after)
       < jsonb_array_length(before) OR coalesce((
            SELECT jsonb_agg(a.v ORDER BY a.n) FROM jsonb_array_elements(after)
                WITH ORDINALITY AS a(v, n)
            WHERE a.n <= jsonb_array_length(before)), '[]'::jsonb) <> before THEN
        RAISE EXCEPTION 'homeward: an outbox message''s addresses may only grow at the end';
    END IF;
    IF OLD.template = 'login_code' AND (after <> before OR NOT (
            coalesce(OLD.context::jsonb, '{{}}'::jsonb)
            @> coalesce(NEW.context::jsonb, '{{}}'::jsonb))) THEN
        RAISE EXCEPTION 'homeward: a sign-in email''s address and code stay as queued';
    END IF;
    RETURN NEW;
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

# Checked at commit, as homeward_definer (a definer function's own recipients, a sign-in
# code's, are checked too: the app session cannot read that message back).
NAMED = f"""
CREATE FUNCTION homeward_outbox_recipient_named() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF {SYSTEM_SESSION} THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM public.outbox_message m
        WHERE m.id = NEW.message_id AND lower(NEW.address) IN (
            SELECT lower(a.address) FROM json_array_elements_text(m.to_addrs) AS a(address))
    ) THEN
        RAISE EXCEPTION 'homeward: a recipient''s address must be one of its message''s';
    END IF;
    RETURN NULL;
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

TRIGGERS = (
    "CREATE TRIGGER homeward_kept BEFORE UPDATE ON outbox_message "
    "FOR EACH ROW EXECUTE FUNCTION homeward_outbox_message_kept()",
    "CREATE CONSTRAINT TRIGGER homeward_named AFTER INSERT OR UPDATE OF address, message_id "
    "ON outbox_recipient DEFERRABLE INITIALLY DEFERRED "
    "FOR EACH ROW EXECUTE FUNCTION homeward_outbox_recipient_named()",
)

# 0026's insert policy on outbox_message, and what replaces it
SYSTEM = (
    "(SELECT pg_has_role(session_user, 'homeward_system_scope', 'MEMBER')) "
    "OR (SELECT homeward_is_system())"
)
ORG = "(SELECT homeward_current_org())"
OWN = (
    f"(template <> 'login_code' AND (org_id = {ORG} "
    "OR homeward_case_ref_visible(context ->> 'case_ref')))"
)
APP_TEMPLATE = "template NOT IN ('login_code', 'test', 'health_alert')"


def _insert_policy(check: str) -> None:
    op.execute("DROP POLICY IF EXISTS homeward_insert ON outbox_message")
    op.execute(f"CREATE POLICY homeward_insert ON outbox_message FOR INSERT WITH CHECK ({check})")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(KEPT)
    op.execute(NAMED)
    op.execute(f"ALTER FUNCTION {NAMED_FUNCTION} OWNER TO homeward_definer")
    for function in (KEPT_FUNCTION, NAMED_FUNCTION):  # triggers: nobody calls them
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
    for trigger in TRIGGERS:
        op.execute(trigger)
    _insert_policy(f"{SYSTEM} OR ({OWN} AND {APP_TEMPLATE})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _insert_policy(f"{SYSTEM} OR {OWN}")
    op.execute("DROP TRIGGER IF EXISTS homeward_named ON outbox_recipient")
    op.execute("DROP TRIGGER IF EXISTS homeward_kept ON outbox_message")
    op.execute("DROP FUNCTION IF EXISTS homeward_outbox_recipient_named()")
    op.execute("DROP FUNCTION IF EXISTS homeward_outbox_message_kept()")
