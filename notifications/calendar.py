"""Calendar invitations (RFC 5545) for follow-up visits and appointments: the case_ref, the
item and the day (an appointment's start).

No location, no attendee, no description of the person: a calendar is synced to phones and
servers we do not control. ``METHOD:PUBLISH`` adds the visit to the reader's calendar without
asking for replies (the sender is a no-reply address). The ``UID`` is stable per item and due
date, so a resent invitation updates the same entry instead of adding another.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from notifications.contexts import AppointmentContext, ItemLine

PRODID = "-//Homeward//Notifications//EN"
_SUMMARY = {
    "en": "Follow-up visit: {title} ({case_ref})",
    "ro": "Vizită de monitorizare: {title} ({case_ref})",
}
_DESCRIPTION = {
    "en": "Case {case_ref}, stage {stage}. Homeward names cases only by their reference.",
    "ro": "Cazul {case_ref}, etapa {stage}. Homeward numește cazurile doar prin referință.",
}


def visit_invitation(line: ItemLine, *, language: str, stamp: datetime, domain: str) -> bytes:
    """An all-day event on the visit's due day, as an iCalendar file (CRLF, folded lines)."""
    assert line.calendar_uid is not None  # noqa: S101 (only visits carry a uid)
    words = {"title": line.item_title, "case_ref": line.case_ref, "stage": line.stage}
    event = Event()
    event.add("uid", f"{line.calendar_uid}@{domain}")
    event.add("dtstamp", stamp)
    event.add("dtstart", line.due_on)
    event.add("dtend", line.due_on + timedelta(days=1))
    event.add("summary", _SUMMARY[language].format(**words))
    event.add("description", _DESCRIPTION[language].format(**words))
    if line.link:
        event.add("url", line.link)
    event.add("transp", "TRANSPARENT")
    event.add("sequence", 0)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical


APPOINTMENT_HOURS = 1
_APPOINTMENT = {
    "en": "{title} ({case_ref})",
    "ro": "{title} ({case_ref})",
}


def appointment_invitation(
    model: AppointmentContext, *, language: str, stamp: datetime, domain: str
) -> bytes:
    """An appointment's invitation (``METHOD:REQUEST``) or its cancellation (``CANCEL``): a
    timed event in UTC (``Z``), one hour long. The ``UID`` stays the same for the item's
    life (it names the item, not the date) and ``SEQUENCE`` rises with each change, so a
    calendar moves or removes its one entry. The title is the kind's ("Court hearing"), never
    the free title, and there is no location or attendee."""
    words = {"title": model.item_title, "case_ref": model.case_ref, "stage": model.stage}
    start = model.starts_at.astimezone(UTC)
    event = Event()
    event.add("uid", f"{model.calendar_uid}@{domain}")
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(hours=APPOINTMENT_HOURS))
    event.add("summary", _APPOINTMENT[language].format(**words))
    event.add("description", _DESCRIPTION[language].format(**words))
    event.add("organizer", f"mailto:no-reply@{domain}")
    if model.link:
        event.add("url", model.link)
    event.add("sequence", model.sequence)
    event.add("status", "CANCELLED" if model.cancelled else "CONFIRMED")
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "CANCEL" if model.cancelled else "REQUEST")
    calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical
