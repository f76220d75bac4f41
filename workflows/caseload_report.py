"""Flow ``caseload-report`` (daily): the managers' dashboard as Prefect artifacts.

Always: caseload by stage and owner organisation, overdue items by organisation, cases stuck
in a stage for more than ``stuck_after_days`` and their timelines. With a manager to act as
(``manager_email`` or ``HOMEWARD_REPORT_AS``): the four reports of ``homeward.reporting``
(progress against each programme's targets with its chart, days per stage, overdue items,
closures), as the reporting package returns them: already small-cell suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prefect import flow, get_run_logger

from homeward.base.db import read_session, write_session
from homeward.base.errors import InvalidInput
from homeward.base.settings import get_settings
from homeward.records.directory import acting
from homeward.reporting.programmes import list_programmes
from homeward.reporting.reports import run_report
from homeward.reporting.tables import Report
from workflows import artifacts
from workflows.caseload import Row, caseload_by_stage, overdue_by_org, stuck_cases, timelines
from workflows.runtime import dated_run_name, in_engine, now

GENERAL_REPORTS = ("stages", "overdue", "closures")


@dataclass
class Caseload:
    """The dashboard's data, read in one transaction."""

    by_stage: list[Row]
    overdue: list[Row]
    stuck: list[Row]
    timelines: dict[str, list[Row]] = field(default_factory=dict)


def _caseload(stuck_after_days: int, max_timelines: int) -> Caseload:
    if stuck_after_days < 1:
        raise InvalidInput("stuck_after_days: give a whole number of days, 1 or more")
    moment = now()
    with read_session() as session:
        stuck = stuck_cases(session, now=moment, days=stuck_after_days)
        refs = [row["case_ref"] for row in stuck[:max_timelines]]
        return Caseload(
            by_stage=caseload_by_stage(session),
            overdue=overdue_by_org(session, now=moment),
            stuck=stuck,
            timelines=timelines(session, refs),
        )


def _reports(manager_email: str, programmes: list[str] | None) -> list[tuple[Report, str | None]]:
    """Each report as the manager may see it (run_report checks the role and audits)."""
    with write_session() as session:
        actor = acting(session=session, email=manager_email)
        codes = (
            programmes
            if programmes is not None
            else [p.code for p in list_programmes(session, actor=actor)]
        )
        found: list[tuple[Report, str | None]] = [
            (run_report(session, "targets", actor=actor, programme_code=code, now=now()), code)
            for code in codes
        ]
        for name in GENERAL_REPORTS:
            found.append((run_report(session, name, actor=actor, now=now()), None))
        return found


async def _publish_caseload(data: Caseload, stuck_after_days: int) -> list[str]:
    keys = [
        await artifacts.publish_table(
            "caseload-by-stage", data.by_stage, "Cases per stage and owner organisation"
        ),
        await artifacts.publish_table(
            "overdue-items-by-org",
            data.overdue,
            "Open checklist items past due, per organisation owning them",
        ),
        await artifacts.publish_table(
            "stuck-cases",
            data.stuck,
            f"Open cases in the same stage for more than {stuck_after_days} days",
        ),
    ]
    for case_ref, rows in sorted(data.timelines.items()):
        keys.append(await artifacts.publish_timeline(case_ref, rows))
    return keys


@flow(name="caseload-report", flow_run_name=dated_run_name("caseload-report"), persist_result=False)
async def caseload_report(
    stuck_after_days: int = 30,
    max_timelines: int = 20,
    manager_email: str | None = None,
    programmes: list[str] | None = None,
) -> dict[str, Any]:
    """Publish the caseload dashboard and, with a manager to act as, the suppressed reports.

    Args:
        stuck_after_days: a case counts as stuck after this many days in one stage.
        max_timelines: publish the timelines of at most this many stuck cases (longest first).
        manager_email: the manager the reports are run as (default ``HOMEWARD_REPORT_AS``;
            without one, only the caseload artifacts are published).
        programmes: programme codes for progress against targets (default: all of the
            manager's organisation).

    Returns:
        Counts: cases, stuck cases, artifacts published.
    """
    log = get_run_logger()
    data = await in_engine(lambda: _caseload(stuck_after_days, max_timelines))
    keys = await _publish_caseload(data, stuck_after_days)
    manager = manager_email or get_settings().report_as
    if manager:
        for report, programme in await in_engine(lambda: _reports(manager, programmes)):
            keys += await artifacts.publish_report(report, programme)
    else:
        log.info("no manager to act as (HOMEWARD_REPORT_AS): reports not published")
    cases = sum(row["cases"] for row in data.by_stage)
    log.info("caseload: %s cases, %s stuck, %s artifacts", cases, len(data.stuck), len(keys))
    return {"cases": cases, "stuck": len(data.stuck), "artifacts": len(keys)}
