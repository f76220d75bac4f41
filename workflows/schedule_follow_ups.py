"""Flow ``schedule-follow-ups`` (daily): every case in reintegration has its follow-up visits
(+2 weeks, +1, +3 and +6 months from arrival), each invited once by calendar email.

Thin over ``notifications.visits.schedule_follow_ups``, which is idempotent: rerunning the flow
the same day creates and queues nothing new.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger

from homeward.base.db import write_session
from notifications.visits import FollowUpReport
from notifications.visits import schedule_follow_ups as ensure_visits
from workflows.runtime import dated_run_name, in_engine, now


def _schedule() -> FollowUpReport:
    with write_session() as session:
        return ensure_visits(session, now=now())


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
    report = await in_engine(_schedule)
    get_run_logger().info(
        "follow-ups: %s cases in reintegration, %s visits created, %s invitations queued",
        *asdict(report).values(),
    )
    return asdict(report)
