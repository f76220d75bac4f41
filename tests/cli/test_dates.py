"""Dates that make sense, through the CLI: consent between identification and today, travel
not before consent, arrival not before departure, real ISO 3166 countries. Each refusal is one
line naming the field, exit code 2, database unchanged; days are Bucharest days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from homeward.edges.cli.common import state
from statemachines.return_case import State
from tests import factories as f
from tests.cli.runner import run_cli


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    monkeypatch.setattr(state, "clock", clock)  # the CLI's time is the test's clock
    f.seed()

    def run(*args: str):
        return run_cli(capsys, monkeypatch, "--as", f.COORD, *args)

    return run


def refused_as_invalid(cli, args: list[str], field: str) -> str:
    before = f.db_snapshot()
    result = cli(*args)
    assert result.code == 2, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}: "), result.err
    assert f.db_snapshot() == before
    return lines[0]


def consent(ref: str, given_on: str) -> list[str]:
    return [
        "consent", "give", ref, "--purpose", "data_processing",
        "--method", "signed", "--language", "ro", "--given-on", given_on,
    ]  # fmt: skip


def test_consent_is_not_dated_in_the_future_nor_before_identification(cli, clock):
    clock.current = datetime(2026, 3, 10, 21, 30, tzinfo=UTC)  # 23:30 in Bucharest
    ref = f.open_case(clock)
    line = refused_as_invalid(cli, consent(ref, "2026-03-11"), "given_on")
    assert "in the future" in line
    clock.advance(days=3)
    line = refused_as_invalid(cli, consent(ref, "2026-03-09"), "given_on")
    assert "before case" in line and "2026-03-10" in line
    assert cli(*consent(ref, "2026-03-10")).code == 0


def test_consent_given_after_midnight_in_bucharest_is_that_days(cli, clock):
    clock.current = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)  # 00:30 on 11 March in Bucharest
    ref = f.open_case(clock)
    assert cli(*consent(ref, "2026-03-11")[:-2]).code == 0  # no --given-on: today, there
    listed = cli("consent", "list", ref).out
    assert "2026-03-11" in listed and "2026-03-10" not in listed


def test_departure_is_not_dated_before_the_consent_to_return(cli, clock):
    ref = f.open_case(clock)
    f.drive_to(ref, State.TRAVEL_ARRANGED, clock)
    f.complete_stage(ref, clock)
    consented = f.load_case(ref).opened_at.date()  # record_consent ran on the opening day
    clock.advance(days=5)
    early = str(consented - timedelta(days=1))
    line = refused_as_invalid(
        cli, ["case", "advance", ref, "depart", "--set", f"departed_on={early}"], "departed_on"
    )
    assert "before the person consented" in line


def test_arrival_is_not_dated_before_departure(cli, clock):
    ref = f.open_case(clock)
    f.drive_to(ref, State.IN_TRANSIT, clock)
    f.complete_stage(ref, clock)
    early = str(f.load_case(ref).departure_on - timedelta(days=1))
    args = ["case", "advance", ref, "confirm_arrival", "--set", f"arrival_on={early}"]
    assert "before the departure" in refused_as_invalid(cli, args, "arrival_on")


@pytest.mark.parametrize("code", ["XX", "UK", "R0"])
def test_countries_are_iso_3166_codes(cli, code):
    line = refused_as_invalid(cli, ["case", "start", "--host-country", code], "host_country")
    assert "ISO 3166-1 alpha-2" in line
    org = ["org", "add", "--slug", "new-org", "--name", "New", "--kind", "ngo", "--country", code]
    refused_as_invalid(cli, org, "country")


def test_an_import_row_with_an_unknown_country_is_named(cli, tmp_path):
    rows = tmp_path / "cases.csv"
    rows.write_text(
        "external_id,host_country,given_name,family_name\nA-1,XX,Ana,Pop\n", encoding="utf-8"
    )
    before = f.db_snapshot()
    result = cli("import", "cases", str(rows))
    assert result.code == 2, result.out + result.err
    assert "host_country" in result.err and "ISO 3166-1" in result.err
    assert f.db_snapshot() == before
