"""The Prefect API auth string of ``homeward up``: which addresses need it, the file it is kept
in (made once, mode 0600, refused when others may read it), and what is said about it.
"""

from __future__ import annotations

import base64
from pathlib import Path
from stat import S_IMODE

import pytest

from homeward.base.errors import Refused
from homeward.edges.prefect_auth import (
    announcement,
    auth_file,
    basic_auth_headers,
    is_loopback,
    load_or_create,
)
from homeward.edges.prefect_server import LocalServer

LOOPBACK = ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST", "localhost."]
REACHABLE = ["0.0.0.0", "::", "192.168.1.10", "10.0.0.5", "prefect.example.org", "localhost.lan"]  # noqa: S104


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_addresses_need_no_auth(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", REACHABLE)
def test_any_other_address_needs_auth(host: str) -> None:
    assert not is_loopback(host)


def test_the_string_is_made_once_mode_0600_then_reused(tmp_path: Path) -> None:
    home = tmp_path / "prefect"
    first = load_or_create(home)
    assert first.created and first.path == auth_file(home)
    assert S_IMODE(first.path.stat().st_mode) == 0o600
    assert S_IMODE(home.stat().st_mode) == 0o700
    user, password = first.secret.split(":")
    assert user == "homeward" and len(password) >= 43  # 32 random bytes
    again = load_or_create(home)
    assert (again.secret, again.created) == (first.secret, False)
    assert load_or_create(tmp_path / "other").secret != first.secret


def test_only_the_start_that_made_it_prints_it(tmp_path: Path) -> None:
    made = load_or_create(tmp_path)
    said = announcement(made)
    assert made.secret in said and str(made.path) in said and "the UI and the API" in said
    reused = announcement(load_or_create(tmp_path))
    assert made.secret not in reused and str(made.path) in reused
    assert made.secret not in repr(made)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700])
def test_a_file_others_may_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = load_or_create(tmp_path).path
    path.chmod(mode)
    with pytest.raises(Refused) as refused:
        load_or_create(tmp_path)
    message = str(refused.value)
    assert message.startswith(f"{path}: mode {mode:04o} lets others read")
    assert "chmod 600" in message and "\n" not in message


def test_a_read_only_file_is_accepted(tmp_path: Path) -> None:
    made = load_or_create(tmp_path)
    made.path.chmod(0o400)
    assert load_or_create(tmp_path).secret == made.secret


@pytest.mark.parametrize("content", ["", "\n", "no-colon-here"])
def test_a_file_without_user_and_password_is_refused(tmp_path: Path, content: str) -> None:
    path = auth_file(tmp_path)
    path.write_text(content, encoding="utf-8")
    path.chmod(0o600)
    with pytest.raises(Refused, match="holds no user:password; delete it"):
        load_or_create(tmp_path)


def test_the_header_is_prefects_basic_auth() -> None:
    (header,) = basic_auth_headers("homeward:s3cret").items()
    assert header == ("Authorization", "Basic " + base64.b64encode(b"homeward:s3cret").decode())
    assert basic_auth_headers(None) == {} == basic_auth_headers("")


def test_the_server_gets_the_string_only_when_given_one(tmp_path: Path) -> None:
    guarded = LocalServer("0.0.0.0", 4200, tmp_path, 90, "homeward:s3cret")  # noqa: S104
    assert guarded.environment()["PREFECT_SERVER_API_AUTH_STRING"] == "homeward:s3cret"
    assert "s3cret" not in repr(guarded)
    assert (
        "PREFECT_SERVER_API_AUTH_STRING"
        not in LocalServer("127.0.0.1", 4200, tmp_path, 90).environment()
    )


def test_the_address_browsers_use_for_the_api_can_be_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off loopback the UI must not send browsers to 0.0.0.0: the operator names the address."""
    server = LocalServer("0.0.0.0", 4200, tmp_path, 90, "homeward:s3cret")  # noqa: S104
    assert server.environment()["PREFECT_SERVER_UI_API_URL"] == "http://0.0.0.0:4200/api"
    monkeypatch.setenv("PREFECT_SERVER_UI_API_URL", "https://prefect.example.org/api")
    assert server.environment()["PREFECT_SERVER_UI_API_URL"] == "https://prefect.example.org/api"
