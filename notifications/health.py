"""Health alerts to managers: a scheduled flow that did not run on time or whose last run
failed, and mail that stopped flowing; each told once a local day while it lasts, and once
more when it clears.

The Prefect facts are gathered by ``workflows.health``; here are what the outbox says about
mail (``mail_flow``), who is told (every active manager, in the language each reads) and the
alerts as outbox rows. The outbox is also the memory, so no table is needed and a restart
forgets nothing: a problem is open while its latest alert is newer than its latest
"recovered" notice. Keys: ``health:PROBLEM:DAY:LANG`` (DAY: the local day it was told) and
``health-ok:PROBLEM:DAY:LANG`` (DAY: that of the alert it clears). An alert names flows and
counts, never a case, a person or a command; it links to the workspace.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import func
from sqlmodel import Session, col, select

from homeward.base.clock import utc
from homeward.base.errors import InvalidInput
from homeward.base.models import OutboxMessage, OutboxStatus, StaffMember, StaffRole
from homeward.base.settings import get_settings
from notifications.contexts import HealthAlertContext
from notifications.message import valid_address
from notifications.outbox import Queued, enqueue_many
from notifications.recipients import Recipient, by_language

TEMPLATE = "health_alert"
Kind = Literal["late", "failed", "mail_stuck"]
KINDS: frozenset[Kind] = frozenset({"late", "failed", "mail_stuck"})
MEMORY = timedelta(days=3)  # an open problem is told daily, so its latest alert is this recent


@dataclass(frozen=True)
class Problem:
    """Something a manager must know: ``since`` when (a run's due or end time, the oldest
    waiting email); ``count`` of emails waiting (``mail_stuck``)."""

    kind: Kind
    flow_name: str | None
    since: datetime
    count: int = 0

    @property
    def key(self) -> str:
        """Stable across checks: ``late:sweep-due-items``, ``mail_stuck``."""
        return f"{self.kind}:{self.flow_name}" if self.flow_name else self.kind


@dataclass(frozen=True)
class MailFlow:
    """The outbox at a glance: emails waiting (queued or being sent), since when, the last
    one sent, and whether mail is stuck (waiting too long with nothing sent since)."""

    waiting: int
    oldest: datetime | None
    last_sent: datetime | None
    stuck: bool

    def problem(self) -> Problem | None:
        """The ``mail_stuck`` problem, if mail is stuck."""
        if not self.stuck or self.oldest is None:
            return None
        return Problem("mail_stuck", None, self.oldest, self.waiting)


def mail_flow(session: Session, *, now: datetime, stuck_after: timedelta) -> MailFlow:
    """Count the outbox (health alerts aside): stuck when an email has waited ``stuck_after``
    and none was sent within that time."""
    staff_mail = OutboxMessage.template != TEMPLATE  # an alert sent is not mail flowing again
    waiting_statuses = [OutboxStatus.QUEUED, OutboxStatus.SENDING]
    waiting, oldest = session.exec(
        select(func.count(), func.min(OutboxMessage.created_at)).where(
            col(OutboxMessage.status).in_(waiting_statuses), staff_mail
        )
    ).one()
    last_sent = session.exec(select(func.max(OutboxMessage.sent_at)).where(staff_mail)).one()
    first, last = _aware(oldest), _aware(last_sent)
    threshold = now - stuck_after
    stuck = first is not None and first <= threshold and (last is None or last <= threshold)
    return MailFlow(int(waiting), first, last, stuck)


def _aware(moment: datetime | None) -> datetime | None:
    return utc(moment) if moment is not None else None


def managers(session: Session) -> list[Recipient]:
    """Every active manager with an address that can be mailed, by staff key."""
    query = select(StaffMember).where(
        StaffMember.active == True,  # noqa: E712
        StaffMember.role == StaffRole.MANAGER,
    )
    found = []
    for member in session.exec(query):
        try:
            address = valid_address(member.email)
        except InvalidInput:
            continue  # one bad address does not keep the others from being told
        found.append(Recipient(f"staff-{member.id}", address, member.language, member.org_id))
    return sorted(found, key=lambda r: r.key)


def _parse(key: str) -> tuple[bool, str, str] | None:
    """(is an alert, problem key, day) of a health row's key."""
    tag, _, rest = key.partition(":")
    problem, day, _lang = (rest.rsplit(":", 2) + ["", ""])[:3]
    if tag not in ("health", "health-ok") or not problem or not day:
        return None
    return tag == "health", problem, day


