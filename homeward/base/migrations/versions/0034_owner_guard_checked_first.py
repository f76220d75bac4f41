"""0029's guards on participants and items ask first whether the acting organisation owns the
case: one lookup by primary key, before the system and role tests

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 09:00:00

Issue 19 point 1. A bulk import writes three participants and four items a case, and 0029's
triggers on ``case_participant`` and ``checklist_item`` (a partner's item) asked, for each
row, whether the transaction acts for the system (``homeward_is_system()``, a definer call),
whether the role is exempt from row security (a ``pg_roles`` lookup), and only then whether
the organisation acting owns the case, the answer that passes the row: about half the
server's time of an import.

Here the owner test comes first, as 0027 put it first in the policies: a row of a case the
acting organisation owns passes after one call and one lookup. The rule is the same: each
guard passes a row when the system acts, or the role is exempt, or the owner test (and, for
an item's new organisation, the handoff test) holds, and refuses it otherwise; only the order
of the tests changes, and a test that passes makes the others moot. The owner test reads
``return_case`` as the caller and calls ``homeward_current_org()``, as 0027's policies do
for every row the app writes (and as the item guard did first already); it raises nothing
(no scope: no organisation, the test is false and the next ones are asked, as before). The
item guard reuses the organisation it read first instead of calling for it again. SQLite has
no row security: nothing to do.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

from homeward.base.migrations.earlier import earlier

revision: str = "0034"
down_revision: str | Sequence[str] | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None



def _guards() -> ModuleType:
    return earlier("0029_case_owner_the_app_cannot_take.py")


def participant_guard(guards: ModuleType) -> str:
    """0029's participant guard, the owner test first."""
    pinned, exempt, owns = guards.PINNED, guards.EXEMPT, guards.OWNS
    row = "CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END"
    return f"""
CREATE OR REPLACE FUNCTION homeward_participant_kept() RETURNS trigger
LANGUAGE plpgsql {pinned} AS $$
BEGIN
    -- the case's owner (most rows: one lookup by primary key)
    IF TG_OP = 'INSERT' THEN
        IF {owns.format(cid="NEW.case_id")} THEN
            RETURN NEW;
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        IF {owns.format(cid="OLD.case_id")} THEN
            RETURN OLD;
        END IF;
    ELSIF {owns.format(cid="OLD.case_id")} AND {owns.format(cid="NEW.case_id")} THEN
        RETURN NEW;
    END IF;
    IF public.homeward_is_system() OR {exempt} THEN
        RETURN {row};
    END IF;
    RAISE EXCEPTION 'homeward: only a case''s owner names the organisations that take '
        'part in it' USING ERRCODE = 'insufficient_privilege';
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)


def item_guard(guards: ModuleType) -> str:
    """0029's item guard, the case's owner asked before the system and the role, with the
    organisation read once."""
    pinned, exempt = guards.PINNED, guards.EXEMPT
    owns = guards.OWNS.replace("public.homeward_current_org()", "org").format(cid="NEW.case_id")
    return f"""
CREATE OR REPLACE FUNCTION homeward_item_keeps_owner() RETURNS trigger
LANGUAGE plpgsql {pinned} AS $$
DECLARE
    org integer;
BEGIN
    org := public.homeward_current_org();
    IF TG_OP = 'INSERT' AND NEW.owner_org_id = org THEN
        RETURN NEW;  -- its own item (most rows: no lookup)
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.case_id, NEW.owner_org_id)
       IS NOT DISTINCT FROM (OLD.case_id, OLD.owner_org_id) THEN
        RETURN NEW;
    END IF;
    IF (TG_OP = 'INSERT' OR NEW.case_id = OLD.case_id) AND {owns} THEN
        RETURN NEW;  -- the case's owner places its items (one lookup by primary key)
    END IF;
    IF public.homeward_is_system() OR {exempt} THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND coalesce(NEW.case_id = OLD.case_id AND NEW.owner_org_id = org
        AND EXISTS (SELECT FROM public.handoff h WHERE h.item_id = OLD.id
                    AND h.from_org_id = OLD.owner_org_id AND h.to_org_id = org
                    AND (h.status = 'proposed' OR (h.status = 'accepted'
                         AND h.xmin = pg_current_xact_id()::xid))), false) THEN
        RETURN NEW;  -- the addressee of the item's handoff takes it
    END IF;
    RAISE EXCEPTION 'homeward: an item goes to another organisation only by its case''s owner '
        'or by a handoff its addressee accepts' USING ERRCODE = 'insufficient_privilege';
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    guards = _guards()
    op.execute(participant_guard(guards))
    op.execute(item_guard(guards))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    guards = _guards()  # CREATE OR REPLACE keeps the functions' owner and grants
    op.execute(guards.PARTICIPANT_GUARD)
    op.execute(guards.ITEM_GUARD)
