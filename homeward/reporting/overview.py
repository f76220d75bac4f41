"""The manager's overview: what the caseload looks like and what needs attention, in counts.

Read for the whole system (every organisation), as the caseload dashboard is, and published as
Prefect artifacts by ``caseload-report``: the caseload by stage and status and by owner
organisation and status (people counted: small-cell suppressed with k, as every report, both
tables sharing their status totals so that neither gives the other's hidden cells away); then
the work waiting, per organisation (overdue checklist items, closures and reintegration plans
waiting for a supervisor: work counted, not people, so exact, as a manager needs them to act);
the mail queued today and what became of it; and when the reminders were last worked out.
Nothing decrypted, no case_ref, no name: codes, slugs and counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from homeward.base.clock import local_date
from homeward.base.db import system_scope
from homeward.base.models import (
    Case,
    CaseStatus,
    ReintegrationPlan,
    ReminderRun,
)
from homeward.base.settings import get_settings
from homeward.records.directory import orgs_by_id
from homeward.reporting.caseload import Row, overdue_by_org
from homeward.reporting.indicators import STAGE_ORDER
from homeward.reporting.mailflow import count_outbox
from homeward.reporting.suppression import Grid, check_safe, suppress
from homeward.reporting.tables import Table, fixed_total, two_way

STATUSES = [s.value for s in CaseStatus]
WORK = ("overdue_items", "escalated", "closures_waiting", "plans_waiting")


@dataclass(frozen=True)
class MailToday:
    """The emails queued today (local day) and what became of them; ``refused``: those with a
    recipient refused for good. Each email counts on the day it was queued."""

    queued: int = 0
    sent: int = 0
    waiting: int = 0
    refused: int = 0
    dead: int = 0


@dataclass(frozen=True)
class Overview:
    """The overview's parts (see the module); ``attention`` rows by organisation slug."""

    at: datetime
    k: int
    by_stage: Table
    by_owner: Table
    attention: list[Row]
    mail: MailToday
    reminders_ran_at: datetime | None

    def waiting(self, column: str) -> int:
        """The total of one of the ``attention`` columns over every organisation."""
        return sum(int(row[column]) for row in self.attention)


def read_overview(session: Session, *, now: datetime, closures: Counter[int]) -> Overview:
    """The overview at ``now``; ``closures``: closure requests waiting, by owner organisation
    id (the case history's fold lives above this layer, in ``statemachines``)."""
    k = get_settings().report_k
    by_stage, by_owner = caseload_tables(session, k)
    return Overview(
        at=now,
        k=k,
        by_stage=by_stage,
        by_owner=by_owner,
        attention=attention(session, now=now, closures=closures),
        mail=mail_today(session, now=now),
        reminders_ran_at=_last_reminder_run(session),
    )


def _last_reminder_run(session: Session) -> datetime | None:
    """When the reminders were last worked out (the sweep's once-a-day run)."""
    query = select(ReminderRun.ran_at).order_by(col(ReminderRun.ran_at).desc()).limit(1)
    return session.exec(query).first()


def _cases(session: Session) -> Counter[tuple[str, str, str]]:
    """How many cases there are per (stage, status, owner organisation slug)."""
    query = select(Case.state, Case.status, Case.owner_org_id, func.count(col(Case.id)))
    query = query.group_by(col(Case.state), col(Case.status), col(Case.owner_org_id))
    with system_scope(session):
        found = list(session.exec(query))
        slugs = {org_id: org.slug for org_id, org in orgs_by_id(session).items()}
    counts: Counter[tuple[str, str, str]] = Counter()
    for stage, status, org_id, n in found:
        counts[stage, status, slugs.get(org_id, "?")] += n
    return counts


def caseload_tables(session: Session, k: int) -> tuple[Table, Table]:
    """Cases by stage and status, and by owner organisation and status, suppressed with ``k``:
    each a table of stages (organisations) down and statuses across, with totals."""
    cases = _cases(session)
    margin = Grid()
    grand = fixed_total(cases.total(), k)
    margin.cells.append(grand)
    status_cells = [margin.cell(_sum(cases, 1, s)) for s in STATUSES]
    margin.line(status_cells, grand)
    suppress(margin, k)
    check_safe(margin, k)
    for cell in margin.cells:
        cell.fixed = True  # both tables show the status totals the same way
    tables = []
    for title, header, by in (
        ("Cases by stage and status", "Stage", 0),
        ("Cases by owner organisation and status", "Owner organisation", 2),
    ):
        categories = sorted({key[by] for key in cases}, key=_stage_rank)
        rows = [
            (status, cell, _by(cases, status, by))
            for status, cell in zip(STATUSES, status_cells, strict=True)
        ]
        made = two_way(title, "Status", rows, categories, grand, margin, k)
        tables.append(made.transposed(header))
    return tables[0], tables[1]


def _sum(cases: Counter[tuple[str, str, str]], part: int, value: str) -> int:
    return sum(n for key, n in cases.items() if key[part] == value)


def _by(cases: Counter[tuple[str, str, str]], status: str, part: int) -> Counter[str]:
    """The cases in ``status``, counted by the key's ``part`` (0: stage, 2: organisation)."""
    found: Counter[str] = Counter()
    for key, n in cases.items():
        if key[1] == status:
            found[key[part]] += n
    return found


def _stage_rank(stage: str) -> tuple[int, str]:
    return (STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER), stage)


def _plans_waiting(session: Session) -> Counter[int]:
    """Reintegration plans submitted and not yet decided, by the case's owner organisation."""
    query = (
        select(Case.owner_org_id)
        .where(ReintegrationPlan.case_id == Case.id)
        .where(ReintegrationPlan.status == "submitted")
    )
    with system_scope(session):
        return Counter(session.exec(query))


def attention(session: Session, *, now: datetime, closures: Counter[int]) -> list[Row]:
    """Per organisation with anything waiting: overdue items (escalated among them), closure
    requests and reintegration plans waiting for its supervisors."""
    with system_scope(session):
        slugs = {org_id: org.slug for org_id, org in orgs_by_id(session).items()}
    rows: dict[str, Row] = {}
    for found in overdue_by_org(session, now=now):
        rows[found["organisation"]] = dict.fromkeys(WORK, 0) | {
            "overdue_items": found["overdue_items"],
            "escalated": found["escalated"],
        }
    for name, counts in (
        ("closures_waiting", closures),
        ("plans_waiting", _plans_waiting(session)),
    ):
        for org_id, n in counts.items():
            slug = slugs.get(org_id, "?")
            rows.setdefault(slug, dict.fromkeys(WORK, 0))[name] = n
    return [{"organisation": slug, **rows[slug]} for slug in sorted(rows)]


def mail_today(session: Session, *, now: datetime) -> MailToday:
    """The emails queued on ``now``'s local day, by what became of them (see ``MailToday``)."""
    day = local_date(now)
    counts: Counter[str] = Counter()
    for (_, _, column), n in count_outbox(session, first_day=day, last_day=day).items():
        counts[column] += n
    return MailToday(
        **{name: counts[name] for name in ("queued", "sent", "waiting", "refused", "dead")}
    )
