"""PostgreSQL: no login of the app runs a sequence out (migration 0047).

The app's login draws ids (``nextval``: a column's default, ``bulk.new_ids``) at will; every
sequence it may draw from is 64-bit (2^63 - 1: centuries of ``nextval`` in a loop), with every
column holding its ids; it may neither set a sequence nor draw the directory's ids. A case
whose ids are past 2^31 is written, seen and guarded as before: the owner opens it, the
partner sees it, and the partner still cannot squat an id its sequence has not given.
"""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text

from homeward.base.db import get_engine, normalise_url
from homeward.base.migrate import alembic_config, head_revision, upgrade
from homeward.base.migrations.earlier import earlier
from tests.conftest import BACKEND
from tests.protect.test_case_owner import partner as partner  # the fixture: the case, ADPARE
from tests.protect.test_partner_writes import _try

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="sequences are PostgreSQL's")

_0047 = earlier("0047_ids_the_app_cannot_exhaust.py")
BIGGEST = 2**63 - 1
PAST_31_BITS = 3_000_000_000

# Each sequence of the schema: its type, its maximum, and whether the app's group may draw it.
SEQUENCES = text(
    "SELECT s.seqrelid::regclass::text, format_type(s.seqtypid, NULL), s.seqmax, "
    "has_sequence_privilege('homeward_app', s.seqrelid, 'USAGE') FROM pg_sequence s"
)
# Each foreign key's column, the table it points at, and the column's type.
KEYS = text(
    "SELECT c.relname || '.' || a.attname, k.confrelid::regclass::text, "
    "format_type(a.atttypid, NULL) FROM pg_constraint k JOIN pg_attribute a "
    "ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] "
    "JOIN pg_class c ON c.oid = k.conrelid WHERE k.contype = 'f'"
)
COLUMN_TYPE = text(
    "SELECT format_type(atttypid, NULL) FROM pg_attribute "
    "WHERE attrelid = CAST(:t AS regclass) AND attname = :c"
)
POLICIES = text(
    "SELECT tablename, policyname, cmd, roles::text, qual, with_check FROM pg_policies "
    "ORDER BY 1, 2"
)
TRIGGERS = text(
    "SELECT pg_get_triggerdef(oid), tgenabled FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1"
)


def _drawn(engine: Engine) -> dict[str, tuple[str, int]]:
    """Each sequence the app's group may draw: its type and maximum."""
    with engine.connect() as conn:
        rows = conn.execute(SEQUENCES).tuples().all()
    return {name: (kind, most) for name, kind, most, usage in rows if usage}


def test_every_sequence_the_app_draws_is_64_bit(engine):
    drawn = _drawn(engine)
    assert set(drawn) == set(_0047.SEQUENCES)  # a new such table: its line in COLUMNS
    assert set(drawn.values()) == {("bigint", BIGGEST)}


def test_every_column_holding_a_drawn_id_is_64_bit(engine):
    """Every foreign key to a table whose ids the app draws, and every other column holding
    such an id (a seal's, an item's person), is ``bigint``; a key to the directory stays
    ``integer`` (its ids are the system's to draw)."""
    held = {(table, column) for table, columns in _0047.COLUMNS.items() for column in columns}
    drawn = {name.removesuffix("_id_seq") for name in _0047.SEQUENCES}
    with engine.connect() as conn:
        keys = conn.execute(KEYS).tuples().all()
        kinds = {
            conn.execute(COLUMN_TYPE, {"t": table, "c": column}).scalar_one()
            for table, column in held
        }
    assert kinds == {"bigint"}
    to_drawn = {tuple(column.split(".")) for column, target, _ in keys if target in drawn}
    assert to_drawn <= held
    others = {target: kind for _, target, kind in keys if target not in drawn}
    assert others == {
        "organisation": "integer",
        "staff_member": "integer",
        "staff_session": "character varying",
    }


