"""Case dates that must make sense together, compared as days in ``HOMEWARD_TIMEZONE``.

A day a user gives (``given_on``, ``departed_on``, ``arrival_on``) is a local calendar day; the
moments Homeward stores are aware UTC. Every comparison turns the moment into its local day
first (``clock.local_date``), so a consent given at 00:30 in Bucharest is that day's consent,
not the day before's, whatever the hour in UTC. Each refusal is one ``InvalidInput`` line naming the
field and the fix.
"""

from __future__ import annotations

from datetime import date, datetime

from homeward.base.clock import local_date
from homeward.base.errors import InvalidInput
from homeward.base.models import Case


def check_consent_day(
    case: Case, given_on: date, now: datetime, field: str = "given_on", what: str = "given"
) -> date:
    """A consent is given (or withdrawn: ``field`` withdrawn_on, ``what`` withdrawn) between
    the person's identification (the case opening) and today."""
    today, opened = local_date(now), local_date(case.opened_at)
    if given_on > today:
        raise InvalidInput(
            f"{field}: {given_on} is in the future; give the day the consent was {what} "
            f"(today {today} or earlier)"
        )
    if given_on < opened:
        raise InvalidInput(
            f"{field}: {given_on} is before case {case.case_ref} was opened ({opened}); "
            "consent follows identification: give a day on or after it"
        )
    return given_on


def check_not_before_consent(field: str, day: date, consent_on: date | None) -> None:
    """The person travels only after consenting to the return (``consent_on``)."""
    if consent_on is not None and day < consent_on:
        raise InvalidInput(
            f"{field}: {day} is before the person consented to the return ({consent_on}); "
            "give a day on or after the consent"
        )


def check_not_future(field: str, day: date, now: datetime, what: str) -> None:
    """A day that has happened (``what``: e.g. 'the person left') is not after today."""
    today = local_date(now)
    if day > today:
        raise InvalidInput(
            f"{field}: {day} is in the future; give the day {what} (today {today} or earlier)"
        )


def check_arrival(arrival_on: date, departure_on: date | None) -> None:
    """Arrival is on or after departure."""
    if departure_on is not None and arrival_on < departure_on:
        raise InvalidInput(
            f"arrival_on: {arrival_on} is before the departure on {departure_on}; "
            "give the day the person arrived (on or after the departure)"
        )
