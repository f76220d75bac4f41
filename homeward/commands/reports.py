"""Programmes, reports, exports and the caseload dashboard as commands.

Programmes and reports belong to an organisation: ``homeward.reporting`` checks the permission
table (``run_reports``, ``export_cases``) for the signed-in person and audits each run and
export. Reports come back already small-cell suppressed; the HTCDS export is case-level, for
supervisors and managers. The caseload dashboard (counts, case_refs, stages, days: nothing
decrypted) is what a service such as the scheduler may read; see ``workflows.caseload_report``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from homeward.base.clock import local_date
from homeward.base.db import system_scope
from homeward.base.errors import InvalidInput
from homeward.commands.runner import Command, Context
from homeward.protection import permissions
from homeward.protection.permissions import Action
from homeward.reporting import caseload, programmes
from homeward.reporting.htcds import export_htcds
from homeward.reporting.overview import Overview, read_overview
from homeward.reporting.reports import run_report
from homeward.reporting.tables import Report
from statemachines.closure_requests import all_pending

GENERAL_REPORTS = ("stages", "overdue", "closures", "services", "sustainability")


@dataclass(frozen=True)
class ProgrammeAdded:
    code: str
    targets: int


@dataclass(frozen=True)
class AddProgramme(Command[ProgrammeAdded]):
    """Register a programme run by the actor's organisation, with its targets."""

    programme_in: programmes.ProgrammeIn
    name = "programme add"

    def execute(self, ctx: Context) -> ProgrammeAdded:
        made = programmes.add_programme(
            ctx.session, programme_in=self.programme_in, actor=ctx.staff, now=ctx.now
        )
        return ProgrammeAdded(made.code, len(self.programme_in.targets))

    def args(self) -> Mapping[str, Any]:
        return {"code": self.programme_in.code}


@dataclass(frozen=True)
class ProgrammeLine:
    """One programme as listed: its period, targets and how many cases are enrolled."""

    code: str
    title: str
    donor: str
    starts_on: date
    ends_on: date
    targets: dict[str, int]
    cases: int


@dataclass(frozen=True)
class ListProgrammes(Command[list[ProgrammeLine]]):
    """The actor's organisation's programmes and their targets."""

    name = "programme list"
    writes = False

    def execute(self, ctx: Context) -> list[ProgrammeLine]:
        session = ctx.session
        return [
            ProgrammeLine(
                p.code,
                p.name,
                p.donor,
                p.starts_on,
                p.ends_on,
                programmes.targets(session, p),
                len(programmes.enrolled_case_ids(session, p)),
            )
            for p in programmes.list_programmes(session, actor=ctx.staff)
        ]


@dataclass(frozen=True)
class Enrolled:
    code: str
    added: list[str]


@dataclass(frozen=True)
class EnrolCases(Command[Enrolled]):
    """Count cases (the actor's organisation takes part in) towards programme ``code``."""

    code: str
    case_refs: tuple[str, ...]
    name = "programme enrol"

    def execute(self, ctx: Context) -> Enrolled:
        programme = programmes.get_programme(ctx.session, code=self.code, actor=ctx.staff)
        added = programmes.enrol(
            ctx.session,
            programme=programme,
            case_refs=list(self.case_refs),
            actor=ctx.staff,
            on=local_date(ctx.now),
            now=ctx.now,
        )
        return Enrolled(self.code, added)


@dataclass(frozen=True)
class RunReport(Command[Report]):
    """One report (targets, stages, overdue, closures), suppressed; a write: it is audited."""

    report: str
    programme: str | None = None
    start: date | None = None
    end: date | None = None
    k: int | None = None
    name = "report"

    def execute(self, ctx: Context) -> Report:
        return run_report(
            ctx.session,
            self.report,
            actor=ctx.staff,
            programme_code=self.programme,
            start=self.start,
            end=self.end,
            k=self.k,
            now=ctx.now,
        )


@dataclass(frozen=True)
class RunAllReports(Command[list[tuple[Report, str | None]]]):
    """Progress against each programme's targets (``programmes``, default: all of the actor's
    organisation), then the general reports; each with its programme code (or None)."""

    programmes: tuple[str, ...] | None = None
    name = "report all"

    def execute(self, ctx: Context) -> list[tuple[Report, str | None]]:
        session, who = ctx.session, ctx.staff
        codes = self.programmes
        if codes is None:
            codes = tuple(p.code for p in programmes.list_programmes(session, actor=who))
        found: list[tuple[Report, str | None]] = [
            (run_report(session, "targets", actor=who, programme_code=code, now=ctx.now), code)
            for code in codes
        ]
        for report in GENERAL_REPORTS:
            found.append((run_report(session, report, actor=who, now=ctx.now), None))
        return found


@dataclass(frozen=True)
class ExportHtcds(Command[list[dict[str, str | int]]]):
    """The actor's organisation's cases in the HTCDS layout (audited as one export)."""

    name = "export htcds"

    def execute(self, ctx: Context) -> list[dict[str, str | int]]:
        return export_htcds(ctx.session, actor=ctx.staff, now=ctx.now)


@dataclass(frozen=True)
class Caseload:
    """The dashboard: the manager's overview (caseload by stage and status, suppressed; work
    waiting; mail today), caseload by stage and owner, overdue items per organisation, stuck
    cases (longest first) and the timelines of the first ``max_timelines`` of them."""

    overview: Overview
    by_stage: list[caseload.Row]
    overdue: list[caseload.Row]
    stuck: list[caseload.Row]
    timelines: dict[str, list[caseload.Row]] = field(default_factory=dict)


def closures_waiting(ctx: Context) -> Counter[int]:
    """Closure requests waiting for a decision, by the case's owner organisation id."""
    with system_scope(ctx.session):
        return Counter(case.owner_org_id for case, _ in all_pending(ctx.session))


@dataclass(frozen=True)
class ReadCaseload(Command[Caseload]):
    """The caseload dashboard: counts across every organisation, and the stuck cases (refs,
    stages, days; nothing decrypted): all of them for a service (the scheduler), those their
    organisation may see for a person. A write only so that the read is audited."""

    stuck_after_days: int = 30
    max_timelines: int = 20
    name = "caseload dashboard"

    def execute(self, ctx: Context) -> Caseload:
        if self.stuck_after_days < 1:
            raise InvalidInput("stuck_after_days: give a whole number of days, 1 or more")
        session = ctx.session
        if ctx.actor is not None:  # a person: only who may run reports (the scheduler may)
            permissions.ensure(session, ctx.actor, Action.RUN_REPORTS)
        stuck = caseload.stuck_cases(session, now=ctx.now, days=self.stuck_after_days)
        if ctx.actor is not None:  # and only the cases their organisation may see
            stuck = caseload.seen_by(session, ctx.actor, stuck)
        refs = [row["case_ref"] for row in stuck[: self.max_timelines]]
        return Caseload(
            overview=read_overview(session, now=ctx.now, closures=closures_waiting(ctx)),
            by_stage=caseload.caseload_by_stage(session),
            overdue=caseload.overdue_by_org(session, now=ctx.now),
            stuck=stuck,
            timelines=caseload.timelines(session, refs),
        )