REFUSED = {  # what the app's login may not do to a sequence
    "setval": "SELECT setval('case_note_id_seq', 9223372036854775806)",
    "setval, a directory's": "SELECT setval('organisation_id_seq', 2147483646)",
    "draw the directory's ids": "SELECT nextval('organisation_id_seq')",
    "draw a staff member's ids": "SELECT nextval('staff_member_id_seq')",
    "draw the keyring binding's": "SELECT nextval('keyring_binding_id_seq')",
    "alter a sequence": "ALTER SEQUENCE case_note_id_seq AS integer",
    "restart a sequence": "ALTER SEQUENCE case_note_id_seq RESTART WITH 2147483647",
}


@pytest.mark.parametrize("step", list(REFUSED.values()), ids=list(REFUSED))
def test_the_app_login_cannot_set_a_sequence_nor_draw_the_directory(partner, step):
    conn, values = partner
    refusal = _try(conn, [step], values)
    assert isinstance(refusal, str)
    assert "permission denied" in refusal or "must be owner" in refusal


def test_the_app_login_draws_ids_as_its_commands_do(partner):
    """The control: ``nextval`` of a table it writes (``bulk.new_ids``) is still the app's."""
    conn, values = partner
    drawn = _try(conn, ["SELECT nextval('case_note_id_seq') FROM generate_series(1, 3)"], values)
    assert drawn == [3]


@pytest.fixture
def far(_template_db: str, db_url: str) -> None:
    """Every sequence the app draws set past 2^31 (as the tables' owner), before the case."""
    del db_url  # the test's database emptied first
    owner = create_engine(normalise_url(_template_db))
    with owner.begin() as conn:
        for sequence in _0047.SEQUENCES:
            conn.execute(text(f"SELECT setval('{sequence}', {PAST_31_BITS})"))
    owner.dispose()


@pytest.fixture
def far_partner(far, partner):
    del far
    return partner


def test_a_case_past_31_bits_is_written_seen_and_guarded(far_partner, engine):
    """The owner opened a case (items, events, seals, a transfer, a handoff) with ids past
    2^31; ADPARE sees it through row security, reads its version, and is refused an id its
    sequence has not given (0046), as before."""
    conn, values = far_partner
    assert values["id"] > PAST_31_BITS
    with engine.connect() as admin:
        assert admin.execute(text("SELECT min(row_id) FROM row_seal")).scalar_one() > PAST_31_BITS
    seen = _try(
        conn,
        [
            "SELECT id FROM return_case",
            "SELECT homeward_case_version({id})",
            "SELECT id FROM checklist_item",
        ],
        values,
    )
    assert isinstance(seen, list)
    assert seen[0] == 1 and seen[1] == 1 and seen[2] > 0
    note = (  # ADPARE's own note on the case, as its command writes it (0044)
        "INSERT INTO case_note (id, case_id, author_id, org_id, at, visibility) "
        "SELECT ID_GIVEN, {id}, {staff}, {me}, now(), 'shared'"
    )
    given = note.replace("ID_GIVEN", "nextval('case_note_id_seq')")
    assert _try(conn, [given], values) == [1]
    squat = note.replace("ID_GIVEN", "(SELECT last_value + 50 FROM case_note_id_seq)")
    refusal = _try(conn, [squat], values)
    assert isinstance(refusal, str) and "takes the id its sequence gives" in refusal


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0047_downgrades_to_integer_ids_and_upgrades_again(engine):
    def schema() -> tuple[object, ...]:
        with engine.connect() as conn:
            return (
                conn.execute(POLICIES).tuples().all(),
                conn.execute(TRIGGERS).tuples().all(),
            )

    at_head = schema()
    command.downgrade(alembic_config(get_engine()), "0046")
    assert schema() == at_head  # the policies and triggers made again as they were
    assert set(_drawn(engine).values()) == {("integer", 2**31 - 1)}
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT to_regprocedure('homeward_case_visible(integer)') IS NOT NULL")
        ).scalar_one()
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert schema() == at_head
    assert set(_drawn(engine).values()) == {("bigint", BIGGEST)}
