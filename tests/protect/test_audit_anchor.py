"""``homeward audit verify`` and ``homeward audit checkpoint`` as a user reaches them, on either
backend: the case history and the case rows are sealed, the chain's head is anchored outside
the database, and what an insider changes shows as one line and exit 9 (reading a swapped
value: exit 8)."""

from __future__ import annotations

import json
import stat

import pytest
from alembic import command
from sqlalchemy import text

from homeward.base.db import get_engine, write_session
from homeward.base.errors import Refused
from homeward.base.migrate import alembic_config, upgrade
from homeward.commands.runner import run
from homeward.commands.scheduled import CheckpointAudit
from homeward.edges.cli.common import state
from homeward.protection.retention import purge_due
from homeward.records import anchor
from homeward.records.auditlog import verify
from tests import factories as f
from tests.cli.runner import run_cli
from tests.conftest import BACKEND
from tests.signin import credential_for
from workflows.runtime import SCHEDULER


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    f.seed()
    monkeypatch.setattr(state, "clock", clock)

    def run_(*args: str):
        return run_cli(capsys, monkeypatch, *args)

    return run_


def _unguard(conn) -> None:
    """The insider first disables the append-only guards."""
    if BACKEND == "sqlite":
        names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        for (name,) in list(names):
            conn.execute(text(f'DROP TRIGGER "{name}"'))
    else:
        for table in ("audit_entry", "case_event"):
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


def _broken(result, *words: str) -> None:
    assert result.code == 9, result.err
    assert result.err.count("\n") == 1 and all(w in result.err for w in words), result.err
    assert "Zenobia" not in result.err and "Traceback" not in result.err


def test_a_forged_consent_event_in_the_history_is_named(cli, clock, engine):
    ref = f.open_case(clock)
    assert "audit log intact" in cli("audit", "verify").out
    with engine.begin() as conn:
        _unguard(conn)
        case_id = conn.execute(text("SELECT id FROM return_case")).scalar_one()
        forged = conn.execute(
            text(
                "INSERT INTO case_event (case_id, at, trigger, data) "
                "VALUES (:c, :at, 'consent_given', '{}') RETURNING id"
            ),
            {"c": case_id, "at": clock.now()},
        ).scalar_one()
    _broken(cli("audit", "verify"), f"case_event row {forged}", "no seal")
    assert ref not in cli("audit", "verify").err


def test_a_case_ref_swapped_between_cases_cannot_be_read_and_is_named(cli, clock, engine):
    first, second = f.open_case(clock), f.open_case(clock)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE return_case SET case_ref = 'RT-TMP0-00' WHERE case_ref = :a"), {"a": first}
        )
        conn.execute(
            text("UPDATE return_case SET case_ref = :a WHERE case_ref = :b"),
            {"a": first, "b": second},
        )
        conn.execute(
            text("UPDATE return_case SET case_ref = :b WHERE case_ref = 'RT-TMP0-00'"),
            {"b": second},
        )
    shown = cli("--as", f.COORD, "case", "show", first, "--personal")
    assert shown.code == 8 and "return_case row" in shown.err and "Zenobia" not in shown.out
    _broken(cli("audit", "verify"), "return_case row", "does not match its seal")


def test_a_case_key_deleted_outside_a_purge_is_not_read_as_purged(cli, clock, engine):
    ref = f.open_case(clock)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM case_key"))
    assert cli("--as", f.COORD, "case", "show", ref, "--personal").code == 8
    _broken(cli("audit", "verify"), "case_key row", "deleted outside Homeward")


def test_a_purge_through_homeward_verifies_clean(cli, clock, monkeypatch):
    ref = f.open_case(clock)
    f.drive_to(ref, "closed", clock)
    clock.advance(days=6 * 365)
    with write_session() as s:
        assert len(purge_due(s, now=clock.now(), dry_run=False, actor=None)) == 1
    assert cli("audit", "verify").code == 0
    assert cli("--as", f.COORD, "case", "show", ref, "--personal").code == 3  # purged: not found


