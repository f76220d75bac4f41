"""ids the app's login draws are 64-bit: no login of the app runs a sequence out (security
review: sequence exhaustion)

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-07 22:30:00

Every login of the app has USAGE on every sequence (0005: the column defaults' ``nextval``,
``homeward.base.bulk.new_ids``, ``homeward.records.audit``), so the app's login, with a SQL
prompt, calls ``nextval`` at will: ~770,000 a second by the review's count, 1.06 million here
(``SELECT count(nextval(...)) FROM generate_series(1, 2000000)``: 1.87-1.89 s, three runs,
one connection, PostgreSQL 15, load 15 on 2 cores), and an ``integer`` sequence's 2^31 - 1 ids
are gone in 34 to 47 minutes; after that every insert into that table fails, for every
organisation (a partner's insider takes the system down; an ``INSERT ... SELECT`` that fails
at its end burns its ids too).
``setval`` and ``ALTER SEQUENCE`` were never the app's (UPDATE, ownership).

Here, on PostgreSQL:

- every table whose id the app's logins draw (0042's ``ID_TABLES`` but the directory's),
  its ``id`` and every column holding such an id (``COLUMNS``: the foreign keys, an item's
  ``person_id``, a seal's ``row_id`` and ``case_id``) become ``bigint``, and its sequence
  ``AS bigint`` (its maximum 2^63 - 1: 276,000 years at 1.06 million a second);
- the directory's sequences (``organisation``, ``staff_member``: 0031, the system's alone to
  write) and the keyring binding's (one row at id 1, never drawn) are no longer the app's:
  USAGE on the first two is ``homeward_system_scope``'s (the system login adds organisations
  and staff), SELECT stays (0046's guard reads ``pg_sequence_last_value``). Their ids, and
  every function and column of an organisation or a staff member, stay ``integer``;
- the definer functions taking or holding such an id take and hold a ``bigint``
  (``FUNCTIONS``): a policy naming ``homeward_case_visible(case_id)`` then finds it, and a case
  numbered past 2^31 is seen, its version read, its mail dropped, its seal checked.

Why not draw ids where the app cannot call it in a loop (a definer trigger giving ``NEW.id``,
USAGE revoked): an insert still draws one, and an ``INSERT ... SELECT`` of a partner's own
notes runs at 35 us a row with 0044's guards (0044's measure: ~29,000 rows a second a
connection, a connection a core), its ids burnt when it is refused at its end: 2^31 in 20
hours on one connection, in a working day on a few. Only a larger id space ends it, and with
it the app's bulk paths (``new_ids``) need nothing else.

How: policies and triggers naming a column whose type changes forbid the change, so the
policies of these tables and the triggers naming their columns (0042's ``UPDATE OF id`` ...)
are read from the catalog, dropped, and made again as they were (``pg_get_triggerdef``, the
policies' own expressions: pg_dump's way), whatever migration made them. The functions are
taken from the catalog too, each with its named replacements (``FUNCTIONS``), each of which
must occur exactly once (a function not as 0046 left it stops the migration); the downgrade
makes the reverse replacements.

Cost: ``ALTER COLUMN ... TYPE bigint`` rewrites each of these tables and its indexes, holding
an ACCESS EXCLUSIVE lock on it (no reads, no writes) until the migration's transaction ends:
every table at once, for the time of copying them, which grows with the database's size.
Measured: 20,000 open cases of ``bench/scale.py`` (177 MB, 606,000 rows, at 0046) upgraded in
18.9 s (PostgreSQL 15, load 15 on 2 cores): about 1.5 minutes for 100,000 cases at that
speed, during which the app waits. Run it in a maintenance window. An id takes 4 bytes more
in each row and index entry that holds it. The downgrade fails if any id is past 2^31 - 1 (it
cannot be held). SQLite: nothing (an ``INTEGER PRIMARY KEY`` is 64-bit already).
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection, text

revision: str = "0047"
down_revision: str | Sequence[str] | None = "0046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each table's columns holding an id the app's logins draw (its own, its foreign keys', a
# seal's and an item's person): a table whose id a sequence gives and the app inserts into
# needs its line here (tests/protect/test_ids_the_app_cannot_exhaust.py checks it).
COLUMNS: dict[str, tuple[str, ...]] = {
    "assessment": ("id", "case_id"),
    "beneficiary": ("id", "case_id"),
    "calendar_entry": ("id", "item_id"),
    "case_document": ("id", "case_id"),
    "case_event": ("id", "case_id"),
    "case_key": ("case_id",),
    "case_note": ("id", "case_id"),
    "case_participant": ("id", "case_id"),
    "case_person": ("id", "case_id"),
    "checklist_item": ("id", "case_id", "person_id"),
    "consent": ("id", "case_id"),
    "enrolment": ("id", "case_id", "programme_id"),
    "handoff": ("id", "case_id", "item_id"),
    "imported_case": ("id", "case_id"),
    "item_change": ("id", "case_id", "item_id"),
    "login_request": ("id",),
    "nrm_referral": ("id", "case_id"),
    "outbox_message": ("id",),
    "outbox_recipient": ("id", "message_id"),
    "plan_goal": ("id", "case_id", "plan_id"),
    "plan_service": ("id", "case_id", "plan_id", "goal_id", "item_id"),
    "programme": ("id",),
    "programme_target": ("id", "programme_id"),
    "provider_service": ("id",),
    "reintegration_plan": ("id", "case_id"),
    "reminder": ("id", "item_id"),
    "reminder_run": ("id",),
    "request_key": ("id", "case_id"),
    "return_case": ("id",),
    "row_seal": ("row_id", "case_id"),
    "visit": ("id", "case_id", "item_id"),
}
SEQUENCES = tuple(f"{table}_id_seq" for table, columns in COLUMNS.items() if "id" in columns)
DIRECTORY = ("organisation_id_seq", "staff_member_id_seq")  # the system's to draw (0031)
NEVER_DRAWN = ("keyring_binding_id_seq",)

# Each definer function's signature as 0046 left it and as made here, and the replacements
# from its text then to its text here, (old, new) pairs.
FUNCTIONS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "homeward_case_visible(integer)",
        "homeward_case_visible(bigint)",
        (("(cid integer)", "(cid bigint)"),),
    ),
    (
        "homeward_case_touched(integer)",
        "homeward_case_touched(bigint)",
        (("(cid integer)", "(cid bigint)"),),
    ),
    (
        "homeward_item_offered(integer)",
        "homeward_item_offered(bigint)",
        (("(iid integer)", "(iid bigint)"),),
    ),
    (
        "homeward_case_version(integer)",
        "homeward_case_version(bigint)",
        (("(cid integer)", "(cid bigint)"),),
    ),
    (
        "homeward_seal_row_written(text, integer, integer)",
        "homeward_seal_row_written(text, bigint, bigint)",
        (("sealed_id integer, sealed_case integer", "sealed_id bigint, sealed_case bigint"),),
    ),
    (
        "homeward_case_ref_visible(text)",
        "homeward_case_ref_visible(text)",
        (("    cid integer;", "    cid bigint;"),),
    ),
    (
        "homeward_drop_case_mail(text, integer, text, timestamp with time zone, text[])",
        "homeward_drop_case_mail(text, integer, text, timestamp with time zone, text[])",
        (("    cid integer;", "    cid bigint;"), ("    ours integer[];", "    ours bigint[];")),
    ),
    (  # its result too: a function made again
        "homeward_queue_login_code(json)",
        "homeward_queue_login_code(json)",
        (("RETURNS integer", "RETURNS bigint"), ("    new_id integer;", "    new_id bigint;")),
    ),
    (
        "homeward_open_challenge(text, text, timestamp with time zone, integer, text)",
        "homeward_open_challenge(text, text, timestamp with time zone, integer, text)",
        (("    new_id integer;", "    new_id bigint;"),),
    ),
)

# The policies of the tables changed, as statements making them again.
POLICIES = """
SELECT format('DROP POLICY %I ON public.%I', policyname, tablename),
    format('CREATE POLICY %I ON public.%I AS %s FOR %s TO %s', policyname, tablename,
        permissive, cmd, (SELECT string_agg(CASE WHEN r = 'public' THEN 'PUBLIC'
                                            ELSE quote_ident(r) END, ', ') FROM unnest(roles) r))
    || coalesce(' USING (' || qual || ')', '') || coalesce(' WITH CHECK (' || with_check || ')', '')
