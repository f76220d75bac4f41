"""The service directory (issue 16, point 8): who keeps which organisation's offers, county
codes, listing; row security keeps each organisation to its own rows even under the app's
login (PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from homeward.base.clock import SimulatedClock
from homeward.base.db import may_act_for_system, write_session
from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.commands import providers as directory
from homeward.commands.runner import run
from tasks import providers
from tests import factories as f
from tests.cli.runner import run_cli
from tests.conftest import BACKEND
from tests.signin import credential_for

ADPARE_ADMIN, ADPARE_CW = "admin@adpare.example.org", "cw@adpare.example.org"


def as_(email: str, clock: SimulatedClock):  # type: ignore[no-untyped-def]
    return credential_for(email, clock.now())


def test_counties_are_iso_codes_with_a_one_line_hint() -> None:
    assert len(providers.COUNTIES) == 42
    assert providers.check_county(" ro-b ") == "RO-B"
    for bad in ("Cluj", "RO-XX", "CJ", ""):
        with pytest.raises(InvalidInput) as refused:
            providers.check_county(bad)
        message = str(refused.value)
        assert message.startswith("county: ") and "RO-CJ" in message and "\n" not in message


def test_an_organisation_keeps_its_own_offers(db_url: str, clock: SimulatedClock) -> None:
    f.seed()
    added = run(directory.AddService("housing", "RO-CJ", 3), as_(ADPARE_ADMIN, clock), clock=clock)
    assert (added.org, added.service, added.county, added.capacity) == (
        "adpare",
        "housing",
        "RO-CJ",
        3,
    )
    again = run(directory.AddService("housing", "RO-CJ", 5), as_(f.COORD, clock), clock=clock)
    assert again.org == "iom-it"  # the coordinator's own organisation
    updated = run(
        directory.AddService("housing", "RO-CJ", 1), as_(ADPARE_ADMIN, clock), clock=clock
    )
    assert updated.capacity == 1
    listed = run(directory.ListServices(county="RO-CJ"), as_(ADPARE_CW, clock), clock=clock)
    assert [(o.org, o.capacity) for o in listed] == [("adpare", 1), ("iom-it", 5)]
    assert run(directory.ListServices(service="medical"), as_(ADPARE_CW, clock), clock=clock) == []

    before = f.db_snapshot()
    with pytest.raises(Refused, match="cannot keep the service offers"):  # a caseworker
        run(directory.AddService("legal", "RO-CJ"), as_(ADPARE_CW, clock), clock=clock)
    with pytest.raises(Refused, match="cannot keep the service offers of ADPARE"):
        run(directory.RemoveService("housing", "RO-CJ", "adpare"), as_(f.COORD, clock), clock=clock)
    with pytest.raises(InvalidInput, match="service: not a service type"):
        run(directory.AddService("cooking", "RO-CJ"), as_(ADPARE_ADMIN, clock), clock=clock)
    with pytest.raises(InvalidInput, match="capacity"):
        run(directory.AddService("legal", "RO-CJ", -1), as_(ADPARE_ADMIN, clock), clock=clock)
    with pytest.raises(NotFound, match="offers no legal in RO-CJ"):
        run(directory.RemoveService("legal", "RO-CJ"), as_(ADPARE_ADMIN, clock), clock=clock)
    assert f.db_snapshot() == before

    gone = run(directory.RemoveService("housing", "RO-CJ"), as_(ADPARE_ADMIN, clock), clock=clock)
    assert gone.org == "adpare"
    listed = run(directory.ListServices(), as_(ADPARE_CW, clock), clock=clock)
    assert [o.org for o in listed] == ["iom-it"]


def test_a_platform_admin_keeps_any_organisations_offers_where_the_database_lets_it(
    db_url: str, clock: SimulatedClock
) -> None:
    f.seed()
    command = directory.AddService("medical", "RO-B", 2, "adpare")
    with write_session() as s:
        system_login = may_act_for_system(s)
    if system_login:  # SQLite, or a login that may act for every organisation
        assert run(command, as_(f.PLATFORM_ADMIN, clock), clock=clock).org == "adpare"
    else:  # the app's login: row security keeps each organisation to its own rows
        with pytest.raises(Refused, match="only ADPARE \\(adpare\\)'s own staff"):
            run(command, as_(f.PLATFORM_ADMIN, clock), clock=clock)


@pytest.mark.skipif(BACKEND != "postgres", reason="row security is PostgreSQL's")
def test_row_security_keeps_offers_to_their_organisation(
    db_url: str, clock: SimulatedClock
) -> None:
    f.seed()
    run(directory.AddService("housing", "RO-CJ", 3), as_(ADPARE_ADMIN, clock), clock=clock)
    with write_session() as s:
        f.acting(session=s, email=f.COORD)  # iom-it, under the app's login
        seen = s.execute(text("SELECT count(*) FROM provider_service")).scalar_one()
        assert seen == 1  # everyone reads the directory
        changed = s.execute(text("UPDATE provider_service SET capacity = 99")).rowcount
        deleted = s.execute(text("DELETE FROM provider_service")).rowcount
        assert (changed, deleted) == (0, 0)
    with pytest.raises(DBAPIError), write_session() as s:
        f.acting(session=s, email=f.COORD)
        org_id = s.execute(text("SELECT id FROM organisation WHERE slug = 'adpare'")).scalar_one()
        s.execute(
            text(
                "INSERT INTO provider_service (org_id, service_type, county, active) "
                "VALUES (:o, 'legal', 'RO-CJ', true)"
            ),
            {"o": org_id},
        )


def test_cli_providers(db_url: str, clock: SimulatedClock, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    f.seed()
    cli = lambda *a: run_cli(capsys, monkeypatch, *a)  # noqa: E731
    added = cli(
        "--as",
        ADPARE_ADMIN,
        "providers",
        "add",
        "--service",
        "housing",
        "--county",
        "RO-CJ",
        "--capacity",
        "4",
    )
    assert added.code == 0 and "adpare offers housing in RO-CJ, capacity 4" in added.out
    bad = cli("--as", ADPARE_ADMIN, "providers", "add", "--service", "housing", "--county", "Cluj")
    assert bad.code != 0 and bad.err.startswith("error: county: not a Romanian county")
    assert "Traceback" not in bad.err and bad.err.count("\n") == 1
    refused = cli("--as", ADPARE_CW, "providers", "add", "--service", "legal", "--county", "RO-CJ")
    assert refused.code != 0 and "cannot keep the service offers" in refused.err
    listed = cli("--as", "cw@fmb.example.org", "providers", "list", "--county", "RO-CJ")
    assert listed.code == 0 and "ADPARE (adpare)" in listed.out and "4" in listed.out
    removed = cli(
        "--as", ADPARE_ADMIN, "providers", "remove", "--service", "housing", "--county", "RO-CJ"
    )
    assert removed.code == 0 and "no longer offers housing in RO-CJ" in removed.out
