"""The services report (``homeward report services``): services delivered by type and provider,
budget planned against spent, with small-cell suppression; nothing decrypted reaches it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from homeward.base.clock import local_date
from homeward.base.db import write_session
from homeward.commands import plan as cmd
from homeward.commands.reports import AddProgramme, EnrolCases
from homeward.commands.runner import run
from homeward.edges.cli.common import state
from homeward.records.directory import StaffIn, add_staff, validate
from homeward.reporting.programmes import ProgrammeIn
from tests import factories as f
from tests.cli.runner import run_cli
from tests.signin import credential_for

CW, SUP2, FMB = "cw@iom-it.example.org", "sup2@iom-it.example.org", "cw@fmb.example.org"
MANAGER, ADPARE = "mgr@iom-it.example.org", "cw@adpare.example.org"
NOTE = "Zenobia Canarycanary report note"


@pytest.fixture
def world(db_url, clock, monkeypatch):
    monkeypatch.setenv("HOMEWARD_REPORT_K", "3")
    monkeypatch.setattr(state, "clock", clock)
    f.seed()
    with write_session() as s:
        add_staff(
            session=s,
            staff_in=validate(StaffIn, org="iom-it", name="Sup Two", email=SUP2, role="supervisor"),
        )
    return clock


def _as(email: str, command, clock):  # type: ignore[no-untyped-def]
    return run(command, credential_for(email, clock.now()), clock=clock)


def _case_with(clock, service_type: str, provider: str, budget: int, cost: int) -> str:
    ref = f.open_case(clock)
    f.drive_to(ref, "received", clock)
    today = local_date(clock.now())
    _as(CW, cmd.DraftPlan(ref), clock)
    added = _as(
        CW,
        cmd.AddService(ref, service_type, provider, today, None, budget, "EUR", NOTE),
        clock,
    )
    _as(CW, cmd.SubmitPlan(ref), clock)
    _as(f.SUPERVISOR, cmd.ApprovePlan(ref), clock)
    who = FMB if provider == "fmb" else ADPARE
    _as(who, cmd.ServiceDelivered(added.service_id or 0, today, cost, None), clock)
    return ref


def _report(capsys, monkeypatch, *args: str) -> dict:  # type: ignore[type-arg]
    result = run_cli(
        capsys, monkeypatch, "--as", MANAGER, "report", "services", "--format", "json", *args
    )
    assert result.code == 0, result.err
    assert "Canarycanary" not in result.out
    return json.loads(result.out)  # type: ignore[no-any-return]


def test_services_by_type_and_provider_and_budget_with_suppression(world, capsys, monkeypatch):
    clock = world
    refs = [_case_with(clock, "vocational_training", "fmb", 100000, 90000) for _ in range(3)]
    refs.append(_case_with(clock, "housing", "adpare", 50000, 50050))
    report = _report(capsys, monkeypatch)
    by_type, money = report["tables"]
    assert by_type["columns"] == ["adpare", "fmb", "Total"]
    rows = {r["label"]: r["cells"] for r in by_type["rows"]}
    assert rows["vocational_training"][1:] == [3, 3]  # 3 delivered by fmb: published
    assert rows["housing"][0] == "<3" and rows["housing"][2] == "<3"  # one: suppressed
    assert rows["vocational_training"][0] in ("x", 0)  # no way back to the small cell
    assert rows["All"][-1] == 4
    [line] = money["rows"]
    assert line["cells"] == ["EUR", 4, "3500.00 EUR", "3200.50 EUR"]

    start = local_date(clock.now()) - timedelta(days=30)
    programme = ProgrammeIn(
        code="tango-1",
        name="TaNGO",
        donor="A donor",
        starts_on=start,
        ends_on=start.replace(year=start.year + 1),
    )
    _as(MANAGER, AddProgramme(programme), clock)
    _as(MANAGER, EnrolCases("tango-1", tuple(refs[:2])), clock)
    small = _report(capsys, monkeypatch, "--programme", "tango-1")
    [line] = small["tables"][1]["rows"]
    assert line["label"] == "tango-1" and line["cells"] == ["EUR", "<3", "x", "x"]


def test_only_report_runners_get_it(world, capsys, monkeypatch):
    refused = run_cli(capsys, monkeypatch, "--as", FMB, "report", "services")
    assert refused.code != 0 and len(refused.err.strip().splitlines()) == 1
