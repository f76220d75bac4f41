"""row security by key: each policy check reads one case's rows, never an organisation's

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 22:30:00

Issue 19 point 1. ``homeward_case_visible`` asked, in one query, whether the case is owned by
the organisation, has it as a live participant, and so on, each ``EXISTS`` naming both the case
and the organisation. The planner may serve such a lookup from the organisation's index
(``ix_return_case_owner_org_id``, ``ix_case_participant_org_id``, ...) and filter by case; it
did while the tables' statistics were those of a nearly empty database, and PL/pgSQL keeps
that plan for the session. A bulk import (one transaction, so no statistics catch up) then
walked every case of the importing organisation for every row it checked: quadratic, 50-500 us
a call from 1k to 20k cases.

Here each query's ``WHERE`` names only the case (``return_case`` by its primary key, its rows
by ``case_id``); the organisation is tested after, in the select list or an aggregate's
``FILTER``, which no index can serve. Whatever the statistics, a check reads one case's rows.
The rule is unchanged (``homeward.protection.access.case_org_ids``): the owner, a live
participant, or the owner of an item not cancelled or receiver of a live handoff, unless a
participant waiting for consent or whose part ended, or the person withdrew sharing with it.
``homeward_case_touched`` and ``homeward_item_offered`` get the same treatment for their
handoff lookups (``ix_handoff_to_org_id``). SQLite has no row security: nothing to do.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SAFE = "SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"

VISIBLE = f"""
CREATE OR REPLACE FUNCTION homeward_case_visible(cid integer) RETURNS boolean
LANGUAGE plpgsql STABLE {SAFE} AS $$
DECLARE
    scope public.homeward_scope;  -- read once: this runs for every row a policy checks
    org integer;
    owned boolean;
    live boolean;
    left_case boolean;  -- waiting for consent, or its part ended
    withdrawn boolean;
    consented boolean;
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
    -- Each WHERE names the case alone; the organisation is tested on the case's rows.
    SELECT c.owner_org_id = org INTO owned FROM public.return_case c WHERE c.id = cid;
    IF owned THEN
        RETURN true;
    END IF;
    SELECT count(*) FILTER (WHERE p.org_id = org AND p.status = 'live') > 0,
           count(*) FILTER (WHERE p.org_id = org AND p.status != 'live') > 0
    INTO live, left_case FROM public.case_participant p WHERE p.case_id = cid;
    IF live THEN
        RETURN true;
    ELSIF left_case THEN
        RETURN false;
    END IF;
    SELECT count(*) FILTER (WHERE k.org_id = org AND k.purpose = 'sharing'
                            AND k.withdrawn_on IS NOT NULL) > 0,
           count(*) FILTER (WHERE k.org_id = org AND k.purpose = 'sharing'
                            AND k.withdrawn_on IS NULL) > 0
    INTO withdrawn, consented FROM public.consent k WHERE k.case_id = cid;
    IF withdrawn AND NOT consented THEN
        RETURN false;
    END IF;
    RETURN (SELECT count(*) FILTER (WHERE i.owner_org_id = org AND i.status != 'cancelled') > 0
            FROM public.checklist_item i WHERE i.case_id = cid)
        OR (SELECT count(*) FILTER (WHERE h.to_org_id = org
                                    AND h.status IN ('proposed', 'accepted')) > 0
            FROM public.handoff h WHERE h.case_id = cid);
END $$
"""

TOUCHED = f"""
CREATE OR REPLACE FUNCTION homeward_case_touched(cid integer) RETURNS boolean
LANGUAGE plpgsql STABLE {SAFE} AS $$
BEGIN
    -- Visible, or a handoff to this organisation answered in this very transaction (its row
    -- written by it: xmin), so the answer's notice can be written; not once it has ended.
    RETURN public.homeward_case_visible(cid) OR (
        SELECT count(*) FILTER (WHERE h.to_org_id = public.homeward_current_org()
                                AND h.xmin = pg_current_xact_id()::xid) > 0
        FROM public.handoff h WHERE h.case_id = cid);
END $$
"""

# The scope, read by every policy once a statement: PL/pgSQL keeps its plan for the session,
# where an SQL function under SECURITY DEFINER is planned again at each statement (a bulk
# insert's rows, sent one statement each, paid it for every row).
SCOPE = f"""
CREATE OR REPLACE FUNCTION homeward_current_org() RETURNS integer
LANGUAGE plpgsql STABLE {SAFE} AS $$
DECLARE
    found integer;
BEGIN
    SELECT org_id INTO found FROM public.homeward_scope
    WHERE pid = pg_backend_pid() AND xact = txid_current();
    RETURN found;
END $$;
CREATE OR REPLACE FUNCTION homeward_current_staff() RETURNS integer
LANGUAGE plpgsql STABLE {SAFE} AS $$
DECLARE
    found integer;
BEGIN
    SELECT staff_id INTO found FROM public.homeward_scope
    WHERE pid = pg_backend_pid() AND xact = txid_current();
    RETURN found;
END $$;
CREATE OR REPLACE FUNCTION homeward_is_system() RETURNS boolean
LANGUAGE plpgsql STABLE {SAFE} AS $$
DECLARE
    found boolean;
BEGIN
    SELECT system INTO found FROM public.homeward_scope
    WHERE pid = pg_backend_pid() AND xact = txid_current();
    RETURN coalesce(found, false);
END $$
"""
# 0015's, as it wrote them.
OLD_SCOPE = f"""
CREATE OR REPLACE FUNCTION homeward_current_org() RETURNS integer
LANGUAGE sql STABLE {SAFE} AS $$ SELECT (public.homeward_scope_row()).org_id $$;
CREATE OR REPLACE FUNCTION homeward_current_staff() RETURNS integer
LANGUAGE sql STABLE {SAFE} AS $$ SELECT (public.homeward_scope_row()).staff_id $$;
CREATE OR REPLACE FUNCTION homeward_is_system() RETURNS boolean
LANGUAGE sql STABLE {SAFE} AS $$ SELECT coalesce((public.homeward_scope_row()).system, false) $$
"""

OFFERED = f"""
CREATE OR REPLACE FUNCTION homeward_item_offered(iid integer) RETURNS boolean
LANGUAGE sql STABLE {SAFE} AS $$
    SELECT count(*) FILTER (WHERE h.to_org_id = public.homeward_current_org()
                            AND (h.status IN ('proposed', 'accepted')
                                 OR h.xmin = pg_current_xact_id()::xid)) > 0
    FROM public.handoff h WHERE h.item_id = iid
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # CREATE OR REPLACE keeps each function's owner (homeward_definer) and grants.
    for function in (SCOPE, VISIBLE, TOUCHED, OFFERED):
        op.execute(function)


# 0015's homeward_item_offered, as it was written there.
OLD_OFFERED = f"""
CREATE OR REPLACE FUNCTION homeward_item_offered(iid integer) RETURNS boolean
LANGUAGE sql STABLE {SAFE} AS $$
    SELECT EXISTS (SELECT 1 FROM public.handoff h WHERE h.item_id = iid
                   AND h.to_org_id = public.homeward_current_org()
                   AND (h.status IN ('proposed', 'accepted') OR h.xmin = pg_current_xact_id()::xid))
$$
"""


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    path = Path(__file__).parent / "0015_scope_the_app_cannot_set.py"
    spec = importlib.util.spec_from_file_location("homeward_migration_0015", path)
    assert spec is not None and spec.loader is not None  # noqa: S101 (our own file)
    before = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(before)
    for function in (OLD_SCOPE, before.VISIBLE, before.TOUCHED, OLD_OFFERED):
        op.execute(function)
