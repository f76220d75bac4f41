"""a sign-in try is counted before it is answered, a run acts only with its grant's id, and the
times the app gives the sign-in functions are the database's own (security review of 0032)

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 10:00:00

Three escapes of the app login with a SQL prompt, each closed here on PostgreSQL:

- ``homeward_redeem_code`` counted a try and answered it in the same transaction: a caller
  that rolled it back (or a savepoint) had its answer and no try counted, so it could guess
  every 8-digit code of anyone who asked for one and sign in as them. From here a try is
  answered only once a transaction of its own, committed, has counted it: the first call
  counts it and answers ``pending`` (its guess kept, keyed, in ``homeward_code_try``, which
  only ``homeward_definer`` reads); the same call again, in a later transaction, answers it
  (``homeward.protection.identity`` commits between the two);
- ``homeward_act_run(run, session)`` took two ids that every history event of a run prints
  (``proof``: "run R for session S"): whoever read a history acted as that person and could
  issue new run grants to their session. ``homeward_act_run_grant(run, grant)`` takes the
  grant's id instead, which only the run's signed assertion carries; the old function is
  nobody's to call;
- the ``p_at`` of the sign-in functions was the app's word: a code or a session lived as long
  as it liked (a session for ever, a code past its minutes, a dead code alive again). From
  here each such time must be within 5 minutes of the database's clock (widened by
  ``homeward_db_clock``'s shift, which only a test database has).
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

from homeward.base.migrations.earlier import earlier

revision: str = "0036"
down_revision: str | Sequence[str] | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SAFE = "SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"
MAX_TRIES = 5  # homeward.protection.identity.MAX_TRIES
SKEW = "5 minutes"  # how far the app's clock may be from the database's

SETUP = """
CREATE TABLE homeward_code_try (
    challenge_id text PRIMARY KEY,
    code_hash text NOT NULL,
    xact bigint NOT NULL
);
REVOKE ALL ON homeward_code_try FROM PUBLIC, homeward_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON homeward_code_try TO homeward_definer;
"""

CHECKED_AT = f"""
CREATE FUNCTION homeward_checked_at(p_at timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE {SAFE} AS $$
DECLARE
    shift interval := coalesce((SELECT c.shift FROM public.homeward_db_clock c), '0s');
    spread interval;
BEGIN
    spread := CASE WHEN shift < interval '0s' THEN -shift ELSE shift END
        + interval '{SKEW}';
    IF p_at IS NULL OR p_at < now() - spread OR p_at > clock_timestamp() + spread THEN
        RAISE EXCEPTION 'homeward: the time given is not the database''s (more than {SKEW} '
            'apart); set the app server''s clock right';
    END IF;
    RETURN p_at;
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

REDEEM = f"""
CREATE OR REPLACE FUNCTION homeward_redeem_code(p_address text, p_code text, p_label text,
    p_at timestamptz, p_hours integer)
RETURNS TABLE (outcome text, staff integer, session_id text, token text,
    expires_at timestamptz, channel text)
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
DECLARE
    member public.staff_member;
    live public.login_challenge;
    held public.homeward_code_try;
    guess text;
    made text;
    sid text;
BEGIN
    p_at := public.homeward_checked_at(p_at);
    IF p_code IS NULL OR p_code !~ '^[0-9]{{8}}$'
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
    ORDER BY c.created_at DESC LIMIT 1
    FOR UPDATE;  -- tries in parallel are counted one after the other
    IF live.id IS NULL THEN
        RETURN QUERY SELECT 'expired'::text, member.id, NULL::text, NULL::text,
            NULL::timestamptz, NULL::text;
        RETURN;
    END IF;
    guess := public.homeward_sign_in_hash(live.id, p_code);
    SELECT * INTO held FROM public.homeward_code_try t WHERE t.challenge_id = live.id;
    IF held.challenge_id IS NULL OR held.code_hash IS DISTINCT FROM guess
       OR held.xact = txid_current() THEN
        -- not yet counted by a transaction of its own, committed: count it, answer nothing
        IF live.attempts >= {MAX_TRIES} THEN
            RETURN QUERY SELECT 'expired'::text, member.id, NULL::text, NULL::text,
                NULL::timestamptz, NULL::text;
            RETURN;
        END IF;
        UPDATE public.login_challenge c SET attempts = c.attempts + 1 WHERE c.id = live.id;
        INSERT INTO public.homeward_code_try (challenge_id, code_hash, xact)
        VALUES (live.id, guess, txid_current())
        ON CONFLICT (challenge_id) DO UPDATE SET code_hash = excluded.code_hash,
            xact = excluded.xact;
        RETURN QUERY SELECT 'pending'::text, member.id, NULL::text, NULL::text,
            NULL::timestamptz, live.channel::text;
        RETURN;
    END IF;
    DELETE FROM public.homeward_code_try t WHERE t.challenge_id = live.id;  -- answered once
    IF live.code_hash IS DISTINCT FROM guess THEN
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

ACT_RUN_GRANT = f"""
CREATE FUNCTION homeward_act_run_grant(p_run text, p_grant text) RETURNS integer
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
DECLARE
    found record;
BEGIN
    SELECT m.id, m.org_id, g.session_id INTO found
    FROM public.run_grant g JOIN public.staff_session s ON s.id = g.session_id
    JOIN public.staff_member m ON m.id = g.staff_id
    WHERE g.id = p_grant AND g.flow_run_id = p_run
      AND s.revoked_at IS NULL AND m.active;
    IF found IS NULL THEN
        RAISE EXCEPTION 'homeward: no run grant of a live session is bound to this run';
    END IF;
    PERFORM public.homeward_set_scope(found.org_id, found.id);
    UPDATE public.homeward_scope SET session_id = found.session_id WHERE pid = pg_backend_pid();
    RETURN found.org_id;
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

# 0032's functions whose p_at is checked from here (the first statement of each body)
CHECKED = (
    "homeward_open_challenge",
    "homeward_end_sessions",
    "homeward_issue_run_grant",
    "homeward_bind_run_grant",
)
APP = "homeward_app"
NEW: dict[str, str | None] = {
    "homeward_checked_at(timestamp with time zone)": None,
    "homeward_act_run_grant(text, text)": APP,
}
ACT_RUN = "homeward_act_run(text, text)"



def _functions_of_0032() -> dict[str, str]:
    """Each of 0032's sign-in functions, as ``CREATE OR REPLACE`` source, by name."""
    before = earlier("0032_sign_in_made_in_the_database.py")
    sources = "\n".join((before.OPEN, before.REDEEM, before.SESSIONS, before.GRANTS_FUNCTIONS))
    found = {}
    for name in (*CHECKED, "homeward_redeem_code"):
        start = sources.index(f"CREATE FUNCTION {name}(")
        end = sources.index("END $$", start) + len("END $$")
        found[name] = "CREATE OR REPLACE" + sources[start:end].removeprefix("CREATE")
    return found


def _checked(source: str) -> str:
    head, sep, body = source.partition("\nBEGIN\n")
    assert sep, "a 0032 function without a BEGIN"  # noqa: S101 (our own source)
    return f"{head}{sep}    p_at := public.homeward_checked_at(p_at);\n{body}"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(SETUP)
    op.execute(CHECKED_AT)
    op.execute(ACT_RUN_GRANT)
    for function, group in NEW.items():
        op.execute(f"ALTER FUNCTION {function} OWNER TO homeward_definer")
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
        if group is not None:
            op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {group}")
    before = _functions_of_0032()
    for name in CHECKED:  # CREATE OR REPLACE keeps each one's owner and grants
        op.execute(_checked(before[name]))
    op.execute(REDEEM)
    op.execute(f"REVOKE EXECUTE ON FUNCTION {ACT_RUN} FROM PUBLIC, homeward_app")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"GRANT EXECUTE ON FUNCTION {ACT_RUN} TO homeward_app")
    for source in _functions_of_0032().values():
        op.execute(source)
    for function in reversed(NEW):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.execute("DROP TABLE IF EXISTS homeward_code_try")
