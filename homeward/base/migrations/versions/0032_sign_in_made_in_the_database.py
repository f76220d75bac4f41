"""sign-in codes, sessions and run grants are made by the database, never written by the app's
login: an insider with the app login and a SQL prompt can no longer open a session (a token of
its choosing) for another staff member (security review of 0010)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 09:00:00

Until now ``homeward_app`` held INSERT, UPDATE and DELETE on ``login_challenge``,
``staff_session`` and ``run_grant``: a login of the group could insert a session with the
SHA-256 of a token it chose for anyone, then ``homeward_act`` it. From here, on PostgreSQL,
only SECURITY DEFINER functions (owned by ``homeward_definer``) write those tables, and the
secrets are made inside the database (``gen_random_uuid``: the server's strong random source):

- ``homeward_open_challenge(address, channel, at, minutes, domain)``: for an active staff
  member's address, at most 10 codes an hour to one person (by the database's clock, 0028's
  ``homeward_code_mail``), ends the person's live codes, makes an 8-digit code and a challenge
  holding only a keyed hash of it (SHA-256 over a pepper only ``homeward_definer`` reads,
  made here), and queues the sign-in email itself (to the person's address alone, its code and
  minutes only). It answers the staff member's id, the challenge's id and the email's outbox
  key: nothing secret. Any other address: no row;
- ``homeward_redeem_code(address, code, label, at, hours)``: the person's newest live code
  (not used, not expired, fewer than 5 tries), locked, the try counted; the right code opens a
  session whose token the database makes and answers once (only its SHA-256 is kept);
- ``homeward_session_of(token)``: the session a token opens (what ``homeward_act`` checks),
  read before a transaction acts for anyone;
- ``homeward_issue_run_grant(flow, at, minutes)``: a grant for the session this very
  transaction acts for (``homeward_act`` and ``homeward_act_run`` now keep the session in the
  scope), never another;
- ``homeward_run_grant(id)`` reads a grant (its id, which only its assertion carries, is the
  capability); ``homeward_bind_run_grant(id, run, at)`` binds it, under a row lock, to the first
  run that presents it while it and its session are live;
- ``homeward_end_sessions(staff, session, at)``: one's own session(s), or anyone's in the
  system scope (a staff member deactivated).

``homeward_app`` keeps SELECT on ``staff_session`` only, under a policy: one's own sessions
(``homeward sessions``), all of them in the system scope. It reads no challenge and no grant.
The system login (``homeward_system_scope``, checked on ``session_user``) reads the three
tables whole and ends anyone's sessions; it writes them through the functions too.
``homeward_queue_login_code`` (0026) is nobody's to call any more: the challenge's function
queues its email. SQLite has no such login: ``homeward.protection.identity`` does the same in
Python there.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

from homeward.base.migrations.earlier import earlier

revision: str = "0032"
down_revision: str | Sequence[str] | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SAFE = "SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"
MAX_TRIES = 5  # homeward.protection.identity.MAX_TRIES
CODES_PER_HOUR = 10  # 0028's
SHIFTED_NOW = "(now() + coalesce((SELECT shift FROM public.homeward_db_clock), '0s'))"
IDENTITY_TABLES = ("login_challenge", "staff_session", "run_grant")

SETUP = """
CREATE TABLE homeward_sign_in_pepper (
    id integer PRIMARY KEY CHECK (id = 1),
    pepper bytea NOT NULL
);
REVOKE ALL ON homeward_sign_in_pepper FROM PUBLIC, homeward_app;
GRANT SELECT ON homeward_sign_in_pepper TO homeward_definer;
INSERT INTO homeward_sign_in_pepper VALUES (1, decode(
    replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '')
    || replace(gen_random_uuid()::text, '-', ''), 'hex'));
ALTER TABLE homeward_scope ADD COLUMN session_id text;
REVOKE ALL ON login_challenge, staff_session, run_grant FROM PUBLIC, homeward_app;
GRANT SELECT ON staff_session TO homeward_app;
GRANT SELECT, INSERT, UPDATE ON login_challenge, staff_session, run_grant TO homeward_definer;
GRANT SELECT ON login_challenge, staff_session, run_grant TO homeward_system_scope;
ALTER TABLE staff_session ENABLE ROW LEVEL SECURITY;
ALTER TABLE staff_session FORCE ROW LEVEL SECURITY;
CREATE POLICY homeward_own ON staff_session FOR SELECT
    USING ((SELECT pg_has_role(session_user, 'homeward_system_scope', 'MEMBER'))
           OR (SELECT homeward_is_system()) OR staff_id = (SELECT homeward_current_staff()));
"""

# The scope keeps the session it acts for (0015's functions, and the session column).
SCOPE = f"""
CREATE OR REPLACE FUNCTION homeward_set_scope(org integer, staff integer) RETURNS void
LANGUAGE sql VOLATILE {SAFE} AS $$
    INSERT INTO public.homeward_scope (pid, xact, org_id, staff_id, system, session_id)
    VALUES (pg_backend_pid(), txid_current(), org, staff, false, NULL)
    ON CONFLICT (pid) DO UPDATE SET xact = excluded.xact, org_id = excluded.org_id,
        staff_id = excluded.staff_id, system = false, session_id = NULL
$$;

CREATE OR REPLACE FUNCTION homeward_act(token text) RETURNS integer
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
DECLARE
    found record;
BEGIN
    SELECT m.id, m.org_id, s.id AS session_id INTO found
    FROM public.staff_session s JOIN public.staff_member m ON m.id = s.staff_id
    WHERE s.token_hash = encode(sha256(convert_to(token, 'UTF8')), 'hex')
      AND s.revoked_at IS NULL AND m.active
      AND s.expires_at > {SHIFTED_NOW};
    IF found IS NULL THEN
        RAISE EXCEPTION 'homeward: no live session has this token';
    END IF;
    PERFORM public.homeward_set_scope(found.org_id, found.id);
    UPDATE public.homeward_scope SET session_id = found.session_id WHERE pid = pg_backend_pid();
    RETURN found.org_id;
END $$;

CREATE OR REPLACE FUNCTION homeward_act_run(run_id text, held_session text) RETURNS integer
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
DECLARE
    found record;
BEGIN
    SELECT m.id, m.org_id INTO found
    FROM public.run_grant g JOIN public.staff_session s ON s.id = g.session_id
    JOIN public.staff_member m ON m.id = g.staff_id
    WHERE g.flow_run_id = run_id AND g.session_id = held_session
      AND s.revoked_at IS NULL AND m.active;
    IF found IS NULL THEN
        RAISE EXCEPTION 'homeward: no run grant of a live session is bound to this run';
    END IF;
    PERFORM public.homeward_set_scope(found.org_id, found.id);
    UPDATE public.homeward_scope SET session_id = held_session WHERE pid = pg_backend_pid();
    RETURN found.org_id;
END $$;

CREATE OR REPLACE FUNCTION homeward_system(turn_on boolean) RETURNS void
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
BEGIN
    IF turn_on AND NOT pg_has_role(session_user, 'homeward_system_scope', 'MEMBER') THEN
        RAISE EXCEPTION 'homeward: this login may not act for the system; run it under the '
            'system login (homeward db roles)';
    END IF;
    INSERT INTO public.homeward_scope (pid, xact, org_id, staff_id, system)
    VALUES (pg_backend_pid(), txid_current(), NULL, NULL, turn_on)
    ON CONFLICT (pid) DO UPDATE SET system = excluded.system,
        org_id = CASE WHEN homeward_scope.xact = excluded.xact THEN homeward_scope.org_id END,
        staff_id = CASE WHEN homeward_scope.xact = excluded.xact THEN homeward_scope.staff_id END,
        session_id = CASE WHEN homeward_scope.xact = excluded.xact
                          THEN homeward_scope.session_id END,
        xact = excluded.xact;
END $$;
"""  # noqa: S608 (our own SQL: no input goes into it)

HELPERS = f"""
CREATE FUNCTION homeward_random_hex(digits integer) RETURNS text
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
DECLARE
    made text := '';
    u text;
BEGIN
    WHILE length(made) < digits LOOP  -- a v4 UUID's 30 random hex digits at a time
        u := replace(gen_random_uuid()::text, '-', '');
        made := made || substr(u, 1, 12) || substr(u, 14, 3) || substr(u, 18, 15);
    END LOOP;
    RETURN left(made, digits);
END $$;

CREATE FUNCTION homeward_sign_in_hash(challenge text, code text) RETURNS text
LANGUAGE sql STABLE {SAFE} AS $$
    SELECT encode(sha256((SELECT p.pepper FROM public.homeward_sign_in_pepper p WHERE p.id = 1)
        || convert_to(challenge || ':' || code, 'UTF8')), 'hex')
$$;
"""  # noqa: S608 (our own SQL: no input goes into it)

OPEN = f"""
CREATE FUNCTION homeward_open_challenge(p_address text, p_channel text, p_at timestamptz,
    p_minutes integer, p_domain text)
RETURNS TABLE (staff integer, challenge text, mail_key text)
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
DECLARE
    member public.staff_member;
    cid text;
    code text;
    key text;
    new_id integer;
BEGIN
    IF p_channel IS NULL OR p_channel !~ '^[a-z]{{1,16}}$' OR p_at IS NULL
       OR p_minutes IS NULL OR p_minutes NOT BETWEEN 1 AND 60
       OR p_domain IS NULL OR p_domain !~ '^[A-Za-z0-9.-]{{1,200}}$' THEN
        RAISE EXCEPTION 'homeward: a sign-in code needs a channel, a time, 1 to 60 minutes '
            'and the mail domain';
    END IF;
    SELECT * INTO member FROM public.staff_member m WHERE m.email = p_address AND m.active;
    IF member.id IS NULL THEN
        RETURN;  -- not an active staff member's address: no code, no row
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('homeward_code_mail'), member.id);
    DELETE FROM public.homeward_code_mail c WHERE c.at <= clock_timestamp() - interval '1 hour';
    IF (SELECT count(*) FROM public.homeward_code_mail c WHERE c.staff_id = member.id)
       >= {CODES_PER_HOUR} THEN
        RAISE EXCEPTION 'homeward: {CODES_PER_HOUR} sign-in codes were sent to this staff '
            'member in the last hour';
    END IF;
    UPDATE public.login_challenge c SET expires_at = p_at  -- only the newest code works
    WHERE c.staff_id = member.id AND c.used_at IS NULL AND c.expires_at > p_at;
    cid := public.homeward_random_hex(16);
    code := lpad(((('x' || public.homeward_random_hex(15))::bit(60)::bigint)
                  % 100000000)::text, 8, '0');
    INSERT INTO public.login_challenge (id, staff_id, code_hash, created_at, expires_at,
        attempts, used_at, channel)
    VALUES (cid, member.id, public.homeward_sign_in_hash(cid, code), p_at,
        p_at + make_interval(mins => p_minutes), 0, NULL, p_channel);
    key := 'login:' || cid || ':' || public.homeward_random_hex(32);
    INSERT INTO public.outbox_message (key, template, language, to_addrs, context, message_id,
        status, attempts, next_attempt_at, created_at, org_id)
    VALUES (key, 'login_code', member.language, json_build_array(member.email),
        json_build_object('code', code, 'minutes', p_minutes),
        '<' || left(encode(sha256(convert_to(key, 'UTF8')), 'hex'), 32) || '.homeward@'
            || p_domain || '>',
        'queued', 0, p_at, p_at, NULL)
    RETURNING id INTO new_id;
    INSERT INTO public.outbox_recipient (message_id, address, status, attempts,
        next_attempt_at, updated_at)
    VALUES (new_id, member.email, 'pending', 0, p_at, p_at);
    INSERT INTO public.homeward_code_mail (staff_id, at) VALUES (member.id, clock_timestamp());
    PERFORM pg_notify('homeward_sign_in', '');  -- the system login's sender sends it now
    RETURN QUERY SELECT member.id, cid, key;
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

