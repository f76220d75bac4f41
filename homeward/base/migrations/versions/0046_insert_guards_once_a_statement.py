"""the guards on new participants, items and ids check a statement's rows together, once, at
its end, instead of each row before it is written (issue 19 point 1)

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-07 19:30:00

A bulk import writes, a case, two or three participants, four or five items, a case key and a
row in each of six tables whose id a sequence gives; each row called a PL/pgSQL guard before it
was written (0029 and 0034: ``homeward_participant_kept``, ``homeward_item_keeps_owner``; 0038:
``homeward_item_added``; 0042: ``homeward_id_drawn``), and each guard of a participant or an
item looked the case up: with 0035's key guard, about 35-40% of the server's time of an import.

Here, on PostgreSQL, each of those INSERT guards is an AFTER INSERT trigger FOR EACH STATEMENT
reading the statement's new rows (``REFERENCING NEW TABLE``) in one query, and raising, as the
row's guard did, when any row breaks the rule; the statement's rows are then not written. The
rule is the same, row by row: what the row's guard passed without a lookup passes; every other
row passes if the organisation acting owns its case (0027's lookup, as the caller, under row
security: once a case the statement writes to, not once a row); a row still refused passes
only in the system scope or for a role row security does not hold (``EXEMPT``, asked once):

- ``case_participant``: a new participant's case is owned by the organisation acting (0029);
- ``checklist_item``: a new item is the organisation acting's own ad-hoc item (0038's shape:
  open, not blocking, nothing completed), or its case is owned by the organisation acting (the
  owner places items for anyone; another organisation's item, or an own item of the catalog's,
  is the owner's: 0029's and 0038's rules, of which a row breaks at most one);
- every table of 0042's ``ID_TABLES``: the largest new id at most the sequence's
  ``last_value`` once the statement's rows are written, every default ``nextval`` drawn. An id
  no larger has been given by the sequence (to this statement, if it drew it itself), so the
  sequence gives it to no later row: what 0042 keeps, no one squats an id the next writer will
  be given.

What changes besides the cost: a refused statement is refused after its rows' row security
checks and constraints, so a row that breaks one of those too is refused with their error
rather than the guard's (refused either way); a row ``INSERT ... ON CONFLICT`` does not insert
is not checked (nothing is written; an ``ON CONFLICT DO UPDATE`` is checked by the UPDATE
guards). No constraint answers a refused row more than the login may read: row security's
WITH CHECK comes first (the case visible to the organisation), and what a key, a unique index
or a foreign key then tells (the case's participants, the directory, a sequence's ids) the login
reads anyway. Two INSERT guards stay row triggers, as their refusal must come before the key's:
0035's on ``case_key`` (a partner's second key for a case is refused as not the owner's, not as a
duplicate: tests/protect/test_partner_writes.py), and 0041's on ``row_seal`` (its key would
answer whether a row of another case has a seal: test_partner_writes_0041.py).
The UPDATE and DELETE paths keep their row triggers and functions, unchanged (0029's
participant and item guards fire on UPDATE and DELETE only now); ``homeward_item_added`` and
``homeward_id_drawn`` stay, called by no trigger, so this migration's downgrade gives their row
triggers back as they were.
The new functions look each case up by its primary key, a subquery a case, with sequential scans
off (as 0041's seal lookup): a plan made while ``return_case`` is small or never analysed (a new
database, an import's first statement, kept by PL/pgSQL for the session) read every case, each
through row security, for every case looked up (1.8 s a statement at 6,000 cases, found by the
bench), and JIT off (the disabled scan of the new rows costs enough to start it). SQLite:
nothing.
"""

from collections.abc import Sequence

from alembic import op

from homeward.base.migrations.earlier import earlier

revision: str = "0046"
down_revision: str | Sequence[str] | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_0038 = "0038_partner_handoffs_and_items_the_app_cannot_bend.py"
_0042 = "0042_cases_partners_cannot_rewrite_ids_the_app_cannot_squat.py"
_before = earlier(_0038)
PINNED, EXEMPT, DENIED = _before.PINNED, _before.EXEMPT, _before.DENIED
ID_TABLES = earlier(_0042).ID_TABLES
# Lookups by the case's primary key, one a case, whatever the statistics (see the docstring);
# the scan of the new rows then costs as a disabled plan, which would start JIT compiling.
PLANNED = "SET enable_seqscan = off SET jit = off"
NEW_ROWS = "REFERENCING NEW TABLE AS added FOR EACH STATEMENT"
# A case among the new rows' (``need``) that the organisation acting does not own: 0027's owner
# test, once a case.
NOT_OWNED = (
    "SELECT n.case_id FROM need n WHERE NOT coalesce((SELECT (c.owner_org_id = org) IS TRUE "
    "FROM public.return_case c WHERE c.id = n.case_id), false) LIMIT 1"
)

# A new participant of a case the organisation acting owns (or the system's, an exempt role's).
PARTICIPANTS_ADDED = f"""
CREATE OR REPLACE FUNCTION homeward_participants_added() RETURNS trigger
LANGUAGE plpgsql {PINNED} {PLANNED} AS $$
DECLARE
    org integer := public.homeward_current_org();
BEGIN
    IF NOT EXISTS (WITH need AS (SELECT DISTINCT a.case_id FROM added a) {NOT_OWNED}) THEN
        RETURN NULL;
    END IF;
    IF {EXEMPT} THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'homeward: only a case''s owner names the organisations that take '
        'part in it' {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

# 0038's ad-hoc shape, of a row of ``added``.
ADHOC = _before.ADHOC_SHAPE.replace("NEW.", "a.")
OWN_ADHOC = f"((a.owner_org_id = org) IS TRUE AND coalesce({ADHOC}, false))"

ITEMS_ADDED = f"""
CREATE OR REPLACE FUNCTION homeward_items_added() RETURNS trigger
LANGUAGE plpgsql {PINNED} {PLANNED} AS $$
DECLARE
    org integer := public.homeward_current_org();
    refused integer;
