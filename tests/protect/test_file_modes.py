"""Files Homeward writes are 0600 whatever the umask; a keyring others can read is refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from homeward.base import settings as homeward_settings
from homeward.crypt.keys import init_keyring
from tests import factories as f
from tests.cli.runner import run_cli

MANAGER = "mgr@iom-it.example.org"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    """The common default umask (files 0644): what Homeward must not rely on."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_sqlite_database_and_its_wal_are_0600(tmp_path, capsys, monkeypatch, loose_umask):
    path = tmp_path / "fresh" / "homeward.db"
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", f"sqlite:///{path}")
    homeward_settings.get_settings.cache_clear()
    from homeward.base import db as homeward_db

    homeward_db.get_engine.cache_clear()
    try:
        done = run_cli(capsys, monkeypatch, "db", "upgrade")
        assert done.code == 0, done.err
        made = [p for p in path.parent.iterdir() if p.name.startswith("homeward.db")]
        assert path in made
        assert {p.name: mode(p) for p in made} == {p.name: 0o600 for p in made}
    finally:
        homeward_db.get_engine().dispose()
        homeward_db.get_engine.cache_clear()


def test_an_existing_0644_database_is_made_0600(db_url, tmp_path, capsys, monkeypatch):
    path = Path(db_url.removeprefix("sqlite:///"))
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    os.chmod(path, 0o644)
    from homeward.base import db as homeward_db

    homeward_db.get_engine.cache_clear()
    assert run_cli(capsys, monkeypatch, "db", "upgrade").code == 0
    assert mode(path) == 0o600


def test_reports_exports_and_charts_are_0600(
    db_url, clock, tmp_path, capsys, monkeypatch, loose_umask
):
    f.seed()
    ref = f.open_case(clock)
    programme = ("programme", "add", "tango", "--name", "Tango", "--donor", "Donor")
    period = ("--from", "2026-01-01", "--to", "2027-12-31", "--target", "returned=2")
    assert run_cli(capsys, monkeypatch, "--as", MANAGER, *programme, *period).code == 0
    assert (
        run_cli(capsys, monkeypatch, "--as", MANAGER, "programme", "enrol", "tango", ref).code == 0
    )
    files = {fmt: tmp_path / f"stages.{fmt}" for fmt in ("csv", "json", "xlsx")}
    stale = tmp_path / "stale.csv"
    stale.write_text("old")
    os.chmod(stale, 0o644)
    for fmt, out in [*files.items(), ("csv", stale)]:
        done = run_cli(
            capsys,
            monkeypatch,
            "--as",
            MANAGER,
            "report",
            "stages",
            "--format",
            fmt,
            "--out",
            str(out),
        )
        assert done.code == 0, done.err
    chart = tmp_path / "t.svg"
    targets = ("report", "targets", "--programme", "tango", "--format", "csv")
    drawn = run_cli(
        capsys,
        monkeypatch,
        "--as",
        MANAGER,
        *targets,
        "--out",
        str(tmp_path / "t.csv"),
        "--chart",
        str(chart),
    )
    assert drawn.code == 0, drawn.err
    htcds = tmp_path / "htcds.csv"
    exported = run_cli(
        capsys, monkeypatch, "--as", f.SUPERVISOR, "export", "htcds", "--out", str(htcds)
    )
    assert exported.code == 0, exported.err
    written = [*files.values(), stale, chart, tmp_path / "t.csv", htcds]
    assert {p.name: mode(p) for p in written} == {p.name: 0o600 for p in written}


def test_a_new_keyring_is_0600(tmp_path, loose_umask):
    assert mode(init_keyring(tmp_path / "keys.json")) == 0o600


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o604, 0o660])
def test_a_keyring_others_can_read_is_refused_with_the_fix(
    db_url, own_keyring, capsys, monkeypatch, loose
):
    f.seed()
    os.chmod(own_keyring, loose)
    refused = run_cli(capsys, monkeypatch, "audit", "verify")
    assert refused.code == 7
    assert refused.err.strip().count("\n") == 0
    assert f"chmod 600 {own_keyring}" in refused.err
    os.chmod(own_keyring, 0o600)
    assert run_cli(capsys, monkeypatch, "audit", "verify").code == 0
