"""Quiet hours and working days: at weekends and on public holidays (Romania's, and the
recipient organisation's country's) only urgent mail leaves; the rest goes at the readers'
next working morning on their own clock (Europe/Bucharest for Romanian organisations,
Europe/Rome for Italian ones), across DST changes; no digest is built for a quiet day, and
whatever came due over it is in the next working day's digest. Real cases, a real SMTP server,
the clock set by each test."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from homeward.base.db import read_session, write_session
from homeward.base.models import Organisation, OutboxMessage, OutboxStatus, Reminder
from homeward.base.settings import get_settings
from homeward.commands import signin
from homeward.commands.adhoc import AddAdhocItem
from homeward.commands.runner import run
from homeward.edges.cli.common import state
from notifications.contexts import TEMPLATES
from notifications.redelivery import retry_all
from notifications.urgency import URGENCY, Urgency
from notifications.visits import schedule_follow_ups
from notifications.workdays import calendar_of, zone_of_country
from tasks import handoffs
from tests import factories as f
from tests.cli.runner import run_cli
from tests.notifications.conftest import run_drain
from tests.notifications.helpers import outbox, remind
from tests.notifications.test_sharing_withdrawn import in_reintegration
from tests.signin import credential_for

ADPARE = "cw@adpare.example.org"  # ADPARE, Bucharest (RO)
IOM_IT = "coord@iom-it.example.org"  # IOM Italy, Rome (IT)
URGENT = {name for name, (urgency, _) in URGENCY.items() if urgency is Urgency.URGENT}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def hand_to_adpare(clock) -> tuple[str, int]:
    """A new case (opened by IOM Italy) whose family assessment is offered to ADPARE: a
    ``handoff_proposed`` notice to ADPARE's staff. Returns the case_ref and the item id."""
    ref = f.open_case(clock)
    (item,) = [i for i in f.items(ref) if i.code == "basic_needs_met"]
    with write_session() as s:
        handoffs.propose(
            s, item_id=item.id, to_org_slug="adpare", actor=f.actor(s), now=clock.now(), reason=None
        )
    return ref, item.id or 0


def accept(item_id: int, clock) -> None:
    """ADPARE accepts: a ``handoff_accepted`` notice to IOM Italy's coordinator."""
    with write_session() as s:
        handoffs.accept(s, item_id=item_id, actor=f.actor(s, ADPARE), now=clock.now())


def queued(template: str) -> list[OutboxMessage]:
    return [m for m in outbox(template) if m.status == OutboxStatus.QUEUED]


def received_templates(smtp) -> list[str]:
    by_id = {m.message_id: m.template for m in outbox()}
    return [by_id.get(str(r.parsed()["Message-ID"]), "test") for r in smtp.received]


def add_item(ref: str, owner: str, on: date, clock, at: str | None = None) -> int:
    """An ad-hoc item of ``owner`` due ``on`` (an appointment, with a time, when ``at``)."""
    kind = "court_hearing" if at else "medical_appointment"
    added = run(
        AddAdhocItem(ref, kind, owner, on, at=at),
        credential_for(f.COORD, clock.now()),
        clock=clock,
    )
    return added.item_id


# --- the table, the calendars ---------------------------------------------------------------


def test_every_template_says_whether_it_is_urgent_and_why():
    assert set(URGENCY) == set(TEMPLATES)
    assert all(why.strip() for _, why in URGENCY.values())
    assert URGENT == {
        "login_code",
        "consent_withdrawn",
        "sharing_withdrawn",
        "test",
        "health_alert",
    }


@pytest.mark.parametrize(
    ("country", "zone"),
    [
        ("RO", "Europe/Bucharest"),
        ("IT", "Europe/Rome"),
        ("ES", "Europe/Madrid"),
        ("GB", "Europe/London"),
        ("US", "America/New_York"),
        ("RU", "Europe/Moscow"),
    ],
)
def test_an_organisations_time_zone_comes_from_its_country(country, zone):
    assert zone_of_country(country).key == zone


@pytest.mark.parametrize(
    ("held_at", "bucharest", "rome"),
    [
        # Spring forward (Sunday 29 March): 08:00 is 05:00 UTC in Bucharest, 06:00 in Rome.
        (utc(2026, 3, 28, 9), utc(2026, 3, 30, 5), utc(2026, 3, 30, 6)),
        # Fall back (Sunday 25 October): 08:00 is 06:00 UTC in Bucharest, 07:00 in Rome.
        (utc(2026, 10, 24, 9), utc(2026, 10, 26, 6), utc(2026, 10, 26, 7)),
        # Friday evening before the spring change: Monday 08:00 on summer time.
        (utc(2026, 3, 27, 19), utc(2026, 3, 30, 5), utc(2026, 3, 30, 6)),
    ],
)
def test_the_morning_keeps_its_local_hour_across_a_dst_change(held_at, bucharest, rome):
    for country, expected in (("RO", bucharest), ("IT", rome)):
        calendar = calendar_of(country)
        goes = calendar.opening(held_at)
        assert goes == expected, country
        assert goes.astimezone(calendar.zone).hour == get_settings().mail_morning_hour


