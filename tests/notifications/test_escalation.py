"""Escalation that reaches someone, over five simulated weeks of ``homeward mail send`` (the real
reminder run and sender) to a real SMTP server: the case owner's supervisor when the partner
has no supervisor or mailbox, the owner's coordinator told of partners' overdue items, a weekly
repeat until the item is done, and nothing more about the items of a stage the case has left."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlmodel import select

from homeward.base.db import write_session
from homeward.base.models import CaseEvent, Reminder
from homeward.edges.cli.common import state
from tasks import checklist
from tests import factories as f
from tests.cli.runner import run_cli
from tests.notifications.helpers import outbox
from tests.notifications.smtp_server import received_text

CONSULATE = "Consulate of Romania in Rome"


def _item(ref: str, code: str):
    (found,) = [i for i in f.items(ref) if i.code == code]
    return found


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock, smtp):
    monkeypatch.setattr(state, "clock", clock)

    def run(*args: str):
        result = run_cli(capsys, monkeypatch, *args)
        assert result.code == 0, result.err
        return result

    return run


def _done(ref: str, code: str, clock) -> None:
    item = _item(ref, code)
    outcome = "low" if code == "risk_assessment" else None
    with write_session() as s:
        checklist.mark_done(s, item_id=item.id, actor=f.actor(s), now=clock.now(), outcome=outcome)


def test_overdue_items_reach_someone_every_week_until_done(cli, clock, smtp):
    f.seed()
    ref = f.open_case(clock)  # Monday 5 January; the consulate's ANITP notice is due on the 8th
    left = f.open_case(clock)
    f.drive_to(left, "consent_obtained", clock)
    for code in ("risk_assessment", "needs_assessment"):  # the blocking work only
        _done(left, code, clock)
    f.advance(left, "complete_assessment", clock)
    left_behind = [_item(left, c) for c in ("family_assessment", "criminal_case_status")]
    assert {(i.status, i.outcome) for i in left_behind} == {("cancelled", "stage_left")}
    shown = cli("--as", f.COORD, "case", "show", left).out
    assert shown.count("cancelled (stage_left)") == 2

    escalations_by_day = defaultdict(list)
    for day in range(36):
        if day == 24:  # Thursday 29 January: the consulate records its notice at last
            _done(ref, "anitp_notified", clock)
        before = {m.id for m in outbox("escalation")}
        cli("--as", f.COORD, "mail", "send")
        for m in outbox("escalation"):
            if m.id not in before and m.context["item_number"] == _item(ref, "anitp_notified").id:
                escalations_by_day[clock.now().date().isoformat()].append(m)
        clock.advance(days=1)

    anitp = _item(ref, "anitp_notified")
    # Every week from the first day late, until it was done; to the case owner's supervisor,
    # who is told which organisation could not be reached.
    assert sorted(escalations_by_day) == ["2026-01-09", "2026-01-16", "2026-01-23"]
    sent = [m for day in sorted(escalations_by_day) for m in escalations_by_day[day]]
    assert [m.key for m in sent] == [
        f"escalation:item-{anitp.id}:due-2026-01-08:repeat-{n}:en" for n in range(3)
    ]
    assert all(m.to_addrs == [f.SUPERVISOR] for m in sent)
    assert all(m.context["unreached_org"] == CONSULATE for m in sent)
    text = received_text(smtp.received)
    assert f"{CONSULATE} could not be reached" in " ".join(text.split())

    # The owner's coordinator sees the partner's overdue item in a section of their digest.
    partners = [
        (m.context["day"], line["item_number"])
        for m in outbox("digest")
        if m.to_addrs == [f.COORD]
        for line in m.context["partners_overdue"]
    ]
    assert [day for day, number in partners if number == anitp.id] == [
        "2026-01-09",
        "2026-01-16",
        "2026-01-23",
    ]
    assert "PARTNERS' ITEMS OVERDUE ON YOUR CASES" in text

    # The items of the stage left behind were never reminded again, nor escalated.
    with f.admin_read() as s:
        fired = s.exec(select(Reminder).where(Reminder.item_id.in_([i.id for i in left_behind])))
        assert fired.all() == []
        (event,) = s.exec(select(CaseEvent).where(CaseEvent.trigger == "items_cancelled")).all()
    assert event.reason == "stage_left" and event.data["stage"] == "consent_obtained"
    assert set(smtp.message_ids().values()) == {1}  # no email arrived twice
