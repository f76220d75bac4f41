"""Reports on a generated caseload with known answers, their outputs, and the HTCDS export."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from homeward.base import settings as homeward_settings
from homeward.base.db import write_session
from homeward.base.models import AuditEntry, ChecklistItem, Organisation
from homeward.protection.vault import PersonIn
from homeward.reporting.indicators import CLOSURE_REASONS, OPEN_STAGES, STAGE_ORDER
from homeward.reporting.reports import run_report
from statemachines.return_case import ALL_STATES, OPEN_STATES, InternalState
from statemachines.steps import ClosureReason
from tests import factories as f
from tests.cli.runner import run_cli

MANAGER = "mgr@iom-it.example.org"
# (sex, birth date, form of exploitation, stage the case is driven to)
CASELOAD = [
    ("female", "1990-05-17", "labour", "closed"),
    ("female", "1985-02-01", "sexual", "closed"),
    ("male", "2000-07-30", "labour", "reintegration"),
    ("female", "1990-01-09", "labour", "in_transit"),
    ("male", None, None, "identified_abroad"),
    ("female", None, "sexual", "identified_abroad"),
]


@pytest.fixture
def k3(monkeypatch):
    """Reports with k = 3, so a six-case caseload shows both published and hidden cells."""
    monkeypatch.setenv("HOMEWARD_REPORT_K", "3")
    homeward_settings.get_settings.cache_clear()
    yield 3
    homeward_settings.get_settings.cache_clear()


@pytest.fixture
def caseload(db_url, clock, k3, capsys, monkeypatch):
    f.seed()
    refs = []
    for n, (sex, born, form, stage) in enumerate(CASELOAD):
        person = PersonIn(
            given_name=f"Person{n}",
            family_name="Canarycanary",
            sex=sex,
            birth_date=born,
            exploitation_form=form,
        )
        ref = f.open_case(clock, person=person)
        f.drive_to(ref, stage, clock)
        refs.append(ref)
    cli = ("--as", MANAGER)
    added = run_cli(
        capsys,
        monkeypatch,
        *cli,
        "programme",
        "add",
        "tango",
        "--name",
        "TaNGO",
        "--donor",
        "Norway Grants",
        "--from",
        "2026-01-01",
        "--to",
        "2027-12-31",
        "--target",
        "identified=10",
        "--target",
        "returned=25",
    )
    assert added.code == 0, added.err
    enrolled = run_cli(capsys, monkeypatch, *cli, "programme", "enrol", "tango", *refs)
    assert "6 case(s) enrolled" in enrolled.out
    return refs


def report(name: str, clock, **kw):
    with write_session() as s:
        return run_report(s, name, actor=f.actor(s, MANAGER), now=clock.now(), **kw)


def rows(table) -> dict[str, list]:
    return dict(table.rows)


def test_targets_count_each_indicator_from_the_case_events(caseload, clock):
    built = report("targets", clock, programme_code="tango")
    progress = rows(built.tables[0])
    assert progress["Victims identified"] == [10, 6, 60.0]
    assert progress["Victims assisted (informed consent given)"] == [None, 4, None]
    assert progress["Assisted to return (arrival confirmed)"] == [25, 3, 12.0]
    assert progress["Supported after return (reintegration started)"] == [None, 3, None]
    assert progress["Follow-up completed at 6 months"] == [None, "<3", None]  # 2 cases
    by_sex = rows(built.tables[1])
    assert built.tables[1].columns == ["female", "male", "other", "unknown", "Total"]
    assert by_sex["Victims identified"] == ["x", "<3", 0, 0, 6]  # male 2 hidden, female too
    assert by_sex["Assisted to return (arrival confirmed)"] == ["<3", "<3", 0, 0, 3]
    by_age = rows(built.tables[2])
    assert by_age["Victims identified"][-1] == 6
    by_form = rows(built.tables[3])
    assert by_form["Victims identified"][:2] == ["<3", 3]  # sexual 2, labour 3
    assert rows(built.tables[4])["Victims identified"] == [6, 0, 6]  # all identified in IT


def test_the_period_limits_what_counts(caseload, clock):
    built = report("targets", clock, programme_code="tango", start=date(2030, 1, 1))
    assert [cells[1] for _, cells in built.tables[0].rows] == [0, 0, 0, 0, 0]


def test_stages_median_and_p90(caseload, clock):
    table = rows(report("stages", clock).tables[0])
    assert table["travel_arranged"] == [4, 5.0, 5.0, 0]  # drive_to waits 5 days to depart
    assert table["in_transit"] == [3, 0.0, 0.0, "<3"]
    assert table["identified_abroad"] == [4, 0.0, 0.0, "<3"]
    assert list(table) == [s for s in STAGE_ORDER if s in table]


def test_overdue_items_per_organisation(caseload, clock):
    clock.advance(days=400)
    with f.admin_read() as s:
        open_items = s.exec(select(ChecklistItem).where(ChecklistItem.status == "open")).all()
        slugs = {o.id: o.slug for o in s.exec(select(Organisation))}
    late = Counter(slugs[i.owner_org_id] for i in open_items if i.due_at < clock.now())
    table = rows(report("overdue", clock).tables[0])
    assert set(table) == {*late, "All"} and table["All"][0] == sum(late.values())
    for slug, n in late.items():
        assert table[slug][0] in ((n, "x") if n >= 3 else ("<3", "x"))
    assert any(cells[0] == n for slug, n in late.items() for cells in [table[slug]] if n >= 3)


def test_closures_by_reason(caseload, clock):
    built = report("closures", clock)
    by_reason = rows(built.tables[0])
    assert list(by_reason)[:-1] == list(CLOSURE_REASONS) == [r.value for r in ClosureReason]
    assert by_reason["support_period_ended"] == ["<3"] and by_reason["All"] == ["<3"]
    assert by_reason["died"] == [0]
    by_sex = rows(built.tables[1])
    assert by_sex["support_period_ended"] == ["<3", 0, 0, 0, "<3"]


def test_stage_order_matches_the_machine():
    assert set(STAGE_ORDER) == {str(s) for s in ALL_STATES}
    internal_only = {str(s) for s in InternalState}
    assert set(OPEN_STAGES) == {s.value for s in OPEN_STATES} | internal_only


def test_reports_need_a_managing_role_and_k_cannot_go_down(caseload, clock, capsys, monkeypatch):
    refused = run_cli(capsys, monkeypatch, "--as", "cw@iom-it.example.org", "report", "stages")
    assert refused.code == 4 and "cannot manage programmes and run reports" in refused.err
    lower = run_cli(capsys, monkeypatch, "--as", MANAGER, "report", "stages", "--k", "2")
    assert lower.code == 2 and "k cannot be lower" in lower.err
    with f.admin_read() as s:
        actions = [a.action for a in s.exec(select(AuditEntry).order_by(col(AuditEntry.id)))]
    assert "report:stages" not in actions


def test_csv_json_xlsx_and_chart(caseload, clock, capsys, monkeypatch, tmp_path):
    cli = ("--as", MANAGER, "report", "targets", "--programme", "tango")
    as_csv = run_cli(capsys, monkeypatch, *cli, "--format", "csv")
    parsed = list(csv.DictReader(io.StringIO(as_csv.out)))
    assert parsed[0].keys() == {"report", "table", "row", "column", "value"}
    assert {
        "table": "Progress against targets",
        "row": "Victims identified",
        "column": "Achieved",
        "value": "6",
        "report": "targets",
    } in parsed
    as_json = json.loads(run_cli(capsys, monkeypatch, *cli, "--format", "json").out)
    assert as_json["k"] == 3 and as_json["params"]["programme"] == "tango"
    assert as_json["tables"][0]["rows"][4] == {
        "label": "Follow-up completed at 6 months",
        "cells": [None, "<3", None],
    }
    out, chart = tmp_path / "t.xlsx", tmp_path / "t.svg"
    done = run_cli(
        capsys, monkeypatch, *cli, "--format", "xlsx", "--out", str(out), "--chart", str(chart)
    )
    assert done.code == 0, done.err
    book = load_workbook(out)
    assert book.sheetnames[:3] == ["About", "1 Progress against targets", "2 By sex"]
    assert [c.value for c in book["2 By sex"][2]] == ["Victims identified", "x", "<3", 0, 0, 6]
    assert chart.read_text().startswith("<svg") and "target 25" in chart.read_text()
    needs_file = run_cli(capsys, monkeypatch, *cli, "--format", "xlsx")
    assert needs_file.code == 2 and "--out" in needs_file.err
    with f.admin_read() as s:
        audited = [a for a in s.exec(select(AuditEntry)) if a.action == "report:targets"]
    assert len(audited) == 3 and audited[0].fields == "sex,age_band,exploitation_form,country"


def test_htcds_export_for_supervisors_and_managers_only(
    caseload, clock, capsys, monkeypatch, tmp_path
):
    out = tmp_path / "htcds.csv"
    refused = run_cli(capsys, monkeypatch, "--as", f.COORD, "export", "htcds", "--out", str(out))
    assert refused.code == 4 and not out.exists()
    done = run_cli(capsys, monkeypatch, "--as", f.SUPERVISOR, "export", "htcds", "--out", str(out))
    assert done.code == 0, done.err
    exported = list(csv.DictReader(out.open()))
    assert [r["caseId"] for r in exported] == caseload
    first = exported[0]
    assert (first["gender"], first["ageBroad"], first["isForcedLabour"]) == ("Female", "30-38", "1")
    assert first["caseStatus"] == "Closed" and first["closureReason"] == "support_period_ended"
    assert exported[2]["caseStatus"] == "FollowUp" and exported[4]["ageBroad"] == "unknown"
    assert "Canarycanary" not in out.read_text()
    with f.admin_read() as s:
        entry = [a for a in s.exec(select(AuditEntry)) if a.action == "export:htcds"][0]
    assert "caseId" in entry.fields and "Canary" not in entry.fields