# --- end to end -----------------------------------------------------------------------------


def test_on_a_saturday_only_urgent_mail_leaves_and_the_rest_goes_on_monday_morning(
    db_url, clock, smtp
):
    f.seed()
    clock.current = utc(2026, 1, 17, 9)  # Saturday, 11:00 in Bucharest
    hand_to_adpare(clock)  # handoff_proposed to ADPARE: can wait
    withdrawn = f.open_case(clock)
    f.advance(withdrawn, "withdraw_consent", clock)  # consent_withdrawn: urgent
    assert remind(clock).queued == 0  # no digest, no escalation on a quiet day
    signin.deliver(signin.request_code(ADPARE, clock=clock), clock=clock)  # urgent
    run_drain(clock)

    sent = received_templates(smtp)
    assert "consent_withdrawn" in sent and "login_code" in sent
    assert set(sent) <= URGENT, sent
    (held,) = queued("handoff_proposed")
    assert held.to_addrs == [ADPARE]
    assert held.next_attempt_at == utc(2026, 1, 19, 6)  # Monday 08:00 in Bucharest

    clock.current = utc(2026, 1, 18, 20)  # Sunday evening: still nothing
    run_drain(clock)
    clock.current = utc(2026, 1, 19, 5, 59)  # Monday 07:59 in Bucharest: not yet
    run_drain(clock)
    assert received_templates(smtp) == sent
    clock.current = utc(2026, 1, 19, 6)
    run_drain(clock)
    assert received_templates(smtp)[len(sent) :] == ["handoff_proposed"]
    assert smtp.received[-1].rcpt_tos == (ADPARE,)


def test_the_sunday_morning_visit_invitations_wait_for_monday_morning(db_url, clock, smtp):
    """The measured bug: four visit invitations at 06:00 on a Sunday."""
    f.seed()
    in_reintegration(clock)
    clock.current = utc(2026, 1, 25, 4)  # Sunday 25 January, 06:00 in Bucharest
    with write_session() as s:
        assert schedule_follow_ups(s, now=clock.now()).invitations_queued > 0
    run_drain(clock)
    assert smtp.received == []
    invitations = outbox("visit")  # each visit's invitation is an email of its own
    mornings = {
        "RO": utc(2026, 1, 26, 6),  # Monday 08:00 in Bucharest
        "IT": utc(2026, 1, 26, 7),  # Monday 08:00 in Rome
    }
    with read_session() as s:
        countries = {o.id: o.country for o in s.exec(select(Organisation))}
    assert {m.next_attempt_at for m in invitations} <= set(mornings.values())
    for message in invitations:
        assert message.next_attempt_at == mornings[countries[message.org_id]]
    clock.current = utc(2026, 1, 26, 7)
    run_drain(clock)
    assert len(smtp.received) == len(invitations)


@pytest.mark.parametrize(
    ("holiday", "next_working_day"),
    [
        (utc(2026, 12, 1, 9), date(2026, 12, 2)),  # National Day (Tuesday; Monday is St Andrew)
        (utc(2025, 1, 24, 9), date(2025, 1, 27)),  # Union Day, a Friday
    ],
    ids=["1-december", "24-january"],
)
def test_a_romanian_public_holiday_holds_mail_for_every_organisation(
    db_url, clock, smtp, holiday, next_working_day
):
    f.seed()
    clock.current = holiday
    _, item_id = hand_to_adpare(clock)  # to ADPARE (RO)
    accept(item_id, clock)  # to IOM Italy (IT): Romania's holidays count for every organisation
    run_drain(clock)
    assert smtp.received == []
    (proposed,) = queued("handoff_proposed")
    (accepted,) = queued("handoff_accepted")
    bucharest, rome = calendar_of("RO"), calendar_of("IT")
    assert proposed.next_attempt_at == bucharest.morning(next_working_day)
    assert accepted.next_attempt_at == rome.morning(next_working_day)
    assert bucharest.why_quiet(holiday.date()).startswith("holiday: ")


