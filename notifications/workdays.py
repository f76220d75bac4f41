"""Working days and quiet hours of an organisation's staff, for mail that can wait.

An organisation's staff read mail in its own time zone, derived from its country (tzdata's
``zone.tab``: the country's zone, or for a country with several the capital's, in ``CAPITALS``).
Their quiet days are weekends (the country's own, from the ``holidays`` package: Friday and
Saturday in some) and public holidays, both the country's and those of
``HOMEWARD_MAIL_HOME_COUNTRY`` (Romania): a return is worked with Romanian partners, and
Romania's consulates abroad keep both calendars. Non-urgent mail goes on a working day between
``HOMEWARD_MAIL_MORNING_HOUR`` and ``HOMEWARD_MAIL_EVENING_HOUR``, local time; outside it, it
waits for the next working morning (``WorkCalendar.opening``).

A country the ``holidays`` package does not know has Saturday and Sunday off and no holidays of
its own (the home country's still count).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from homeward.base.clock import utc
from homeward.base.models import Organisation
from homeward.base.settings import get_settings

if TYPE_CHECKING:
    from holidays import HolidayBase

SATURDAY, SUNDAY = 5, 6
LONGEST_QUIET_RUN = 31  # days: no calendar has a longer run of quiet days than this

# Countries with several time zones: the one their capital (where missions and consulates
# sit) keeps. zone.tab lists another first for these.
CAPITALS = {
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
    "UZ": "Asia/Tashkent",
    "US": "America/New_York",
}


@cache
def _zones_by_country() -> dict[str, str]:
    """The first zone tzdata's ``zone.tab`` lists for each country."""
    text = (resources.files("tzdata.zoneinfo") / "zone.tab").read_text(encoding="utf-8")
    zones: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            country, _, zone, *_ = line.split("\t")
            zones.setdefault(country, zone)
    return zones


def zone_of_country(country: str) -> ZoneInfo:
    """The time zone an organisation in ``country`` keeps (``HOMEWARD_TIMEZONE`` if none is
    known: an uninhabited territory)."""
    name = CAPITALS.get(country) or _zones_by_country().get(country)
    return ZoneInfo(name) if name else get_settings().tz


@cache
def _public_holidays(country: str) -> HolidayBase | None:
    """The country's public holidays (years filled in as they are asked; names in English,
    for operators, where the package has them), or None if it does not know the country.

    ``holidays`` is imported here, on first use: it takes a good part of a second, which every
    CLI command would otherwise pay."""
    import holidays

    try:
        found = holidays.country_holidays(country)
    except NotImplementedError:
        return None
    english = "en_US" in found.supported_languages
    return holidays.country_holidays(country, language="en_US") if english else found


@dataclass(frozen=True)
class WorkCalendar:
    """When an organisation's staff work: its time zone, weekend and holidays."""

    country: str
    zone: ZoneInfo

    def weekend(self) -> frozenset[int]:
        """The weekdays off (Monday 0): the country's, else Saturday and Sunday."""
        own = _public_holidays(self.country)
        return frozenset(own.weekend) if own is not None else frozenset({SATURDAY, SUNDAY})

    def holiday(self, day: date) -> str | None:
        """The public holiday on ``day`` (the country's or the home country's), or None."""
        for country in dict.fromkeys((self.country, get_settings().mail_home_country)):
            found = _public_holidays(country)
            if found is not None and day in found:
                return f"{found.get(day)} ({country})"
        return None

    def why_quiet(self, day: date) -> str | None:
        """Why ``day`` is quiet ("weekend", "holiday: NAME (CC)"), or None on a working day
        (every day is one when ``HOMEWARD_MAIL_QUIET_DAYS`` is false)."""
        if not get_settings().mail_quiet_days:
            return None
        if day.weekday() in self.weekend():
            return "weekend"
        name = self.holiday(day)
        return f"holiday: {name}" if name else None

    def quiet_reason(self, moment: datetime) -> str | None:
        """Why mail that can wait does not go at ``moment`` ("weekend", "holiday: ...",
        "before working hours", "after working hours"), or None: it goes."""
        settings, local = get_settings(), utc(moment).astimezone(self.zone)
        why = self.why_quiet(local.date())
        if why is None and local.hour < settings.mail_morning_hour:
            return "before working hours"
        if why is None and local.hour >= settings.mail_evening_hour:
            return "after working hours"
        return why

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is neither a weekend day nor a public holiday here."""
        return self.why_quiet(day) is None

    def next_working_day(self, after: date) -> date:
        """The first working day after ``after``."""
        for ahead in range(1, LONGEST_QUIET_RUN + 1):
            day = after + timedelta(days=ahead)
            if self.is_working_day(day):
                return day
        return after + timedelta(days=1)  # a calendar of holidays only: do not wait for ever

    def morning(self, day: date) -> datetime:
        """``HOMEWARD_MAIL_MORNING_HOUR`` of ``day`` in this zone, as UTC (DST-aware: the
        same local hour in summer and winter)."""
        local = datetime.combine(day, time(get_settings().mail_morning_hour), tzinfo=self.zone)
        return utc(local)

    def opening(self, moment: datetime) -> datetime:
        """The first moment at or after ``moment`` when non-urgent mail may go: ``moment``
        itself during working hours on a working day, else the next working morning."""
        local = utc(moment).astimezone(self.zone)
        day = local.date()
        if self.is_working_day(day) and local.hour < get_settings().mail_evening_hour:
            return max(utc(moment), self.morning(day))
        return self.morning(self.next_working_day(day))

    def local(self, moment: datetime) -> str:
        """``moment`` on this zone's clock, with the zone: "2026-01-12 08:00 Europe/Rome"."""
        return f"{utc(moment).astimezone(self.zone):%Y-%m-%d %H:%M} {self.zone.key}"


def home_calendar() -> WorkCalendar:
    """The calendar of mail with no organisation: the home country's, in HOMEWARD_TIMEZONE."""
    settings = get_settings()
    return WorkCalendar(settings.mail_home_country, settings.tz)


def calendar_of(country: str) -> WorkCalendar:
    """The calendar of an organisation in ``country``."""
    return WorkCalendar(country, zone_of_country(country))


class Calendars:
    """Organisations' calendars by id, read from the database once each."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._found: dict[int | None, WorkCalendar] = {None: home_calendar()}

    def of(self, org_id: int | None) -> WorkCalendar:
        """The calendar of organisation ``org_id`` (None, or an unknown id: the home one)."""
        if org_id not in self._found:
            self.load([org_id])
        return self._found.get(org_id) or self._found[None]

    def known(self, countries: Mapping[int, str]) -> None:
        """Take these organisations' countries (by id) as read already (a directory's)."""
        for org_id, country in countries.items():
            self._found.setdefault(org_id, calendar_of(country))

    def load(self, org_ids: list[int | None]) -> None:
        """Read the calendars of many organisations with one query."""
        wanted = sorted({i for i in org_ids if i is not None and i not in self._found})
        if not wanted:
            return
        query = select(Organisation.id, Organisation.country).where(
            col(Organisation.id).in_(wanted)
        )
        for org_id, country in self.session.exec(query):
            self._found[org_id] = calendar_of(country)
        for org_id in wanted:
            self._found.setdefault(org_id, self._found[None])