def open_problems(session: Session, *, now: datetime) -> dict[str, str]:
    """The problems told and not yet cleared: problem key -> the day of its latest alert."""
    rows = session.exec(
        select(OutboxMessage.key)
        .where(OutboxMessage.template == TEMPLATE, OutboxMessage.created_at >= now - MEMORY)
        .order_by(col(OutboxMessage.created_at), col(OutboxMessage.id))
    )
    latest: dict[str, tuple[bool, str]] = {}
    for key in rows:
        parsed = _parse(key)
        if parsed is not None:
            latest[parsed[1]] = (parsed[0], parsed[2])
    return {problem: day for problem, (alert, day) in latest.items() if alert}


def _context(kind: Kind, flow: str | None, at: datetime, **more: object) -> HealthAlertContext:
    local = at.astimezone(get_settings().tz)
    return HealthAlertContext.model_validate(
        {"problem": kind, "flow_name": flow, "day": local.date(), "time": f"{local:%H:%M}"} | more
    )


def _messages(
    recipients: Sequence[Recipient], key: str, context: HealthAlertContext
) -> list[Queued]:
    return [
        Queued(f"{key}:{language}", TEMPLATE, [r.address for r in group], language, context)
        for language, group in by_language(recipients).items()
    ]


def _recovered(problem: str, day: str, now: datetime) -> tuple[str, HealthAlertContext]:
    kind, _, flow = problem.partition(":")
    context = _context(kind, flow or None, now, recovered=True)  # type: ignore[arg-type]
    return f"health-ok:{problem}:{day}", context


def plan_alerts(
    session: Session, problems: Iterable[Problem], *, checked: Iterable[Kind], now: datetime
) -> list[Queued]:
    """The emails to queue now, none queued before: today's alert of each problem, and a
    "recovered" notice for each open one that was ``checked`` and is gone. A kind not checked
    (Prefect did not answer) is neither told nor cleared."""
    recipients = managers(session)
    if not recipients:
        return []
    today: date = now.astimezone(get_settings().tz).date()
    current = {p.key: p for p in problems}
    planned: list[Queued] = []
    for key, problem in sorted(current.items()):
        context = _context(problem.kind, problem.flow_name, problem.since, count=problem.count)
        planned += _messages(recipients, f"health:{key}:{today.isoformat()}", context)
    kinds = set(checked)
    for key, day in sorted(open_problems(session, now=now).items()):
        if key not in current and key.partition(":")[0] in kinds:
            planned += _messages(recipients, *_recovered(key, day, now))
    return _not_queued(session, planned)


def _not_queued(session: Session, planned: list[Queued]) -> list[Queued]:
    keys = [message.key for message in planned]
    known = set(session.exec(select(OutboxMessage.key).where(col(OutboxMessage.key).in_(keys))))
    return [message for message in planned if message.key not in known]


def queue_alerts(
    session: Session, problems: Iterable[Problem], *, checked: Iterable[Kind], now: datetime
) -> tuple[str, ...]:
    """Queue what ``plan_alerts`` says, in the caller's transaction; returns the keys queued
    (the caller sends them at once: a health alert does not wait for the sweep)."""
    planned = plan_alerts(session, problems, checked=checked, now=now)
    enqueue_many(session, planned, now=now)
    return tuple(message.key for message in planned)
