"""Importing a caseload: every bad row reported, nothing imported, then --skip-bad, then again."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from homeward.base.clock import SimulatedClock, local_date
from homeward.base.db import write_session
from homeward.base.models import (
    AuditEntry,
    Case,
    CaseEvent,
    ChecklistItem,
    ImportedCase,
    RowSeal,
)
from homeward.edges.cli.common import state
from homeward.intake.load import import_rows
from homeward.intake.rows import validate_file
from homeward.protection.vault import read_person
from homeward.records.auditlog import verify
from statemachines.cases import get_case
from tests import factories as f
from tests.cli.runner import run_cli

HEADER = [
    "external_id",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "exploitation_form",
    "host_country",
    "opened_on",
]
BAD = {  # row number in the file -> (column, what is wrong with it)
    101: ("birth_date", "31-02-1990"),
    2002: ("sex", "f"),
    4003: ("host_country", "Italy"),
    7004: ("given_name", ""),
    9005: ("external_id", "dup"),
}


def caseload(path: Path, rows: int) -> Path:
    """A CSV of ``rows`` people with the BAD rows spoiled."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for n in range(2, rows + 2):
            row = [
                f"ADP-{n:05d}",
                f"Given{n}",
                f"Family{n}",
                "1990-05-17",
                "female",
                "labour",
                "IT",
                "2025-11-03",
            ]
            if n in BAD:
                column, value = BAD[n]
                row[HEADER.index(column)] = "ADP-00002" if value == "dup" else value
            writer.writerow(row)
    return path


def count(model) -> int:
    with f.admin_read() as s:
        return s.exec(select(func.count()).select_from(model)).one()


def test_ten_thousand_rows_with_five_bad(db_url, tmp_path, capsys, monkeypatch):
    f.seed()
    source = caseload(tmp_path / "cases.csv", 10_000)
    refused = run_cli(capsys, monkeypatch, "--as", f.COORD, "import", "cases", str(source))
    assert refused.code == 2
    reported = [line for line in refused.err.splitlines() if line.startswith("row ")]
    assert [int(line.split(",")[0].removeprefix("row ")) for line in reported] == sorted(BAD)
    for line, (row, (column, _)) in zip(reported, sorted(BAD.items()), strict=True):
        assert f"row {row}, column {column}:" in line
    assert "nothing imported" in refused.err
    assert count(Case) == 0 and count(ImportedCase) == 0

    done = run_cli(
        capsys, monkeypatch, "--as", f.COORD, "import", "cases", str(source), "--skip-bad"
    )
    assert done.code == 0, done.err
    assert "9995 case(s) imported, 0 already imported, 5 bad row(s) skipped" in done.out
    assert count(Case) == count(ImportedCase) == count(CaseEvent) == 9995
    assert count(ChecklistItem) == 9995 * 4  # identified_abroad's items for an adult
    again = run_cli(
        capsys, monkeypatch, "--as", f.COORD, "import", "cases", str(source), "--skip-bad"
    )
    assert "0 case(s) imported, 9995 already imported" in again.out
    assert count(Case) == 9995


def test_imported_people_are_sealed_and_readable_by_the_owner(
    db_url, tmp_path, capsys, monkeypatch
):
    f.seed()
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER + ["is_minor", "dgaspc"])
    sheet.append(
        [
            "X-1",
            "Ana",
            "Pop",
            "2012-03-04",
            "female",
            "begging",
            "IT",
            "2025-10-01",
            "yes",
            "dgaspc-bv",
        ]
    )
    sheet.append(["X-2", "Ion", "Rus", None, "male", None, None, None, None, None])
    book.save(tmp_path / "cases.xlsx")
    done = run_cli(
        capsys, monkeypatch, "--as", f.COORD, "import", "cases", str(tmp_path / "cases.xlsx")
    )
    assert done.code == 0, done.err
    with f.admin_read() as s:
        cases = list(s.exec(select(Case).order_by(Case.id)))
        raw = [repr(row) for row in s.exec(select(ImportedCase))]
    assert [c.is_minor for c in cases] == [True, False]
    assert cases[0].host_country == "IT" and cases[1].host_country == "IT"  # the owner's country
    assert not any("Ana" in r or "Pop" in r for r in raw)

    with write_session() as s:
        who = f.actor(s)
        case = get_case(s, case_ref=cases[0].case_ref, actor=who)
        person = read_person(s, case=case, actor=who, now=case.opened_at)
    assert person["given_name"] == "Ana" and person["exploitation_form"] == "begging"
    with f.admin_read() as s:
        actions = [a.action for a in s.exec(select(AuditEntry))]
        proofs = {e.proof for e in s.exec(select(CaseEvent).where(CaseEvent.trigger == "import"))}
    assert "import:cases:2" in actions and "cmd:import cases" in actions
    [proof] = proofs  # both cases' history names the importer's session
    assert proof is not None and proof.startswith("session ")
    with f.admin_read() as s:
        assert verify(s).ok  # the bulk inserts were sealed


