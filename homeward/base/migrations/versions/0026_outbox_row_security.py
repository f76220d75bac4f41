"""row security on the outbox and the calendar entries, with definer functions for the two
things the app does across organisations: stop mail about a case, and send a sign-in code

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 06:00:00

``outbox_message``, ``outbox_recipient`` and ``calendar_entry`` had no policy: the app's login,
acting for one organisation, read every organisation's mail (case_refs, item titles, staff
addresses, unsent sign-in codes) and could rewrite it. From here, on PostgreSQL:

- the system login (the sender, the sweeps, the operator: a member of
  ``homeward_system_scope``, checked on ``session_user``) reads and writes all the mail;
- an app transaction reads and changes its own organisation's mail (``org_id``) and mail whose
  ``context`` names a case it may see (``homeward_case_ref_visible``: a notice it queues to a
  partner, the partner's answer to a handoff); never a sign-in code that way;
- a consent withdrawal stops another organisation's mail about the case through
  ``homeward_drop_case_mail``: the caller must see the case and the organisation's sharing on
  it must have been withdrawn (its history says so); the function strips the case from that
  organisation's queued digests and drops its recipients as ``notifications.dropping`` does,
  and answers how many messages it changed, nothing of their content;
- a sign-in code is queued through ``homeward_queue_login_code`` only, by the transaction that
  opened its challenge, to that staff member's address alone (no app session inserts a
  ``login_code`` row itself). Its key ends in a random part only the requesting process knows;
  the web workspace sends it at once by naming that key in ``homeward.mail_keys`` (a
  transaction setting). No other app session can read an unsent code: it would have to name
  the key;
- a recipient follows its message, a calendar entry its checklist item.

``homeward_definer`` gains INSERT and UPDATE on the two outbox tables for these functions. SQLite
has no row security: the app's checks apply.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SAFE = "SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"
TRUSTED = "pg_has_role(session_user, 'homeward_system_scope', 'MEMBER')"

# Whether the acting organisation may see the case with this case_ref, or answered a handoff
# of it in this transaction (``homeward_case_touched``); false for none, or no scope chosen.
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

# The sign-in email of a challenge this very transaction opened (its row's xmin), to that
# staff member's address only; the row's other values come from the app (checked there).
QUEUE_CODE = f"""
CREATE FUNCTION homeward_queue_login_code(msg json) RETURNS integer
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
DECLARE
    m public.outbox_message;
    address text;
    new_id integer;
BEGIN
    m := json_populate_record(NULL::public.outbox_message, msg);
    SELECT s.email INTO address
    FROM public.login_challenge c JOIN public.staff_member s ON s.id = c.staff_id
    WHERE m.key ~ ('^login:' || c.id || ':[A-Za-z0-9_-]{{32,}}$')
      AND c.xmin = pg_current_xact_id()::xid AND c.used_at IS NULL AND s.active;
    IF address IS NULL OR m.template IS DISTINCT FROM 'login_code'
       OR json_typeof(m.to_addrs) IS DISTINCT FROM 'array'
       OR json_array_length(m.to_addrs) <> 1
       OR lower(m.to_addrs ->> 0) <> lower(address) THEN
        RAISE EXCEPTION 'homeward: a sign-in code goes only to the staff member whose '
            'challenge this transaction opened';
    END IF;
    INSERT INTO public.outbox_message (key, template, language, to_addrs, context, message_id,
        status, attempts, next_attempt_at, created_at, org_id)
    VALUES (m.key, 'login_code', m.language, m.to_addrs, m.context, m.message_id, 'queued', 0,
        m.next_attempt_at, m.created_at, NULL)
    ON CONFLICT (key) DO NOTHING
    RETURNING id INTO new_id;
    IF new_id IS NOT NULL THEN
        INSERT INTO public.outbox_recipient (message_id, address, status, attempts,
            next_attempt_at, updated_at)
        VALUES (new_id, m.to_addrs ->> 0, 'pending', 0, m.created_at, m.created_at);
    END IF;
    RETURN new_id;
END $$
"""

# ``notifications.dropping.drop_case_mail``, for the database: the organisation's recipients
# still to be tried (or dead, which a retry could resend), of messages queued, sent or dead
# that name the case (themselves, or in a digest's lines or groups; ``only``: of these
# templates; a calendar CANCEL goes all the same). A queued digest going to nobody else loses
# the case's lines and is kept if any are left; otherwise the organisation's recipients are
# dropped with ``reason`` and the message settled (``notifications.delivery.settle``).
DROP = f"""
CREATE FUNCTION homeward_drop_case_mail(ref text, org integer, reason text,
    moment timestamptz, only_templates text[]) RETURNS integer
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
DECLARE
    cid integer;
    addresses text[];
    msg record;
    ctx jsonb;
    ours integer[];
    others integer;
    section text;
    left_over boolean;
    still integer;
    soonest timestamptz;
    dead integer;
    delivered integer;
    problem text;
    changed integer := 0;