def test_an_italian_holiday_holds_an_italian_organisations_mail_and_digest_only(
    db_url, clock, smtp
):
    """2 June (Festa della Repubblica) is a working day in Romania: ADPARE gets its digest;
    IOM Italy's item due that day is in its digest of 3 June."""
    f.seed()
    clock.current = utc(2026, 5, 27, 9)  # Wednesday
    ref = f.open_case(clock)
    ours = add_item(ref, "adpare", date(2026, 6, 2), clock)
    theirs = add_item(ref, "iom-it", date(2026, 6, 2), clock)
    clock.current = utc(2026, 6, 2, 6)  # Tuesday 2 June, 08:00 in Bucharest, 08:00 in Rome
    remind(clock)
    run_drain(clock)
    assert [r.rcpt_tos for r in smtp.received] == [(ADPARE,)]
    (digest,) = [m for m in outbox("digest") if m.to_addrs == [ADPARE]]
    assert [line["item_number"] for line in digest.context["due_today"]] == [ours]
    assert not [m for m in outbox("digest") if IOM_IT in m.to_addrs]
    _, item_id = hand_to_adpare(clock)
    accept(item_id, clock)  # to IOM Italy: waits for Wednesday 08:00 in Rome
    (accepted,) = queued("handoff_accepted")
    assert accepted.next_attempt_at == utc(2026, 6, 3, 6)

    clock.current = utc(2026, 6, 3, 6)  # Wednesday 08:00 in Rome (UTC+2 in summer)
    remind(clock)
    run_drain(clock)
    (late,) = [m for m in outbox("digest") if m.to_addrs == [IOM_IT]]
    assert late.status == OutboxStatus.SENT
    lines = {line["item_number"]: line["days"] for line in late.context["overdue"]}
    assert lines.get(theirs) == -1  # due on the holiday, told the next working day
    with read_session() as s:
        fired = {r.rule for r in s.exec(select(Reminder).where(Reminder.item_id == theirs))}
    assert "due_today" not in fired and "overdue_1d" in fired  # rules named by days late


def test_mail_goes_at_each_readers_local_morning_in_two_time_zones(db_url, clock, smtp):
    f.seed()
    clock.current = utc(2026, 1, 12, 9)  # Monday
    ref = f.open_case(clock)
    add_item(ref, "adpare", date(2026, 1, 13), clock)
    clock.current = utc(2026, 1, 13, 6)  # Tuesday: 08:00 in Bucharest, 07:00 in Rome
    remind(clock)
    run_drain(clock)
    assert {r.rcpt_tos[0] for r in smtp.received} == {ADPARE}  # Rome is still at 07:00
    italian = [m for m in queued("digest") if m.to_addrs[0].endswith("cons-rome.example.org")]
    assert italian and all(m.next_attempt_at == utc(2026, 1, 13, 7) for m in italian)
    clock.current = utc(2026, 1, 13, 7)  # 08:00 in Rome
    run_drain(clock)
    assert {m.status for m in outbox("digest")} == {OutboxStatus.SENT}


def test_after_working_hours_mail_waits_for_the_next_morning(db_url, clock, smtp):
    f.seed()
    clock.current = utc(2026, 1, 13, 19)  # Tuesday 21:00 in Bucharest
    hand_to_adpare(clock)
    run_drain(clock)
    assert smtp.received == []
    (held,) = queued("handoff_proposed")
    assert held.next_attempt_at == utc(2026, 1, 14, 6)


def test_an_appointment_is_sent_at_once_only_when_waiting_would_be_too_late(db_url, clock, smtp):
    f.seed()
    clock.current = utc(2026, 1, 16, 9)  # Friday
    ref = f.open_case(clock)
    clock.current = utc(2026, 1, 17, 9)  # Saturday: a hearing on Monday, another on Wednesday
    monday = add_item(ref, "adpare", date(2026, 1, 19), clock, at="09:00")
    wednesday = add_item(ref, "adpare", date(2026, 1, 21), clock, at="10:30")
    run_drain(clock)
    sent = [m for m in outbox("appointment") if m.status == OutboxStatus.SENT]
    assert [m.context["item_number"] for m in sent] == [monday]
    (waiting,) = queued("appointment")
    assert waiting.context["item_number"] == wednesday
    assert waiting.next_attempt_at == utc(2026, 1, 19, 6)