REDEEM = f"""
CREATE FUNCTION homeward_redeem_code(p_address text, p_code text, p_label text,
    p_at timestamptz, p_hours integer)
RETURNS TABLE (outcome text, staff integer, session_id text, token text,
    expires_at timestamptz, channel text)
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
DECLARE
    member public.staff_member;
    live public.login_challenge;
    made text;
    sid text;
BEGIN
    IF p_code IS NULL OR p_code !~ '^[0-9]{{8}}$' OR p_at IS NULL
       OR p_hours IS NULL OR p_hours NOT BETWEEN 1 AND 720 THEN
        RAISE EXCEPTION 'homeward: a sign-in code is 8 digits, redeemed at a time, for a '
            'session of 1 to 720 hours';
    END IF;
    SELECT * INTO member FROM public.staff_member m WHERE m.email = p_address AND m.active;
    IF member.id IS NULL THEN
        PERFORM public.homeward_sign_in_hash('0000000000000000', p_code);  -- the same work
        RETURN QUERY SELECT 'unknown'::text, NULL::integer, NULL::text, NULL::text,
            NULL::timestamptz, NULL::text;
        RETURN;
    END IF;
    SELECT * INTO live FROM public.login_challenge c
    WHERE c.staff_id = member.id AND c.used_at IS NULL AND c.expires_at > p_at
      AND c.attempts < {MAX_TRIES}
    ORDER BY c.created_at DESC LIMIT 1
    FOR UPDATE;  -- tries in parallel are counted one after the other
    IF live.id IS NULL THEN
        RETURN QUERY SELECT 'expired'::text, member.id, NULL::text, NULL::text,
            NULL::timestamptz, NULL::text;
        RETURN;
    END IF;
    UPDATE public.login_challenge c SET attempts = c.attempts + 1 WHERE c.id = live.id;
    IF live.code_hash IS DISTINCT FROM public.homeward_sign_in_hash(live.id, p_code) THEN
        RETURN QUERY SELECT 'wrong-code'::text, member.id, NULL::text, NULL::text,
            NULL::timestamptz, live.channel::text;
        RETURN;
    END IF;
    UPDATE public.login_challenge c SET used_at = p_at WHERE c.id = live.id;
    made := public.homeward_random_hex(64);
    sid := public.homeward_random_hex(12);
    INSERT INTO public.staff_session (id, staff_id, token_hash, label, created_at, expires_at,
        revoked_at)
    VALUES (sid, member.id, encode(sha256(convert_to(made, 'UTF8')), 'hex'),
        left(coalesce(p_label, ''), 80), p_at, p_at + make_interval(hours => p_hours), NULL);
    RETURN QUERY SELECT 'signed-in'::text, member.id, sid, made,
        p_at + make_interval(hours => p_hours), live.channel::text;
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

SESSIONS = f"""
CREATE FUNCTION homeward_session_of(p_token text)
RETURNS TABLE (id text, staff_id integer, label text, created_at timestamptz,
    expires_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE {SAFE} AS $$
    SELECT s.id::text, s.staff_id, s.label::text, s.created_at, s.expires_at, s.revoked_at
    FROM public.staff_session s
    WHERE s.token_hash = encode(sha256(convert_to(p_token, 'UTF8')), 'hex')
$$;

CREATE FUNCTION homeward_end_sessions(p_staff integer, p_session text, p_at timestamptz)
RETURNS integer
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
DECLARE
    ended integer;
BEGIN
    IF NOT (pg_has_role(session_user, 'homeward_system_scope', 'MEMBER')
            OR public.homeward_is_system()
            OR coalesce(p_staff = public.homeward_current_staff(), false)) THEN
        RAISE EXCEPTION 'homeward: one ends only one''s own sessions (a staff member''s '
            'others: deactivate them, under the system login)';
    END IF;
    UPDATE public.staff_session s SET revoked_at = p_at
    WHERE s.staff_id = p_staff AND s.revoked_at IS NULL
      AND (p_session IS NULL OR s.id = p_session);
    GET DIAGNOSTICS ended = ROW_COUNT;
    RETURN ended;
END $$;
"""  # noqa: S608 (our own SQL: no input goes into it)

GRANTS_FUNCTIONS = f"""
CREATE FUNCTION homeward_issue_run_grant(p_flow text, p_at timestamptz, p_minutes integer)
RETURNS text
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
DECLARE
    scope public.homeward_scope;
    gid text;
BEGIN
    scope := public.homeward_scope_row();
    IF scope.session_id IS NULL OR scope.staff_id IS NULL OR NOT EXISTS (
        SELECT FROM public.staff_session s WHERE s.id = scope.session_id
        AND s.staff_id = scope.staff_id AND s.revoked_at IS NULL) THEN
        RAISE EXCEPTION 'homeward: a run grant is issued to the session this transaction '
            'acts for, and only to it';
    END IF;
    IF p_flow IS NULL OR p_flow !~ '^[a-z][a-z0-9-]{{0,63}}$' OR p_at IS NULL
       OR p_minutes IS NULL OR p_minutes NOT BETWEEN 1 AND 1440 THEN
        RAISE EXCEPTION 'homeward: a run grant names a flow and lives 1 to 1440 minutes';
    END IF;
    gid := public.homeward_random_hex(16);
    INSERT INTO public.run_grant (id, session_id, staff_id, flow, issued_at, expires_at,
        flow_run_id)
    VALUES (gid, scope.session_id, scope.staff_id, p_flow, p_at,
        p_at + make_interval(mins => p_minutes), NULL);
    RETURN gid;
END $$;

CREATE FUNCTION homeward_run_grant(p_grant text)
RETURNS TABLE (session_id text, staff_id integer, flow text, expires_at timestamptz,
    flow_run_id text, session_expires_at timestamptz, session_revoked_at timestamptz)
LANGUAGE sql STABLE {SAFE} AS $$
    SELECT g.session_id::text, g.staff_id, g.flow::text, g.expires_at, g.flow_run_id::text,
        s.expires_at,
        s.revoked_at
    FROM public.run_grant g JOIN public.staff_session s ON s.id = g.session_id
    WHERE g.id = p_grant
$$;

CREATE FUNCTION homeward_bind_run_grant(p_grant text, p_run text, p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
DECLARE
    g public.run_grant;
BEGIN
    IF p_run IS NULL OR length(p_run) NOT BETWEEN 1 AND 40 OR p_at IS NULL THEN
        RETURN false;
    END IF;
    SELECT * INTO g FROM public.run_grant r WHERE r.id = p_grant FOR UPDATE;
    IF g.id IS NULL THEN
        RETURN false;
    END IF;
    IF g.flow_run_id IS NOT NULL THEN
        RETURN g.flow_run_id = p_run;
    END IF;
    IF g.expires_at <= p_at OR NOT EXISTS (
        SELECT FROM public.staff_session s JOIN public.staff_member m ON m.id = s.staff_id
        WHERE s.id = g.session_id AND s.expires_at > p_at AND s.revoked_at IS NULL
          AND m.active) THEN
        RETURN false;
    END IF;
    UPDATE public.run_grant r SET flow_run_id = p_run WHERE r.id = g.id;
    RETURN true;
END $$;
"""  # noqa: S608 (our own SQL: no input goes into it)

APP = "homeward_app"
# each new function, and who may call it (None: the definer's own, called by the others)
CALLERS: dict[str, str | None] = {
    "homeward_random_hex(integer)": None,
    "homeward_sign_in_hash(text, text)": None,
    "homeward_open_challenge(text, text, timestamp with time zone, integer, text)": APP,
    "homeward_redeem_code(text, text, text, timestamp with time zone, integer)": APP,
    "homeward_session_of(text)": APP,
    "homeward_end_sessions(integer, text, timestamp with time zone)": APP,
    "homeward_issue_run_grant(text, timestamp with time zone, integer)": APP,
    "homeward_run_grant(text)": APP,
    "homeward_bind_run_grant(text, text, timestamp with time zone)": APP,
}
REPLACED = (
    "homeward_set_scope(integer, integer)",
    "homeward_act(text)",
    "homeward_act_run(text, text)",
    "homeward_system(boolean)",
)
QUEUE = "homeward_queue_login_code(json)"



def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(SETUP)
    op.execute(SCOPE)
    for function in REPLACED:  # CREATE OR REPLACE keeps the owner and grants; said again
        op.execute(f"ALTER FUNCTION {function} OWNER TO homeward_definer")
    for source in (HELPERS, OPEN, REDEEM, SESSIONS, GRANTS_FUNCTIONS):
        op.execute(source)
    for function, group in CALLERS.items():
        op.execute(f"ALTER FUNCTION {function} OWNER TO homeward_definer")
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
        if group is not None:
            op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {group}")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {QUEUE} FROM PUBLIC, homeward_app")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"GRANT EXECUTE ON FUNCTION {QUEUE} TO homeward_app")
    for function in reversed(CALLERS):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    before = earlier("0015_scope_the_app_cannot_set.py").SETUP
    for name in ("homeward_set_scope", "homeward_act", "homeward_act_run", "homeward_system"):
        start = before.index(f"CREATE FUNCTION {name}(")
        end = before.index("$$;", before.index("AS $$", start) + 5) + 3
        op.execute("CREATE OR REPLACE" + before[start:end].removeprefix("CREATE"))
    for function in REPLACED:
        op.execute(f"ALTER FUNCTION {function} OWNER TO homeward_definer")
    op.execute("DROP POLICY IF EXISTS homeward_own ON staff_session")
    op.execute("ALTER TABLE staff_session NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE staff_session DISABLE ROW LEVEL SECURITY")
    for table in IDENTITY_TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO homeward_app")
    op.execute(
        "REVOKE SELECT ON login_challenge, staff_session, run_grant FROM homeward_system_scope"
    )
    op.execute("ALTER TABLE homeward_scope DROP COLUMN IF EXISTS session_id")
    op.execute("DROP TABLE IF EXISTS homeward_sign_in_pepper")
