"""Small-cell suppression: nothing under k published, no hidden cell derivable from totals."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from homeward.reporting.suppression import Cell, Grid, Shown, check_safe, exposed_cells, suppress
from homeward.reporting.tables import fixed_total, two_way

K = 11
counts = st.integers(min_value=0, max_value=40) | st.integers(min_value=0, max_value=12)


def one_way(values: list[int]) -> tuple[Grid, Cell]:
    grid = Grid()
    cells = [grid.cell(v) for v in values]
    total = grid.cell(sum(values))
    grid.line(cells, total)
    return grid, total


def two_way_grid(rows: list[list[int]]) -> Grid:
    grid = Grid()
    cells = [[grid.cell(v) for v in row] for row in rows]
    row_totals = [grid.cell(sum(row)) for row in rows]
    col_totals = [grid.cell(sum(col)) for col in zip(*rows, strict=True)]
    grand = grid.cell(sum(map(sum, rows)))
    for row, total in zip(cells, row_totals, strict=True):
        grid.line(row, total)
    for j, total in enumerate(col_totals):
        grid.line([row[j] for row in cells], total)
    grid.line(row_totals, grand)
    grid.line(col_totals, grand)
    return grid


def assert_safe(grid: Grid, k: int = K) -> None:
    assert not [c for c in grid.cells if not c.hidden and 0 < c.value < k]
    assert exposed_cells(grid, k) == []
    check_safe(grid, k)


@settings(max_examples=300, deadline=None)
@given(st.lists(counts, min_size=1, max_size=9))
def test_one_way_tables(values):
    grid, _ = one_way(values)
    suppress(grid, K)
    assert_safe(grid)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda n: st.lists(st.lists(counts, min_size=n, max_size=n), min_size=1, max_size=5)
    )
)
def test_two_way_tables_with_all_margins(rows):
    grid = two_way_grid(rows)
    suppress(grid, K)
    assert_safe(grid)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(counts, min_size=4, max_size=4), min_size=1, max_size=6))
def test_breakdowns_sharing_a_margin_stay_consistent(rows):
    """As the closures report does: reason totals decided once, then each breakdown."""
    margin = Grid()
    grand = fixed_total(sum(map(sum, rows)), K)
    margin.cells.append(grand)
    reason_cells = [margin.cell(sum(row)) for row in rows]
    margin.line(reason_cells, grand)
    suppress(margin, K)
    for cell in margin.cells:
        cell.fixed = True
    from collections import Counter

    table = two_way(
        "t",
        "r",
        [
            (str(i), cell, Counter(dict(zip("abcd", row, strict=True))))
            for i, (cell, row) in enumerate(zip(reason_cells, rows, strict=True))
        ],
        list("abcd"),
        grand,
        margin,
        K,
    )
    shown_totals = [cells[-1] for _, cells in table.rows[:-1]]
    assert shown_totals == [c.label(K) for c in reason_cells]


def test_a_lone_small_cell_gets_the_smallest_non_zero_complement():
    grid, total = one_way([5, 0, 30, 14])
    suppress(grid, K)
    assert [c.label(K) for c in grid.cells] == ["<11", 0, 30, "x", 49]
    grid, total = one_way([5, 30, 14])
    suppress(grid, K)
    assert [c.label(K) for c in grid.cells] == ["<11", 30, "x", 49]


def test_two_small_cells_that_pin_each_other_down_get_another():
    # 1 + 1 = 2 hidden with each known to be at least 1: both are 1; a third must go too.
    grid, _ = one_way([1, 1, 20, 30])
    suppress(grid, K)
    assert [c.shown for c in grid.cells[:3]] == [Shown.PRIMARY, Shown.PRIMARY, Shown.COMPLEMENT]
    assert_safe(grid)


def test_the_check_sees_a_recoverable_cell():
    """Negative control: publishing the total beside one hidden cell is caught."""
    grid, _ = one_way([5, 30])
    grid.cells[0].shown = Shown.PRIMARY
    assert exposed_cells(grid, K) == [grid.cells[0]]
    grid, _ = one_way([5, 30])
    assert [c for c in grid.cells if not c.hidden and 0 < c.value < K]
