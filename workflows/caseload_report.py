"""Flow ``caseload-report`` (daily): the managers' dashboard as Prefect artifacts.

Each run publishes the pinned set (``workflows.artifacts``): ``homeward-overview`` to land on,
the caseload by stage and by owner organisation (small-cell suppressed), the work waiting per
organisation, the stuck cases and their timelines.

What a service may see. The scheduled run acts as the service ``scheduler``, which belongs to
no organisation and holds no staff role. It reads and publishes the caseload dashboard:
caseload by stage and owner organisation, overdue items per organisation, cases stuck in a
stage for more than ``stuck_after_days`` and their timelines. That is counts, case_refs,
stages, organisation slugs and days, across every organisation, and nothing decrypted: what
Prefect's users may see already. The service does not run the reports of
``homeward.reporting``, although they are small-cell suppressed: each one is an organisation's
(its programmes and targets, the cases it takes part in; ``run_reports`` is "for its own
organisation" in ``homeward.protection.permissions``, for its coordinators, supervisors and
managers), and each decrypts the sex, birth date and form of exploitation of every case it
counts, a read the audit log attributes to the person who ran it. A service has neither an
organisation to scope them by nor a role the table grants them to.

So the reports are published by a run a manager starts (the deployment's *Custom run*) with
their own run assertion (``homeward assertion --flow caseload-report``): that run reads the
dashboard and runs the four reports as them (progress against each programme's targets with
its chart, days per stage, overdue items, closures), each checked and audited as at the CLI.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from homeward.commands.reports import Caseload, ReadCaseload, RunAllReports
from homeward.protection.identity import Credential
from workflows import artifacts
from workflows.forms import checks_first
from workflows.refusals import refusals_end_runs
from workflows.runtime import (
    SCHEDULER,
    command,
    dated_run_name,
    engine_errors,
    prove_run,
    run_credential,
)

FLOW = "caseload-report"


async def _publish_caseload(data: Caseload, stuck_after_days: int) -> list[str]:
    """The pinned set (``artifacts.PINNED``), the landing overview last, then the timelines."""
    found = data.overview
    keys = [
        await artifacts.publish_table(
            artifacts.CASELOAD_BY_STAGE,
            artifacts.suppressed_rows(found.by_stage),
            f"Caseload by stage and status (counts under {found.k}: <{found.k})",
        ),
        await artifacts.publish_table(
            artifacts.CASELOAD_BY_OWNER,
            artifacts.suppressed_rows(found.by_owner),
            f"Caseload by owner organisation and status (counts under {found.k}: <{found.k})",
        ),
        await artifacts.publish_table(
            artifacts.WORK_WAITING,
            found.attention,
            "Work waiting per organisation: overdue checklist items (escalated among them), "
            "closures and reintegration plans waiting for its supervisors",
        ),
        await artifacts.publish_table(
            artifacts.STUCK_CASES,
            data.stuck,
            f"Open cases in the same stage for more than {stuck_after_days} days",
        ),
    ]
    for case_ref, rows in sorted(data.timelines.items()):
        keys.append(await artifacts.publish_timeline(case_ref, rows))
    markdown = artifacts.overview_markdown(
        found,
        stuck=len(data.stuck),
        stuck_after_days=stuck_after_days,
        sweep=await artifacts.last_sweep(),
    )
    overview = "Homeward overview: what needs attention, mail today, the last sweep, the caseload"
    keys.append(await artifacts.publish_markdown(artifacts.OVERVIEW, markdown, overview))
    return keys


async def _credential(assertion: str | None) -> Credential:
    """The scheduler, or (with an assertion) the manager who started the run, proven first."""
    if not (assertion or "").strip():
        return SCHEDULER
    with engine_errors():
        cred = run_credential(assertion or "", FLOW)
    await prove_run(cred)  # a forged or replayed assertion stops the run here
    return cred


@refusals_end_runs
@checks_first
@flow(name=FLOW, flow_run_name=dated_run_name(FLOW), persist_result=False)
async def caseload_report(
    stuck_after_days: int = 30,
    max_timelines: int = 20,
    programmes: list[str] | None = None,
    assertion: str | None = None,
) -> dict[str, Any]:
    """Publish the caseload dashboard and, in a run a manager starts, the suppressed reports.

    Args:
        stuck_after_days: a case counts as stuck after this many days in one stage.
        max_timelines: publish the timelines of at most this many stuck cases (longest first).
        programmes: programme codes for progress against targets (default: all of the
            manager's organisation); only with ``assertion``.
        assertion: leave empty for the scheduled dashboard (run as the service ``scheduler``);
            a manager who wants the reports too pastes the output of
            ``homeward assertion --flow caseload-report`` (one run, used within minutes).

    Returns:
        Counts: cases, stuck cases, artifacts published.
    """
    log = get_run_logger()
    cred = await _credential(assertion)
    data = await command(ReadCaseload(stuck_after_days, max_timelines), cred)
    keys = await _publish_caseload(data, stuck_after_days)
    if cred is SCHEDULER:
        log.info("scheduled run: dashboard only; a manager's run publishes the reports")
    else:
        asked = RunAllReports(tuple(programmes) if programmes is not None else None)
        for report, programme in await command(asked, cred):
            keys += await artifacts.publish_report(report, programme)
    cases = sum(row["cases"] for row in data.by_stage)
    log.info("caseload: %s cases, %s stuck, %s artifacts", cases, len(data.stuck), len(keys))
    return {"cases": cases, "stuck": len(data.stuck), "artifacts": len(keys)}
