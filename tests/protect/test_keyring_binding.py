"""The database knows its keyring: another one is refused before anything is sealed or rotated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from homeward.base import settings as homeward_settings
from homeward.base.models import ItemStatus, KeyringBinding
from homeward.crypt.keys import WrongKeyring, init_keyring, load_keyring
from homeward.edges.cli.common import state
from tests import factories as f
from tests.cli.runner import run_cli
from tests.signin import token_for

PERSON = json.dumps({"given_name": "Ana", "family_name": "Pop", "birth_date": "1999-09-09"})
SIGNED = ("--method", "signed", "--language", "ro")


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    f.seed()
    monkeypatch.setattr(state, "clock", clock)

    def run(*args: str, stdin: str = ""):
        return run_cli(capsys, monkeypatch, *args, stdin=stdin)

    return run


def _use(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("HOMEWARD_KEY_FILE", str(path))
    homeward_settings.get_settings.cache_clear()


def _recorded() -> list[str]:
    with f.admin_read() as s:
        return list(s.exec(select(KeyringBinding.fingerprint)))


def test_another_keyring_is_refused_for_every_write_and_changes_nothing(
    cli, clock, monkeypatch, tmp_path, own_keyring
):
    ref = f.open_case(clock, share=False)
    given = cli("--as", f.COORD, "consent", "give", ref, "--purpose", "sharing", "--org", "adpare",
                *SIGNED)  # fmt: skip
    assert given.code == 0, given.err
    right = load_keyring().fingerprint
    assert _recorded() == [right]  # the first write recorded the keyring
    item = f.items(ref, status=ItemStatus.OPEN)[0]
    token_for(f.COORD, clock.now())  # signed in (with the right keys)

    other = init_keyring(tmp_path / "other-keys.json")
    _use(monkeypatch, other)
    assert load_keyring().fingerprint != right
    before, keys_before = f.db_snapshot(), (own_keyring.read_bytes(), other.read_bytes())
    for argv in (
        ("--as", f.COORD, "case", "start", "--person", "-"),
        ("--as", f.COORD, "items", "done", str(item.id), "--outcome", "x"),
        ("--as", f.COORD, "consent", "give", ref, "--purpose", "sharing", "--org", "fmb", *SIGNED),
        ("keys", "rotate"),
        ("backup", str(tmp_path / "homeward.backup")),
    ):
        refused = cli(*argv, stdin=PERSON)
        assert refused.code == WrongKeyring.exit_code, (argv, refused.err)
        assert refused.err.strip() == "error: " + (
            f"keys: this database was sealed with another keyring (fingerprint {right[:12]}…); "
            "point HOMEWARD_KEY_FILE at the right one"
        ), argv
        assert refused.out == ""
    shown = cli("keys", "status")
    assert shown.code == WrongKeyring.exit_code
    assert "does NOT match the database's" in shown.out
    assert f.db_snapshot() == before and _recorded() == [right]
    assert (own_keyring.read_bytes(), other.read_bytes()) == keys_before
    assert not (tmp_path / "homeward.backup").exists()

    _use(monkeypatch, own_keyring)  # the right keyring works, rotation included
    again = cli("--as", f.COORD, "consent", "give", ref, "--purpose", "sharing", "--org", "fmb",
                *SIGNED)  # fmt: skip
    assert again.code == 0, again.err
    rotated = cli("keys", "rotate")
    assert rotated.code == 0, rotated.err
    assert load_keyring().active not in keys_before[0].decode()  # a new master key
    assert _recorded() == [right] == [load_keyring().fingerprint]
    status = cli("keys", "status")
    assert status.code == 0 and f"fingerprint {right}: matches the database" in status.out
    started = cli("--as", f.COORD, "case", "start", "--person", "-", stdin=PERSON)
    assert started.code == 0, started.err


def test_a_refused_first_write_records_no_keyring(cli, clock):
    assert cli("case", "start", "--person", "-", stdin=PERSON).code != 0  # signed out
    assert _recorded() == []
    assert "not yet recorded" in cli("keys", "status").out
    assert cli("--as", f.COORD, "case", "start", "--person", "-", stdin=PERSON).code == 0
    assert _recorded() == [load_keyring().fingerprint]


def test_the_fingerprint_reveals_no_key_and_survives_rotation(own_keyring):
    from homeward.crypt.keys import begin_rotation, retire_old_keys

    ring = load_keyring()
    assert len(ring.fingerprint) == 64
    for key in (*ring.master_keys.values(), ring.index_key, ring.audit_key):
        assert key not in ring.fingerprint
    begin_rotation()
    retire_old_keys()
    assert load_keyring().active != ring.active
    assert load_keyring().fingerprint == ring.fingerprint


def test_upgrading_a_database_that_holds_data_records_the_keyring_it_runs_with(
    db_url, tmp_path, capsys, monkeypatch
):
    from homeward.base.db import get_engine
    from homeward.base.migrate import head_revision, upgrade
    from tests.homeward.test_backup import fresh_database

    with fresh_database(tmp_path / "old", monkeypatch):
        upgrade(get_engine(), "0011")
        f.seed()  # data sealed and audited before keyrings were recorded
        assert upgrade(get_engine()) == head_revision()
        get_engine().dispose()
        assert _recorded() == [load_keyring().fingerprint]
        _use(monkeypatch, init_keyring(tmp_path / "other-keys.json"))
        refused = run_cli(capsys, monkeypatch, "keys", "rotate")
        assert refused.code == WrongKeyring.exit_code, refused.err
