"""Crypto-shredding that holds against the copies the README tells users to keep.

A purge destroys the case's wrapped key. The offline copy of the keyring (kept for good) and a
backup made before the purge must not bring it back once that backup's key has expired; a
backup whose key lives restores the other cases as before; and the database's own files keep
no old copy of the destroyed key (SQLite's free space and WAL, PostgreSQL's dead rows).
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlmodel import select

from homeward.base.db import get_engine, write_session
from homeward.base.errors import InvalidInput, NotFound
from homeward.base.models import Case, CaseKey
from homeward.base.settings import get_settings
from homeward.crypt.keys import KeysMissing
from homeward.edges.cli.common import state
from homeward.protection.backup import sealed
from homeward.protection.leftovers import scrub
from homeward.protection.retention import purge_due
from homeward.protection.vault import read_person
from statemachines.cases import get_case
from tests import factories as f
from tests.cli.runner import Result, run_cli
from tests.conftest import BACKEND
from tests.homeward.test_backup import fresh_database

pytestmark = pytest.mark.usefixtures("db_url", "as_the_owner")  # backups and purges: the owner's


@pytest.fixture
def cli(capsys, monkeypatch, clock, own_keyring):
    """``homeward ARGS`` on the test's clock, with a keyring of the test's own; purges after
    30 days."""
    monkeypatch.setattr(state, "clock", clock)
    monkeypatch.setenv("HOMEWARD_RETENTION_DAYS", "30")
    get_settings.cache_clear()

    def run(*args: str) -> Result:
        return run_cli(capsys, monkeypatch, *args)

    return run


def read_name(case_ref: str, clock) -> str | None:
    with write_session() as s:
        case = get_case(s, case_ref=case_ref, actor=f.actor(s))
        return read_person(s, case=case, actor=f.actor(s), now=clock.now()).get("given_name")


def wrapped_key(engine: Engine, case_ref: str) -> bytes:
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT k.wrapped FROM case_key k JOIN return_case c ON c.id = k.case_id "
                "WHERE c.case_ref = :ref"
            ),
            {"ref": case_ref},
        ).scalar_one()
    assert found
    return bytes(found)


def closed_and_backed_up(cli, clock, tmp_path: Path) -> tuple[str, str, Path]:
    """A case closed (to be purged), one still open, and a backup holding both."""
    f.seed()
    purged, kept = f.open_case(clock, share=False), f.open_case(clock, share=False)
    f.drive_to(purged, "closed", clock)
    old = tmp_path / "before-purge.backup"
    made = cli("backup", str(old))
    assert made.code == 0, made.err
    return purged, kept, old


def test_the_offline_keyring_and_a_pre_purge_backup_recover_nothing_once_its_key_expired(
    db_url, clock, tmp_path, monkeypatch, cli, own_keyring
):
    offline = tmp_path / "offline" / "keys.json"  # the copy the README says to keep offline
    offline.parent.mkdir()
    shutil.copy(own_keyring, offline)
    purged, kept, old = closed_and_backed_up(cli, clock, tmp_path)
    clock.advance(days=31)
    done = cli("retention", "run")
    assert done.code == 0 and "1 case(s) purged" in done.out, done.err
    assert "can be read until" in done.out  # the window, said plainly

    settings = get_settings()
    clock.advance(days=settings.backup_key_days + settings.backup_retention_days)
    new = tmp_path / "after-expiry.backup"
    assert cli("backup", str(new)).code == 0  # destroys the expired key on the way

    monkeypatch.setenv("HOMEWARD_KEY_FILE", str(offline))
    with fresh_database(tmp_path / "attack", monkeypatch):
        refused = cli("restore", str(old))
        assert refused.code == KeysMissing.exit_code, refused.out
        assert "expired" in refused.err and len(refused.err.strip().splitlines()) == 1
        assert not inspect(get_engine()).has_table("return_case")
    # Nor does any key left, in the offline keyring or the backup keyring, open the file.
    data = old.read_bytes()
    assert not data.startswith((b"SQLite format 3", b"PGDMP"))
    ring = json.loads(offline.read_text())
    backup_ring = json.loads(Path(settings.backup_key_file).read_text())
    keys = [*ring["master_keys"].values(), ring["index_key"], ring["audit_key"]]
    keys += [k["key"] for k in backup_ring["keys"].values() if k["key"]]
    for key in keys:
        with pytest.raises(InvalidInput, match="does not open"):
            sealed.unseal(old, tmp_path / "attempt", base64.b64decode(key))
    current = sealed.read_header(new).key_id  # (the check can succeed: the live key opens)
    sealed.unseal(new, tmp_path / "opened", base64.b64decode(backup_ring["keys"][current]["key"]))
    assert sum(1 for k in backup_ring["keys"].values() if k["key"] is None) == 1

    with fresh_database(tmp_path / "recovery", monkeypatch):  # the newer backup is whole
        back = cli("restore", str(new))
        assert back.code == 0, back.err
        assert read_name(kept, clock) == f.CANARY.given_name
        with pytest.raises(NotFound):
            read_name(purged, clock)


def test_a_backup_whose_key_lives_restores_with_the_keyring_and_says_how_long(
    db_url, clock, tmp_path, monkeypatch, cli
):
    purged, kept, old = closed_and_backed_up(cli, clock, tmp_path)
    clock.advance(days=31)
    assert cli("retention", "run").code == 0
    with fresh_database(tmp_path / "restored", monkeypatch):
        back = cli("restore", str(old))
        assert back.code == 0, back.err
        assert read_name(kept, clock) == f.CANARY.given_name
        # The window the purge announced: until its backup key expires, this copy still
        # holds the purged case (and the restore brings it back: purge it again).
        assert read_name(purged, clock) == f.CANARY.given_name


def test_a_backup_says_when_its_key_expires(db_url, clock, tmp_path, cli):
    f.seed()
    made = cli("backup", str(tmp_path / "a.backup"))
    assert made.code == 0, made.err
    settings = get_settings()
    start = clock.now() - timedelta(days=clock.now().weekday())  # weekly keys: from Monday
    until = start.date() + timedelta(days=settings.backup_key_days + 35)
    assert f"readable until {until:%Y-%m-%d}" in made.out
    assert "REPLACING the previous copy" in made.out


@pytest.mark.skipif(BACKEND != "sqlite", reason="the SQLite file and its write-ahead log")
def test_no_copy_of_a_purged_key_stays_in_the_sqlite_files(db_url, clock, cli, engine):
    f.seed()
    purged = f.open_case(clock, share=False)
    f.open_case(clock, share=False)
    f.drive_to(purged, "closed", clock)
    wrapped = wrapped_key(engine, purged)
    clock.advance(days=31)
    done = cli("retention", "run")
    assert done.code == 0 and "1 case(s) purged" in done.out, done.err
    database = Path(db_url.removeprefix("sqlite:///"))
    for path in (database, database.with_name(database.name + "-wal")):
        if path.exists():
            assert wrapped not in path.read_bytes(), path.name


def case_key_file(engine: Engine) -> bytes:
    """The bytes of case_key's table file, read by the server as the superuser (no need to
    reach its data directory)."""
    superuser = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with superuser.connect() as conn:
        conn.execute(text("CHECKPOINT"))
        data = conn.execute(
            text("SELECT pg_read_binary_file(pg_relation_filepath('case_key'))")
        ).scalar_one()
    superuser.dispose()
    return bytes(data)


# ``VACUUM FULL`` keeps a dead row version while any writing transaction of the server that
# began before it was made still runs, in whichever database: the vacuum's own snapshot
# reaches back to the server's oldest running writer. On a server other test runs share, one
# of their migrations (one transaction, 40-50 s at a load of 10) keeps the purged key's old
# version past the command's ten tries; the command says so and asks for a rerun when the server is
# quiet, and the test reruns it as an operator would. Only that answer is retried: a lock
# that stays taken (this database's own readers) or an error fails at once.
STILL_VISIBLE = "are still visible to a running transaction"
QUIET_WITHIN = 180.0  # seconds: a few such migrations end in that time


def rerun_until_quiet(cli, done: Result) -> Result:
    """``done``, or the first rerun of ``homeward retention run`` that found no writer of the
    server older than the purge (or the last, after ``QUIET_WITHIN``)."""
    until = time.monotonic() + QUIET_WITHIN
    while done.code == 0 and STILL_VISIBLE in done.out and time.monotonic() < until:
        time.sleep(2)
        done = cli("retention", "run")
    return done


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL's dead row versions")
def test_no_copy_of_a_purged_key_stays_in_the_postgres_table_file(db_url, clock, cli, engine):
    f.seed()
    purged = f.open_case(clock, share=False)
    f.open_case(clock, share=False)
    f.drive_to(purged, "closed", clock)
    wrapped = wrapped_key(engine, purged)
    clock.advance(days=31)
    done = cli("retention", "run")
    assert done.code == 0 and "1 case(s) purged" in done.out, done.err
    done = rerun_until_quiet(cli, done)
    assert done.code == 0 and "VACUUM FULL case_key done" in done.out, done.err
    assert wrapped not in case_key_file(engine)
    with f.admin_read() as s:
        case = s.exec(select(Case).where(Case.case_ref == purged)).one()
        assert s.get(CaseKey, case.id).wrapped is None


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL's dead row versions")
def test_a_reader_still_seeing_the_old_key_is_named_and_a_rerun_clears_it(
    db_url, clock, cli, engine
):
    f.seed()
    purged = f.open_case(clock, share=False)
    f.drive_to(purged, "closed", clock)
    wrapped = wrapped_key(engine, purged)
    clock.advance(days=31)
    reader = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    reader.execute(text("SELECT count(*) FROM return_case")).scalar()  # its snapshot: before
    try:
        assert cli("retention", "run", "--dry-run").code == 0
        with write_session() as s:
            purge_due(s, now=clock.now(), dry_run=False, actor=None)
        said = scrub(get_engine(), attempts=2, pause=0.1)
        assert "1 old row version(s) of case_key are still visible" in said
        assert wrapped in case_key_file(engine)  # the limit, as said
    finally:
        reader.close()
    assert "VACUUM FULL case_key done" in rerun_until_quiet(cli, cli("retention", "run")).out
    assert wrapped not in case_key_file(engine)