FROM pg_catalog.pg_policies WHERE schemaname = 'public' AND tablename = ANY(:tables)
ORDER BY tablename, policyname
"""
# The triggers naming a column of theirs (``UPDATE OF``, ``WHEN``), as statements making them
# again (disabled if they were: a test playing the insider).
TRIGGERS = """
SELECT DISTINCT format('DROP TRIGGER %I ON %s', t.tgname, t.tgrelid::regclass),
    pg_catalog.pg_get_triggerdef(t.oid),
    CASE WHEN t.tgenabled = 'D' THEN format('ALTER TABLE %s DISABLE TRIGGER %I',
                                            t.tgrelid::regclass, t.tgname) END
FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_depend d ON d.classid = 'pg_trigger'::regclass
    AND d.objid = t.oid AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
WHERE NOT t.tgisinternal AND t.tgrelid = ANY(CAST(:tables AS regclass[]))
"""
FUNCTION_TEXT = """
SELECT pg_catalog.pg_get_functiondef(p.oid), r.rolname, array(
    SELECT a.grantee::regrole::text FROM aclexplode(p.proacl) a
    WHERE a.grantee <> 0 AND a.grantee <> p.proowner AND a.privilege_type = 'EXECUTE')
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_roles r ON r.oid = p.proowner
WHERE p.oid = to_regprocedure(:signature)
"""


def _run(conn: Connection, statement: str) -> None:
    """``statement`` as the catalog gave it: no part of it read as a parameter (a ``:name`` or
    a ``%`` in its text is the text's)."""
    conn.exec_driver_sql(statement, execution_options={"no_parameters": True})


def _remade(conn: Connection, query: str, tables: list[str]) -> list[str]:
    """Drop what ``query`` finds on ``tables``; the statements making it again."""
    rows = conn.execute(text(query), {"tables": tables}).tuples().all()
    for row in rows:
        _run(conn, row[0])
    return [statement for row in rows for statement in row[1:] if statement]


def _replaced(source: str, pairs: tuple[tuple[str, str], ...], signature: str) -> str:
    for old, new in pairs:
        if source.count(old) != 1:
            raise RuntimeError(f"0047: {signature} is not as expected ({old!r} not once)")
        source = source.replace(old, new)
    return source


def _functions(conn: Connection, *, upgrade: bool) -> None:
    """Each function of ``FUNCTIONS`` made again with its replacements (the reverse ones when
    downgrading); its owner and who may call it kept."""
    for old, new, pairs in FUNCTIONS:
        before, after = (old, new) if upgrade else (new, old)
        swapped = pairs if upgrade else tuple((b, a) for a, b in pairs)
        source, owner, callers = conn.execute(text(FUNCTION_TEXT), {"signature": before}).one()
        remade = _replaced(source, swapped, before)
        if before != after or any(a.startswith("RETURNS") for a, _ in swapped):
            conn.execute(text(f"DROP FUNCTION {before}"))  # a new signature, or result
        _run(conn, remade)
        conn.execute(text(f"ALTER FUNCTION {after} OWNER TO {owner}"))
        conn.execute(text(f"REVOKE ALL ON FUNCTION {after} FROM PUBLIC"))
        for caller in callers:
            conn.execute(text(f"GRANT EXECUTE ON FUNCTION {after} TO {caller}"))


def _retype(*, upgrade: bool) -> None:
    conn = op.get_bind()
    tables = list(COLUMNS)
    remake = _remade(conn, POLICIES, tables) + _remade(conn, TRIGGERS, tables)
    _functions(conn, upgrade=upgrade)
    kind = "bigint" if upgrade else "integer"
    for table, columns in COLUMNS.items():
        changes = ", ".join(f"ALTER COLUMN {column} TYPE {kind}" for column in columns)
        conn.execute(text(f"ALTER TABLE {table} {changes}"))
    for sequence in SEQUENCES:
        conn.execute(text(f"ALTER SEQUENCE {sequence} AS {kind}"))
    for statement in remake:
        _run(conn, statement)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _retype(upgrade=True)
    for sequence in (*DIRECTORY, *NEVER_DRAWN):
        op.execute(f"REVOKE USAGE ON SEQUENCE {sequence} FROM homeward_app")
    for sequence in DIRECTORY:
        op.execute(f"GRANT USAGE ON SEQUENCE {sequence} TO homeward_system_scope")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sequence in DIRECTORY:
        op.execute(f"REVOKE USAGE ON SEQUENCE {sequence} FROM homeward_system_scope")
    for sequence in (*DIRECTORY, *NEVER_DRAWN):
        op.execute(f"GRANT USAGE ON SEQUENCE {sequence} TO homeward_app")
    _retype(upgrade=False)
