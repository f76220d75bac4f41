"""Typed text in reports stays text: no spreadsheet formula in CSV or XLSX (OWASP CSV
injection), no markdown or HTML in Prefect artifacts (issue 14, point 7)."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from homeward.base.db import system_scope, write_session
from homeward.base.models import Case
from homeward.reporting.render import rows_to_csv, to_csv, to_xlsx
from homeward.reporting.tables import Report, Table
from tests import factories as f
from tests.cli.runner import run_cli
from workflows.artifacts import chart_markdown, report_description, table_rows

FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]
MARKUP = ["<script>alert(1)</script>", "**bold** | pipe", "[x](http://evil.example)", "# title"]
MANAGER = "mgr@iom-it.example.org"


def hostile_report() -> Report:
    """A report whose title, labels, params and notes are typed text an attacker chose."""
    columns = ["Target", "Achieved", "Share"]
    table = Table("By reason", "Reason", columns, [(v, [3, 2, "67%"]) for v in FORMULAS + MARKUP])
    title = f"{FORMULAS[0]} ({MARKUP[0]}): progress against targets"
    return Report("targets", title, 3, {"programme": FORMULAS[3]}, [table], [MARKUP[1]])


def test_report_csv_neutralises_every_formula_cell():
    parsed = list(csv.reader(io.StringIO(to_csv(hostile_report()))))
    labels = [row[2] for row in parsed[1::3]]
    assert labels[:4] == ["'" + v for v in FORMULAS]
    assert labels[4:] == MARKUP and [row[4] for row in parsed[1:4]] == ["3", "2", "67%"]


def test_report_xlsx_cells_are_text_never_formulas(tmp_path):
    out = tmp_path / "r.xlsx"
    to_xlsx(hostile_report(), out)
    book = load_workbook(out)
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type != "f" for c in cells)
    assert book["About"]["A1"].value.startswith("'=HYPERLINK(")
    assert [c.value for c in book["1 By reason"]["A"]][1:5] == ["'" + v for v in FORMULAS]
    assert book["1 By reason"]["B2"].value == 3  # numbers stay numbers


def test_report_xlsx_through_the_cli_with_a_hostile_programme_name(
    db_url, clock, capsys, monkeypatch, tmp_path
):
    f.seed()
    cli = ("--as", MANAGER)
    added = run_cli(
        capsys,
        monkeypatch,
        *(*cli, "programme", "add", "evil", "--name", FORMULAS[0], "--donor", "@SUM(A1)"),
        *("--from", "2026-01-01", "--to", "2026-12-31", "--target", "identified=1"),
    )
    assert added.code == 0, added.err
    out = tmp_path / "t.xlsx"
    done = run_cli(
        capsys, monkeypatch, *cli, "report", "targets", "--programme", "evil", "--format", "xlsx",
        "--out", str(out),
    )  # fmt: skip
    assert done.code == 0, done.err
    title = load_workbook(out)["About"]["A1"]
    assert title.data_type == "s" and title.value == f"'{FORMULAS[0]} (@SUM(A1)): " + (
        "progress against targets"
    )


def test_htcds_export_neutralises_a_formula_stored_in_a_case(
    db_url, clock, capsys, monkeypatch, tmp_path
):
    f.seed()
    ref = f.open_case(clock)
    # as an import or an insider with the database could write it (row security off)
    with write_session() as s, system_scope(s):
        case = s.exec(select(Case).where(Case.case_ref == ref)).one()
        case.closure_reason = "=cmd|' /C calc'!A0"
        s.add(case)
    out = tmp_path / "htcds.csv"
    done = run_cli(capsys, monkeypatch, "--as", f.SUPERVISOR, "export", "htcds", "--out", str(out))
    assert done.code == 0, done.err
    exported = list(csv.DictReader(out.open()))
    assert exported[0]["closureReason"] == "'=cmd|' /C calc'!A0"


@pytest.mark.parametrize("value", ["+1", "-2", "@SUM(A1)", "\tx", "\r=1"])
def test_htcds_rows_neutralise_each_formula_start(value):
    parsed = list(csv.DictReader(io.StringIO(rows_to_csv([{"a": value, "n": 7}], ["a", "n"]))))
    assert parsed[0]["a"].startswith("'") and parsed[0]["n"] == "7"


def test_artifact_markdown_escapes_typed_text():
    report = hostile_report()
    description = report_description(report, report.tables[0])
    chart = chart_markdown(report)
    for text in (description, chart.split("\n")[0]):
        assert "<script>" not in text and "**bold**" not in text and " | pipe" not in text
    assert "&lt;script&gt;" in description and chart.startswith("## =HYPERLINK")
    assert "data:image/svg+xml;base64," in chart  # the chart itself is still an image
    assert table_rows(report.tables[0])[0] == {
        "Reason": FORMULAS[0],
        "Target": 3,
        "Achieved": 2,
        "Share": "67%",
    }
