"""outbox rows an app login cannot reshape into a sign-in code, nor fill with templates or
recipients the app never queues, nor change for another organisation (the security review of
0026/0028)

Revision ID: 0030
Revises: 0029
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
  ``login_code`` stays the definer function's alone (0026);
- it changes and deletes its own organisation's mail only (and the sign-in code it holds), and
  those messages' recipients: another organisation's mail about a case it sees it still reads,
  and stops only through ``homeward_drop_case_mail`` (a withdrawal of that sharing);
- ``homeward_drop_case_mail`` writes the withdrawal's own reason
  (``notifications.dropping.withdrawn_reason``) into the other organisation's rows, never text
  of the caller's choosing;
- ``homeward_queue_login_code`` finds the challenge by the id in its key, requires the
  Message-ID the key gives and dates the email (created, first attempt) when the challenge was
  opened, not when the caller says.

SQLite has no such login: the app's checks apply.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

from homeward.base.migrations.earlier import earlier

revision: str = "0030"
down_revision: str | Sequence[str] | None = "0029"
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


HELD = (
    "(template = 'login_code' AND key = ANY(string_to_array("
    "current_setting('homeward.mail_keys', true), E'\\n')))"
)
# its own organisation's mail only: another's, even about a case it sees, is stopped through
# homeward_drop_case_mail alone (a withdrawal of sharing), never changed nor deleted directly
OWN_ORG = f"(template <> 'login_code' AND org_id = {ORG})"
# a recipient of a message it may change: its own organisation's, or the sign-in code it holds
# (a row of login_code the app session reads is one whose key it named)
MINE = (
    "EXISTS (SELECT 1 FROM outbox_message m WHERE m.id = outbox_recipient.message_id "  # noqa: S608
    f"AND (m.template = 'login_code' OR m.org_id = {ORG}))"
)
MESSAGE = "EXISTS (SELECT 1 FROM outbox_message m WHERE m.id = outbox_recipient.message_id)"
# (table, policy, command, USING, WITH CHECK): after, and before (0026's)
POLICIES = (
    (
        (
            "outbox_message",
            "homeward_insert",
            "INSERT",
            None,
            f"{SYSTEM} OR ({OWN} AND {APP_TEMPLATE})",
        ),
        ("outbox_message", "homeward_insert", "INSERT", None, f"{SYSTEM} OR {OWN}"),
    ),
    (
        ("outbox_message", "homeward_update", "UPDATE", *(f"{SYSTEM} OR {OWN_ORG} OR {HELD}",) * 2),
        ("outbox_message", "homeward_update", "UPDATE", *(f"{SYSTEM} OR {OWN} OR {HELD}",) * 2),
    ),
    (
        ("outbox_message", "homeward_delete", "DELETE", f"{SYSTEM} OR {OWN_ORG}", None),
        ("outbox_message", "homeward_delete", "DELETE", f"{SYSTEM} OR {OWN}", None),
    ),
    (
        ("outbox_recipient", "homeward_update", "UPDATE", *(f"{SYSTEM} OR {MINE}",) * 2),
        ("outbox_recipient", "homeward_update", "UPDATE", *(f"{SYSTEM} OR {MESSAGE}",) * 2),
    ),
    (
        ("outbox_recipient", "homeward_delete", "DELETE", f"{SYSTEM} OR {MINE}", None),
        ("outbox_recipient", "homeward_delete", "DELETE", f"{SYSTEM} OR {MESSAGE}", None),
    ),
)


def _policy(table: str, name: str, command: str, using: str | None, check: str | None) -> None:
    op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
    rules = (f" USING ({using})" if using else "") + (f" WITH CHECK ({check})" if check else "")
    op.execute(f"CREATE POLICY {name} ON {table} FOR {command}{rules}")


# homeward_drop_case_mail writes its ``reason`` into another organisation's recipients and
# messages: the one reason the app gives (``notifications.dropping.withdrawn_reason``), no text
# of the caller's choosing
DROP = "homeward_drop_case_mail(text, integer, text, timestamp with time zone, text[])"
BEFORE_ADDRESSES = "    addresses := ARRAY("
REASON_CHECKED = """    IF reason IS DISTINCT FROM (
        SELECT 'dropped: sharing consent for ' || o.slug || ' withdrawn on case ' || ref
        FROM public.organisation o WHERE o.id = org) THEN
        RAISE EXCEPTION 'homeward: mail is stopped with the withdrawal''s own reason only';
    END IF;
