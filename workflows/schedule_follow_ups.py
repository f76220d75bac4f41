"""Flow ``schedule-follow-ups`` (daily): every case in reintegration has its follow-up visits
(+2 weeks, +1, +3 and +6 months from arrival), each invited once by calendar email.

Thin over ``notifications.visits.schedule_follow_ups``, which is idempotent: rerunning the flow
the same day creates and queues nothing new. The run acts as the service ``scheduler`` (no
person), and its audit line and history events are recorded as such.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger

from homeward.commands.scheduled import ScheduleFollowUps
from workflows.crash_loops import ends_crash_loops
from workflows.forms import checks_first
from workflows.runtime import SCHEDULER, command, dated_run_name


@ends_crash_loops
@checks_first
@flow(
    name="schedule-follow-ups",
    flow_run_name=dated_run_name("schedule-follow-ups"),
    persist_result=False,
)
async def schedule_follow_ups() -> dict[str, Any]:
    """Create missing follow-up visit items and queue their calendar invitations.

    Returns:
        Counts: cases in reintegration, visit items created, invitations queued.
    """
    report = await command(ScheduleFollowUps(), SCHEDULER)
    get_run_logger().info(
        "follow-ups: %s cases in reintegration, %s visits created, %s invitations queued",
        *asdict(report).values(),
    )
    return asdict(report)
