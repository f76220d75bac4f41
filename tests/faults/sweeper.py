"""A chaos sweeper: ``homeward mail send`` round after round, one simulated day per round.

Run as ``python -m tests.faults.sweeper --rounds N --pause SECONDS`` from the repository root
with the tests' environment (database, keyring, ``HOMEWARD_SMTP_*`` pointing at the sink,
``HOMEWARD_MAIL_DIGEST_HOUR=0``). Each round calls the real command (queue the day's reminders
in one transaction, then drain the outbox); the day is the one after the last committed
``ReminderRun``, so a restarted sweeper goes on where the database says it stopped. The named
crash points (``HOMEWARD_CRASH_AT``) fire inside the command.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import OperationalError
from sqlmodel import func, select

import notifications  # noqa: F401
from homeward.base.clock import SimulatedClock
from homeward.base.db import read_session, system_scope
from homeward.base.models import ReminderRun
from homeward.edges.cli.common import state
from homeward.edges.cli.mail import mail_send
from tests.faults.driver import transient

FIRST_DAY = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # 12:00 in Bucharest: past the digest hour


def next_moment() -> datetime:
    """10:00 UTC on the day after the last reminder run (or the first day)."""
    with read_session() as s, system_scope(s):
        last = s.exec(select(func.max(ReminderRun.day))).one()
    if last is None:
        return FIRST_DAY
    return datetime(last.year, last.month, last.day, 10, 0, tzinfo=UTC) + timedelta(days=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between rounds")
    parser.add_argument("--at", help="ISO moment for a single round (default: the next day)")
    parser.add_argument("--transient", help="count refused transactions here, not failing")
    args = parser.parse_args(argv)
    for _ in range(args.rounds):
        moment = datetime.fromisoformat(args.at) if args.at else next_moment()
        state.clock = SimulatedClock(moment)
        try:
            mail_send(limit=None)
        except OperationalError as exc:
            kind = transient(exc)
            if kind is None or not args.transient:
                raise
            with open(args.transient, "a", encoding="utf-8") as handle:
                handle.write(f"{kind}\n")  # the day's run was rolled back whole; next round
        time.sleep(args.pause)
    return 0


if __name__ == "__main__":
    sys.exit(main())
