"""Writing reports out: rich tables, CSV, JSON, XLSX, and an SVG chart of progress."""

from __future__ import annotations

import csv
import io
import json
from html import escape
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from homeward.base.files import owner_only, tighten, write_private
from homeward.base.text import for_sheet, printable
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


def progress_svg(report: Report, width: int = 640) -> str:
    """A horizontal bar chart of achieved against target (hidden counts drawn as no bar)."""
    rows = [(label, cells) for label, cells in report.tables[0].rows if cells[0]]
    bar_h, left, top = 26, 260, 40
    height = top + len(rows) * (bar_h + 14) + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<text x="10" y="22" font-size="15">{escape(report.title)}</text>',
    ]
    span = width - left - 70
    for i, (label, (target, achieved, _share)) in enumerate(rows):
        y = top + i * (bar_h + 14)
        parts.append(f'<text x="10" y="{y + 17}">{escape(label[:38])}</text>')
        parts.append(_bar(left, y, span, bar_h, "#dde3ea", 1.0, f"target {target}"))
        if isinstance(achieved, int) and isinstance(target, int):
            parts.append(
                _bar(left, y + 5, span, bar_h - 10, "#2e6da4", min(achieved / target, 1.0), "")
            )
        parts.append(f'<text x="{left + span + 6}" y="{y + 17}">{escape(str(achieved))}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _bar(x: int, y: int, span: int, h: int, colour: str, share: float, title: str) -> str:
    tip = f"<title>{escape(title)}</title>" if title else ""
    size = f'width="{span * share:.1f}" height="{h}"'
    return f'<rect x="{x}" y="{y}" {size} fill="{colour}">{tip}</rect>'


def rows_to_csv(rows: list[dict[str, Any]], fields: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: for_sheet(value) for key, value in row.items()} for row in rows)
    return out.getvalue()
