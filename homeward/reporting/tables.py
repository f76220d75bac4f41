"""Report data as published: titles, columns and labels, after suppression.

``Table`` rows hold only what a reader may see (numbers of at least k, zeros, ``<k`` and
``x``); the raw counts never leave the builders. A Prefect flow or the CLI renders these.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from homeward.reporting.suppression import Cell, Grid, Shown, check_safe, suppress

Label = int | float | str | None


@dataclass
class Table:
    """One published table."""

    title: str
    row_header: str
    columns: list[str]
    rows: list[tuple[str, list[Label]]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "row_header": self.row_header,
            "columns": self.columns,
            "rows": [{"label": label, "cells": cells} for label, cells in self.rows],
        }


@dataclass
class Report:
    """A report: its name, parameters, the k it was suppressed with, tables and notes."""

    name: str
    title: str
    k: int
    params: dict[str, str]
    tables: list[Table]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "report": self.name,
            "title": self.title,
            "k": self.k,
            "params": self.params,
            "tables": [t.as_dict() for t in self.tables],
            "notes": self.notes,
        }


def legend(k: int) -> str:
    return (
        f"<{k}: fewer than {k} cases (small-cell suppression); "
        "x: withheld so that a small count cannot be worked out from the totals"
    )


def fixed_total(value: int, k: int) -> Cell:
    """A total decided once and shown the same in every table (hidden only when under k)."""
    shown = Shown.PRIMARY if 0 < value < k else Shown.PUBLISHED
    return Cell(value, shown, fixed=True)


def breakdown(
    title: str,
    row_header: str,
    rows: list[tuple[str, Cell, Counter[str]]],
    categories: list[str],
    k: int,
) -> Table:
    """Rows (each with its fixed total) broken down by ``categories``; suppressed, checked."""
    grid = Grid()
    lines = []
    for label, total, counts in rows:
        grid.cells.append(total)
        cells = [grid.cell(counts.get(cat, 0)) for cat in categories]
        lines.append((label, grid.line(cells, total)))
    suppress(grid, k)
    check_safe(grid, k)
    table = Table(title, row_header, [*categories, "Total"])
    for label, line in lines:
        table.rows.append((label, [c.label(k) for c in line.members]))
    return table


def two_way(
    title: str,
    row_header: str,
    rows: list[tuple[str, Cell, Counter[str]]],
    categories: list[str],
    grand: Cell,
    margin: Grid,
    k: int,
) -> Table:
    """Like ``breakdown`` plus a total row: column totals add up to ``grand``.

    ``margin`` holds the fixed row totals' own line, so this table is checked against it too.
    """
    grid = Grid(cells=list(margin.cells), lines=list(margin.lines))
    columns: dict[str, list[Cell]] = {cat: [] for cat in categories}
    lines = []
    for label, total, counts in rows:
        cells = [grid.cell(counts.get(cat, 0)) for cat in categories]
        for cat, cell in zip(categories, cells, strict=True):
            columns[cat].append(cell)
        lines.append((label, grid.line(cells, total)))
    column_totals = [grid.cell(sum(c.value for c in columns[cat])) for cat in categories]
    for cat, total in zip(categories, column_totals, strict=True):
        grid.line(columns[cat], total)
    lines.append(("All", grid.line(column_totals, grand)))
    suppress(grid, k)
    check_safe(grid, k)
    table = Table(title, row_header, [*categories, "Total"])
    for label, line in lines:
        table.rows.append((label, [c.label(k) for c in line.members]))
    return table
