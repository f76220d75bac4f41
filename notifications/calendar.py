"""Calendar invitations (RFC 5545) for follow-up visits: the case_ref, the item and the day.

No location, no attendee, no description of the person: a calendar is synced to phones and
servers we do not control. ``METHOD:PUBLISH`` adds the visit to the reader's calendar without
asking for replies (the sender is a no-reply address). The ``UID`` is stable per item and due
date, so a resent invitation updates the same entry instead of adding another.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Calendar, Event

from notifications.contexts import ItemLine

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
