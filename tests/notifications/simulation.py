"""A simulated stretch of days for the notification tests: each day the real reminder run
(``queue_reminders``) at the test's own clock, then the real sender to the in-process SMTP
server, and every message that arrived that day parsed with Python's email parser.

``run_days`` is the engine of it; ``escalation_lines`` and ``digest_lines`` read what an
escalation digest and a daily digest say, from the parsed text part (as a reader would), in
English or Romanian. Tests build on it: tests/notifications/test_ninety_days.py (escalation
cadence), and calendar checks over the same run (``Mail.attachments``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from functools import cached_property
from typing import NamedTuple

import vobject
from icalendar import Calendar
from sqlmodel import col, select

from homeward.base.clock import SimulatedClock, local_date
from homeward.base.db import read_session, write_session
from homeward.base.models import OutboxMessage
from notifications.reminders import ReminderReport, queue_reminders
from notifications.sender import DrainReport
from notifications.sink import Received
from tests.notifications.conftest import run_drain
from tests.notifications.smtp_server import ScriptedHandler


@dataclass(frozen=True)
class Mail:
    """One message as it arrived: the local day of the run that sent it, its template (from
    the outbox row with its Message-ID), its envelope recipients and the parsed message."""

    day: date
    template: str
    to: tuple[str, ...]
    message: EmailMessage
    raw: bytes

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def language(self) -> str:
        return str(self.message["Content-Language"])

    def part(self, subtype: str) -> str:
        """The decoded ``text/plain`` or ``text/html`` part."""
        for part in self.message.walk():
            if part.get_content_type() == f"text/{subtype}":
                return str(part.get_content())
        raise AssertionError(f"{self.template} of {self.day} has no text/{subtype} part")

    @cached_property
    def text(self) -> str:
        """The text part, with plain line ends."""
        return self.part("plain").replace("\r\n", "\n")

    @cached_property
    def html(self) -> str:
        """The HTML part."""
        return self.part("html")

    def attachments(self) -> list[tuple[str, bytes]]:
        """Each attachment's content type and decoded bytes (e.g. ``text/calendar``)."""
        return [
            (part.get_content_type(), part.get_payload(decode=True))
            for part in self.message.walk()
            if part.get_content_disposition() == "attachment"
        ]


class Invite(NamedTuple):
    """One calendar attachment as both parsers read it (they must agree): for whom, its
    method, UID, SEQUENCE and start."""

    day: date
    to: str
    method: str
    uid: str
    sequence: int
    start: datetime


def invites(mail: Mail) -> list[Invite]:
    """Each ``text/calendar`` attachment of ``mail``, parsed by ``icalendar`` and by
    ``vobject``, as two different mail clients would; they must read the same event."""
    found = []
    for kind, raw in mail.attachments():
        if kind != "text/calendar":
            continue
        calendar = Calendar.from_ical(raw)
        (event,) = calendar.walk("VEVENT")
        other = vobject.readOne(raw.decode("utf-8"))
        read = Invite(
            mail.day,
            mail.to[0],
            str(calendar["method"]),
            str(event["uid"]),
            int(event["sequence"]),
            event.decoded("dtstart"),
        )
        assert other.method.value == read.method, read
        assert other.vevent.uid.value == read.uid, read
        assert int(other.vevent.sequence.value) == read.sequence, read
        assert other.vevent.dtstart.value == read.start, read
        assert read.start.tzinfo is not None, read
        assert [a.value for a in other.vevent.attendee_list] == [f"mailto:{read.to}"], read
        found.append(read)
    return found


Hook = Callable[[date], None]


@dataclass
class DayLog:
    """What one simulated day did: the run's report and the mail that arrived."""

    day: date
    report: ReminderReport
    mail: list[Mail]
    drained: DrainReport


