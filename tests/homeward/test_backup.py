"""``homeward backup`` / ``restore`` on the real backend, while a thread and a process write.

The writers acknowledge each committed case; the backup must hold every case acknowledged
before its snapshot, none committed after it, and restore into a fresh database in which
every case's stage is its last event's, the audit chain holds and the person's data opens.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from homeward.base.clock import SimulatedClock
from homeward.base.db import get_engine, normalise_url, write_session
from homeward.base.errors import AuditBroken, Conflict, InvalidInput, Refused
from homeward.base.migrate import current_revision, head_revision, upgrade
from homeward.base.models import AuditEntry, Case, CaseEvent
from homeward.crypt.keys import init_keyring
from homeward.protection.backup import backup, check, restore, sealed
from homeward.protection.backup.postgres import _first_error, libpq
from homeward.protection.vault import read_person
from statemachines.cases import get_case
from tests import factories as f
from tests.cli.runner import run_cli
from tests.conftest import (
    APP_LOGIN,
    BACKEND,
    PG_ADMIN_URL,
    _pg_admin,
    _reset_caches,
    login_url,
)
from tests.homeward.backup_writer import PAUSE

ROOT = Path(__file__).resolve().parents[2]
SECRETS = (f.CANARY.given_name, f.CANARY.family_name, "700 000 111")


@contextmanager
def fresh_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point ``HOMEWARD_DATABASE_URL`` at a new, empty database (not migrated) for a restore."""
    if BACKEND == "sqlite":
        url = f"sqlite:///{tmp_path / 'restored' / 'homeward.db'}"
        monkeypatch.setenv("HOMEWARD_DATABASE_URL", url)
        _reset_caches()
        yield url
        return
    name = f"homeward_restore_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", url)
    _reset_caches()
    try:
        yield url
    finally:
        get_engine().dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """A guard against a hung writer, not a speed check."""
    deadline = time.monotonic() + 120
    while not condition():
        assert time.monotonic() < deadline, f"writers stalled waiting for {what}"
        time.sleep(0.01)