BEGIN
    -- the organisation acting's own ad-hoc items pass; every other item, its case's owner's
    WITH need AS (SELECT DISTINCT a.case_id FROM added a WHERE NOT {OWN_ADHOC})
    {NOT_OWNED.replace("SELECT n.case_id FROM", "SELECT 1 INTO refused FROM")};
    IF NOT FOUND OR {EXEMPT} THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT FROM added a WHERE a.owner_org_id IS NOT DISTINCT FROM org
               AND NOT coalesce({ADHOC}, false)
               AND NOT EXISTS (SELECT FROM public.return_case c WHERE c.id = a.case_id
                               AND (c.owner_org_id = org) IS TRUE)) THEN
        RAISE EXCEPTION 'homeward: a partner adds only ad-hoc items of its own, open and not '
            'blocking; the case''s other items are its owner''s' {DENIED};
    END IF;
    RAISE EXCEPTION 'homeward: an item goes to another organisation only by its case''s owner '
        'or by a handoff its addressee accepts' {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

# The largest new id against the sequence's last value (TG_ARGV[0]: the sequence); NULL, a
# sequence never drawn from, passes no id (as 0042's row guard).
IDS_DRAWN = f"""
CREATE OR REPLACE FUNCTION homeward_ids_drawn() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    top bigint := (SELECT max(a.id) FROM added a);
BEGIN
    IF top IS NULL OR top <= pg_catalog.pg_sequence_last_value(TG_ARGV[0]::regclass) THEN
        RETURN NULL;
    END IF;
    IF {EXEMPT} THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'homeward: a new % row takes the id its sequence gives (%), not % (an id '
        'not given yet)', TG_TABLE_NAME, TG_ARGV[0], top {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

FUNCTIONS = ("homeward_participants_added()", "homeward_items_added()", "homeward_ids_drawn()")


def _triggers() -> list[str]:
    lines = [
        # 0029's participant guard: UPDATE and DELETE; its INSERT, once a statement
        "DROP TRIGGER homeward_participant_kept ON case_participant",
        "CREATE TRIGGER homeward_participant_kept BEFORE UPDATE OR DELETE ON case_participant "
        "FOR EACH ROW EXECUTE FUNCTION homeward_participant_kept()",
        f"CREATE TRIGGER homeward_participant_added AFTER INSERT ON case_participant {NEW_ROWS} "
        "EXECUTE FUNCTION homeward_participants_added()",
        # 0029's item guard: UPDATE; 0038's INSERT guard and its INSERT path, once a statement
        "DROP TRIGGER homeward_item_keeps_owner ON checklist_item",
        "CREATE TRIGGER homeward_item_keeps_owner BEFORE UPDATE OF case_id, owner_org_id "
        "ON checklist_item FOR EACH ROW EXECUTE FUNCTION homeward_item_keeps_owner()",
        "DROP TRIGGER homeward_item_added ON checklist_item",
        f"CREATE TRIGGER homeward_item_added AFTER INSERT ON checklist_item {NEW_ROWS} "
        "EXECUTE FUNCTION homeward_items_added()",
    ]
    for table in ID_TABLES:  # 0042's
        lines += [
            f"DROP TRIGGER homeward_id_drawn ON {table}",
            f"CREATE TRIGGER homeward_id_drawn AFTER INSERT ON {table} {NEW_ROWS} "
            f"EXECUTE FUNCTION homeward_ids_drawn('public.{table}_id_seq')",
        ]
    return lines


def _row_triggers() -> list[str]:
    """The row triggers as 0029, 0038 and 0042 left them."""
    lines = [
        "DROP TRIGGER IF EXISTS homeward_participant_added ON case_participant",
        "DROP TRIGGER IF EXISTS homeward_participant_kept ON case_participant",
        "CREATE TRIGGER homeward_participant_kept BEFORE INSERT OR UPDATE OR DELETE "
        "ON case_participant FOR EACH ROW EXECUTE FUNCTION homeward_participant_kept()",
        "DROP TRIGGER IF EXISTS homeward_item_keeps_owner ON checklist_item",
        "CREATE TRIGGER homeward_item_keeps_owner BEFORE INSERT OR UPDATE OF case_id, "
        "owner_org_id ON checklist_item FOR EACH ROW EXECUTE FUNCTION "
        "homeward_item_keeps_owner()",
        "DROP TRIGGER IF EXISTS homeward_item_added ON checklist_item",
        "CREATE TRIGGER homeward_item_added BEFORE INSERT ON checklist_item "
        "FOR EACH ROW EXECUTE FUNCTION homeward_item_added()",
    ]
    for table in ID_TABLES:
        lines += [
            f"DROP TRIGGER IF EXISTS homeward_id_drawn ON {table}",
            f"CREATE TRIGGER homeward_id_drawn BEFORE INSERT ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION homeward_id_drawn('public.{table}_id_seq')",
        ]
    return lines


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in (PARTICIPANTS_ADDED, ITEMS_ADDED, IDS_DRAWN):
        op.execute(function)
    for name in FUNCTIONS:  # 0025: a trigger calls them, no login does
        op.execute(f"REVOKE EXECUTE ON FUNCTION {name} FROM PUBLIC")
    op.execute(";\n".join(_triggers()))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(";\n".join(_row_triggers()))
    for name in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {name}")
