"""The four reports: progress against targets, days per stage, overdue items, closure reasons.

``run_report`` is the one entry point (the CLI and the scheduled report flow call it): it checks
the actor, decides the scope and period, loads the facts, builds the report, and audits the run.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime

from sqlmodel import Session, col, select

from homeward.base.db import system_scope
from homeward.base.errors import InvalidInput
from homeward.base.models import ChecklistItem, ItemStatus, Programme, StaffMember
from homeward.base.settings import get_settings
from homeward.records.auditlog import audit
from homeward.records.directory import orgs_by_id
from homeward.reporting import programmes, services
from homeward.reporting.dimensions import DIMENSIONS
from homeward.reporting.facts import CaseFacts, Period, load_facts, scope_case_ids
from homeward.reporting.indicators import CLOSURE_REASONS, INDICATORS, STAGE_ORDER
from homeward.reporting.suppression import Grid, check_safe, suppress
from homeward.reporting.sustainability import sustainability_report
from homeward.reporting.tables import Label, Report, Table, breakdown, fixed_total, legend, two_way

Builder = Callable[[Session, list[CaseFacts], Period, Programme | None, int, datetime], Report]


def run_report(
    session: Session,
    name: str,
    *,
    actor: StaffMember,
    programme_code: str | None = None,
    start: date | None = None,
    end: date | None = None,
    k: int | None = None,
    now: datetime,
) -> Report:
    """Build report ``name`` (targets, stages, overdue, closures), suppressed and audited."""
    if name not in BUILDERS:
        raise InvalidInput(f"report: {name!r} is unknown; use one of {', '.join(BUILDERS)}")
    programmes.ensure_can_manage(session, actor)
    k = _k(k)
    programme = (
        programmes.get_programme(session, code=programme_code, actor=actor)
        if programme_code
        else None
    )
    if name == "targets" and programme is None:
        raise InvalidInput("--programme: progress against targets needs a programme")
    period = Period(
        start or (programme.starts_on if programme else None),
        end or (programme.ends_on if programme else None),
    )
    case_ids = scope_case_ids(session, actor=actor, programme=programme)
    facts = load_facts(session, case_ids=case_ids, actor=actor, purpose=f"report:{name}", now=now)
    report = BUILDERS[name](session, facts, period, programme, k, now)
    report.params = {
        "programme": programme.code if programme else "all cases of your organisation",
        "period": period.describe(),
        "generated": now.astimezone(get_settings().tz).strftime("%Y-%m-%d %H:%M"),
    }
    report.notes.append(legend(k))
    audit(session, actor=actor, action=f"report:{name}", at=now, fields=_fields(report))
    return report


def _k(k: int | None) -> int:
    floor = get_settings().report_k
    if k is not None and k < floor:
        raise InvalidInput(f"--k: reports suppress counts under {floor}; k cannot be lower")
    return k or floor


def _fields(report: Report) -> list[str]:
    return ["sex", "age_band", "exploitation_form", "country"] if report.name != "overdue" else []


def _reached(facts: list[CaseFacts], period: Period) -> dict[str, list[CaseFacts]]:
    reached: dict[str, list[CaseFacts]] = {code: [] for code in INDICATORS}
    for fact in facts:
        for code, indicator in INDICATORS.items():
            at = indicator.reached_at(fact.events)
            if at is not None and period.contains(at):
                reached[code].append(fact)
    return reached


def targets_report(
    session: Session,
    facts: list[CaseFacts],
    period: Period,
    programme: Programme | None,
    k: int,
    _now: datetime,
) -> Report:
    """Achieved against each target, then each indicator by sex, age, exploitation, country."""
    assert programme is not None  # noqa: S101 (run_report insists)
    goals = programmes.targets(session, programme)
    reached = _reached(facts, period)
    totals = {code: fixed_total(len(reached[code]), k) for code in INDICATORS}
    progress = Table("Progress against targets", "Indicator", ["Target", "Achieved", "% of target"])
    for code, indicator in INDICATORS.items():
        total, goal = totals[code], goals.get(code)
        share: Label = None
        if goal and not total.hidden:
            share = round(100 * total.value / goal, 1)
        progress.rows.append((indicator.label, [goal, total.label(k), share]))
    tables = [progress]
    for dim in DIMENSIONS:
        categories = dim.categories([f.profile for f in facts])
        rows = [
            (INDICATORS[code].label, totals[code], Counter(dim.of(f.profile) for f in cases))
            for code, cases in reached.items()
        ]
        tables.append(breakdown(f"By {dim.title.lower()}", "Indicator", rows, categories, k))
    title = f"{programme.name} ({programme.donor}): progress against targets"
    return Report("targets", title, k, {}, tables)


def _stays(fact: CaseFacts) -> list[tuple[str, datetime, datetime | None]]:
    """(stage, entered, left) for each stay in a stage, from the case's events."""
    stays: list[tuple[str, datetime, datetime | None]] = []
    current: tuple[str, datetime] | None = None
    for event in fact.events:
        if event.to_state is None:
            continue
        if current is not None:
            stays.append((current[0], current[1], event.at))
        current = (event.to_state, event.at)
    if current is not None:
        stays.append((current[0], current[1], None))
    return stays


