"""Calendar invitations for follow-up visits (issue 17 point 3), on real parts: a case in
reintegration, its visits invited by the daily pass, one moved twice, one skipped, one handed
to another organisation, the rest cancelled by a withdrawal of consent; every message sent to a
real SMTP server and every .ics read back by two independent parsers (``icalendar`` and
``vobject``), as two different mail clients would."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
import vobject
from icalendar import Calendar
from sqlmodel import select

from homeward.base.clock import SimulatedClock, local_date
from homeward.base.countries import country_zone
from homeward.base.db import system_scope, write_session
from homeward.base.models import ChecklistItem, StaffMember
from notifications.calendar import invitation
from notifications.contexts import VisitContext
from notifications.visits import schedule_follow_ups
from tasks import checklist, checklist_changes, handoffs
from tests import factories as f
from tests.notifications.conftest import run_drain
from tests.notifications.helpers import outbox
from tests.protect.test_canary import forms

pytestmark = pytest.mark.usefixtures("any_day")  # (tests/notifications/conftest.py)


NGO_WORKER, FMB_WORKER = "cw@adpare.example.org", "cw@fmb.example.org"
BUCHAREST = ZoneInfo("Europe/Bucharest")
PERSONAL = [f.CANARY.given_name, f.CANARY.family_name, "700 000 111"]


@dataclass(frozen=True)
class Invite:
    """One received invitation, as both parsers read it (they must agree)."""

    to: str
    subject: str
    method: str
    uid: str
    sequence: int
    start: datetime
    summary: str
    attendees: tuple[str, ...]
    raw: bytes


def _speaks_romanian(address: str) -> None:
    with write_session() as s, system_scope(s):  # the directory (0031)
        member = s.exec(select(StaffMember).where(StaffMember.email == address)).one()
        member.language = "ro"
        s.add(member)


def _visit(ref: str, code: str) -> ChecklistItem:
    (item,) = [i for i in f.items(ref) if i.code == code]
    return item


def _move(item_id: int, days: int, clock: SimulatedClock) -> None:
    clock.advance(hours=1)
    with write_session() as s:
        checklist_changes.change_due(
            s,
            item_id=item_id,
            actor=f.actor(s),
            on=local_date(clock.now()) + timedelta(days=days),
            reason="the family asked for another day",
            now=clock.now(),
        )


def _read(message: EmailMessage, to: str) -> Invite:
    """The message's one calendar part, parsed by icalendar and by vobject."""
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_content_charset() == "utf-8"  # Romanian titles arrive intact
    raw = part.get_payload(decode=True)
    event = Calendar.from_ical(raw).walk("VEVENT")[0]
    calendar = Calendar.from_ical(raw)
    other = vobject.readOne(raw.decode(part.get_content_charset()))
    read = Invite(
        to=to,
        subject=str(message["Subject"]),
        method=str(calendar["method"]),
        uid=str(event["uid"]),
        sequence=int(event["sequence"]),
        start=event.decoded("dtstart"),
        summary=str(event["summary"]),
        attendees=(str(event["attendee"]),),
        raw=raw,
    )
    assert part.get_param("method") == read.method == other.method.value
    assert other.vevent.uid.value == read.uid
    assert int(other.vevent.sequence.value) == read.sequence
    assert other.vevent.summary.value == read.summary
    assert [a.value for a in other.vevent.attendee_list] == list(read.attendees)
    assert other.vevent.organizer.value.startswith("mailto:no-reply@")
    # A TZID on the start, defined by a VTIMEZONE both parsers turn into the same instant.
    assert event["dtstart"].params["TZID"] == "Europe/Bucharest"
    assert [str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Bucharest"]
    assert other.vtimezone.tzid.value == "Europe/Bucharest"
    assert other.vevent.dtstart.value.tzinfo is not None
    assert other.vevent.dtstart.value == read.start
    assert read.start.utcoffset() == read.start.astimezone(BUCHAREST).utcoffset()
    return read


def _received(smtp) -> list[Invite]:
    found = []
    for message in smtp.received:
        parsed = message.parsed()
        if any(p.get_content_type() == "text/calendar" for p in parsed.walk()):
            found.append(_read(parsed, message.rcpt_tos[0]))
    return found


def test_each_visit_is_one_calendar_event_moved_skipped_handed_on_and_cancelled(
    db_url, clock, smtp
):
    f.seed()
    _speaks_romanian(NGO_WORKER)
    ref = f.open_case(clock)
    f.drive_to(ref, "reintegration", clock)
    with write_session() as s:
        report = schedule_follow_ups(s, now=clock.now())
    assert report.invitations_queued == 4  # one email per visit, not one digest of them
    with write_session() as s:
        assert schedule_follow_ups(s, now=clock.now()).invitations_queued == 0  # idempotent
    ids = {code: _visit(ref, code).id or 0 for code in ("follow_up_2w", "follow_up_1m")}
    ids |= {code: _visit(ref, code).id or 0 for code in ("follow_up_3m", "follow_up_6m")}

    _move(ids["follow_up_2w"], 20, clock)  # moved twice: one event, SEQUENCE 0, 1, 2
    _move(ids["follow_up_2w"], 21, clock)
    with write_session() as s:  # skipped: CANCEL, same UID, a higher SEQUENCE
        checklist.mark_skipped(
            s,
            item_id=ids["follow_up_1m"],
            actor=f.actor(s),
            now=clock.now(),
            reason="the person moved abroad for a month",
        )
    with write_session() as s:  # handed to FMB: ADPARE's calendar drops it, FMB's gets it
        handoffs.propose(
            s,
            item_id=ids["follow_up_3m"],
            to_org_slug="fmb",
            actor=f.actor(s),
            now=clock.now(),
            reason=None,
        )
    with write_session() as s:
        handoffs.accept(
            s, item_id=ids["follow_up_3m"], actor=f.actor(s, FMB_WORKER), now=clock.now()
        )
    clock.advance(hours=1)
    f.advance(ref, "withdraw_consent", clock)  # every open visit: CANCEL
    assert not [m for m in outbox("digest") if m.key.startswith("visit")]
    assert run_drain(clock).dead == 0

    invites = _received(smtp)
    assert len(invites) == len(outbox("visit")) == 12
    timeline: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
    uids: dict[int, set[str]] = defaultdict(set)
    for invite in invites:
        item_id = int(invite.uid.split("@")[0].removeprefix("visit-item-"))
        timeline[item_id].append((invite.to, invite.method, invite.sequence))
        uids[item_id].add(invite.uid)
    assert all(len(found) == 1 for found in uids.values())  # one UID per visit, whole life
    ngo, fmb = NGO_WORKER, FMB_WORKER
    assert timeline[ids["follow_up_2w"]] == [
        (ngo, "REQUEST", 0),
        (ngo, "REQUEST", 1),
        (ngo, "REQUEST", 2),
        (ngo, "CANCEL", 3),
    ]
    assert timeline[ids["follow_up_1m"]] == [(ngo, "REQUEST", 0), (ngo, "CANCEL", 1)]
    assert timeline[ids["follow_up_3m"]] == [
        (ngo, "REQUEST", 0),
        (ngo, "CANCEL", 1),
        (fmb, "REQUEST", 1),
        (fmb, "CANCEL", 2),
    ]
    assert timeline[ids["follow_up_6m"]] == [(ngo, "REQUEST", 0), (ngo, "CANCEL", 1)]

    moved = [i for i in invites if i.uid.startswith(f"visit-item-{ids['follow_up_2w']}@")]
    days = [i.start.astimezone(BUCHAREST).date() for i in moved]
    assert days[1] != days[0] and days[2] == days[1] + timedelta(days=1) == days[3]

    # Romanian round-trips through both parsers and the subject; it is not a digest.
    first = moved[0]
    assert (
        first.summary == f"Vizită de monitorizare: Contact de monitorizare la 2 săptămâni ({ref})"
    )
    assert first.subject.startswith(
        "Vizită de monitorizare: Contact de monitorizare la 2 săptămâni"
    )
    assert all("rezumat" not in i.subject.lower() and "digest" not in i.subject for i in invites)
    assert [i.subject.split(":")[0] for i in moved[1:]] == [
        "Vizită actualizată",
        "Vizită actualizată",
        "Vizită anulată",
    ]

    # Only the reader attends; nothing about the person is in a calendar file.
    assert all(i.attendees == (f"mailto:{i.to}",) for i in invites)
    for invite in invites:
        assert b"LOCATION" not in invite.raw and b"GEO" not in invite.raw
        for secret in PERSONAL:
            assert not any(form in invite.raw for form in forms(secret)), secret


@pytest.mark.parametrize(
    "zone", ["Europe/Bucharest", "Europe/Rome", "America/New_York", "Australia/Sydney"]
)
def test_both_parsers_read_each_zones_time_right_all_year_round(zone):
    tz = ZoneInfo(zone)
    for month in range(1, 13):
        for day in (1, 15, 28):
            start = datetime(2027, month, day, 12, 0, tzinfo=tz)
            model = VisitContext(
                case_ref="RT-7KQ2-M9",
                stage="Reintegrare",
                item_number=7,
                item_title="Contact de monitorizare la 3 luni",
                org_name="Asociația ADPARE",
                due_on=start.date(),
                time="12:00",
                starts_at=start.astimezone(UTC),
                sequence=0,
                calendar_uid="visit-item-7",
                tzid=zone,
                attendee="cw@adpare.example.org",
            )
            raw = invitation(model, language="ro", stamp=start, domain="example.org")
            ours = Calendar.from_ical(raw).walk("VEVENT")[0].decoded("dtstart")
            theirs = vobject.readOne(raw.decode("utf-8")).vevent.dtstart.value
            assert ours.utcoffset() == theirs.utcoffset() == start.utcoffset(), (zone, start)
            assert ours == theirs == start


def test_an_organisation_reads_times_in_its_countrys_zone():
    assert str(country_zone("RO")) == "Europe/Bucharest"
    assert str(country_zone("IT")) == "Europe/Rome"
    assert str(country_zone("ES")) == "Europe/Madrid"  # mainland, not the Canaries
    assert country_zone("XX") is None