def run_days(
    clock: SimulatedClock,
    smtp: ScriptedHandler,
    days: int,
    *,
    before_run: Hook | None = None,
    after_run: Hook | None = None,
) -> list[DayLog]:
    """Run ``days`` days: each day ``before_run(today)`` (the test's own work: open cases,
    record items done...), the reminder run and the sender at the clock's time, then
    ``after_run(today)``; the clock then moves on a day. Every message must be delivered,
    or refused for good by the server's script (``smtp.rcpt_replies``): nothing is retried.

    Returns:
        One ``DayLog`` per day, its messages parsed.
    """
    logs = []
    for _ in range(days):
        today = local_date(clock.now())
        if before_run:
            before_run(today)
        seen = len(smtp.received)
        with write_session() as s:
            report = queue_reminders(s, now=clock.now())
        drained = run_drain(clock)
        assert drained.retried == 0, (today, drained)
        assert drained.dead == 0 or smtp.rcpt_replies, (today, drained)
        logs.append(DayLog(today, report, _parsed(today, smtp.received[seen:]), drained))
        if after_run:
            after_run(today)
        clock.advance(days=1)
    return logs


def _parsed(today: date, received: list[Received]) -> list[Mail]:
    messages = [r.parsed() for r in received]
    ids = [str(message["Message-ID"]) for message in messages]
    with read_session() as s:
        rows = s.exec(select(OutboxMessage).where(col(OutboxMessage.message_id).in_(ids)))
        templates = {row.message_id: row.template for row in rows}
    return [
        Mail(today, templates.get(mid, "test"), r.rcpt_tos, message, r.data)
        for mid, r, message in zip(ids, received, messages, strict=True)
    ]


class Escalated(NamedTuple):
    """One item of an escalation digest, as its text part says it."""

    case_ref: str
    org: str
    item_number: int
    days_late: int
    unreached: bool


_GROUP = re.compile(r"^(RT-[A-Z0-9-]+), (.+) \((\d+)\)$")
_ITEM = re.compile(r"^- #(\d+): ")
_LATE = re.compile(r"^  (?:(\d+) days? late|întârziere: (\d+) (?:de )?zi(?:le)?)[:;]")
_UNREACHED = ("could not be reached", "nu a putut fi anunțată")


def escalation_lines(mail: Mail) -> list[Escalated]:
    """The items of an escalation digest with their case, organisation and days late."""
    found: list[Escalated] = []
    group: tuple[str, str] | None = None
    unreached, number = False, None
    for line in mail.text.splitlines():
        if m := _GROUP.match(line):
            group, unreached, number = (m[1], m[2]), False, None
        elif any(words in line for words in _UNREACHED) and line.startswith("  "):
            unreached = True
        elif m := _ITEM.match(line):
            number = int(m[1])
        elif (m := _LATE.match(line)) and group and number is not None:
            found.append(Escalated(*group, number, int(m[1] or m[2]), unreached))
            number = None
    return found


class DigestLine(NamedTuple):
    """One item of a daily digest: its section (the heading's first word), case and number."""

    section: str
    case_ref: str
    item_number: int


_HEADING = re.compile(r"^([A-ZĂÂÎȘȚ' ]+) \(\d+\)$")
_DIGEST_ITEM = re.compile(r"^- (RT-[A-Z0-9-]+), #(\d+): ")
SECTIONS = {
    "OVERDUE": "overdue",
    "RESTANTE": "overdue",
    "PARTNERS' ITEMS OVERDUE ON YOUR CASES": "partners_overdue",
    "RESTANTE ALE PARTENERILOR PE CAZURILE DUMNEAVOASTRĂ": "partners_overdue",
    "DUE TODAY": "due_today",
    "SCADENTE AZI": "due_today",
    "COMING UP": "coming_due",
    "ÎN CURÂND": "coming_due",
}


def digest_lines(mail: Mail) -> list[DigestLine]:
    """The items of a daily digest, by section (``overdue``, ``partners_overdue``...)."""
    found, section = [], None
    for line in mail.text.splitlines():
        if m := _HEADING.match(line):
            section = SECTIONS[m[1]]
        elif (m := _DIGEST_ITEM.match(line)) and section:
            found.append(DigestLine(section, m[1], int(m[2])))
    return found
