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

    def transposed(self, row_header: str) -> Table:
        """The same cells with rows and columns swapped; ``row_header`` names the new rows.
        The total row (``All``) becomes the total column (``Total``) and the other way round."""
        swap = {"All": "Total", "Total": "All"}
        columns = [swap.get(label, label) for label, _ in self.rows]
        rows = [
            (swap.get(column, column), [cells[i] for _, cells in self.rows])
            for i, column in enumerate(self.columns)
        ]
        return Table(self.title, row_header, columns, rows)

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


def fit(table: Table, most: int) -> list[Table]:
    """``table`` in parts of at most ``most`` columns besides its row header, to be read on a
    screen without scrolling sideways: as it is when it fits, else its columns in parts, each
    with the row labels and the last column (the total) again."""
    if len(table.columns) <= most:
        return [table]
    inner, last = table.columns[:-1], table.columns[-1]
    step = most - 1
    parts = []
    for start in range(0, len(inner), step):
        chosen = [*range(start, min(start + step, len(inner))), len(inner)]
        part = Table(table.title, table.row_header, [inner[i] for i in chosen[:-1]] + [last])
        part.rows = [(label, [cells[i] for i in chosen]) for label, cells in table.rows]
        parts.append(part)
    return parts


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
