"""The services report (issue 16): services delivered by type and provider, and the budget
planned against what was spent, per programme and currency, with the reports' small-cell
suppression (``homeward.reporting.suppression``).

Only the current approved version of each case's plan counts (a new version copies the
services of the last one: counting every version would count them twice). A service counts as
delivered in the period when its actual end falls in it; its budget counts when its planned
start does, and its cost when it was delivered. Nothing decrypted: types, organisations, dates
and amounts only. An amount is shown only for a row of at least k cases (a budget of one
person's services could be worked out otherwise).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from homeward.base.clock import local_noon
from homeward.base.db import system_scope
from homeward.base.models import PlanService, Programme, ReintegrationPlan
from homeward.records.directory import orgs_by_id
from homeward.reporting.facts import CaseFacts, Period
from homeward.reporting.tables import Label, Report, Table, breakdown, fixed_total

CHUNK = 500
SPENT = ("in_progress", "delivered")


@dataclass(frozen=True)
class ServiceFact:
    case_id: int
    service_type: str
    provider: str
    status: str
    planned_in_period: bool
    delivered_in_period: bool
    budget_minor: int
    cost_minor: int
    currency: str


def load_services(session: Session, case_ids: list[int], period: Period) -> list[ServiceFact]:
    """The services of the current approved plan of each of ``case_ids``."""
    orgs = orgs_by_id(session)
    found: list[ServiceFact] = []
    with system_scope(session):
        for start in range(0, len(case_ids), CHUNK):
            chunk = case_ids[start : start + CHUNK]
            query = (
                select(PlanService)
                .join(ReintegrationPlan, col(ReintegrationPlan.id) == PlanService.plan_id)
                .where(
                    col(PlanService.case_id).in_(chunk),
                    ReintegrationPlan.status == "approved",
                )
            )
            for s in session.exec(query.order_by(col(PlanService.id))):
                planned = s.planned_start_on is not None and period.contains(
                    local_noon(s.planned_start_on)
                )
                delivered = (
                    s.status == "delivered"
                    and s.actual_end_on is not None
                    and period.contains(local_noon(s.actual_end_on))
                )
                found.append(
                    ServiceFact(
                        s.case_id,
                        s.service_type,
                        orgs[s.provider_org_id].slug,
                        s.status,
                        planned and s.status != "cancelled",
                        delivered,
                        s.budget_minor or 0,
                        s.cost_minor or 0,
                        s.currency,
                    )
                )
    return found


def _money(minor: int, currency: str) -> str:
    return f"{minor // 100}.{minor % 100:02d} {currency}"


def services_report(
    session: Session,
    facts: list[CaseFacts],
    period: Period,
    programme: Programme | None,
    k: int,
    _now: datetime,
) -> Report:
    """Services delivered by type and provider; budget planned vs spent per programme."""
    case_ids = [f.case_id for f in facts]
    services = load_services(session, case_ids, period)
    delivered = [s for s in services if s.delivered_in_period]
    types = sorted({s.service_type for s in delivered})
    providers = sorted({s.provider for s in delivered})
    rows = [
        (
            kind,
            fixed_total(sum(1 for s in delivered if s.service_type == kind), k),
            Counter(s.provider for s in delivered if s.service_type == kind),
        )
        for kind in types
    ]
    by_type = breakdown("Services delivered by type and provider", "Service", rows, providers, k)
    total = fixed_total(len(delivered), k)
    by_type.rows.append(("All", [*([None] * len(providers)), total.label(k)]))
    label = programme.code if programme is not None else "All cases of your organisation"
    money = Table(
        "Budget planned and spent per programme",
        "Programme",
        ["Currency", "Cases with services", "Budget planned", "Spent"],
    )
    money.rows.extend(_budget_rows(label, services, k))
    report = Report("services", "Services delivered and their budget", k, {}, [by_type, money])
    if programme is None:
        report.notes.append("one programme's budget: --programme CODE")
    return report


def _budget_rows(label: str, services: list[ServiceFact], k: int) -> list[tuple[str, list[Label]]]:
    by_currency: dict[str, list[ServiceFact]] = defaultdict(list)
    for s in services:
        if s.planned_in_period or (s.status in SPENT and s.cost_minor):
            by_currency[s.currency].append(s)
    if not by_currency:
        return [(label, [None, 0, None, None])]
    rows: list[tuple[str, list[Label]]] = []
    for currency, group in sorted(by_currency.items()):
        cases = fixed_total(len({s.case_id for s in group}), k)
        if cases.hidden:
            rows.append((label, [currency, cases.label(k), "x", "x"]))
            continue
        budget = sum(s.budget_minor for s in group if s.planned_in_period)
        spent = sum(s.cost_minor for s in group if s.status in SPENT)
        rows.append(
            (label, [currency, cases.label(k), _money(budget, currency), _money(spent, currency)])
        )
    return rows
