"""row security the app cannot lift: the scope is set by definer functions, never by the app

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-06 07:00:00

Until now policies read ``current_setting('homeward.org_id')`` and ``homeward.system``, which
any role may set for itself. From here a transaction's scope is one row of ``homeward_scope``
(keyed by the backend and its transaction id), which only ``homeward_definer`` writes, through
SECURITY DEFINER functions:

- ``homeward_act(token)`` acts for the organisation of the staff member whose live session has
  that token (SHA-256 against ``staff_session``: not ended, not expired, the person active);
  ``homeward_act_run(run_id, session_id)`` does the same for a Prefect run bound to a grant of
  a session not ended;
- ``homeward_act_for(org)`` and ``homeward_system(on)`` only for a login that is a member of
  ``homeward_system_scope`` (checked on ``session_user``, which SET ROLE cannot change): the
  scheduler's and the operator's logins, never the app's.

Policies call ``homeward_current_org()``, ``homeward_current_staff()`` and
``homeward_is_system()``. The app's cross-organisation facts are narrow functions instead of
the whole system scope: whether a case_ref or programme code is taken, a case's committed
version, which cases hold a possible duplicate (ids only). ``request_key`` rows are their
actor's; ``case_key`` rows follow ``homeward_case_touched``; an organisation offered a handoff
still reads it, its item and the case row (codes, no personal data) in the transaction that
answers it (the notice of its answer is written there), and no longer once that has ended. Every definer function sets
``search_path = pg_catalog, public, pg_temp`` so no temporary table can stand in for ours.

``homeward_db_clock`` lets a test database's owner shift the clock session expiry is judged
by (a test runs on a simulated clock); it is empty, so no shift, everywhere else.
"""

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SAFE = "SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"
TRUSTED = "pg_has_role(session_user, 'homeward_system_scope', 'MEMBER')"

SETUP = f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'homeward_system_scope') THEN
        CREATE ROLE homeward_system_scope NOLOGIN;
    END IF;
END $$;
GRANT homeward_system_scope TO CURRENT_USER;
CREATE UNLOGGED TABLE homeward_scope (
    pid integer PRIMARY KEY, xact bigint NOT NULL, org_id integer, staff_id integer,
    system boolean NOT NULL DEFAULT false);
CREATE TABLE homeward_db_clock (id integer PRIMARY KEY CHECK (id = 1), shift interval NOT NULL);
REVOKE ALL ON homeward_scope, homeward_db_clock FROM PUBLIC, homeward_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON homeward_scope TO homeward_definer;
GRANT SELECT ON homeward_db_clock TO homeward_definer;
ALTER TABLE homeward_scope ENABLE ROW LEVEL SECURITY;
ALTER TABLE homeward_scope FORCE ROW LEVEL SECURITY;
CREATE POLICY homeward_scope ON homeward_scope USING (pid = pg_backend_pid());

CREATE FUNCTION homeward_scope_row() RETURNS homeward_scope
LANGUAGE sql STABLE {SAFE} AS $$
    SELECT * FROM public.homeward_scope WHERE pid = pg_backend_pid() AND xact = txid_current()
$$;
CREATE FUNCTION homeward_current_org() RETURNS integer
LANGUAGE sql STABLE {SAFE} AS $$ SELECT (public.homeward_scope_row()).org_id $$;
CREATE FUNCTION homeward_current_staff() RETURNS integer
LANGUAGE sql STABLE {SAFE} AS $$ SELECT (public.homeward_scope_row()).staff_id $$;
CREATE FUNCTION homeward_is_system() RETURNS boolean
LANGUAGE sql STABLE {SAFE} AS $$ SELECT coalesce((public.homeward_scope_row()).system, false) $$;

CREATE FUNCTION homeward_set_scope(org integer, staff integer) RETURNS void
LANGUAGE sql VOLATILE {SAFE} AS $$
    INSERT INTO public.homeward_scope (pid, xact, org_id, staff_id, system)
    VALUES (pg_backend_pid(), txid_current(), org, staff, false)
    ON CONFLICT (pid) DO UPDATE SET xact = excluded.xact, org_id = excluded.org_id,
        staff_id = excluded.staff_id, system = false
$$;
REVOKE EXECUTE ON FUNCTION homeward_set_scope(integer, integer) FROM PUBLIC;

CREATE FUNCTION homeward_act(token text) RETURNS integer
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
DECLARE
    found record;
BEGIN
    SELECT m.id, m.org_id INTO found
    FROM public.staff_session s JOIN public.staff_member m ON m.id = s.staff_id
    WHERE s.token_hash = encode(sha256(convert_to(token, 'UTF8')), 'hex')
      AND s.revoked_at IS NULL AND m.active
      AND s.expires_at > now() + coalesce((SELECT shift FROM public.homeward_db_clock), '0s');
    IF found IS NULL THEN
        RAISE EXCEPTION 'homeward: no live session has this token';
    END IF;
    PERFORM public.homeward_set_scope(found.org_id, found.id);
    RETURN found.org_id;
END $$;

CREATE FUNCTION homeward_act_run(run_id text, held_session text) RETURNS integer
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
    RETURN found.org_id;
END $$;

CREATE FUNCTION homeward_act_for(org integer, staff integer) RETURNS void
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
BEGIN
    IF NOT {TRUSTED} THEN
        RAISE EXCEPTION 'homeward: only the system login may choose an organisation';
    END IF;
    PERFORM public.homeward_set_scope(org, staff);
END $$;

CREATE FUNCTION homeward_system(turn_on boolean) RETURNS void
LANGUAGE plpgsql VOLATILE {SAFE} AS $$
BEGIN
    IF turn_on AND NOT {TRUSTED} THEN
        RAISE EXCEPTION 'homeward: this login may not act for the system; run it under the '
            'system login (homeward db roles)';
    END IF;
    INSERT INTO public.homeward_scope (pid, xact, org_id, staff_id, system)
    VALUES (pg_backend_pid(), txid_current(), NULL, NULL, turn_on)
    ON CONFLICT (pid) DO UPDATE SET system = excluded.system,
        org_id = CASE WHEN homeward_scope.xact = excluded.xact THEN homeward_scope.org_id END,
        staff_id = CASE WHEN homeward_scope.xact = excluded.xact THEN homeward_scope.staff_id END,
        xact = excluded.xact;
END $$;

CREATE FUNCTION homeward_case_refs_taken(refs text[]) RETURNS SETOF text
LANGUAGE sql STABLE {SAFE} AS $$
    SELECT case_ref FROM public.return_case WHERE case_ref = ANY(refs)
$$;
CREATE FUNCTION homeward_programme_code_taken(wanted text) RETURNS boolean
LANGUAGE sql STABLE {SAFE} AS $$
    SELECT EXISTS (SELECT 1 FROM public.programme WHERE code = wanted)
$$;
CREATE FUNCTION homeward_item_offered(iid integer) RETURNS boolean
LANGUAGE sql STABLE {SAFE} AS $$
    SELECT EXISTS (SELECT 1 FROM public.handoff h WHERE h.item_id = iid
                   AND h.to_org_id = public.homeward_current_org()
                   AND (h.status IN ('proposed', 'accepted') OR h.xmin = pg_current_xact_id()::xid))
$$;
CREATE FUNCTION homeward_case_version(cid integer) RETURNS integer
LANGUAGE sql STABLE {SAFE} AS $$ SELECT version FROM public.return_case WHERE id = cid $$;
"""

FUNCTIONS = (
    "homeward_scope_row()",
    "homeward_current_org()",
    "homeward_current_staff()",
    "homeward_is_system()",
    "homeward_set_scope(integer, integer)",
    "homeward_act(text)",
    "homeward_act_run(text, text)",
    "homeward_act_for(integer, integer)",
    "homeward_system(boolean)",
    "homeward_case_refs_taken(text[])",
    "homeward_programme_code_taken(text)",
    "homeward_item_offered(integer)",
    "homeward_case_version(integer)",
)

VISIBLE = f"""
CREATE OR REPLACE FUNCTION homeward_case_visible(cid integer) RETURNS boolean
LANGUAGE plpgsql STABLE {SAFE} AS $$
DECLARE
    scope public.homeward_scope;  -- read once: this runs for every row a policy checks
    org integer;
BEGIN
    SELECT * INTO scope FROM public.homeward_scope
    WHERE pid = pg_backend_pid() AND xact = txid_current();
    IF coalesce(scope.system, false) THEN
        RETURN true;
    END IF;
    org := scope.org_id;
    IF org IS NULL THEN
        RAISE EXCEPTION 'homeward: this transaction acts for no organisation';
    END IF;
    RETURN EXISTS (SELECT 1 FROM public.return_case c WHERE c.id = cid AND c.owner_org_id = org)
        OR EXISTS (SELECT 1 FROM public.case_participant p WHERE p.case_id = cid
                   AND p.org_id = org AND p.status = 'live')
        OR (NOT EXISTS (SELECT 1 FROM public.case_participant p WHERE p.case_id = cid
                        AND p.org_id = org AND p.status != 'live')
            AND NOT (EXISTS (SELECT 1 FROM public.consent k WHERE k.case_id = cid
                             AND k.org_id = org AND k.purpose = 'sharing'
                             AND k.withdrawn_on IS NOT NULL)
                     AND NOT EXISTS (SELECT 1 FROM public.consent k WHERE k.case_id = cid
                                     AND k.org_id = org AND k.purpose = 'sharing'
                                     AND k.withdrawn_on IS NULL))
            AND (EXISTS (SELECT 1 FROM public.checklist_item i WHERE i.case_id = cid
                         AND i.owner_org_id = org AND i.status != 'cancelled')
                 OR EXISTS (SELECT 1 FROM public.handoff h WHERE h.case_id = cid
                            AND h.to_org_id = org AND h.status IN ('proposed', 'accepted'))));
