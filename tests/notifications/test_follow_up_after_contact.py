"""Follow-up visits after contact returns, over a long simulated run on real parts: a case in
reintegration loses contact at about month 2 and regains it at about month 5, while the daily
follow-up scheduling, the reminder run and the sender to a real SMTP server run every day.
Each visit is one calendar event: invited once, cancelled while contact is lost, invited again
(same UID, higher SEQUENCE) on its new day when contact returns."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlmodel import select

from homeward.base.clock import SimulatedClock
from homeward.base.db import write_session
from homeward.base.models import CaseEvent, ChecklistItem, ItemStatus, OutboxMessage
from homeward.base.settings import get_settings
from notifications.reminders import ReminderReport
from notifications.visits import FollowUpReport, schedule_follow_ups
from tasks import checklist
from tests import factories as f
from tests.notifications.conftest import run_drain
from tests.notifications.helpers import outbox, remind

VISITS = ["follow_up_2w", "follow_up_1m", "follow_up_3m", "follow_up_6m"]
NGO_WORKER = "cw@adpare.example.org"


def _today(clock: SimulatedClock) -> date:
    return clock.now().astimezone(get_settings().tz).date()


def _day(clock: SimulatedClock) -> tuple[FollowUpReport, ReminderReport]:
    """What the scheduled flows do each day: visits, reminders, then the outbox drained."""
    with write_session() as s:
        follow_ups = schedule_follow_ups(s, now=clock.now())
    reminders = remind(clock)
    run_drain(clock)
    return follow_ups, reminders


def _visit_items(ref: str) -> list[ChecklistItem]:
    return [i for i in f.items(ref) if i.code in VISITS]


def _do_visits_due_today(ref: str, clock: SimulatedClock) -> None:
    """The NGO records each visit on its day (while it can reach the person)."""
    tz = get_settings().tz
    for item in f.items(ref, status=ItemStatus.OPEN):
        if item.code in VISITS and item.due_at.astimezone(tz).date() == _today(clock):
            with write_session() as s:
                checklist.mark_done(s, item_id=item.id or 0, actor=f.actor(s), now=clock.now())


def _overdue_open(ref: str, clock: SimulatedClock) -> list[str]:
    tz = get_settings().tz
    return [
        i.code
        for i in f.items(ref, status=ItemStatus.OPEN)
        if i.due_at.astimezone(tz).date() < _today(clock)
    ]


def test_visits_move_once_from_the_day_contact_returns(db_url, clock, smtp):
    f.seed()
    ref = f.open_case(clock)
    f.drive_to(ref, "reintegration", clock)
    arrival = f.load_case(ref).arrival_on
    assert arrival is not None
    planned = {i.code: i.due_at for i in _visit_items(ref)}
    (plan,) = [i for i in f.items(ref) if i.code == "reintegration_plan"]
    with write_session() as s:
        checklist.mark_done(s, item_id=plan.id or 0, actor=f.actor(s), now=clock.now())
    for _ in range(60):  # ~ month 2: the 2-week and 1-month visits happen on their days
        clock.advance(days=1)
        _do_visits_due_today(ref, clock)
        _day(clock)
    f.advance(ref, "lose_contact", clock)
    for _ in range(90):  # ~ month 5: the 3-month visit passes unmade
        clock.advance(days=1)
        _day(clock)
    assert _overdue_open(ref, clock) == ["follow_up_3m"]

    clock.advance(days=1)
    f.advance(ref, "regain_contact", clock)  # the move re-invites, in the same transaction
    follow_ups, reminders = _day(clock)
    assert _overdue_open(ref, clock) == []  # no visit overdue on day one
    assert (reminders.overdue, reminders.escalated) == (0, 0)
    assert follow_ups.visits_created == 0 and follow_ups.invitations_queued == 0
    moved = {i.code: i.due_at for i in _visit_items(ref) if i.status == ItemStatus.OPEN}
    tz = get_settings().tz
    first = (moved["follow_up_3m"].astimezone(tz).date() - _today(clock)).days
    assert first == 7  # a week after contact returns, as the catalog says
    spacing = planned["follow_up_6m"] - planned["follow_up_3m"]
    assert moved["follow_up_6m"] - moved["follow_up_3m"] == spacing  # the rest keep their gap
    assert _day(clock) == (FollowUpReport(cases=1), ReminderReport())  # a retried run: nothing

    for _ in range(130):  # the moved visits happen on their new days
        clock.advance(days=1)
        _do_visits_due_today(ref, clock)
        _day(clock)
    assert _overdue_open(ref, clock) == []

    items = f.items(ref)
    assert Counter(i.code for i in items if i.code in VISITS) == dict.fromkeys(VISITS, 1)
    assert all(i.status == ItemStatus.DONE for i in _visit_items(ref))
    assert not [m for m in outbox("digest") if m.key.startswith("visit:")]  # none in digests
    invitations = outbox("visit")
    by_item: dict[int, list[tuple[int, bool, str]]] = {}
    for m in invitations:
        by_item.setdefault(m.context["item_number"], []).append(
            (m.context["sequence"], m.context["cancelled"], m.context["calendar_uid"])
        )
    ids = {i.code: i.id for i in _visit_items(ref)}
    assert by_item[ids["follow_up_2w"]] == [(0, False, f"visit-item-{ids['follow_up_2w']}")]
    assert by_item[ids["follow_up_1m"]] == [(0, False, f"visit-item-{ids['follow_up_1m']}")]
    for code in ("follow_up_3m", "follow_up_6m"):  # invited, cancelled, invited on the new day
        uid = f"visit-item-{ids[code]}"
        assert by_item[ids[code]] == [(0, False, uid), (1, True, uid), (2, False, uid)]
    assert len(invitations) == 8
    assert all(m.to_addrs == [NGO_WORKER] for m in invitations)
    received = smtp.message_ids()
    assert all(received[m.message_id] == 1 for m in invitations)  # each arrived once
    assert set(received.values()) == {1}  # and no email arrived twice
    with f.admin_read() as s:
        events = s.exec(select(CaseEvent).where(CaseEvent.trigger == "follow_ups_rescheduled"))
        (event,) = events.all()
    assert event.reason == "regained_contact" and event.data["shift_days"] > 60
    assert [m["code"] for m in event.data["items"]] == ["follow_up_3m", "follow_up_6m"]
    with f.admin_read() as s:
        sent = s.exec(select(OutboxMessage).where(OutboxMessage.status != "sent")).all()
    assert sent == []