@pytest.mark.parametrize(
    ("cells", "column", "reason"),
    [
        ({"birth_date": "2015-01-01", "opened_on": "2025-01-01"}, "is_minor", "minor"),
        ({"opened_on": "2999-01-01"}, "opened_on", "future"),
        ({"is_minor": "yes", "dgaspc": "adpare"}, "dgaspc", "not a dgaspc"),
        ({"ngo": "nope"}, "ngo", "not found"),
        ({"exploitation_form": "unknown-form"}, "exploitation_form", "match"),
    ],
)
def test_each_rule_names_the_row_and_column(
    db_url, tmp_path, capsys, monkeypatch, cells, column, reason
):
    f.seed()
    header = ["external_id", "given_name", "family_name", *cells]
    path = tmp_path / "one.csv"
    with path.open("w", newline="") as out:
        csv.writer(out).writerows([header, ["E-1", "Secretname", "Hidden", *cells.values()]])
    result = run_cli(capsys, monkeypatch, "--as", f.COORD, "import", "cases", str(path))
    assert result.code == 2
    assert f"row 2, column {column}:" in result.err and reason in result.err
    assert "Secretname" not in result.err + result.out
    assert count(Case) == 0


def test_unknown_columns_and_wrong_files_are_refused(db_url, tmp_path, capsys, monkeypatch):
    f.seed()
    (tmp_path / "a.csv").write_text("external_id,given_name,family_name,religion\n")
    (tmp_path / "a.txt").write_text("x")
    for name, expected in (("a.csv", "unknown column 'religion'"), ("a.txt", ".csv or .xlsx")):
        result = run_cli(
            capsys, monkeypatch, "--as", f.COORD, "import", "cases", str(tmp_path / name)
        )
        assert result.code == 2 and expected in result.err


def test_opened_on_may_be_the_local_day_not_the_next(db_url, tmp_path, capsys, monkeypatch):
    """At 22:30 UTC on 5 January it is already the 6th in Bucharest: the 6th is today."""
    f.seed()
    monkeypatch.setattr(state, "clock", SimulatedClock(datetime(2026, 1, 5, 22, 30, tzinfo=UTC)))
    path = tmp_path / "late.csv"
    with path.open("w", newline="") as out:
        csv.writer(out).writerows(
            [["external_id", "given_name", "family_name", "opened_on"]]
            + [["E-1", "Given", "Family", "2026-01-06"], ["E-2", "Given", "Family", "2026-01-07"]]
        )
    result = run_cli(capsys, monkeypatch, "--as", f.COORD, "import", "cases", str(path))
    assert result.code == 2
    assert [line for line in result.err.splitlines() if line.startswith("row ")] == [
        "row 3, column opened_on: the date is in the future"
    ]
    assert count(Case) == 0


def test_a_seal_already_under_a_new_rows_id_refuses_the_import(db_url, engine, clock, tmp_path):
    """An import seals its rows from the values it wrote, under ids drawn for them, without
    reading seals back: a seal already under one of those ids (its row deleted behind
    Homeward's back, the seal left) fails the commit, and nothing is imported."""
    f.seed()
    forged = [
        {"tbl": "case_event", "row_id": n, "case_id": n, "version": 1, "mac": "0" * 64}
        for n in range(1, 11)
    ]
    with engine.begin() as conn:
        conn.execute(insert(RowSeal.__table__), forged)  # type: ignore[attr-defined]
    good, bad = validate_file(caseload(tmp_path / "cases.csv", 3), today=local_date(clock.now()))
    with pytest.raises(IntegrityError), write_session() as s:
        actor = f.acting(session=s, email=f.COORD)
        import_rows(s, rows=good, bad=bad, actor=actor, skip_bad=False, now=clock.now())
    assert count(Case) == count(CaseEvent) == count(ImportedCase) == 0


def test_a_row_written_in_bulk_then_changed_is_sealed_as_it_then_stands(
    db_url: str, clock: SimulatedClock
) -> None:
    """A bulk-written row's seal is made as it is written (``seals.written``), but a row the
    same transaction changes afterwards is sealed at commit as it then stands."""
    from homeward.base.bulk import complete, insert_rows, new_ids
    from homeward.base.db import system_scope
    from homeward.crypt.keys import load_keyring
    from homeward.records import seals

    f.seed()
    ref = f.open_case(clock)
    items = ChecklistItem.__table__  # type: ignore[attr-defined]
    with write_session() as s, system_scope(s):
        case = s.exec(select(Case).where(Case.case_ref == ref)).one()
        conn = s.connection()
        [item_id] = new_ids(conn, items, 1)
        row = {
            "id": item_id,
            "case_id": case.id,
            "owner_org_id": case.owner_org_id,
            "stage": case.state,
            "code": "adhoc_bulk",
            "title_key": "items.adhoc",
            "due_at": clock.now(),
            "blocking": False,
            "status": "open",
            "created_at": clock.now(),
        }
        full = complete(items, [row])
        insert_rows(conn, items, full)
        seals.written(s, "checklist_item", full)
        s.get(ChecklistItem, item_id).title = "changed after"  # type: ignore[union-attr]
    with f.admin_read() as s:
        assert verify(s).ok
        seal = s.exec(
            select(RowSeal).where(RowSeal.tbl == "checklist_item", RowSeal.row_id == item_id)
        ).one()
        now = s.connection().execute(items.select().where(items.c.id == item_id)).mappings().one()
    assert now["title"] == "changed after" and seal.version == 1
    assert seal.mac == seals.row_mac(load_keyring(), "checklist_item", now, 1)
