"""the sign-in email's link and hourly limit, and a withdrawal's mail stop, where the app's
login cannot get round them (0026's open points)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 06:40:00

On PostgreSQL, for an app login that opens a challenge itself (it may insert into
``login_challenge``, and skip ``homeward.protection.identity``'s hourly limit, which the app
keeps in Python):

- ``homeward_queue_login_code`` stores the code and its minutes only. A context with any other
  field, or a link, is refused: the sender adds the sign-in link from its own settings
  (``notifications.contexts.with_signin_link``), so an app login cannot send a real staff
  member a code with a link of its choosing from our own sender;
- it queues at most ``CODES_PER_HOUR`` sign-in emails an hour to one staff member, counted by
  the database's clock in ``homeward_code_mail`` (written by the function alone; the app's
  login has no grant on it), whatever the app's clock or limit say;
- ``homeward_drop_case_mail``, called by an app transaction, requires the organisation's
  sharing to be withdrawn now: a withdrawn sharing consent for it on the case and no live one.
  A withdrawal event alone no longer does: sharing withdrawn and given again later left the
  organisation's new mail about the case open to any other organisation that sees the case.

SQLite has no such login: the app's checks apply.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SAFE = "SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"
# the highest ``login_codes_per_hour`` allows (``homeward.base.settings``): the app's own limit
# answers first; this one holds when the app's is skipped
CODES_PER_HOUR = 10

QUEUE = "homeward_queue_login_code(json)"
DROP = "homeward_drop_case_mail(text, integer, text, timestamp with time zone, text[])"

TABLE = """
CREATE TABLE homeward_code_mail (
    staff_id integer NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX ix_homeward_code_mail_staff_at ON homeward_code_mail (staff_id, at);
REVOKE ALL ON homeward_code_mail FROM PUBLIC, homeward_app;
GRANT SELECT, INSERT, DELETE ON homeward_code_mail TO homeward_definer;
"""

# The sign-in email of a challenge this very transaction opened (its row's xmin), to that
# staff member's address only, holding its code and minutes only, and no more than
# CODES_PER_HOUR of them an hour to the staff member by the database's clock.
QUEUE_CODE = f"""
CREATE OR REPLACE FUNCTION homeward_queue_login_code(msg json) RETURNS integer
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
DECLARE
    m public.outbox_message;
    staff integer;
    address text;
    ctx json;
    new_id integer;
BEGIN
    m := json_populate_record(NULL::public.outbox_message, msg);
    SELECT s.id, s.email INTO staff, address
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
    ctx := m.context;
    IF json_typeof(ctx) IS DISTINCT FROM 'object'
       OR EXISTS (SELECT 1 FROM json_object_keys(ctx) AS k(name)
                  WHERE k.name NOT IN ('code', 'minutes', 'link'))
       OR coalesce(json_typeof(ctx -> 'link'), 'null') <> 'null'
       OR coalesce(ctx ->> 'code', '') !~ '^[0-9]{{8}}$'
       OR json_typeof(ctx -> 'minutes') IS DISTINCT FROM 'number'
       OR (ctx ->> 'minutes') !~ '^[0-9]{{1,2}}$'
       OR (ctx ->> 'minutes')::integer NOT BETWEEN 1 AND 60 THEN
        RAISE EXCEPTION 'homeward: a sign-in email holds its code and minutes only '
            '(the sender adds the link)';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('homeward_code_mail'), staff);
    DELETE FROM public.homeward_code_mail WHERE at <= clock_timestamp() - interval '1 hour';
    IF (SELECT count(*) FROM public.homeward_code_mail c WHERE c.staff_id = staff)
       >= {CODES_PER_HOUR} THEN
        RAISE EXCEPTION 'homeward: {CODES_PER_HOUR} sign-in codes were sent to this staff '
            'member in the last hour';
    END IF;
    INSERT INTO public.outbox_message (key, template, language, to_addrs, context, message_id,
        status, attempts, next_attempt_at, created_at, org_id)
    VALUES (m.key, 'login_code', m.language, m.to_addrs,
        json_build_object('code', ctx ->> 'code', 'minutes', (ctx ->> 'minutes')::integer),
        m.message_id, 'queued', 0, m.next_attempt_at, m.created_at, NULL)
    ON CONFLICT (key) DO NOTHING
    RETURNING id INTO new_id;
    IF new_id IS NOT NULL THEN
        INSERT INTO public.outbox_recipient (message_id, address, status, attempts,
            next_attempt_at, updated_at)
        VALUES (new_id, m.to_addrs ->> 0, 'pending', 0, m.created_at, m.created_at);
        INSERT INTO public.homeward_code_mail (staff_id, at) VALUES (staff, clock_timestamp());
    END IF;
    RETURN new_id;
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

# 0026's check on an app caller of homeward_drop_case_mail, and what replaces it
WITHDRAWN_EVER = """EXISTS (
            SELECT 1 FROM public.case_event e JOIN public.organisation o ON o.id = org
            WHERE e.case_id = cid AND e.trigger = 'sharing_consent_withdrawn'
              AND e.data ->> 'org' = o.slug)) THEN"""
WITHDRAWN_NOW = """EXISTS (
            SELECT 1 FROM public.consent k
            WHERE k.case_id = cid AND k.purpose = 'sharing' AND k.org_id = org
              AND k.withdrawn_on IS NOT NULL)
        AND NOT EXISTS (
            SELECT 1 FROM public.consent k
            WHERE k.case_id = cid AND k.purpose = 'sharing' AND k.org_id = org
              AND k.withdrawn_on IS NULL)) THEN"""


def _before() -> ModuleType:
    path = Path(__file__).parent / "0026_outbox_row_security.py"
    spec = importlib.util.spec_from_file_location("homeward_migration_0026", path)
    assert spec is not None and spec.loader is not None  # noqa: S101 (our own file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _replacing(source: str) -> str:
    return source.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def _drop_source() -> str:
    source = _before().DROP
    assert WITHDRAWN_EVER in source  # noqa: S101 (our own files)
    return _replacing(source.replace(WITHDRAWN_EVER, WITHDRAWN_NOW))


def _owned(function: str) -> None:
    op.execute(f"ALTER FUNCTION {function} OWNER TO homeward_definer")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO homeward_app")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TABLE)
    op.execute(QUEUE_CODE)
    op.execute(_drop_source())
    for function in (QUEUE, DROP):
        _owned(function)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_replacing(_before().QUEUE_CODE))
    op.execute(_replacing(_before().DROP))
    for function in (QUEUE, DROP):
        _owned(function)
    op.execute("DROP TABLE IF EXISTS homeward_code_mail")
