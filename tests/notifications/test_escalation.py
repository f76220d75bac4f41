"""Escalation that reaches someone, over five simulated weeks of ``homeward mail send`` (the real
reminder run and sender) to a real SMTP server: the case owner's supervisor when the partner
has no supervisor or mailbox, the owner's coordinator told of partners' overdue items, repeated
at the cadence of the rules (1, 3, 7, then every 7 days late) until the item is done, and
nothing more about the items of a stage the case has left."""

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
from tests.notifications.helpers import escalated, outbox
from tests.notifications.smtp_server import received_text

CONSULATE = "Consulate of Romania in Rome"

# the cadence day by day: quiet days and hours are proven apart (test_quiet_hours.py)
pytestmark = pytest.mark.usefixtures("any_day")


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


def test_overdue_items_reach_someone_at_the_cadence_until_done(cli, clock, smtp):
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
    anitp = _item(ref, "anitp_notified")
    for day in range(36):
        if day == 24:  # Thursday 29 January: the consulate records its notice at last
            _done(ref, "anitp_notified", clock)
        before = {m.id for m in outbox("escalation")}
        cli("--as", f.COORD, "mail", "send")
        for m in outbox("escalation"):
            if m.id not in before:
                found = [i for i in escalated(m) if i["item_number"] == anitp.id]
                escalations_by_day[clock.now().date().isoformat()] += [(m, i) for i in found]
        clock.advance(days=1)

    # 1, 3, 7 and 14 days late, until it was done (21 days late); to the case owner's
    # supervisor, who is told which organisation could not be reached.
    mentioned = {day: told for day, told in escalations_by_day.items() if told}
    assert sorted(mentioned) == ["2026-01-09", "2026-01-11", "2026-01-15", "2026-01-22"]
    sent = [pair for day in sorted(mentioned) for pair in mentioned[day]]
    assert [i["days"] for _, i in sent] == [1, 3, 7, 14]
    assert [m.key.rsplit(":", 1)[1] for m, _ in sent] == sorted(mentioned)  # one a day
    assert all(m.to_addrs == [f.SUPERVISOR] for m, _ in sent)
    assert all(i["unreached"] and i["org"] == CONSULATE for _, i in sent)
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
        "2026-01-11",
        "2026-01-15",
        "2026-01-22",
    ]
    assert "PARTNERS' ITEMS OVERDUE ON YOUR CASES" in text

    # The items of the stage left behind were never reminded again, nor escalated.
    with f.admin_read() as s:
        fired = s.exec(select(Reminder).where(Reminder.item_id.in_([i.id for i in left_behind])))
        assert fired.all() == []
        (event,) = s.exec(select(CaseEvent).where(CaseEvent.trigger == "items_cancelled")).all()
    assert event.reason == "stage_left" and event.data["stage"] == "consent_obtained"
    assert set(smtp.message_ids().values()) == {1}  # no email arrived twice