def test_a_dead_letter_queued_again_at_the_weekend_waits_for_monday(db_url, clock, smtp):
    f.seed()
    clock.current = utc(2026, 1, 16, 9)  # Friday
    smtp.rcpt_replies[ADPARE] = "550 5.1.1 no such mailbox"
    hand_to_adpare(clock)
    assert run_drain(clock).dead == 1
    smtp.rcpt_replies.clear()  # the mailbox is fixed; an operator retries on Saturday
    clock.current = utc(2026, 1, 17, 10)
    with write_session() as s:  # ADPARE's administrator queues the refused recipient again
        supervisor = f.actor(s, f.ADPARE_ADMIN)
        assert retry_all(s, actor=supervisor, now=clock.now()) == 1
    assert run_drain(clock).sent == 0 and smtp.received == []
    (held,) = queued("handoff_proposed")
    assert held.next_attempt_at == utc(2026, 1, 19, 6)  # its recipient tried afresh then
    clock.current = utc(2026, 1, 19, 6)
    assert run_drain(clock).sent == 1


def test_nothing_is_lost_over_a_three_day_weekend(db_url, clock, smtp):
    """Labour Day, Friday 1 May 2026, then Saturday and Sunday: no mail and no digest for
    ADPARE; Monday's one digest names the items due on each of those days, and today's."""
    f.seed()
    clock.current = utc(2026, 4, 27, 9)  # Monday
    ref = f.open_case(clock)
    due = {day: add_item(ref, "adpare", date(2026, 5, day), clock) for day in (1, 2, 3, 4, 6)}
    adpare_mail: dict[date, int] = {}
    for day in (30, 1, 2, 3, 4):  # Thursday 30 April to Monday 4 May, 08:00 in Bucharest
        clock.current = utc(2026, 4 if day == 30 else 5, day, 5)  # summer time: UTC+3
        before = len(smtp.received)
        remind(clock)
        run_drain(clock)
        got = [r for r in smtp.received[before:] if r.rcpt_tos == (ADPARE,)]
        adpare_mail[clock.now().date()] = len(got)
    assert adpare_mail == {
        date(2026, 4, 30): 1,
        date(2026, 5, 1): 0,
        date(2026, 5, 2): 0,
        date(2026, 5, 3): 0,
        date(2026, 5, 4): 1,
    }
    (monday,) = [m for m in outbox("digest") if m.to_addrs == [ADPARE] and "05-04" in m.key]
    overdue = {line["item_number"]: line["days"] for line in monday.context["overdue"]}
    assert overdue == {due[1]: -3, due[2]: -2, due[3]: -1}
    assert [line["item_number"] for line in monday.context["due_today"]] == [due[4]]
    assert [line["item_number"] for line in monday.context["coming_due"]] == [due[6]]
    escalated = {
        item["item_number"]
        for m in outbox("escalation")
        for group in m.context["cases"]
        for item in group["overdue"]
    }
    assert {due[1], due[2], due[3]} <= escalated  # told to the supervisor on Monday too


def test_mail_outbox_shows_when_held_mail_goes_on_the_readers_clock(
    db_url, clock, smtp, capsys, monkeypatch
):
    f.seed()
    clock.current = utc(2026, 1, 17, 9)  # Saturday
    _, item_id = hand_to_adpare(clock)
    accept(item_id, clock)
    monkeypatch.setattr(state, "clock", clock)
    shown = run_cli(capsys, monkeypatch, "mail", "outbox")
    assert shown.code == 0, shown.err
    flat = " ".join(shown.out.split())
    assert "2026-01-19 08:00 Europe/Bucharest" in flat  # ADPARE's notice
    assert "2026-01-19 08:00 Europe/Rome" in flat  # IOM Italy's
    assert "weekend" in flat


@pytest.mark.parametrize(
    ("env", "value", "words"),
    [
        ("HOMEWARD_MAIL_EVENING_HOUR", "7", ["HOMEWARD_MAIL_EVENING_HOUR", "after"]),
        ("HOMEWARD_MAIL_HOME_COUNTRY", "XX", ["HOMEWARD_MAIL_HOME_COUNTRY", "RO"]),
    ],
)
def test_bad_quiet_hours_settings_are_one_line(db_url, capsys, monkeypatch, env, value, words):
    monkeypatch.setenv(env, value)
    get_settings.cache_clear()
    result = run_cli(capsys, monkeypatch, "mail", "outbox")
    monkeypatch.delenv(env)
    get_settings.cache_clear()
    assert result.code == 2
    assert result.err.count("\n") == 1 and all(w in result.err for w in words), result.err


def test_next_working_day_skips_a_run_of_holidays():
    bucharest = calendar_of("RO")
    # Wednesday 31 December: 1 and 2 January are holidays, then the weekend.
    assert bucharest.next_working_day(date(2025, 12, 31)) == date(2026, 1, 5)
    assert bucharest.is_working_day(date(2026, 1, 5))
    assert not bucharest.is_working_day(date(2026, 1, 6))  # Epiphany