def test_the_checkpoint_catches_a_wipe_and_a_rewound_head(cli, clock, engine):
    f.open_case(clock)
    done = cli("audit", "checkpoint")
    assert done.code == 0 and "checkpoint written" in done.out
    path = anchor.anchor_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    line = json.loads(path.read_text().splitlines()[-1])
    assert set(line) == {"at", "entries", "last_mac", "seal_count", "seal_state", "keyring", "mac"}
    assert "matches the checkpoint" in cli("audit", "verify").out
    with engine.begin() as conn:  # everything the database holds of the chain: gone
        _unguard(conn)
        for table in ("row_seal", "audit_entry", "audit_head", "case_event"):
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608
        conn.execute(text("DELETE FROM checklist_item"))
        conn.execute(text("DELETE FROM case_participant"))
        conn.execute(text("DELETE FROM consent"))
        conn.execute(text("DELETE FROM beneficiary"))
        conn.execute(text("DELETE FROM case_key"))
        conn.execute(text("DELETE FROM return_case"))
    with f.admin_read() as s:
        assert verify(s).ok  # the database alone cannot tell...
    _broken(cli("audit", "verify"), "entries were removed", "checkpoint")  # ...the anchor can
    before = path.read_text()
    _broken(cli("audit", "checkpoint"), "entries were removed")
    assert path.read_text() == before  # a broken log is never anchored


def test_an_altered_checkpoint_line_is_named(cli, clock):
    f.open_case(clock)
    assert cli("audit", "checkpoint").code == 0
    path = anchor.anchor_file()
    line = json.loads(path.read_text())
    line["entries"] -= 5  # to hide a truncation
    path.write_text(json.dumps(line) + "\n")
    _broken(cli("audit", "verify"), "checkpoint file line 1 was altered")


def test_the_scheduler_writes_the_checkpoint_staff_do_not(cli, clock):
    f.open_case(clock)
    made = run(CheckpointAudit(), SCHEDULER, clock=clock)
    assert made.entries > 10 and made.sealed_rows > 10
    assert len(anchor.anchor_file().read_text().splitlines()) == 1
    with pytest.raises(Refused):
        run(CheckpointAudit(), credential_for(f.COORD, clock.now()), clock=clock)


@pytest.mark.skipif(BACKEND != "sqlite", reason="downgrades a copy of the SQLite schema")
def test_an_upgraded_database_is_sealed_as_it_stands(cli, clock):
    f.drive_to(f.open_case(clock), "assessed", clock)
    engine = get_engine()
    command.downgrade(alembic_config(engine), "0012")  # as if written before seals existed
    engine.dispose()
    upgrade(engine)
    assert "audit log intact" in cli("audit", "verify").out


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_a_database_upgraded_across_0017_is_sealed_as_it_stands(cli, clock):
    """0017 adds columns to sealed tables (a case's route, an item's title): rows written
    before it are sealed again as they now stand, so the log still verifies."""
    f.drive_to(f.open_case(clock), "assessed", clock)
    engine = get_engine()
    command.downgrade(alembic_config(engine), "0016")
    engine.dispose()
    upgrade(engine)
    assert "audit log intact" in cli("audit", "verify").out


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0018_keeps_each_case_in_its_stage_with_its_status_both_ways(cli, clock):
    """0018 splits the old one-column state into stage and status: a suspended case keeps the
    stage it remembered, an ended case the last stage its history entered; downgrading puts
    the old words back; the log verifies after each way."""
    active = f.drive_to(f.open_case(clock), "assessed", clock).case_ref
    paused = f.drive_to(f.open_case(clock), "consent_obtained", clock).case_ref
    f.advance(paused, "suspend", clock)
    ended = f.drive_to(f.open_case(clock), "assessed", clock).case_ref
    f.advance(ended, "withdraw_consent", clock)
    expected = {
        active: ("assessed", "active"),
        paused: ("consent_obtained", "suspended"),
        ended: ("assessed", "consent_withdrawn"),
    }

    def stored(columns: str) -> dict[str, tuple[str | None, ...]]:
        with get_engine().connect() as conn:
            rows = conn.execute(text(f"SELECT case_ref, {columns} FROM return_case"))
            return {row[0]: tuple(row[1:]) for row in rows}

    assert stored("state, status") == expected
    engine = get_engine()
    command.downgrade(alembic_config(engine), "0017")
    assert stored("state, resume_state") == {
        active: ("assessed", None),
        paused: ("suspended", "consent_obtained"),
        ended: ("consent_withdrawn", None),
    }
    engine.dispose()
    upgrade(engine)
    assert stored("state, status") == expected
    assert "audit log intact" in cli("audit", "verify").out
    f.complete_stage(paused, clock)  # the risk reassessment a suspension needs
    f.advance(paused, "resume", clock)
    assert f.load_case(paused).phase == "consent_obtained"  # back in the stage it kept
