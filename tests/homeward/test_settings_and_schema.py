"""Settings from the environment, and the CLI's refusal to run on an unmigrated database."""

from __future__ import annotations

import pytest

from homeward.base import settings as homeward_settings
from homeward.base.db import get_engine
from homeward.base.migrate import head_revision
from homeward.base.settings import Settings, default_database_url
from tests.cli.runner import run_cli


def test_defaults_are_an_sqlite_file_in_the_data_dir_and_bucharest_time(monkeypatch):
    monkeypatch.delenv("HOMEWARD_DATABASE_URL", raising=False)
    settings = Settings(_env_file=None)
    assert settings.database_url == default_database_url()
    assert settings.database_url.startswith("sqlite:///") and "homeward" in settings.database_url
    assert settings.timezone == "Europe/Bucharest" and settings.default_language == "en"


@pytest.mark.parametrize(
    ("env", "value", "words"),
    [
        ("HOMEWARD_TIMEZONE", "Mars/Olympus", ["HOMEWARD_TIMEZONE", "IANA"]),
        ("HOMEWARD_DEFAULT_LANGUAGE", "fr", ["HOMEWARD_DEFAULT_LANGUAGE", "en, ro"]),
    ],
)
def test_bad_settings_are_one_line(db_url, capsys, monkeypatch, env, value, words):
    monkeypatch.setenv(env, value)
    homeward_settings.get_settings.cache_clear()
    result = run_cli(capsys, monkeypatch, "org", "list")
    monkeypatch.delenv(env)
    homeward_settings.get_settings.cache_clear()
    assert result.code == 2
    assert result.err.count("\n") == 1 and all(w in result.err for w in words), result.err


def test_cli_refuses_an_unmigrated_database_and_upgrade_fixes_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    homeward_settings.get_settings.cache_clear()
    get_engine.cache_clear()
    refused = run_cli(capsys, monkeypatch, "org", "list")
    assert refused.code == 4 and "homeward db upgrade" in refused.err
    upgraded = run_cli(capsys, monkeypatch, "db", "upgrade")
    assert upgraded.code == 0 and f"schema {head_revision()}" in upgraded.out
    assert run_cli(capsys, monkeypatch, "org", "list").code == 0
    get_engine().dispose()
    get_engine.cache_clear()
