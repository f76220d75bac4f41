"""``homeward.base.faults.crash_point``: parsing, the Nth visit, the setting read once, and the
named
points in the real code: the process dies there and what it committed (or not) is as promised."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime

import pytest
from sqlmodel import select

from homeward.base import faults
from homeward.base.clock import SimulatedClock
from homeward.base.db import read_session, write_session
from homeward.base.models import OutboxMessage, OutboxStatus, ReminderRun
from homeward.base.settings import get_settings
from homeward.edges.cli.common import state
from homeward.edges.cli.mail import mail_send
from notifications.outbox import enqueue
from notifications.samples import sample_context
from notifications.sender import drain
from notifications.sink import LocalSmtpServer
from tests import factories as f
from tests.faults.chaos import ROOT, mail_env
from tests.notifications.smtp_server import ScriptedHandler

KILLED = -signal.SIGKILL
VISITS = "from homeward.base.faults import crash_point\nfor i in range(5):\n{body}"


def _python(code: str, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    if crash_at is not None:
        env[faults.ENV] = crash_at
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_parse_reads_names_and_visit_numbers():
    assert faults.parse("") == {}
    assert faults.parse("a, b:3,") == {"a": 1, "b": 3}
    for bad in ("a:0", ":2", "a:x"):
        with pytest.raises(ValueError):
            faults.parse(bad)


def test_an_unnamed_point_costs_nothing_and_does_nothing(monkeypatch):
    monkeypatch.delenv(faults.ENV, raising=False)
    faults.reset()
    for _ in range(3):
        faults.crash_point("after-commit-before-mail")
    faults.reset()


@pytest.mark.parametrize(
    ("crash_at", "code", "printed"),
    [
        ("x", None, "0 "),  # the first visit
        ("x:3", None, "0 1 2 "),  # the third visit
        ("y:1,x:2", None, "0 "),  # several points
        ("other", 0, "0 1 2 3 4 "),  # not this point
        ("x:9", 0, "0 1 2 3 4 "),  # never that many visits
    ],
)
def test_the_process_kills_itself_at_the_named_visit(crash_at, code, printed):
    body = "    print(i, end=' ', flush=True)\n    crash_point('x')\n    crash_point('y')\n"
    done = _python(VISITS.format(body=body), crash_at)
    assert done.returncode == (KILLED if code is None else code), done.stderr
    assert done.stdout == printed


def test_a_held_point_hangs_the_process_alive_at_the_named_visit():
    """``HOMEWARD_HOLD_AT``: the process stays there, alive (the scale-out test kills it)."""
    body = "    print(i, end=' ', flush=True)\n    crash_point('x')\n"
    env = {k: v for k, v in os.environ.items() if k not in (faults.ENV, faults.HOLD_ENV)}
    held = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", VISITS.format(body=body)],
        env=env | {faults.HOLD_ENV: "x:2"},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    # The hold is judged from the second visit on: the 3 s start only once the process has
    # printed what comes before it. Timed from the start, they also held the interpreter's
    # start-up, which on a loaded machine took longer, and the process was killed before
    # printing "1 ". A stuck start is ended by the timer (the read then ends short).
    stuck = threading.Timer(120, held.kill)
    stuck.start()
    try:
        assert held.stdout is not None
        before = held.stdout.read(len("0 1 "))
        with pytest.raises(subprocess.TimeoutExpired):
            held.wait(timeout=3)  # the rest of the loop is microseconds: it would have ended
    finally:
        stuck.cancel()
        held.kill()
    out, _ = held.communicate()
    assert before + out == "0 1 "


def test_the_setting_is_read_once_per_process():
    code = (
        "import os\nfrom homeward.base.faults import crash_point\ncrash_point('z')\n"
        "os.environ['HOMEWARD_CRASH_AT'] = 'z'\ncrash_point('z')\nprint('alive')\n"
    )
    done = _python(code, None)
    assert done.returncode == 0 and done.stdout == "alive\n"


def _sweep(moment: str, port: int, crash_at: str | None) -> int:
    env = {**os.environ, **mail_env(port)}
    env.pop(faults.ENV, None)
    if crash_at:
        env[faults.ENV] = crash_at
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "tests.faults.sweeper", "--at", moment],
        env=env,
        cwd=ROOT,
        capture_output=True,
        check=False,
    ).returncode


def _sweep_here(moment: datetime, port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same command, in this process and without a crash point."""
    for name, value in mail_env(port).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    monkeypatch.setattr(state, "clock", SimulatedClock(moment))
    mail_send(limit=None)


