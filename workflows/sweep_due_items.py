"""Flow ``sweep-due-items`` (hourly): the reminder rules over every open checklist item, then
the outbox drained when SMTP is configured.

The rules live in ``notifications`` (``queue_reminders``): items coming due, due today and
overdue go into each staff member's digest, overdue items are mentioned again at their rule's
cadence (1, 3, 7, then every 7 days late) until done and, past the rule's
``escalate_after_days``, in one escalation digest a day per supervisor of the owner
organisation (or of the case owner, when it has none); partners' overdue items also reach the
case owner's coordinators. The run does its work once per local day, from
``HOMEWARD_MAIL_DIGEST_HOUR``; the other hourly runs find nothing to do and only drain. The
run acts as the service ``scheduler`` (no person), and its audit line and history events are
recorded as such.

Every run ends by publishing the ``mail-flow`` artifact (``homeward mail stats`` for the last
seven days: counts per day and kind, and a line when mail has stopped), even when the drain
failed, so a manager sees in Prefect when mail stops flowing.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger

from homeward.base.faults import crash_point
from homeward.base.settings import get_settings
from homeward.commands.mail import ReadMailStats
from homeward.commands.scheduled import QueueReminders
from notifications.sender import drain
from workflows import artifacts
from workflows.crash_loops import ends_crash_loops
from workflows.forms import checks_first
from workflows.runtime import SCHEDULER, command, dated_run_name, engine_errors

MAIL_FLOW_DAYS = 7


def smtp_configured() -> bool:
    """Whether an SMTP server was named (``HOMEWARD_SMTP_HOST``); the default is only a guess."""
    return "smtp_host" in get_settings().model_fields_set


@ends_crash_loops
@checks_first
@flow(name="sweep-due-items", flow_run_name=dated_run_name("sweep-due-items"), persist_result=False)
async def sweep_due_items(send: bool | None = None) -> dict[str, Any]:
    """Queue today's reminders and escalations, then send what the outbox holds.

    Args:
        send: drain the outbox (default: when ``HOMEWARD_SMTP_HOST`` is set).

    Returns:
        Counts: items coming due, due today, overdue, escalated; emails queued; and, when
        sent, emails sent, retried and dead-lettered, and recipients refused for good.
    """
    log = get_run_logger()
    queued = await command(QueueReminders(), SCHEDULER)
    log.info(
        "reminders: %s coming due, %s due today, %s overdue, %s escalated, %s emails queued",
        *asdict(queued).values(),
    )
    summary: dict[str, Any] = asdict(queued)
    try:
        if send if send is not None else smtp_configured():
            crash_point("after-commit-before-mail")
            with engine_errors():
                drained = await drain()
            log.info(
                "outbox: %s sent, %s retried, %s dead, %s recipients refused",
                *asdict(drained).values(),
            )
            if drained.refused:  # a refusal is never silent: `homeward mail outbox` lists them
                log.warning(
                    "%s recipients refused for good; see `homeward mail outbox --dead`",
                    drained.refused,
                )
            summary |= {f"emails_{k}": v for k, v in asdict(drained).items()}
    finally:
        await publish_mail_flow()
    return summary


async def publish_mail_flow() -> None:
    """The last week's mail as the ``mail-flow`` artifact; a warning when it has stopped."""
    found = await command(ReadMailStats(MAIL_FLOW_DAYS), SCHEDULER)
    await artifacts.publish_mail_flow(found)
    if found.stopped is not None:
        get_run_logger().warning("%s", found.stopped.line())
