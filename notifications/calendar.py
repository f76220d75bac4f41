"""Calendar invitations (RFC 5545 objects sent as iTIP messages, RFC 5546) for follow-up visits
and appointments: the case_ref, the item's generic title and its start.

One event per item for its whole life: the ``UID`` names the item, never a date, and
``SEQUENCE`` rises with each change (the invitations module keeps count), so a calendar moves
or removes its one entry. ``METHOD:REQUEST`` invites (and updates), ``METHOD:CANCEL``
removes; both name the ``ORGANIZER`` (the no-reply sender, so ``RSVP=FALSE``) and one
``ATTENDEE``: the reader's own staff or organisation address, never the person the case is
about. Times carry the reader's ``TZID`` with its ``VTIMEZONE``, so the entry sits at the
right hour in Rome as in Bucharest.

No location and no description of the person: a calendar is synced to phones and servers we
do not control.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import (
    Calendar,
    Component,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vCalAddress,
)

from notifications.contexts import AppointmentContext, VisitContext

PRODID = "-//Homeward//Notifications//EN"
EVENT_HOURS = 1
_SUMMARY = {
    "visit": {
        "en": "Follow-up visit: {title} ({case_ref})",
        "ro": "Vizită de monitorizare: {title} ({case_ref})",
    },
    "appointment": {"en": "{title} ({case_ref})", "ro": "{title} ({case_ref})"},
}
_DESCRIPTION = {
    "en": "Case {case_ref}, stage {stage}. Homeward names cases only by their reference.",
    "ro": "Cazul {case_ref}, etapa {stage}. Homeward numește cazurile doar prin referință.",
}


def method_of(model: AppointmentContext) -> str:
    """The iTIP method of the invitation: ``CANCEL`` for a cancelled item, else ``REQUEST``."""
    return "CANCEL" if model.cancelled else "REQUEST"


def invitation(model: AppointmentContext, *, language: str, stamp: datetime, domain: str) -> bytes:
    """The item's event, as an iCalendar object (CRLF, folded lines, UTF-8)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method_of(model))
    if model.tzid:
        calendar.add_component(vtimezone(ZoneInfo(model.tzid), model.starts_at.year))
    calendar.add_component(_event(model, language, stamp, domain))
    ical: bytes = calendar.to_ical()
    return ical


def vtimezone(zone: ZoneInfo, year: int) -> Timezone:
    """``zone``'s rules as a VTIMEZONE in the form every client reads: one STANDARD and, where
    clocks change, one DAYLIGHT component, each a yearly ``RRULE`` ("last Sunday of March")
    from its onset the year before ``year`` (an event's year is then always covered).

    Written here rather than with ``Calendar.add_missing_timezones``, whose list of every
    transition since 1970 (``RDATE``) some readers (dateutil's, so vobject's) get wrong."""
    component = Timezone()
    component.add("tzid", zone.key)
    changes = _transitions(zone, year - 1)
    if not changes:
        offset = datetime(year, 1, 1, tzinfo=zone).utcoffset() or timedelta()
        component.add_component(
            _onset(TimezoneStandard(), zone, datetime(1970, 1, 1), offset, offset)
        )
        return component
    for moment, before, after in changes:
        wall = (moment + before).replace(tzinfo=None)
        daylight = bool(moment.astimezone(zone).dst())
        part = _onset(
            TimezoneDaylight() if daylight else TimezoneStandard(), zone, wall, before, after
        )
        part.add("rrule", {"freq": "yearly", "bymonth": wall.month, "byday": _nth_weekday(wall)})
        component.add_component(part)
    return component


def _onset(
    part: Component, zone: ZoneInfo, wall: datetime, before: timedelta, after: timedelta
) -> Component:
    part.add("dtstart", wall)
    part.add("tzoffsetfrom", before)
    part.add("tzoffsetto", after)
    name = (wall + timedelta(days=1)).replace(tzinfo=zone).tzname()
    if name:
        part.add("tzname", name)
    return part


def _nth_weekday(day: datetime) -> str:
    """The RRULE ``BYDAY`` of ``day``: "-1SU" (the last Sunday), "2SU" (the second)..."""
    code = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[day.weekday()]
    last = (day + timedelta(days=7)).month != day.month
    return f"-1{code}" if last else f"{(day.day - 1) // 7 + 1}{code}"


@lru_cache(maxsize=64)
def _transitions(zone: ZoneInfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """The moments (UTC) of ``year`` when ``zone``'s offset changes, with the offsets before
    and after: day by day, then to the second within the day it changes."""
    found = []
    day, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    while day < end:
        before, after = _offset(zone, day), _offset(zone, day + timedelta(days=1))
        if before != after:  # bisect the day's seconds: transitions fall on whole seconds
            low_s, high_s = 0, 86_400
            while high_s - low_s > 1:
                middle = (low_s + high_s) // 2
                if _offset(zone, day + timedelta(seconds=middle)) == before:
                    low_s = middle
                else:
                    high_s = middle
            high = day + timedelta(seconds=high_s)
            found.append((high, before, after))
        day += timedelta(days=1)
    return found


def _offset(zone: ZoneInfo, moment: datetime) -> timedelta:
    return moment.astimezone(zone).utcoffset() or timedelta()


def _event(model: AppointmentContext, language: str, stamp: datetime, domain: str) -> Event:
    kind = "visit" if isinstance(model, VisitContext) else "appointment"
    words = {"title": model.item_title, "case_ref": model.case_ref, "stage": model.stage}
    start = model.starts_at.astimezone(ZoneInfo(model.tzid) if model.tzid else UTC)
    event = Event()
    event.add("uid", f"{model.calendar_uid}@{domain}")
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(hours=EVENT_HOURS))
    event.add("summary", _SUMMARY[kind][language].format(**words))
    event.add("description", _DESCRIPTION[language].format(**words))
    event.add("organizer", _organizer(domain))
    if model.attendee:
        event.add("attendee", _attendee(model))
    if model.link:
        event.add("url", model.link)
    event.add("sequence", model.sequence)
    event.add("status", "CANCELLED" if model.cancelled else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if kind == "visit" else "OPAQUE")
    return event


def _organizer(domain: str) -> vCalAddress:
    organizer = vCalAddress(f"mailto:no-reply@{domain}")
    organizer.params["CN"] = "Homeward"
    return organizer


def _attendee(model: AppointmentContext) -> vCalAddress:
    attendee = vCalAddress(f"mailto:{model.attendee}")
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    attendee.params["PARTSTAT"] = "NEEDS-ACTION"
    attendee.params["RSVP"] = "FALSE"  # the organizer is a no-reply address
    return attendee