class Writers:
    """A thread and a process opening and suspending cases; each commit is acknowledged."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock, self.lock, self.stop = clock, threading.Lock(), threading.Event()
        self.opened: dict[str, list[str]] = {"thread": [], "process": []}
        self.suspended: set[str] = set()
        self.errors: list[BaseException] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.homeward.backup_writer"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"
        self.threads = [threading.Thread(target=self._listen), threading.Thread(target=self._run)]
        for thread in self.threads:
            thread.start()

    def _ack(self, who: str, verb: str, ref: str) -> None:
        with self.lock:
            if verb == "open":
                self.opened[who].append(ref)
            else:
                self.suspended.add(ref)

    def _listen(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            verb, ref = line.split()
            self._ack("process", verb, ref)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                ref = f.open_case(self.clock, share=False)
                self._ack("thread", "open", ref)
                f.advance(ref, "suspend", self.clock)
                self._ack("thread", "suspend", ref)
                self.stop.wait(PAUSE)  # the lock free a moment for the other writer
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)

    def count(self, who: str) -> int:
        with self.lock:
            return len(self.opened[who])

    def acked(self) -> tuple[set[str], set[str]]:
        with self.lock:
            return set(self.opened["thread"] + self.opened["process"]), set(self.suspended)

    def finish(self) -> None:
        self.stop.set()
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=120) == 0
        for thread in self.threads:
            thread.join(timeout=120)
        assert not self.errors, self.errors


def restored_cases() -> dict[str, tuple[str, str | None]]:
    """Every case's stage and its last event's ``to_state``, by case_ref."""
    with f.admin_read() as s:
        cases = {c.id: c for c in s.exec(select(Case))}
        last: dict[int, str | None] = {}
        for event in s.exec(select(CaseEvent).order_by(col(CaseEvent.id))):
            if event.to_state is not None:
                last[event.case_id] = event.to_state
        return {c.case_ref: (c.phase, last.get(c.id or 0)) for c in cases.values()}


def test_backup_under_load_is_one_snapshot_that_restores_consistently(
    db_url, clock, tmp_path, monkeypatch
):
    f.seed()
    writers = Writers(clock)
    seen: dict[str, object] = {}

    def after_snapshot() -> None:
        n_thread, n_process = writers.count("thread"), writers.count("process")
        wait_until(
            lambda: (
                writers.count("thread") >= n_thread + 2
                and writers.count("process") >= n_process + 1
            ),
            "writes after the snapshot",
        )
        # Begun after the hook started, so after the snapshot: must not be in the backup.
        seen["late"] = writers.opened["thread"][n_thread + 1]

    try:
        wait_until(lambda: writers.count("thread") >= 2 and writers.count("process") >= 2, "start")
        seen["opened"], seen["suspended"] = writers.acked()  # committed before the snapshot
        summary = backup(tmp_path / "homeward.backup", after_snapshot=after_snapshot, pages=4)
        n_process = writers.count("process")
        wait_until(lambda: writers.count("process") > n_process, "writes after the backup")
    finally:
        writers.finish()
    opened_after, _ = writers.acked()

    assert check(tmp_path / "homeward.backup", get_engine()).revision == summary.revision
    with fresh_database(tmp_path, monkeypatch):
        restored = restore(tmp_path / "homeward.backup")
        cases = restored_cases()

    refs = set(cases)
    assert seen["opened"] <= refs <= opened_after  # a prefix-consistent subset
    assert seen["late"] not in refs
    for who in ("thread", "process"):  # each writer's cases in the backup: a prefix of its own
        held = [ref in refs for ref in writers.opened[who]]
        assert held == sorted(held, reverse=True), who
    assert restored.cases == summary.cases == len(refs)
    assert restored.items == summary.items and restored.outbox == summary.outbox
    assert all(state == last for state, last in cases.values())
    assert all(cases[ref][0] == "suspended" for ref in seen["suspended"])
    assert restored.audit_entries and restored.audit_entries > len(refs)


def test_round_trip_through_the_cli_keeps_data_and_never_prints_it(
    db_url, clock, tmp_path, capsys, monkeypatch
):
    f.seed()
    refs = [f.open_case(clock, share=False) for _ in range(3)]
    f.advance(refs[0], "suspend", clock)
    file = tmp_path / "nightly.backup"

    made = run_cli(capsys, monkeypatch, "backup", str(file))
    assert made.code == 0, made.err
    assert "3 cases" in made.out and "NOT in the backup" in made.out
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert last_action() == "db_backup"

    with fresh_database(tmp_path, monkeypatch) as url:
        back = run_cli(capsys, monkeypatch, "restore", str(file))
        assert back.code == 0, back.err
        assert "3 cases" in back.out and "audit log intact" in back.out
        assert last_action() == "db_restore"
        if BACKEND == "sqlite":
            restored_file = Path(url.removeprefix("sqlite:///"))
            assert stat.S_IMODE(restored_file.stat().st_mode) == 0o600
        checked = run_cli(capsys, monkeypatch, "audit", "verify")
        assert checked.code == 0, checked.err
        assert f.load_case(refs[0]).phase == "suspended"
        with write_session() as s:
            case = get_case(s, case_ref=refs[1], actor=f.actor(s))
            person = read_person(s, case=case, actor=f.actor(s), now=clock.now())
        assert person["given_name"] == f.CANARY.given_name
        if BACKEND == "postgres":
            assert_app_roles_hold(url)
    for output in (made.out, made.err, back.out, back.err, checked.out):
        assert not any(secret in output for secret in SECRETS)


def last_action() -> str:
    with f.admin_read() as s:
        entry = s.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc())).first()
        assert entry is not None
        return entry.action


def test_restore_with_another_keyring_is_refused(db_url, clock, tmp_path, capsys, monkeypatch):
    f.seed()
    f.open_case(clock, share=False)
    file = tmp_path / "homeward.backup"
    assert run_cli(capsys, monkeypatch, "backup", str(file)).code == 0
    monkeypatch.setenv("HOMEWARD_KEY_FILE", str(init_keyring(tmp_path / "other-keys.json")))
    with fresh_database(tmp_path, monkeypatch):
        refused = run_cli(capsys, monkeypatch, "restore", str(file))
        assert refused.code == AuditBroken.exit_code
        assert "HOMEWARD_KEY_FILE" in refused.err and len(refused.err.strip().splitlines()) == 1
        if BACKEND == "sqlite":  # checked on the file itself: the target was never touched
            assert not inspect(get_engine()).has_table("return_case")


def test_a_backup_of_a_tampered_row_restores_to_a_refusal_naming_the_row(
    db_url, engine, clock, tmp_path, capsys, monkeypatch
):
    """Changed behind Homeward's back before the backup, a case row no longer matches its
    seal: the restore says which row, in one line (it said "at entry None")."""
    f.seed()
    f.open_case(clock, share=False)
    with engine.begin() as conn:
        conn.execute(text("UPDATE return_case SET state = 'closed' WHERE id = 1"))
    file = tmp_path / "homeward.backup"
    assert run_cli(capsys, monkeypatch, "backup", str(file)).code == 0
    with fresh_database(tmp_path, monkeypatch):
        refused = run_cli(capsys, monkeypatch, "restore", str(file))
    assert refused.code == AuditBroken.exit_code
    assert "return_case row 1 does not match its seal" in refused.err
    assert "None" not in refused.err and len(refused.err.strip().splitlines()) == 1


def test_tools_get_the_password_only_through_the_environment():
    url = make_url(
        "postgresql+psycopg://owner:s3cr3t-pw@db.example.org:5433/homeward?sslmode=require"
    )
    conninfo, env = libpq(url)
    assert "s3cr3t" not in conninfo and "sslmode=require" in conninfo
    assert "host=db.example.org" in conninfo and "port=5433" in conninfo
    assert env["PGPASSWORD"] == "s3cr3t-pw"
    assert "s3cr3t" not in _first_error("pg_dump: error: bad s3cr3t-pw\nmore", "s3cr3t-pw")


@pytest.mark.skipif(BACKEND != "postgres", reason="row security is PostgreSQL's")
def test_backup_as_a_user_bound_by_row_security_is_refused(db_url, tmp_path, capsys, monkeypatch):
    role = f"homeward_clerk_{uuid.uuid4().hex[:6]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    file = tmp_path / "homeward.backup"
    try:
        monkeypatch.setenv("HOMEWARD_DATABASE_URL", login_url(db_url, role))
        _reset_caches()
        refused = run_cli(capsys, monkeypatch, "backup", str(file))
        assert refused.code == Refused.exit_code and "BYPASSRLS" in refused.err
        assert list(tmp_path.iterdir()) == []
    finally:
        get_engine().dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def assert_app_roles_hold(url: str) -> None:
    """The definer functions belong to homeward_definer again, and row security holds for
    the app's login: a transaction naming no organisation is refused, and the login can
    neither write the scope nor set it through the definer's own helper."""
    owner = create_engine(normalise_url(url))
    with owner.connect() as conn:
        owners = conn.execute(
            text(
                "SELECT pg_get_userbyid(proowner) FROM pg_proc "
                "WHERE proname LIKE 'homeward_%' AND prosecdef"  # 0029's triggers are the caller's
            )
        ).scalars()
        assert set(owners) == {"homeward_definer"}
        public = conn.execute(  # PUBLIC calls none of them (migration 0025)
            text(
                "SELECT proname FROM pg_proc WHERE proname LIKE 'homeward_%' "
                "AND has_function_privilege('public', oid, 'EXECUTE')"
            )
        ).scalars()
        assert list(public) == []
    owner.dispose()
    app = create_engine(normalise_url(login_url(url, APP_LOGIN)))
    for sql, refusal in (
        ("SELECT count(*) FROM return_case", "acts for no organisation"),
        (
            "INSERT INTO homeward_scope VALUES (pg_backend_pid(), txid_current(), 1, 1, true)",
            "permission denied",
        ),
        ("SELECT homeward_set_scope(1, 1)", "permission denied"),
        ("DELETE FROM homeward_code_mail", "permission denied"),  # the codes it sent (0028)
    ):
        with pytest.raises(DBAPIError, match=refusal), app.connect() as conn:
            conn.execute(text(sql))
    app.dispose()


