"""``homeward staff deactivate``: a staff member who left is cut off at once, sessions included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from homeward.base.db import write_session
from homeward.protection import identity
from tests import factories as f
from tests.cli.runner import run_cli


@pytest.fixture
def cli(db_url, capsys, monkeypatch):
    f.seed()

    def run(*args: str):
        return run_cli(capsys, monkeypatch, *args)

    return run


def test_a_deactivated_member_is_signed_out_everywhere(cli):
    assert cli("--as", f.COORD, "whoami").code == 0  # signed in: a live session
    done = cli("--as", f.PLATFORM_ADMIN, "staff", "deactivate", f.COORD)
    assert done.code == 0, done.err
    assert "1 session(s) ended" in done.out
    refused = cli("--as", f.COORD, "whoami")  # the same session token, presented again
    assert refused.code == 12 and refused.err.count("\n") == 1, refused.err
    assert "ended" in refused.err
    with write_session() as session:  # and no new sign-in: no code is issued to them
        assert identity.open_challenge(session, email=f.COORD, now=datetime.now(UTC)).staff is None
    listed = cli("staff", "list")
    assert f.COORD in listed.out and " no" in listed.out.split(f.COORD)[1].splitlines()[0]