END $$
"""

TOUCHED = f"""
CREATE OR REPLACE FUNCTION homeward_case_touched(cid integer) RETURNS boolean
LANGUAGE plpgsql STABLE {SAFE} AS $$
BEGIN
    -- Visible, or a handoff to this organisation answered in this very transaction (its row
    -- written by it: xmin), so the answer's notice can be written; not once it has ended.
    RETURN public.homeward_case_visible(cid) OR EXISTS (
        SELECT 1 FROM public.handoff h WHERE h.case_id = cid
        AND h.to_org_id = public.homeward_current_org() AND h.xmin = pg_current_xact_id()::xid);
END $$
"""

# Scalar subqueries: PostgreSQL computes each once per statement (an InitPlan), not per row.
SYSTEM = "(SELECT homeward_is_system())"
ORG = "(SELECT homeward_current_org())"
SEEN = f"{SYSTEM} OR homeward_case_visible(case_id)"
TOUCHED_BY = f"{SYSTEM} OR homeward_case_touched(case_id)"
OWNED = f"{SYSTEM} OR owner_org_id = {ORG}"
# (USING, WITH CHECK) per table. An organisation offered a handoff still reads it, its item and
# the case row in the transaction that answers it (the notice of its answer is written there).
POLICIES = {
    "return_case": (f"{OWNED} OR homeward_case_touched(id)", f"{OWNED} OR homeward_case_visible(id)"),
    "case_participant": (SEEN, SEEN),
    "consent": (SEEN, SEEN),
    "beneficiary": (SEEN, SEEN),
    "enrolment": (SEEN, SEEN),
    "item_change": (SEEN, SEEN),
    "case_event": (SEEN, TOUCHED_BY),
    "handoff": (f"{SEEN} OR (to_org_id = {ORG} AND xmin = pg_current_xact_id()::xid)", TOUCHED_BY),
    "checklist_item": (f"{SEEN} OR homeward_item_offered(id)", SEEN),
    "case_key": (TOUCHED_BY, TOUCHED_BY),
    "programme": (f"{SYSTEM} OR org_id = {ORG}",) * 2,
    "imported_case": (f"{SYSTEM} OR (org_id = {ORG} AND homeward_case_visible(case_id))",) * 2,
    "request_key": (f"{SYSTEM} OR actor_id = (SELECT homeward_current_staff())",) * 2,
    "row_seal": (TOUCHED_BY, TOUCHED_BY),  # a case's seals go with its rows (migration 0014)
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(SETUP)
    for function in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} OWNER TO homeward_definer")
    op.execute(VISIBLE)
    op.execute(TOUCHED)
    for table, (using, check) in POLICIES.items():
        op.execute(f"ALTER POLICY homeward_scope ON {table} USING ({using}) WITH CHECK ({check})")


OLD_SYSTEM = "coalesce(current_setting('homeward.system', true), '') = 'on'"
OLD_ORG = "nullif(current_setting('homeward.org_id', true), '')::integer"


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    old_visible, old_touched = "homeward_case_visible(case_id)", "homeward_case_touched(case_id)"
    old = {table: old_visible for table in POLICIES}
    old |= {
        "return_case": f"({OLD_SYSTEM}) OR owner_org_id = {OLD_ORG} OR homeward_case_visible(id)",
        "programme": f"({OLD_SYSTEM}) OR org_id = {OLD_ORG}",
        "imported_case": f"({OLD_SYSTEM}) OR (org_id = {OLD_ORG} "
        "AND homeward_case_visible(case_id))",
        "request_key": OLD_SYSTEM,
        "row_seal": OLD_SYSTEM,
    }
    for table, rule in old.items():
        check = old_touched if table in ("handoff", "case_event") else rule
        op.execute(f"ALTER POLICY homeward_scope ON {table} USING ({rule}) WITH CHECK ({check})")
    consent = "0008_consent_participation.py"  # its functions, reading the settings
    source = (Path(__file__).parent / consent).read_text(encoding="utf-8")
    op.execute(source.split('VISIBLE = """', 1)[1].split('"""', 1)[0])
    op.execute(TOUCHED.replace("public.homeward_current_org()", OLD_ORG))
    for function in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.execute("DROP TABLE IF EXISTS homeward_db_clock, homeward_scope")