def p90(values: list[float]) -> float:
    """The 90th percentile by the nearest-rank method (a value that occurred)."""
    ordered = sorted(values)
    return ordered[max(0, -(-9 * len(ordered) // 10) - 1)]


def stages_report(
    _session: Session,
    facts: list[CaseFacts],
    period: Period,
    _programme: Programme | None,
    k: int,
    _now: datetime,
) -> Report:
    """Median and 90th percentile of days spent per stage (stays that ended in the period)."""
    done: dict[str, list[float]] = defaultdict(list)
    ongoing: Counter[str] = Counter()
    for fact in facts:
        for stage, entered, left in _stays(fact):
            if left is not None and period.contains(left):
                done[stage].append((left - entered).total_seconds() / 86400)
            elif left is None and stage != "closed":
                ongoing[stage] += 1
    table = Table(
        "Days spent per stage",
        "Stage",
        ["Stays ended", "Median days", "90th percentile days", "In stage now"],
    )
    for stage in _stage_order(set(done) | set(ongoing)):
        n, now_in = fixed_total(len(done[stage]), k), fixed_total(ongoing[stage], k)
        days = done[stage] if done[stage] and not n.hidden else []
        median = round(statistics.median(days), 1) if days else None
        top = round(p90(days), 1) if days else None
        table.rows.append((stage, [n.label(k), median, top, now_in.label(k)]))
    return Report("stages", "Time spent in each stage", k, {}, [table])


def _stage_order(stages: set[str]) -> list[str]:
    return sorted(stages, key=lambda s: (STAGE_ORDER.index(s) if s in STAGE_ORDER else 99, s))


def overdue_report(
    session: Session,
    facts: list[CaseFacts],
    _period: Period,
    _programme: Programme | None,
    k: int,
    now: datetime,
) -> Report:
    """Open checklist items past their due time, per owning organisation."""
    case_ids = [f.case_id for f in facts]
    items: list[ChecklistItem] = []
    with system_scope(session):
        for start in range(0, len(case_ids), 500):
            query = select(ChecklistItem).where(
                col(ChecklistItem.case_id).in_(case_ids[start : start + 500]),
                ChecklistItem.status == ItemStatus.OPEN,
                col(ChecklistItem.due_at) < now,
            )
            items.extend(session.exec(query))
    orgs = orgs_by_id(session)
    by_org: dict[int, list[ChecklistItem]] = defaultdict(list)
    for item in items:
        by_org[item.owner_org_id].append(item)
    order = sorted(by_org, key=lambda o: orgs[o].slug)
    grid = Grid()
    grand = grid.cell(len(items))
    cells = [grid.cell(len(by_org[o])) for o in order]
    grid.line(cells, grand)
    suppress(grid, k)
    check_safe(grid, k)
    table = Table(
        "Overdue checklist items per organisation",
        "Organisation",
        ["Overdue items", "Cases", "Most days overdue"],
    )
    for org_id, cell in zip(order, cells, strict=True):
        group = by_org[org_id]
        cases = fixed_total(len({i.case_id for i in group}), k)
        worst = max((now - i.due_at).days for i in group) if not cell.hidden else None
        table.rows.append((orgs[org_id].slug, [cell.label(k), cases.label(k), worst]))
    cases_all = fixed_total(len({i.case_id for i in items}), k)
    table.rows.append(("All", [grand.label(k), cases_all.label(k), None]))
    return Report("overdue", "Where work is stuck: overdue checklist items", k, {}, [table])


def _last_closures(facts: list[CaseFacts], period: Period) -> list[tuple[CaseFacts, str]]:
    """Each case closed in the period, with the reason of its last closure there."""
    found = []
    for fact in facts:
        closes = [e for e in fact.events if e.trigger == "close" and period.contains(e.at)]
        if closes:
            found.append((fact, str(closes[-1].data.get("reason", "unknown"))))
    return found


def closures_report(
    _session: Session,
    facts: list[CaseFacts],
    period: Period,
    _programme: Programme | None,
    k: int,
    _now: datetime,
) -> Report:
    """Closure reasons, overall and by sex, age band, form of exploitation and country."""
    closed = _last_closures(facts, period)
    reasons = [*CLOSURE_REASONS, *sorted({r for _, r in closed} - set(CLOSURE_REASONS))]
    per_reason = Counter(r for _, r in closed)
    margin = Grid()
    grand = fixed_total(len(closed), k)
    margin.cells.append(grand)
    reason_cells = [margin.cell(per_reason[r]) for r in reasons]
    margin.line(reason_cells, grand)
    suppress(margin, k)
    check_safe(margin, k)
    for cell in margin.cells:
        cell.fixed = True  # every breakdown below shows these the same way
    overall = Table("Closures by reason", "Reason", ["Cases closed"])
    overall.rows = [(r, [c.label(k)]) for r, c in zip(reasons, reason_cells, strict=True)]
    overall.rows.append(("All", [grand.label(k)]))
    tables = [overall]
    for dim in DIMENSIONS:
        categories = dim.categories([f.profile for f, _ in closed])
        rows = [
            (r, cell, Counter(dim.of(f.profile) for f, why in closed if why == r))
            for r, cell in zip(reasons, reason_cells, strict=True)
        ]
        title = f"Closures by reason and {dim.title.lower()}"
        tables.append(two_way(title, "Reason", rows, categories, grand, margin, k))
    return Report("closures", "Why cases were closed", k, {}, tables)


BUILDERS: dict[str, Builder] = {
    "targets": targets_report,
    "stages": stages_report,
    "overdue": overdue_report,
    "closures": closures_report,
    "sustainability": sustainability_report,  # issue 16: scores at 3 and 6 months
    "services": services.services_report,  # issue 16: services delivered, budget vs spent
}
