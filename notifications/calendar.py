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
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress

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
    calendar.add_component(_event(model, language, stamp, domain))
    calendar.add_missing_timezones()  # a VTIMEZONE for the TZID of the start and end
    ical: bytes = calendar.to_ical()
    return ical


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
