"""The chaos controller and the checks afterwards, shared by the small and the full crash test.

``run_chaos`` opens cases, starts driver processes (``tests.faults.driver``) and a sweeper
(``tests.faults.sweeper``) against a real SMTP sink, SIGKILLs random ones at random moments
and restarts them (some restarted with ``HOMEWARD_CRASH_AT`` set to a named point, where they
kill themselves), lets the drivers finish, runs a clean sweep and a final drain, then checks
that nothing acknowledged was lost and that the database holds no impossible state.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from homeward.base import settings as homeward_settings
from homeward.base.clock import SimulatedClock
from homeward.base.models import (
    Case,
    CaseEvent,
    ChecklistItem,
    ItemStatus,
    OutboxMessage,
    OutboxStatus,
    Reminder,
)
from homeward.records import auditlog
from notifications.sender import drain
from statemachines.return_case import STAGES, phase_moves
from tests import factories as f
from tests.notifications.conftest import ANY_HOUR
from tests.notifications.smtp_server import ScriptedHandler

ROOT = Path(__file__).resolve().parents[2]
# In this order: the sweep needs open items (early), a crash after the commit leaves mail
# queued, which the next run's drain has accepted when it dies before marking it sent.
SWEEPER_POINTS = ("sweep-mid", "after-commit-before-mail", "smtp-accepted-before-mark")
SWEEPER_GRACE_SECONDS = 60.0  # after the drivers: time for the sweeper to reach its points
INTERRUPTED = {"suspended", "lost_contact"}
FINAL_DRAIN_AT = datetime(2027, 6, 1, 10, 0, tzinfo=UTC)  # past every lease and backoff


def mail_env(port: int) -> dict[str, str]:
    """Settings that send through the local sink and run the reminders and send mail at any
    hour of any day."""
    return {
        "HOMEWARD_SMTP_HOST": "127.0.0.1",
        "HOMEWARD_SMTP_PORT": str(port),
        "HOMEWARD_SMTP_TLS": "none",
        "HOMEWARD_SMTP_TIMEOUT_SECONDS": "5",
        "HOMEWARD_MAIL_FROM": "Homeward <no-reply@homeward.example.org>",
        "HOMEWARD_MAIL_DIGEST_HOUR": "0",
        # Mail goes whatever the wall clock's day and hour (quiet hours: tests/notifications).
        **ANY_HOUR,
    }


@dataclass
class Proc:
    """A driver or the sweeper, restarted under the same name after every death."""

    name: str
    module: str
    args: list[str]
    log: IO[bytes]
    popen: subprocess.Popen[bytes] | None = None
    crash_at: str | None = None
    finished: bool = False

    def start(self, env: dict[str, str], crash_at: str | None = None) -> None:
        self.crash_at = crash_at
        run_env = {**env, **({"HOMEWARD_CRASH_AT": crash_at} if crash_at else {})}
        self.popen = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", self.module, *self.args],
            cwd=ROOT,
            env=run_env,
            stdout=self.log,
            stderr=self.log,
        )

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Figures:
    """What a chaos run did and found."""

    cases: int = 0
    drivers: int = 0
    transitions_acked: int = 0
    items_acked: int = 0
    random_kills: int = 0
    named_crashes: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    emails: int = 0
    duplicates: int = 0
    transient: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        named = ", ".join(f"{k} x{v}" for k, v in sorted(self.named_crashes.items())) or "none"
        return (
            f"{self.cases} cases, {self.drivers} drivers, {self.transitions_acked} transitions "
            f"and {self.items_acked} item steps acknowledged, {self.random_kills} random "
            f"SIGKILLs, named crashes: {named}, {self.restarts} restarts, {self.emails} "
            f"emails ({self.duplicates} duplicate deliveries), transactions refused whole and "
            f"retried: {dict(self.transient) or 'none'}, {self.seconds:.1f} s"
        )


def open_cases(count: int) -> list[str]:
    """Seed the organisations and open ``count`` adult cases (no sharing consents needed)."""
    clock = SimulatedClock()
    f.seed()
    return [f.open_case(clock, share=False) for _ in range(count)]


def _base_env(port: int) -> dict[str, str]:
    env = {**os.environ, **mail_env(port), "PYTHONUNBUFFERED": "1"}
    env.pop("HOMEWARD_CRASH_AT", None)
    return env


def run_chaos(
    workdir: Path,
    *,
    cases: int,
    drivers: int,
    kills: int,
    seed: int,
    sink: ScriptedHandler,
    port: int,
    engine: Engine,
    pace: float = 0.3,
    sweep_pause: float = 0.3,
    deadline_seconds: float = 1800,
) -> Figures:
    """The whole run; returns the figures, with ``problems`` listing every broken promise."""
    rng, figures = random.Random(seed), Figures(cases=cases, drivers=drivers)
    started = time.monotonic()
    refs = open_cases(cases)
    env = _base_env(port)
    procs = _driver_procs(workdir, refs, drivers, seed)
    sweeper = Proc(
        "sweeper",
        "tests.faults.sweeper",
        ["--rounds", "100000", "--pause", str(sweep_pause)]
        + ["--transient", str(workdir / "sweeper.transient")],
        (workdir / "sweeper.log").open("ab"),
    )
    sweeper_points = itertools.cycle([*SWEEPER_POINTS, None])

    def sweeper_point() -> str | None:
        point = next(sweeper_points)
        return f"sweep-mid:{rng.randint(1, 40)}" if point == "sweep-mid" else point

    for proc in procs:
        proc.start(env)
    sweeper.start(env, sweeper_point())
    everyone = [*procs, sweeper]

    def restart(proc: Proc) -> None:
        figures.restarts += 1
        if proc is sweeper:
            proc.start(env, sweeper_point())
        else:
            proc.start(
                env, f"driver-after-commit:{rng.randint(1, 40)}" if rng.random() < 0.3 else None
            )

    def tend() -> None:
        for proc in everyone:
            if proc.finished or proc.popen is None or proc.alive:
                continue
            code = proc.popen.returncode
            if code == 0 and proc is not sweeper:
                proc.finished = True
            elif code == -signal.SIGKILL and proc.crash_at:
                figures.named_crashes[proc.crash_at.split(":")[0]] += 1
                restart(proc)
            else:
                raise AssertionError(f"{proc.name} exited {code}; see {workdir}/{proc.name}.log")

    while figures.random_kills < kills and not all(p.finished for p in procs):
        _sleep(rng.uniform(0.02, 1.0) * pace, tend)
        victims = [p for p in everyone if p.alive and not (p is sweeper and p.crash_at)]
        if not victims:
            continue
        victim = rng.choice(victims)
        assert victim.popen is not None
        victim.popen.send_signal(signal.SIGKILL)
        victim.popen.wait()
        figures.random_kills += 1
        restart(victim)
    while not all(p.finished for p in procs):
        if time.monotonic() - started > deadline_seconds:
            raise AssertionError(f"drivers did not finish in {deadline_seconds} s")
        _sleep(0.1, tend)
    grace = time.monotonic() + SWEEPER_GRACE_SECONDS
    while sweeper.crash_at and time.monotonic() < grace:
        _sleep(0.1, tend)  # let it reach the point it was started with
    if sweeper.alive:
        assert sweeper.popen is not None
        sweeper.popen.send_signal(signal.SIGKILL)
        sweeper.popen.wait()
    final = Proc("sweeper-final", "tests.faults.sweeper", ["--rounds", "1"], sweeper.log)
    final.start(env)
    assert final.popen is not None and final.popen.wait() == 0, "the clean sweep failed"
    _final_drain(port)
    figures.seconds = time.monotonic() - started
    acks = read_acks(workdir)
    for path in workdir.glob("*.transient"):
        figures.transient.update(path.read_text().splitlines())
    figures.transitions_acked = sum(1 for a in acks if a["trigger"] != "item_done")
    figures.items_acked = sum(1 for a in acks if a["trigger"] == "item_done")
    figures.problems += check_acknowledged(engine, acks)
    figures.problems += check_states(engine, refs)
    figures.problems += check_outbox(engine, sink, figures)
    figures.problems += check_storage(engine)
    for proc in everyone:
        proc.log.close()
    return figures


def _driver_procs(workdir: Path, refs: list[str], drivers: int, seed: int) -> list[Proc]:
    """Driver i holds every drivers-th case, and a fifth of its neighbour's (so two drivers
    race on some cases)."""
    procs = []
    for i in range(drivers):
        own = refs[i::drivers]
        neighbour = refs[(i + 1) % drivers :: drivers][: max(1, len(own) // 5)]
        held = list(dict.fromkeys([*own, *neighbour])) if drivers > 1 else own
        refs_file = workdir / f"driver-{i}.refs"
        refs_file.write_text("\n".join(held) + "\n", encoding="utf-8")
        args = [
            "--refs",
            str(refs_file),
            "--ack",
            str(workdir / f"driver-{i}.ack"),
            "--plan-seed",
            str(seed),
            "--seed",
            str(seed * 100 + i),
        ]
        log = (workdir / f"driver-{i}.log").open("ab")
        procs.append(Proc(f"driver-{i}", "tests.faults.driver", args, log))
    return procs


def _sleep(seconds: float, tend: Any) -> None:
    end = time.monotonic() + seconds
    while True:
        tend()
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.05))


def _final_drain(port: int) -> None:
    previous = {k: os.environ.get(k) for k in mail_env(port)}
    os.environ.update(mail_env(port))
    homeward_settings.get_settings.cache_clear()
    try:
        asyncio.run(drain(clock=SimulatedClock(FINAL_DRAIN_AT)))
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        homeward_settings.get_settings.cache_clear()


def read_acks(workdir: Path) -> list[dict[str, Any]]:
    """Every acknowledgement line; a torn last line (killed mid-write) is not an ack."""
    acks = []
    for path in sorted(workdir.glob("driver-*.ack")):
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.endswith("\n"):
                acks.append({**json.loads(line), "source": path.stem})
    return acks


def _transitions(session: Session, case: Case) -> list[CaseEvent]:
    query = (
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id, col(CaseEvent.to_state).is_not(None))
        .order_by(col(CaseEvent.id))
    )
    return list(session.exec(query))


def check_acknowledged(engine: Engine, acks: list[dict[str, Any]]) -> list[str]:
    """Every acknowledged step is in the database: each case's acknowledged transitions, in
    version order, are its transition events in that order (a subsequence: a step committed
    but killed before its acknowledgement is allowed); no version acknowledged twice; every
    acknowledged item is done (or cancelled by a later closure) with its event.

    ``Case.version`` counts flushes of the case row, not transitions (``record_consent``,
    ``close`` and ``withdraw_consent`` flush it twice), so events are matched by order."""
    problems = []
    by_case: dict[str, list[dict[str, Any]]] = {}
    for ack in acks:
        by_case.setdefault(ack["ref"], []).append(ack)
    with Session(engine) as s:
        cases = {c.case_ref: c for c in s.exec(select(Case))}
        for ref, case_acks in sorted(by_case.items()):
            case = cases.get(ref)
            if case is None:
                problems.append(f"{ref}: acknowledged but missing")
                continue
            for source in {a["source"] for a in case_acks}:
                seen = [a["version"] for a in case_acks if a["source"] == source]
                if seen != sorted(seen):
                    problems.append(f"{ref}: {source} saw versions go back: {seen}")
            moves = sorted((a for a in case_acks if a["trigger"] != "item_done"), key=_version)
            versions = Counter(a["version"] for a in moves)
            problems += [
                f"{ref}: version {v} acknowledged x{n}" for v, n in versions.items() if n > 1
            ]
            if case_acks and case.version < max(a["version"] for a in case_acks):
                problems.append(f"{ref}: at version {case.version}, below an acknowledgement")
            history = [(e.trigger, e.to_state) for e in _transitions(s, case)[1:]]
            position = 0
            for ack in moves:
                wanted = (ack["trigger"], ack["to_state"])
                while position < len(history) and history[position] != wanted:
                    position += 1
                if position == len(history):
                    problems.append(f"{ref}: acknowledged {wanted} v{ack['version']} is lost")
                    break
                position += 1
            done = {
                e.data.get("item_id")
                for e in s.exec(
                    select(CaseEvent).where(
                        CaseEvent.case_id == case.id, CaseEvent.trigger == "item_done"
                    )
                )
            }
            for ack in (a for a in case_acks if a["trigger"] == "item_done"):
                item = s.get(ChecklistItem, ack["item_id"])
                if item is None or item.status != ItemStatus.DONE:
                    problems.append(f"{ref}: acknowledged item #{ack['item_id']} is not done")
                if ack["item_id"] not in done:
                    problems.append(f"{ref}: acknowledged item #{ack['item_id']} has no event")
    return problems


def _version(ack: dict[str, Any]) -> int:
    return int(ack["version"])


LEGAL = phase_moves()


def check_states(engine: Engine, refs: list[str]) -> list[str]:
    """No impossible state: stage = the last transition's target, a contiguous legal chain,
    version = number of transitions, no open blocking work of a stage the case has left
    (except the stage an interrupted case returns to), closure facts on closed cases only."""
    problems: list[str] = []
    with Session(engine) as s:
        for case in s.exec(select(Case).where(col(Case.case_ref).in_(refs))):
            ref, history = case.case_ref, _transitions(s, case)
            bad = problems.append
            if not history or history[0].trigger != "open":
                bad(f"{ref}: history does not start with open")
                continue
            if history[-1].to_state != case.phase:
                bad(f"{ref}: in {case.phase} but last event says {history[-1].to_state}")
            if case.version < len(history):
                bad(f"{ref}: version {case.version} below its {len(history)} transitions")
            for before, event in zip(history, history[1:], strict=False):
                if event.from_state != before.to_state:
                    bad(
                        f"{ref}: event #{event.id} leaves {event.from_state}, not {before.to_state}"
                    )
                if (event.trigger, event.from_state, event.to_state) not in LEGAL:
                    bad(f"{ref}: {event.trigger} {event.from_state}->{event.to_state} is illegal")
            if case.status != "closed":
                bad(f"{ref}: ended {case.status}, not closed")
            if (case.status == "closed") != (case.closed_at is not None):
                bad(f"{ref}: {case.status} with closed_at {case.closed_at}")
            if case.state not in STAGES:
                bad(f"{ref}: {case.state} is not a stage to return to")
            open_items = s.exec(
                select(ChecklistItem).where(
                    ChecklistItem.case_id == case.id, ChecklistItem.status == ItemStatus.OPEN
                )
            )
            for item in open_items:
                if case.status in ("closed", "consent_withdrawn") and item.stage != case.phase:
                    bad(f"{ref}: item #{item.id} of {item.stage} open in {case.phase}")
                elif item.blocking and item.stage not in (case.state, *INTERRUPTED):
                    bad(f"{ref}: blocking item #{item.id} of {item.stage} open in {case.phase}")
    return problems


def check_outbox(engine: Engine, sink: ScriptedHandler, figures: Figures) -> list[str]:
    """One row per key and per Message-ID, each reminder fired once, and every row sent and
    received at least once (duplicates are counted, not failed: at-least-once, same id)."""
    problems = []
    with Session(engine) as s:
        rows = list(s.exec(select(OutboxMessage)))
        fired = Counter((r.item_id, r.rule, r.due_on) for r in s.exec(select(Reminder)))
    keys = Counter(r.key for r in rows)
    ids = Counter(r.message_id for r in rows)
    problems += [f"outbox key {k} x{n}" for k, n in keys.items() if n > 1]
    problems += [f"Message-ID {m} x{n}" for m, n in ids.items() if n > 1]
    problems += [f"reminder {k} fired x{n}" for k, n in fired.items() if n > 1]
    logical: dict[tuple[object, ...], list[str]] = {}
    for row in rows:
        logical.setdefault(_logical(row), []).append(row.key)
    twice = {k: sorted(v) for k, v in logical.items() if len(v) > 1}
    problems += [f"one fact queued twice: {k} as {keys}" for k, keys in twice.items()]
    arrived = sink.message_ids()
    for row in rows:
        if row.status != OutboxStatus.SENT:
            problems.append(f"outbox #{row.id} ({row.template}) is {row.status}: {row.last_error}")
        if arrived[row.message_id] == 0:
            problems.append(f"outbox #{row.id} ({row.template}) never arrived")
    strangers = set(arrived) - set(ids)
    problems += [f"{m} arrived but is not in the outbox" for m in sorted(strangers)]
    figures.emails = len(rows)
    figures.duplicates = sum(n - 1 for n in arrived.values() if n > 1)
    return problems


def _logical(row: OutboxMessage) -> tuple[object, ...]:
    """What a row is about, read from its content rather than its key: a digest and an
    escalation digest are one per recipient and day, a notice one per event, organisation
    group and language (its key names them)."""
    if row.template in ("digest", "escalation"):
        return (row.template, tuple(row.to_addrs), row.context.get("day"))
    return (row.template, row.key)


def check_storage(engine: Engine) -> list[str]:
    """SQLite's own integrity and foreign-key checks; the audit chain on either backend."""
    problems = []
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            verdict = conn.execute(text("PRAGMA integrity_check")).scalar()
            if verdict != "ok":
                problems.append(f"integrity_check: {verdict}")
            orphans = conn.execute(text("PRAGMA foreign_key_check")).fetchall()
            problems += [f"foreign key: {row}" for row in orphans]
    with Session(engine) as s:
        chain = auditlog.verify(s)
        if not chain.ok:
            problems.append(f"audit chain: {chain.problem}")
    return problems