@pytest.fixture(autouse=True)
def _the_owner_backs_up(request: pytest.FixtureRequest) -> None:
    """Backups and restores are the tables' owner's (PostgreSQL: the tests' superuser)."""
    if "db_url" in request.fixturenames:
        request.getfixturevalue("as_the_owner")


def test_backup_refuses_to_overwrite_without_force(db_url, clock, tmp_path, capsys, monkeypatch):
    f.seed()
    f.open_case(clock, share=False)
    file = tmp_path / "taken.backup"
    file.write_text("someone else's file")

    refused = run_cli(capsys, monkeypatch, "backup", str(file))
    assert refused.code == Conflict.exit_code
    assert "--force" in refused.err and len(refused.err.strip().splitlines()) == 1
    assert file.read_text() == "someone else's file"

    if BACKEND == "sqlite":
        itself = run_cli(
            capsys, monkeypatch, "backup", db_url.removeprefix("sqlite:///"), "--force"
        )
        assert itself.code == InvalidInput.exit_code and "database itself" in itself.err

    forced = run_cli(capsys, monkeypatch, "backup", str(file), "--force")
    assert forced.code == 0, forced.err
    assert "1 cases" in forced.out
    assert check(file, get_engine()).revision == head_revision()
    assert stat.S_IMODE(file.stat().st_mode) == 0o600


