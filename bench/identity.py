"""What proving who acts costs: a sign-in, and one command through the commands runner.

    .venv/bin/python bench/identity.py              # 200 runs of each, SQLite
    .venv/bin/python bench/identity.py --runs 20    # a quick look

On a fresh SQLite file (WAL, ``synchronous=FULL``, as shipped) with its own keyring, in one
process, each measurement repeated ``--runs`` times; p50 and p99 in milliseconds:

1. **sign-in**: ``homeward login`` minus the mail: ``commands.signin.request_code`` (the hourly
   limit, a code, its keyed hash, the outbox row, audit lines: one write transaction) then
   ``sign_in`` with that code (one more: the try, the session, an audit line). The code is read
   from the queued outbox row, where the sender would take it; no SMTP.
2. **read command**: ``WhoAmI`` through ``commands.runner.run`` (keyring, schema check, the
   session proven, a read transaction), against the same ``execute`` in a bare read session
   with the principal already known.
3. **write command**: ``IssueAssertion`` (one ``run_grant`` row) through ``run`` (as above, plus
   the audit line, in a write transaction), against the same ``execute`` in a bare write session.

It prints a table and writes it into ``--out`` (default ``bench/RESULTS.md``) between
``<!-- identity:start -->`` and ``<!-- identity:end -->``, leaving the rest of the file as it is.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sections import put_section, taken

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- identity:start -->", "<!-- identity:end -->"
EMAIL = "ana@iom-it.example.org"


def timed(work: Callable[[], object], runs: int) -> list[float]:
    """Milliseconds per call of ``work``, ``runs`` times, after one untimed warm-up call."""
    work()
    spent = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        spent.append((time.perf_counter() - started) * 1000)
    return spent


def percentiles(spent: list[float]) -> str:
    ordered = sorted(spent)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.2f} ms, p99 {p99:.2f} ms"


def setup(folder: Path) -> None:
    """A fresh database, keyring and staff member; the environment points at them."""
    os.environ["HOMEWARD_DATABASE_URL"] = f"sqlite:///{folder / 'homeward.db'}"
    os.environ["HOMEWARD_KEY_FILE"] = str(folder / "keys.json")
    os.environ["HOMEWARD_SESSION_FILE"] = str(folder / "session")
    sys.path.insert(0, str(ROOT))
    from homeward.base.db import write_session
    from homeward.base.migrate import upgrade
    from homeward.crypt.keys import init_keyring
    from homeward.records.directory import OrganisationIn, StaffIn, add_org, add_staff, validate

    init_keyring(folder / "keys.json")
    upgrade()
    with write_session() as session:
        org = validate(
            OrganisationIn, slug="iom-it", name="IOM Italy", kind="iom_mission", country="IT"
        )
        add_org(session=session, org_in=org)
        staff = validate(StaffIn, org="iom-it", name="Ana Pop", email=EMAIL, role="coordinator")
        add_staff(session=session, staff_in=staff)


def sign_in_once(clock: Any) -> str:
    """A sign-in 13 minutes after the last (within the hourly limit on codes, as a person)."""
    clock.advance(minutes=13)
    return sign_in(clock)


def sign_in(clock: Any) -> str:
    """``homeward login`` without the mail: ask for a code, read it off the outbox, redeem."""
    from sqlmodel import col, select

    from homeward.base.db import read_session
    from homeward.base.models import OutboxMessage
    from homeward.commands import signin

    requested = signin.request_code(EMAIL, clock=clock)
    with read_session() as session:
        row = session.exec(
            select(OutboxMessage).where(col(OutboxMessage.key) == requested.mail_key)
        ).one()
    return signin.sign_in(EMAIL, row.context["code"], clock=clock).token


def measure(runs: int) -> list[tuple[str, str]]:
    from homeward.base.clock import SimulatedClock
    from homeward.base.db import read_session, write_session
    from homeward.base.models import StaffMember
    from homeward.commands.runner import Context, run
    from homeward.commands.signin import IssueAssertion, WhoAmI
    from homeward.protection.identity import SessionToken, prove

    clock = SimulatedClock(datetime(2026, 6, 15, 9, tzinfo=UTC))
    rows = [
        (
            "sign-in: request a code, then redeem it (no SMTP)",
            timed(lambda: sign_in_once(clock), runs),
        )
    ]
    credential = SessionToken(sign_in_once(clock))
    with read_session() as session:
        principal = prove(session, credential, clock.now())
        actor = session.get(StaffMember, principal.staff_id)

    def bare(command: Any, opener: Callable[[], Any]) -> Callable[[], object]:
        def call() -> object:
            with opener() as session:
                return command.execute(Context(session, principal, actor, clock.now()))

        return call

    read, write = WhoAmI(), IssueAssertion("advance-case")
    rows += [
        (
            "read command (whoami) through the runner",
            timed(lambda: run(read, credential, clock=clock), runs),
        ),
        ("- the same, bare: execute() in a read session", timed(bare(read, read_session), runs)),
        (
            "write command (assertion: one row) through the runner",
            timed(lambda: run(write, credential, clock=clock), runs),
        ),
        ("- the same, bare: execute() in a write session", timed(bare(write, write_session), runs)),
    ]
    return [(name, percentiles(spent)) for name, spent in rows]


def write_section(out: Path, runs: int, results: list[tuple[str, str]]) -> list[str]:
    """The table, also written into ``out`` between the markers (the rest is kept)."""
    import sqlite3

    rows = ["| measurement | backend | result |", "|---|---|---|"]
    rows += [f"| {name}, {runs} runs | sqlite | {result} |" for name, result in results]
    how = f"{taken(f'bench/identity.py --runs {runs}')}, SQLite {sqlite3.sqlite_version}."
    put_section(out, START, END, "Signing in and the commands runner", how, rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="homeward-bench-identity-") as name:
        setup(Path(name))
        results = measure(args.runs)
    rows = write_section(args.out, args.runs, results)
    print("\n".join(rows))  # noqa: T201
    print(f"written to {args.out}")  # noqa: T201


if __name__ == "__main__":
    main()