def _outbox() -> list[OutboxMessage]:
    with read_session() as s:
        return list(s.exec(select(OutboxMessage)))


def _runs() -> int:
    with read_session() as s:
        return len(list(s.exec(select(ReminderRun))))


@pytest.fixture
def due(db_url, clock):
    """Cases whose items are overdue: the day's sweep has emails to queue."""
    f.seed()
    for _ in range(2):
        f.open_case(clock, share=False)
    clock.advance(days=9)
    handler = ScriptedHandler()
    with LocalSmtpServer(handler) as server:
        yield clock, handler, server.port


def test_after_commit_before_mail_keeps_the_queued_mail_for_the_next_run(due, monkeypatch):
    clock, sink, port = due
    assert _sweep(clock.now().isoformat(), port, "after-commit-before-mail") == KILLED
    rows = _outbox()
    assert rows and {r.status for r in rows} == {OutboxStatus.QUEUED} and sink.received == []
    assert _runs() == 1  # the day's run was committed before the crash
    clock.advance(hours=1)
    _sweep_here(clock.now(), port, monkeypatch)
    assert {r.status for r in _outbox()} == {OutboxStatus.SENT}
    assert sink.message_ids() == Counter({r.message_id: 1 for r in rows})


def test_smtp_accepted_before_mark_resends_with_the_same_message_id(due, monkeypatch):
    clock, sink, port = due
    assert _sweep(clock.now().isoformat(), port, "smtp-accepted-before-mark") == KILLED
    rows = _outbox()
    assert {r.status for r in rows} == {OutboxStatus.SENDING}  # leased, not marked
    assert sink.message_ids() == Counter({r.message_id: 1 for r in rows})
    clock.advance(hours=1)  # past the lease
    _sweep_here(clock.now(), port, monkeypatch)
    assert {r.status for r in _outbox()} == {OutboxStatus.SENT}
    assert sink.message_ids() == Counter({r.message_id: 2 for r in rows})  # at least once


def test_sweep_mid_rolls_the_whole_run_back(due, monkeypatch):
    clock, sink, port = due
    assert _sweep(clock.now().isoformat(), port, "sweep-mid:2") == KILLED
    assert _outbox() == [] and _runs() == 0 and sink.received == []
    _sweep_here(clock.now(), port, monkeypatch)
    rows = _outbox()
    assert rows and _runs() == 1
    assert sink.message_ids() == Counter({r.message_id: 1 for r in rows})


DRAIN = (
    "import asyncio, sys\nfrom datetime import datetime\n"
    "from homeward.base.clock import SimulatedClock\nfrom notifications.sender import drain\n"
    "clock = SimulatedClock(datetime.fromisoformat(sys.argv[1]))\n"
    "asyncio.run(drain(clock=clock, batch_size=16))\n"
)


def test_a_crash_with_a_batch_recorded_behind_and_one_claimed_ahead_loses_nothing(
    db_url, clock, monkeypatch
):
    """Killed as the second of three batches (2, 4 and 2 messages: they grow) is accepted: the
    first was recorded meanwhile, the third claimed; after the lease the second goes again
    (same Message-IDs), the others once."""
    with write_session() as s:
        for n in range(8):
            context = sample_context("test", "en", clock.now().date())
            enqueue(
                s,
                key=f"crash:{n}",
                template="test",
                to=[f"p{n}@adpare.example.org"],
                language="en",
                context=context,
                now=clock.now(),
            )
    handler = ScriptedHandler()
    with LocalSmtpServer(handler) as server:
        env = {**os.environ, **mail_env(server.port), faults.ENV: "smtp-accepted-before-mark:2"}
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-c", DRAIN, clock.now().isoformat()],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == KILLED, done.stderr[-2000:]
        by_id = sorted(_outbox(), key=lambda r: r.id or 0)
        assert [r.status for r in by_id] == [OutboxStatus.SENT] * 2 + [OutboxStatus.SENDING] * 6
        first = Counter({r.message_id: 1 for r in by_id[:6]})
        assert handler.message_ids() == first  # the third batch was claimed, never sent
        clock.advance(hours=1)  # past the lease
        for name, value in mail_env(server.port).items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        assert asyncio.run(drain(clock=clock, batch_size=16)).sent == 6
    assert {r.status for r in _outbox()} == {OutboxStatus.SENT}
    again = Counter({r.message_id: 1 for r in by_id[2:]})  # the second batch twice
    assert handler.message_ids() == first + again