def damage(file: Path) -> None:
    """Overwrite the middle of the file with noise (an archive is cut short instead)."""
    data = bytearray(file.read_bytes())
    if BACKEND == "sqlite":
        data[len(data) // 2 :] = os.urandom(len(data) - len(data) // 2)
    else:
        del data[len(data) // 2 :]
    file.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["damaged", "not a backup", "other backend"])
def test_restore_refuses_a_bad_file_and_changes_nothing(
    db_url, clock, tmp_path, capsys, monkeypatch, kind
):
    f.seed()
    f.open_case(clock, share=False)
    file = tmp_path / "bad.backup"
    assert run_cli(capsys, monkeypatch, "backup", str(file)).code == 0
    if kind == "damaged":
        damage(file)
    elif kind == "other backend":
        file.write_bytes((b"PGDMP" if BACKEND == "sqlite" else b"SQLite format 3\x00") * 64)
    else:
        file.write_text("case_ref,name\n")
    before = f.db_snapshot()

    refused = run_cli(capsys, monkeypatch, "restore", str(file), "--force")
    assert refused.code == InvalidInput.exit_code, refused.err
    assert len(refused.err.strip().splitlines()) == 1 and str(file) in refused.err
    assert f.db_snapshot() == before


def test_restore_into_a_database_with_cases_needs_force(
    db_url, clock, tmp_path, capsys, monkeypatch
):
    f.seed()
    kept = f.open_case(clock, share=False)
    file = tmp_path / "before.backup"
    assert run_cli(capsys, monkeypatch, "backup", str(file)).code == 0
    later = f.open_case(clock, share=False)
    before = f.db_snapshot()

    refused = run_cli(capsys, monkeypatch, "restore", str(file))
    assert refused.code == Refused.exit_code
    assert "--force" in refused.err and len(refused.err.strip().splitlines()) == 1
    assert f.db_snapshot() == before

    forced = run_cli(capsys, monkeypatch, "restore", str(file), "--force")
    assert forced.code == 0, forced.err
    assert set(restored_cases()) == {kept} and later not in forced.out


def test_a_backup_from_an_older_schema_is_upgraded_after_the_restore(
    db_url, tmp_path, capsys, monkeypatch
):
    file = tmp_path / "old.backup"
    with fresh_database(tmp_path / "old", monkeypatch):
        upgrade(get_engine(), "0005")
        get_engine().dispose()
        made = run_cli(capsys, monkeypatch, "backup", str(file))
        assert made.code == 0, made.err
        assert "schema 0005" in made.out
    with fresh_database(tmp_path / "new", monkeypatch):
        back = run_cli(capsys, monkeypatch, "restore", str(file))
        assert back.code == 0, back.err
        assert f"schema {head_revision()}" in back.out
        assert current_revision(get_engine()) == head_revision()


def test_the_help_says_the_keyring_is_not_in_the_backup(capsys, monkeypatch):
    shown = run_cli(capsys, monkeypatch, "backup", "--help")
    assert shown.code == 0
    assert "HOMEWARD_KEY_FILE) is NOT in the backup" in " ".join(shown.out.split())


def test_a_sealed_backup_cut_short_or_with_chunks_swapped_does_not_open(tmp_path, monkeypatch):
    monkeypatch.setattr(sealed, "CHUNK", 64)
    plain, target, key = tmp_path / "plain", tmp_path / "sealed", os.urandom(32)
    plain.write_bytes(os.urandom(64 * 3 + 10))
    sealed.seal(plain, target, key_id="bk-test", key=key, backend="sqlite")
    sealed.unseal(target, tmp_path / "opened", key)
    assert (tmp_path / "opened").read_bytes() == plain.read_bytes()
    assert plain.read_bytes()[:64] not in target.read_bytes()

    data = target.read_bytes()
    body = data.index(b"}\n") + 2
    size = 4 + 12 + 64 + 16  # length, nonce, a whole chunk, tag
    chunks = [data[body + i * size : body + (i + 1) * size] for i in range(3)]
    cut = data[: body + 3 * size]  # the last (short) chunk is gone: the rest still opens
    swapped = data[:body] + chunks[1] + chunks[0] + data[body + 2 * size :]
    for name, damaged in (("cut", cut), ("swapped", swapped)):
        (tmp_path / name).write_bytes(damaged)
        with pytest.raises(InvalidInput, match="damaged"):
            sealed.unseal(tmp_path / name, tmp_path / "out", key)