BEGIN
    SELECT c.id INTO cid FROM public.return_case c WHERE c.case_ref = ref;
    IF NOT ({TRUSTED} OR public.homeward_is_system()) AND NOT (
        cid IS NOT NULL AND public.homeward_case_touched(cid) AND EXISTS (
            SELECT 1 FROM public.case_event e JOIN public.organisation o ON o.id = org
            WHERE e.case_id = cid AND e.trigger = 'sharing_consent_withdrawn'
              AND e.data ->> 'org' = o.slug)) THEN
        RAISE EXCEPTION 'homeward: only a withdrawal of sharing with that organisation, by '
            'one that sees the case, stops its mail about it';
    END IF;
    addresses := ARRAY(
        SELECT lower(s.email) FROM public.staff_member s WHERE s.org_id = org
        UNION SELECT lower(o.email) FROM public.organisation o
        WHERE o.id = org AND coalesce(o.email, '') <> '');
    FOR msg IN
        SELECT m.id, m.status, m.template, m.context::jsonb AS ctx FROM public.outbox_message m
        WHERE m.status IN ('queued', 'sent', 'dead') AND EXISTS (
            SELECT 1 FROM public.outbox_recipient r WHERE r.message_id = m.id
            AND r.status IN ('pending', 'deferred', 'dead') AND lower(r.address) = ANY(addresses))
        ORDER BY m.id
        FOR UPDATE OF m
    LOOP
        ctx := msg.ctx;
        CONTINUE WHEN only_templates IS NOT NULL AND NOT msg.template = ANY(only_templates);
        CONTINUE WHEN ctx -> 'cancelled' = 'true'::jsonb;
        CONTINUE WHEN ctx ->> 'case_ref' IS DISTINCT FROM ref AND NOT EXISTS (
            SELECT 1 FROM unnest(ARRAY['overdue', 'due_today', 'coming_due', 'cases']) AS k(name),
                jsonb_array_elements(CASE WHEN jsonb_typeof(ctx -> k.name) = 'array'
                                          THEN ctx -> k.name ELSE '[]'::jsonb END) AS line
            WHERE line ->> 'case_ref' = ref);
        changed := changed + 1;
        ours := ARRAY(
            SELECT r.id FROM public.outbox_recipient r WHERE r.message_id = msg.id
            AND r.status IN ('pending', 'deferred', 'dead') AND lower(r.address) = ANY(addresses));
        SELECT count(*) INTO others FROM public.outbox_recipient r
        WHERE r.message_id = msg.id AND r.status IN ('pending', 'deferred')
          AND NOT r.id = ANY(ours);
        IF others = 0 AND msg.status = 'queued' AND ctx ->> 'case_ref' IS DISTINCT FROM ref THEN
            IF ctx ? 'cases' THEN
                ctx := jsonb_set(ctx, '{{cases}}', coalesce((
                    SELECT jsonb_agg(g ORDER BY n) FROM jsonb_array_elements(ctx -> 'cases')
                        WITH ORDINALITY AS x(g, n)
                    WHERE g ->> 'case_ref' IS DISTINCT FROM ref), '[]'::jsonb));
                left_over := jsonb_array_length(ctx -> 'cases') > 0;
            ELSE
                left_over := false;
                FOREACH section IN ARRAY ARRAY['overdue', 'due_today', 'coming_due'] LOOP
                    ctx := jsonb_set(ctx, ARRAY[section], coalesce((
                        SELECT jsonb_agg(line ORDER BY n) FROM jsonb_array_elements(
                            CASE WHEN jsonb_typeof(ctx -> section) = 'array'
                                 THEN ctx -> section ELSE '[]'::jsonb END)
                            WITH ORDINALITY AS x(line, n)
                        WHERE line ->> 'case_ref' IS DISTINCT FROM ref), '[]'::jsonb));
                    left_over := left_over OR jsonb_array_length(ctx -> section) > 0;
                END LOOP;
            END IF;
            UPDATE public.outbox_message SET context = ctx::json WHERE id = msg.id;
            CONTINUE WHEN left_over;  -- it still lists other cases, and goes to nobody else
        END IF;
        UPDATE public.outbox_recipient SET status = 'dropped', reply = reason, code = NULL,
            updated_at = moment
        WHERE id = ANY(ours);
        SELECT count(*) FILTER (WHERE r.status IN ('pending', 'deferred')),
               min(r.next_attempt_at) FILTER (WHERE r.status IN ('pending', 'deferred')),
               count(*) FILTER (WHERE r.status = 'dead'),
               count(*) FILTER (WHERE r.status = 'delivered')
        INTO still, soonest, dead, delivered
        FROM public.outbox_recipient r WHERE r.message_id = msg.id;
        SELECT string_agg(x.reply, '; ' ORDER BY x.reply COLLATE "C") INTO problem
        FROM (SELECT DISTINCT r.reply FROM public.outbox_recipient r WHERE r.message_id = msg.id
              AND r.status IN ('pending', 'deferred', 'dead') AND coalesce(r.reply, '') <> '') x;
        problem := left(regexp_replace(btrim(problem, E' \\t\\n\\r\\f\\v'), '\\s+', ' ', 'g'), 500);
        IF still > 0 THEN
            UPDATE public.outbox_message SET status = 'queued', next_attempt_at = soonest,
                last_error = nullif(problem, '') WHERE id = msg.id;
        ELSIF delivered > 0 THEN
            UPDATE public.outbox_message SET status = 'sent', last_error = nullif(problem, '')
            WHERE id = msg.id;
        ELSIF dead > 0 THEN
            UPDATE public.outbox_message SET status = 'dead', last_error = nullif(problem, '')
            WHERE id = msg.id;
        ELSE
            SELECT string_agg(x.reply, '; ' ORDER BY x.reply COLLATE "C") INTO problem
            FROM (SELECT DISTINCT coalesce(nullif(r.reply, ''), 'dropped') AS reply
                  FROM public.outbox_recipient r WHERE r.message_id = msg.id) x;
            UPDATE public.outbox_message SET status = 'dropped',
                last_error = left(regexp_replace(btrim(problem, E' \\t\\n\\r\\f\\v'), '\\s+', ' ',
                    'g'), 500)
            WHERE id = msg.id;
        END IF;
    END LOOP;
    RETURN changed;
