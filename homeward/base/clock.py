"""Time source. Everything takes a clock so the demo and tests can run on simulated time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from homeward.base.settings import get_settings


class Clock(Protocol):
    """Something that tells the current aware UTC time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class SimulatedClock:
    """A clock that only moves when told to (used by ``homeward demo`` and tests)."""

    current: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        """Move forward by a ``timedelta(**delta)`` and return the new time."""
        self.current += timedelta(**delta)
        return self.current


def utc(value: datetime) -> datetime:
    """Return ``value`` as aware UTC; naive values (as SQLite returns them) are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def moment_key(value: datetime) -> object:
    """What tells two aware datetimes' instants apart, for a cache of their texts in UTC.
    ``==`` does not: in one zone it compares wall times and ignores ``fold``, so the two
    instants of a wall time repeated when clocks go back are equal (and hash alike)."""
    return value if value.tzinfo is UTC else (value, value.utcoffset())


def local_date(moment: datetime) -> date:
    """The calendar day ``moment`` falls on in ``HOMEWARD_TIMEZONE``: the day users mean.

    Between local midnight and UTC midnight (22:00-24:00 UTC in Bucharest) it is the day after
    ``moment.date()``; every "today" the engine records or checks is this one.
    """
    return utc(moment).astimezone(get_settings().tz).date()


def local_noon(day: date) -> datetime:
    """Noon of ``day`` in ``HOMEWARD_TIMEZONE``: where a due date given as a day is anchored."""
    return datetime.combine(day, time(12, 0), tzinfo=get_settings().tz)


def start_of_day(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar-month arithmetic, clamping to the month's last day (31 Jan + 1 month = 28 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


SYSTEM_CLOCK: Clock = SystemClock()