"""



def _drop_sources() -> tuple[str, str]:
    """0028's homeward_drop_case_mail, and it with its reason checked."""
    before = earlier("0028_sign_in_mail_the_app_cannot_shape.py")._drop_source()
    assert before.count(BEFORE_ADDRESSES) == 1  # noqa: S101 (our own files)
    return before, before.replace(BEFORE_ADDRESSES, REASON_CHECKED + BEFORE_ADDRESSES)


# homeward_queue_login_code (0028's) finds the challenge by the id its key holds (no pattern
# scan over every challenge), requires the Message-ID the key gives
# (``notifications.message.message_id_for``) and dates the email when its challenge was opened,
# whatever times the caller passed. (The challenge's time, not the database's clock: tests run
# the app on a simulated clock the database's is not, and an email dated otherwise would be
# judged expired, or not, against the other clock.)
QUEUE = "homeward_queue_login_code(json)"
QUEUE_CHANGES = (
    ("    new_id integer;\nBEGIN", "    new_id integer;\n    opened timestamptz;\nBEGIN"),
    (
        "    SELECT s.id, s.email INTO staff, address\n",
        "    SELECT s.id, s.email, c.created_at INTO staff, address, opened\n",
    ),
    (
        "    WHERE m.key ~ ('^login:' || c.id || ':[A-Za-z0-9_-]{32,}$')\n",
        "    WHERE m.key ~ '^login:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{32,}$'\n"
        "      AND c.id = split_part(m.key, ':', 2)\n",
    ),
    (
        "    ctx := m.context;\n",
        "    IF split_part(m.message_id, '@', 2) !~ '^[A-Za-z0-9.-]+>$'\n"
        "       OR m.message_id IS DISTINCT FROM '<' || left(encode(sha256(convert_to(m.key, "
        "'UTF8')), 'hex'), 32) || '.homeward@' || split_part(m.message_id, '@', 2) THEN\n"
        "        RAISE EXCEPTION 'homeward: a sign-in email''s Message-ID is its key''s';\n"
        "    END IF;\n"
        "    ctx := m.context;\n",
    ),
    (
        "m.message_id, 'queued', 0, m.next_attempt_at, m.created_at, NULL)",
        "m.message_id, 'queued', 0, opened, opened, NULL)",
    ),
    (
        "VALUES (new_id, m.to_addrs ->> 0, 'pending', 0, m.created_at, m.created_at);",
        "VALUES (new_id, m.to_addrs ->> 0, 'pending', 0, opened, opened);",
    ),
)


def _queue_sources() -> tuple[str, str]:
    """0028's homeward_queue_login_code, and it as changed here."""
    before = earlier("0028_sign_in_mail_the_app_cannot_shape.py").QUEUE_CODE
    after = before
    for old, new in QUEUE_CHANGES:
        assert after.count(old) == 1, old  # noqa: S101 (our own files)
        after = after.replace(old, new)
    return before, after


def _owned(function: str) -> None:
    op.execute(f"ALTER FUNCTION {function} OWNER TO homeward_definer")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO homeward_app")


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
    for after, _before in POLICIES:
        _policy(*after)
    op.execute(_drop_sources()[1])
    op.execute(_queue_sources()[1])
    for function in (DROP, QUEUE):
        _owned(function)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_drop_sources()[0])
    op.execute(_queue_sources()[0])
    for function in (DROP, QUEUE):
        _owned(function)
    for _after, before in POLICIES:
        _policy(*before)
    op.execute("DROP TRIGGER IF EXISTS homeward_named ON outbox_recipient")
    op.execute("DROP TRIGGER IF EXISTS homeward_kept ON outbox_message")
    op.execute("DROP FUNCTION IF EXISTS homeward_outbox_recipient_named()")
    op.execute("DROP FUNCTION IF EXISTS homeward_outbox_message_kept()")