END $$
"""

FUNCTIONS = {
    "homeward_case_ref_visible(text)": REF_VISIBLE,
    "homeward_queue_login_code(json)": QUEUE_CODE,
    "homeward_drop_case_mail(text, integer, text, timestamp with time zone, text[])": DROP,
}

# The system login reads all the mail, scoped or not (the sender drains without a scope).
# Scalar subqueries: computed once per statement.
SYSTEM = f"(SELECT {TRUSTED}) OR (SELECT homeward_is_system())"
ORG = "(SELECT homeward_current_org())"
OWN = (
    f"(template <> 'login_code' AND (org_id = {ORG} "
    "OR homeward_case_ref_visible(context ->> 'case_ref')))"
)
HELD = (
    "(template = 'login_code' AND key = ANY(string_to_array("
    "current_setting('homeward.mail_keys', true), E'\\n')))"
)
MESSAGE = "EXISTS (SELECT 1 FROM outbox_message m WHERE m.id = outbox_recipient.message_id)"
NOT_A_CODE = (
    "EXISTS (SELECT 1 FROM outbox_message m WHERE m.id = outbox_recipient.message_id "
    "AND m.template <> 'login_code')"
)
ITEM = "EXISTS (SELECT 1 FROM checklist_item i WHERE i.id = calendar_entry.item_id)"
# (table, policy, command, USING, WITH CHECK): no app session inserts a sign-in code (the
# definer function does) nor a recipient of one; one naming its key reads and settles it.
POLICIES = (
    ("outbox_message", "homeward_read", "SELECT", f"{SYSTEM} OR {OWN} OR {HELD}", None),
    ("outbox_message", "homeward_insert", "INSERT", None, f"{SYSTEM} OR {OWN}"),
    (
        "outbox_message",
        "homeward_update",
        "UPDATE",
        f"{SYSTEM} OR {OWN} OR {HELD}",
        f"{SYSTEM} OR {OWN} OR {HELD}",
    ),
    ("outbox_message", "homeward_delete", "DELETE", f"{SYSTEM} OR {OWN}", None),
    ("outbox_recipient", "homeward_read", "SELECT", f"{SYSTEM} OR {MESSAGE}", None),
    (
        "outbox_recipient",
        "homeward_insert",
        "INSERT",
        None,
        f"{SYSTEM} OR {NOT_A_CODE}",
    ),
    ("outbox_recipient", "homeward_update", "UPDATE", *(f"{SYSTEM} OR {MESSAGE}",) * 2),
    ("outbox_recipient", "homeward_delete", "DELETE", f"{SYSTEM} OR {MESSAGE}", None),
    ("calendar_entry", "homeward_scope", "ALL", *(f"{SYSTEM} OR {ITEM}",) * 2),
)
TABLES = ("outbox_message", "outbox_recipient", "calendar_entry")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("outbox_message", "outbox_recipient"):
        op.execute(f"GRANT INSERT, UPDATE ON {table} TO homeward_definer")
        op.execute(f"GRANT USAGE ON SEQUENCE {table}_id_seq TO homeward_definer")
    for function, source in FUNCTIONS.items():
        op.execute(source)
        op.execute(f"ALTER FUNCTION {function} OWNER TO homeward_definer")
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO homeward_app")
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    for table, name, command, using, check in POLICIES:
        rules = (f" USING ({using})" if using else "") + (f" WITH CHECK ({check})" if check else "")
        op.execute(f"CREATE POLICY {name} ON {table} FOR {command}{rules}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, *_ in POLICIES:
        op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    for table in ("outbox_message", "outbox_recipient"):
        op.execute(f"REVOKE USAGE ON SEQUENCE {table}_id_seq FROM homeward_definer")
        op.execute(f"REVOKE INSERT, UPDATE ON {table} FROM homeward_definer")
