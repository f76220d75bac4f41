"""Writing reports out: rich tables, CSV, JSON, XLSX (the SVG chart of progress: ``charts``)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from homeward.base.files import owner_only, tighten, write_private
from homeward.base.text import for_sheet, printable
from homeward.reporting.charts import progress_svg as progress_svg  # the CLI's --chart
from homeward.reporting.tables import Label, Report

FORMATS = ("table", "csv", "json", "xlsx")


def _text(value: Label | object) -> str:
    return "" if value is None else str(value)


def print_report(report: Report, console: Console) -> None:
    """Rich tables for people at a terminal."""
    console.print(Text(printable(report.title), style="bold"))
    console.print(", ".join(f"{k}: {v}" for k, v in report.params.items()), markup=False)
    for table in report.tables:
        shown = RichTable(title=table.title, title_justify="left")
        shown.add_column(table.row_header)
        for column in table.columns:
            shown.add_column(column, justify="right")
        for label, cells in table.rows:
            shown.add_row(label, *(_text(c) for c in cells))
        console.print(shown)
    for note in report.notes:
        console.print(note, markup=False)


def to_csv(report: Report) -> str:
    """One tidy CSV: table, row, column, value (what a spreadsheet pivot wants)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["report", "table", "row", "column", "value"])
    for table in report.tables:
        for label, cells in table.rows:
            for column, cell in zip(table.columns, cells, strict=True):
                row = [report.name, table.title, label, column, cell]
                writer.writerow([_text(for_sheet(value)) for value in row])
    return out.getvalue()


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False)


def to_xlsx(report: Report, path: Path) -> None:
    """One sheet for the parameters and notes, one per table."""
    book = Workbook()
    about = book.active
    assert about is not None  # noqa: S101 (a new workbook has a sheet)
    about.title = "About"
    lines: list[list[Any]] = [[report.title], *([k, v] for k, v in report.params.items())]
    lines += [["k", report.k], *([note] for note in report.notes)]
    _append(about, lines)
    for number, table in enumerate(report.tables, 1):
        sheet = book.create_sheet(f"{number} {table.title}"[:31])
        _append(sheet, [[table.row_header, *table.columns]])
        _append(sheet, [[label, *cells] for label, cells in table.rows])
    if path.exists():
        tighten(path)
    with owner_only():
        book.save(path)


def _append(sheet: Any, lines: list[list[Any]]) -> None:
    """Rows into a worksheet, each text cell neutralised: text, never a formula."""
    for line in lines:
        sheet.append([for_sheet(value) for value in line])


def write(report: Report, fmt: str, out: Path | None, console: Console) -> None:
    """Render ``report`` as ``fmt`` to ``out`` (or the console; xlsx needs a file)."""
    if fmt == "table":
        print_report(report, console)
        return
    if fmt == "xlsx":
        assert out is not None  # noqa: S101 (the CLI asks for --out)
        to_xlsx(report, out)
        return
    text = to_csv(report) if fmt == "csv" else to_json(report)
    if out is None:
        console.file.write(text)
    else:
        write_private(out, text)


def rows_to_csv(rows: list[dict[str, Any]], fields: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: for_sheet(value) for key, value in row.items()} for row in rows)
    return out.getvalue()
