"""Small-cell suppression with complementary suppression, and the check that it holds.

A table is a set of cells and of *lines*: a line says that some cells add up to a total cell
(a row and its row total, a column and its column total). Cells from 1 to k-1 are hidden
(*primary*, shown as ``<k``); then, while some hidden cell could be worked out exactly from
what is published, the smallest published cell of a line holding it is hidden too
(*complementary*, shown as ``x``; never a zero cell, which readers would guess). "Worked
out" is judged by ``intervals``: bounds
propagation over every line, the way a reader with a pencil and the labels would do it
(published cells are exact, ``<k`` means 1..k-1 because zeros are published, ``x`` means
0 or more).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from homeward.base.errors import HomewardError

INF = 10**12


class Shown(StrEnum):
    PUBLISHED = "published"
    PRIMARY = "primary"  # fewer than k: shown as "<k"
    COMPLEMENT = "complement"  # hidden so that a primary cell cannot be derived: shown as "x"


@dataclass(eq=False)
class Cell:
    """One count. ``fixed`` cells were decided by another table and must not change here."""

    value: int
    shown: Shown = Shown.PUBLISHED
    fixed: bool = False

    @property
    def hidden(self) -> bool:
        return self.shown is not Shown.PUBLISHED

    def label(self, k: int) -> int | str:
        """What a reader sees."""
        if self.shown is Shown.PUBLISHED:
            return self.value
        return f"<{k}" if self.shown is Shown.PRIMARY else "x"


@dataclass(eq=False)
class Line:
    """``cells`` add up to ``total``."""

    cells: list[Cell]
    total: Cell

    @property
    def members(self) -> list[Cell]:
        return [*self.cells, self.total]


@dataclass
class Grid:
    """Every cell and line of one table (or of tables that share cells)."""

    cells: list[Cell] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)

    def cell(self, value: int) -> Cell:
        made = Cell(value)
        self.cells.append(made)
        return made

    def line(self, cells: list[Cell], total: Cell) -> Line:
        made = Line(cells, total)
        self.lines.append(made)
        return made


class UnsafeTable(HomewardError):
    """A table could not be made safe to publish (never expected; nothing is published)."""

    exit_code = 70


def suppress(grid: Grid, k: int) -> None:
    """Hide small cells, then complements until no hidden cell can be worked out."""
    for cell in grid.cells:
        if not cell.fixed and 0 < cell.value < k:
            cell.shown = Shown.PRIMARY
    while exposed := exposed_cells(grid, k):
        _hide_complement(grid, exposed[0], k)


def _hide_complement(grid: Grid, target: Cell, k: int) -> None:
    """Withhold one more cell so that ``target`` can no longer be worked out.

    Tries, in order of least loss: an inner cell of one of its lines (smallest first), showing
    a ``<k`` cell of those lines as ``x`` (which drops its lower bound), one of their totals,
    any cell of a line holding a hidden cell, any ``<k`` cell there. The first that frees
    ``target`` is kept; when none does alone, the first is kept and the loop goes on.
    """
    own = [line for line in grid.lines if target in line.members]
    touched = [line for line in grid.lines if any(c.hidden for c in line.members)]

    def smallest(cells: list[Cell]) -> list[Cell]:
        # Never a zero: readers guess that "other" or "unknown" is 0, so it would protect nothing.
        return sorted((c for c in cells if not c.hidden and c.value), key=lambda c: c.value)

    ordered = [
        *smallest([c for line in own for c in line.cells]),
        *[c for line in own for c in line.members if c.shown is Shown.PRIMARY],
        *smallest([c for line in own for c in line.members]),
        *smallest([c for line in touched for c in line.members]),
        *[c for line in touched for c in line.members if c.shown is Shown.PRIMARY],
    ]
    options = [c for c in dict.fromkeys(ordered) if not c.fixed]
    if not options:
        raise UnsafeTable("a report cell could not be protected; nothing was published")
    for cell in options:
        before, cell.shown = cell.shown, Shown.COMPLEMENT
        if target not in exposed_cells(grid, k):
            return
        cell.shown = before
    options[0].shown = Shown.COMPLEMENT


def bounds(cell: Cell, k: int) -> tuple[int, int]:
    """What a reader knows about a cell from its label alone."""
    if cell.shown is Shown.PUBLISHED:
        return cell.value, cell.value
    if cell.shown is Shown.PRIMARY:
        return 1, k - 1
    return 0, INF


def intervals(grid: Grid, k: int) -> dict[int, tuple[int, int]]:
    """Tightest bounds a reader can derive for each cell (by ``id``), propagated to a fixpoint."""
    known = {id(cell): bounds(cell, k) for cell in grid.cells}
    changed = True
    while changed:
        changed = False
        for line in grid.lines:
            changed |= _tighten(line, known)
    return known


def _tighten(line: Line, known: dict[int, tuple[int, int]]) -> bool:
    changed = False
    lo_sum = sum(known[id(c)][0] for c in line.cells)
    hi_sum = sum(known[id(c)][1] for c in line.cells)
    t_lo, t_hi = known[id(line.total)]
    new_total = (max(t_lo, lo_sum), min(t_hi, hi_sum))
    if new_total != (t_lo, t_hi):
        known[id(line.total)], changed = new_total, True
        t_lo, t_hi = new_total
    for cell in line.cells:
        lo, hi = known[id(cell)]
        others_lo, others_hi = lo_sum - lo, hi_sum - hi
        new = (max(lo, t_lo - others_hi), min(hi, t_hi - others_lo))
        if new != (lo, hi):
            known[id(cell)], changed = new, True
    return changed


def exposed_cells(grid: Grid, k: int) -> list[Cell]:
    """Small cells (1 to k-1) a reader could work out exactly (should be none).

    A complement worked out exactly is no harm in itself (it is 0 or at least k); what it
    gives away about small cells shows up in theirs, as the propagation carries it along.
    """
    known = intervals(grid, k)
    return [
        cell
        for cell in grid.cells
        if cell.hidden and 0 < cell.value < k and known[id(cell)][0] >= known[id(cell)][1]
    ]


def check_safe(grid: Grid, k: int) -> None:
    """Refuse to publish when a small count is shown or a hidden one can be worked out."""
    shown_small = [c for c in grid.cells if not c.hidden and 0 < c.value < k]
    if shown_small or exposed_cells(grid, k):
        raise UnsafeTable("a report cell could not be protected; nothing was published")
