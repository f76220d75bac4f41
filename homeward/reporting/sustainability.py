"""Reintegration sustainability at 3 and 6 months after arrival, from the follow-up visits' scores.

For each case in scope (a programme's, or the actor's organisation's: ``run_report`` decides),
the visit counted at a mark is the scored visit (one with a composite score) whose day is
nearest the mark (the arrival, or the opening of an internal case, plus 3 or 6 calendar
months; on a tie the earlier), among those within ``WINDOW_DAYS`` of it, so that a two-week
visit never stands for the 3-month one. Only the scores are read (plain numbers); nothing is
decrypted. Counts go through the same small-cell suppression as every report; a mean is shown
only for a group of at least k cases.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import date, datetime

from sqlmodel import Session, col, select

from homeward.base.clock import add_months, local_noon
from homeward.base.db import system_scope
from homeward.base.models import Case, Programme, Visit
from homeward.base.settings import get_settings
from homeward.reporting.facts import CaseFacts, Period
from homeward.reporting.suppression import Grid, check_safe, suppress
from homeward.reporting.tables import Label, Report, Table

MARKS = {"3 months": 3, "6 months": 6}
WINDOW_DAYS = 45  # half-way between the 3- and 6-month marks: the windows never overlap
SUSTAINABLE = 0.66  # the same threshold as tasks.sustainability.SUSTAINABLE (a test checks)
SCORES = ("economic_score", "social_score", "psychosocial_score", "composite_score")
CHUNK = 500


def _start(case: Case) -> date | None:
    if case.arrival_on is not None:
        return case.arrival_on
    if case.route == "internal":
        return case.opened_at.astimezone(get_settings().tz).date()
    return None


def mark_day(start: date, months: int) -> date:
    """``months`` calendar months after ``start``."""
    return add_months(local_noon(start), months).date()


def nearest(visits: list[Visit], mark: date) -> Visit | None:
    """The visit nearest ``mark`` within the window (the earlier on a tie), or None."""
    near = [v for v in visits if abs((v.visited_on - mark).days) <= WINDOW_DAYS]
    return min(near, key=lambda v: (abs((v.visited_on - mark).days), v.visited_on), default=None)


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _load(session: Session, case_ids: list[int]) -> tuple[list[Case], dict[int, list[Visit]]]:
    cases: list[Case] = []
    visits: dict[int, list[Visit]] = {i: [] for i in case_ids}
    with system_scope(session):  # scores and dates only; scope was decided by run_report
        for chunk in _chunks(case_ids):
            cases.extend(session.exec(select(Case).where(col(Case.id).in_(chunk))))
            query = select(Visit).where(
                col(Visit.case_id).in_(chunk), col(Visit.composite_score).is_not(None)
            )
            for visit in session.exec(query):
                visits[visit.case_id].append(visit)
    return cases, visits


def _in_period(day: date, period: Period) -> bool:
    return (period.start is None or day >= period.start) and (
        period.end is None or day <= period.end
    )


def scored_at(session: Session, case_ids: list[int], period: Period) -> dict[str, list[Visit]]:
    """For each mark, the visit counted for each case that has one (in the period)."""
    cases, visits = _load(session, case_ids)
    found: dict[str, list[Visit]] = {name: [] for name in MARKS}
    for case in cases:
        start = _start(case)
        if start is None or case.id is None:
            continue
        for name, months in MARKS.items():
            visit = nearest(visits[case.id], mark_day(start, months))
            if visit is not None and _in_period(visit.visited_on, period):
                found[name].append(visit)
    return found


def _mean(visits: list[Visit], column: str) -> float:
    return round(statistics.fmean(float(getattr(v, column)) for v in visits), 2)


def sustainability_report(
    session: Session,
    facts: list[CaseFacts],
    period: Period,
    programme: Programme | None,
    k: int,
    _now: datetime,
) -> Report:
    """Cases scored at 3 and 6 months, how many sustainable, and the mean scores."""
    found = scored_at(session, [f.case_id for f in facts], period)
    grid = Grid()
    rows = []
    for name, group in found.items():
        total = grid.cell(len(group))
        good = sum(1 for v in group if (v.composite_score or 0) >= SUSTAINABLE)
        parts = [grid.cell(good), grid.cell(len(group) - good)]
        rows.append((name, group, total, grid.line(parts, total)))
    suppress(grid, k)
    check_safe(grid, k)
    table = Table(
        "Reintegration sustainability at 3 and 6 months after arrival",
        "After arrival",
        [
            "Cases scored",
            f"Sustainable (composite {SUSTAINABLE} or more)",
            "Not yet sustainable",
            "Mean economic",
            "Mean social",
            "Mean psychosocial",
            "Mean composite",
        ],
    )
    for name, group, total, line in rows:
        shown = not total.hidden and total.value >= k
        means: list[Label] = [_mean(group, c) if shown else None for c in SCORES]
        table.rows.append((name, [total.label(k), *(c.label(k) for c in line.cells), *means]))
    title = "Reintegration sustainability scores (IOM RSS, simplified)"
    if programme is not None:
        title = f"{programme.name} ({programme.donor}): {title.lower()}"
    report = Report("sustainability", title, k, {}, [table])
    report.notes.append(
        "Scores 0 to 1 per dimension (economic, social, psychosocial), the composite their mean; "
        f"the visit nearest each mark within {WINDOW_DAYS} days counts; means only for groups "
        f"of at least {k} cases."
    )
    return report
