"""The protection features as a user reaches them: keys, consent, personal data, duplicates."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from homeward.base import settings as homeward_settings
from homeward.base.clock import SimulatedClock
from homeward.base.models import Consent
from homeward.edges.cli.common import state
from tests import factories as f
from tests.cli.runner import run_cli
from tests.signin import token_for

PERSON = json.dumps(
    {
        "given_name": "Ioana",
        "family_name": "Ştefănescu",
        "birth_date": "2001-02-03",
        "phone": "+40 711 111 111",
    }
)


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    f.seed()
    monkeypatch.setattr(state, "clock", clock)  # the CLI's time is the test's clock

    def run(*args: str, stdin: str = ""):
        return run_cli(capsys, monkeypatch, *args, stdin=stdin)

    return run


def test_every_data_command_refuses_to_run_without_keys(cli, clock, monkeypatch, tmp_path):
    token_for(f.COORD, clock.now())  # signed in while the keys were there (signing in needs them)
    monkeypatch.setenv("HOMEWARD_KEY_FILE", str(tmp_path / "none.json"))
    homeward_settings.get_settings.cache_clear()
    before = f.db_snapshot()
    monkeypatch.setenv("HOMEWARD_SESSION", "a-token-no-one-can-check-without-keys")
    for argv in (
        ["org", "list"],
        ["case", "list"],
        ["case", "start", "--person", "-"],
        ["login", f.COORD],
    ):
        result = cli(*argv, stdin=PERSON)
        assert result.code == 7 and "homeward keys init" in result.err, result.err
        assert result.err.count("\n") == 1
    assert f.db_snapshot() == before
    created = cli("keys", "init")
    assert created.code == 0 and "back it up offline" in created.out
    assert cli("keys", "init").code == 5  # never overwrites
    assert cli("org", "list").code == 0
    assert "active mk-" in cli("keys", "status").out


def test_consent_commands_and_handoff_rule(cli, clock):
    ref = f.open_case(clock, share=False)
    item = str(f.items(ref, stage="identified_abroad")[0].id)
    refused = cli("--as", f.COORD, "items", "handoff", item, "--to", "adpare")
    assert refused.code == 4 and "consent give" in refused.err
    bad = cli(
        "--as",
        f.COORD,
        "consent",
        "give",
        ref,
        "--purpose",
        "sharing",
        "--method",
        "signed",
        "--language",
        "ro",
    )
    assert bad.code == 2 and "--org" in bad.err
    bad = cli(
        "--as",
        f.COORD,
        "consent",
        "give",
        ref,
        "--purpose",
        "gossip",
        "--org",
        "adpare",
        "--method",
        "signed",
        "--language",
        "ro",
    )
    assert bad.code == 2 and "purpose" in bad.err
    given = cli(
        "--as",
        f.COORD,
        "consent",
        "give",
        ref,
        "--purpose",
        "sharing",
        "--org",
        "adpare",
        "--method",
        "oral",
        "--language",
        "ro",
        "--interpreter",
    )
    assert given.code == 0, given.err
    assert cli("--as", f.COORD, "items", "handoff", item, "--to", "adpare").code == 0
    listed = cli("--as", f.COORD, "consent", "list", ref)
    assert "sharing" in listed.out and "adpare" in listed.out and "+interpreter" in listed.out
    withdrawn = cli(
        "--as", f.COORD, "consent", "withdraw", ref, "--purpose", "sharing", "--org", "adpare"
    )
    assert withdrawn.code == 0
    assert cli("--as", "cw@adpare.example.org", "items", "accept", item).code == 3
    history = cli("--as", f.COORD, "case", "history", ref).out
    assert "sharing_consent_withdrawn" in history


def test_personal_data_entered_later_shown_by_part_and_duplicates_flagged(cli, clock):
    started = cli(
        "--as", f.COORD, "case", "start", "--with", "ngo=adpare", "--person", "-", stdin=PERSON
    )
    ref = started.out.split()[1]
    assert "warning" not in started.out
    again = cli(
        "--as",
        f.COORD,
        "case",
        "start",
        "--person",
        "-",
        stdin=PERSON.replace("Ioana", "IOANA").replace("Ştefănescu", "Stefanescu"),
    )
    assert again.code == 0 and f"possibly the same person as {ref}" in again.out
    cli(
        "staff",
        "add",
        "--org",
        "fmb",
        "--name",
        "Coord FMB",
        "--email",
        "coord@fmb.example.org",
        "--role",
        "coordinator",
    )
    elsewhere = cli(
        "--as",
        "coord@fmb.example.org",
        "case",
        "start",
        "--with",
        "ngo=fmb",
        "--person",
        "-",
        stdin=PERSON,
    )
    # another organisation is told nothing of the owner's cases: not their refs, not a count
    assert "warning" not in elsewhere.out and ref not in elsewhere.out
    owner = cli("--as", f.COORD, "case", "show", ref, "--personal")
    assert "Ştefănescu" in owner.out and "2001-02-03" in owner.out
    f.give_sharing(ref, clock, "adpare")
    ngo = cli("--as", "cw@adpare.example.org", "case", "show", ref, "--personal")
    assert "Ştefănescu" in ngo.out and "2001-02-03" not in ngo.out  # an NGO needs no birth date
    replaced = cli(
        "--as",
        f.COORD,
        "case",
        "person",
        ref,
        "--person",
        "-",
        stdin=PERSON.replace("+40 711 111 111", "+40 722 222 222"),
    )
    assert replaced.code == 0 and "encrypted" in replaced.out
    assert "+40 722 222 222" in cli("--as", f.COORD, "case", "show", ref, "--personal").out
    refused = cli(
        "--as", "cw@adpare.example.org", "case", "person", ref, "--person", "-", stdin=PERSON
    )
    assert refused.code == 4 and "the case's owner" in refused.err


def test_legal_hold_needs_the_owner_supervisor_and_blocks_purging(cli, clock, monkeypatch):
    ref = f.open_case(clock)
    f.drive_to(ref, "closed", clock)
    refused = cli("--as", f.COORD, "case", "hold", ref)
    assert refused.code == 4 and "supervisor" in refused.err
    assert cli("--as", f.SUPERVISOR, "case", "hold", ref).code == 0
    monkeypatch.setenv("HOMEWARD_RETENTION_DAYS", "30")
    homeward_settings.get_settings.cache_clear()
    clock.advance(days=31)  # past the retention period: only the hold keeps the case
    assert ref not in cli("retention", "run", "--dry-run").out
    assert cli("--as", f.SUPERVISOR, "case", "hold", ref, "--release").code == 0
    assert ref in cli("retention", "run", "--dry-run").out
    monkeypatch.delenv("HOMEWARD_RETENTION_DAYS")
    homeward_settings.get_settings.cache_clear()


def test_consent_dates_default_to_the_local_day_after_local_midnight(cli, monkeypatch):
    """22:30 UTC on 5 January is 00:30 on the 6th in Bucharest: that is the day recorded."""
    late = SimulatedClock(datetime(2026, 1, 5, 22, 30, tzinfo=UTC))
    monkeypatch.setattr(state, "clock", late)
    ref = f.open_case(late, share=False)
    sharing = ("--purpose", "sharing", "--org", "adpare")
    given = cli(
        "--as", f.COORD, "consent", "give", ref, *sharing, "--method", "signed", "--language", "ro"
    )
    assert given.code == 0, given.err
    assert cli("--as", f.COORD, "consent", "withdraw", ref, *sharing).code == 0
    with f.admin_read() as s:
        sharing_row = s.exec(select(Consent).where(Consent.purpose == "sharing")).one()
    assert (sharing_row.given_on, sharing_row.withdrawn_on) == (date(2026, 1, 6), date(2026, 1, 6))
