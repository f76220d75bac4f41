"""Idempotency keys and the optimistic lock on cases, on a real database (both backends).

Retries: the same request twice, and a real ``homeward`` process SIGKILLed at random moments
and right after its commit, then retried with its key: exactly one case, item record, handoff,
event and queued email per key. Conflicts: a stale ``expected_version``, and (PostgreSQL, where
writers run side by side) two sessions that read the same version and both write.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, text
from sqlmodel import Session, col, select

import notifications  # noqa: F401  (subscribes the notices: a handoff queues an email)
from homeward.base.clock import SYSTEM_CLOCK, SimulatedClock
from homeward.base.db import get_engine, system_scope, write_session
from homeward.base.errors import Conflict, InvalidInput, Refused
from homeward.base.models import (
    Case,
    CaseEvent,
    ChecklistItem,
    Handoff,
    ItemStatus,
    OutboxMessage,
    RequestKey,
)
from homeward.records.idempotency import check_key, flow_key, given_key, once, step_key
from statemachines.cases import CaseIn, fire, get_case, start_case
from tasks import checklist, handoffs
from tests import factories as f
from tests.conftest import BACKEND
from tests.signin import token_for

PERSON = json.dumps({"given_name": "Zenobia", "family_name": "Canarycanary"})
pg_only = pytest.mark.skipif(
    BACKEND == "sqlite",
    reason="SQLite writers queue (BEGIN IMMEDIATE): two never hold the same read at once",
)


def _count(model: Any, *where: Any) -> int:
    with f.admin_read() as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())


def _open(key: str | None, clock: SimulatedClock, **case: Any) -> tuple[dict[str, Any], bool]:
    with write_session() as s:
        who = f.actor(s)
        case_in = CaseIn(participants={"ngo": "adpare"}, **case)

        def run() -> dict[str, Any]:
            opened = start_case(s, actor=who, case_in=case_in, person=None, now=clock.now())
            return {"case_ref": opened.case_ref, "case_id": opened.id, "state": opened.state}

        args = case_in.model_dump(mode="json")
        result, replayed = once(
            s, key=key, command="case start", actor=who, args=args, now=clock.now(), run=run
        )
        return dict(result), replayed


# --- keys -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["short", "x" * 101, "has space in it", "Zenobia Canary!", ""])
def test_a_key_of_the_wrong_shape_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_key(key)
    message = str(refused.value)
    assert message.startswith("--request-id:") and "\n" not in message
    assert not key or key not in message


def test_flow_keys_come_from_the_run_id_unless_one_is_given() -> None:
    run_id = "0b1f3c9e-8a55-4f0e-9d3a-3f2a1d7c6b10"
    assert flow_key(run_id, "start") == f"flow:{run_id}:start"
    assert flow_key(run_id, "start", "mine-12345") == "mine-12345"
    assert flow_key(None, "start") is None
    with pytest.raises(InvalidInput, match="^request_id:"):
        flow_key(run_id, "start", "bad key")


@pytest.mark.parametrize("key", ["flow:0b1f3c9e:advance:request", "FLOW:0b1f3c9e:start"])
def test_no_key_a_person_gives_takes_a_flow_runs_own_form(key: str) -> None:
    """A staff member who saw a run's id (in Prefect) cannot claim its key before the run does:
    the run, its fingerprint not theirs, would be refused as a conflict."""
    for refuse in (lambda: given_key(key), lambda: flow_key("a-run-id", "start", key)):
        with pytest.raises(InvalidInput, match="a flow run's own") as refused:
            refuse()
        assert "\n" not in str(refused.value)
    assert check_key(key) == key  # the flow's own, through the runner
    assert given_key("0b1f3c9e-mine") == "0b1f3c9e-mine"


def test_a_request_s_further_commands_get_keys_of_their_own_from_its_key() -> None:
    run_key = flow_key("0b1f3c9e-8a55-4f0e-9d3a-3f2a1d7c6b10", "advance")
    assert step_key(run_key, "request") == f"{run_key}:request"
    longest = "k" * 100  # a given request_id of the longest shape: its steps' keys still fit
    steps = {step_key(longest, step) for step in ("request", "reject", "expire")}
    assert len(steps) == 3 and all(check_key(k) == k for k in steps)
    assert step_key(None, "request") is None


def test_the_same_key_twice_opens_one_case_and_returns_it_again(db_url, clock) -> None:
    f.seed()
    first, replayed_first = _open("retry-0001", clock)
    second, replayed_second = _open("retry-0001", clock)

    assert (replayed_first, replayed_second) == (False, True)
    assert second == first
    assert _count(Case) == 1
    assert _count(CaseEvent, CaseEvent.trigger == "open") == 1
    with f.admin_read() as s:
        row = s.exec(select(RequestKey)).one()
    assert row.case_id == first["case_id"] and row.command == "case start"
    assert set(row.result) == {"case_ref", "case_id", "state"}  # codes and ids, nothing else
    other, _ = _open("retry-0002", clock)
    assert other["case_ref"] != first["case_ref"] and _count(Case) == 2


def test_a_key_reused_for_another_request_is_a_conflict_and_changes_nothing(db_url, clock) -> None:
    f.seed()
    _open("reused-key-1", clock)
    before = f.db_snapshot()
    with pytest.raises(Conflict) as refused:
        _open("reused-key-1", clock, is_minor=True, host_country="FR")
    assert "reused-key-1" not in str(refused.value)
    assert "already used for a different request" in str(refused.value)
    assert f.db_snapshot() == before


def test_a_refused_request_keeps_no_key_so_it_can_be_retried(db_url, clock) -> None:
    f.seed()
    ref = f.open_case(clock)

    def consent(s: Session) -> tuple[dict[str, Any], bool]:
        who = f.actor(s)
        args = {"case_ref": ref, "trigger": "record_consent"}

        def run() -> dict[str, Any]:
            case = fire(
                s,
                case_ref=ref,
                trigger="record_consent",
                actor=who,
                data=f.step_data("record_consent", clock),
                now=clock.now(),
            )
            return {"case_ref": case.case_ref, "case_id": case.id, "state": case.phase}

        return once(
            s, key="advance-77", command="advance", actor=who, args=args, now=clock.now(), run=run
        )

    before = f.db_snapshot()
    with pytest.raises(Refused), write_session() as s:  # the stage's items are still open
        consent(s)
    assert f.db_snapshot() == before
    f.complete_stage(ref, clock)
    with write_session() as s:
        assert consent(s)[0]["state"] == "consent_obtained"
    with write_session() as s:  # the retry returns the result instead of "cannot record_consent"
        result, replayed = consent(s)
    assert replayed and result["state"] == "consent_obtained"
    assert _count(CaseEvent, CaseEvent.trigger == "record_consent") == 1


@pg_only
def test_a_concurrent_retry_waits_for_the_first_attempt_and_returns_its_case(engine, clock):
    """Attempt B with attempt A's key, while A is still open, waits for A; then returns A's."""
    import threading

    f.seed()
    found: dict[str, Any] = {}
    with write_session() as a:
        who = f.actor(a)
        first, _ = once(
            a,
            key="race-00000001",
            command="case start",
            actor=who,
            args=CaseIn(participants={"ngo": "adpare"}).model_dump(mode="json"),
            now=clock.now(),
            run=lambda: _started(a, who, clock),
        )
        retry = threading.Thread(
            target=lambda: found.update(zip("rb", _open("race-00000001", clock), strict=True))
        )
        retry.start()
        _wait_for_a_lock_wait(engine)
    retry.join(timeout=60)
    assert found == {"r": first, "b": True}
    assert _count(Case) == 1


def _started(s: Session, who: Any, clock: SimulatedClock) -> dict[str, Any]:
    case_in = CaseIn(participants={"ngo": "adpare"})
    case = start_case(s, actor=who, case_in=case_in, person=None, now=clock.now())
    return {"case_ref": case.case_ref, "case_id": case.id, "state": case.phase}


def _wait_for_a_lock_wait(admin: Engine) -> None:
    """Until some session of this database waits on a lock (the retry's claim of the key)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    for _ in range(6000):
        with admin.connect() as conn:
            if conn.execute(query).scalar():
                return
        time.sleep(0.01)
    raise AssertionError("the retry never waited for the first attempt")


# --- versions ---------------------------------------------------------------------------


def _version(ref: str) -> int:
    return f.load_case(ref).version


def _open_item(ref: str, skip: int = 0) -> ChecklistItem:
    return f.items(ref, status=ItemStatus.OPEN)[skip]


def test_every_item_change_moves_the_case_version(db_url, clock) -> None:
    f.seed()
    ref = f.open_case(clock)
    item, other, third = f.items(ref, status=ItemStatus.OPEN)[:3]
    versions = [_version(ref)]
    with write_session() as s:
        checklist.mark_done(
            s, item_id=item.id or 0, actor=f.actor(s), now=clock.now(), outcome=_outcome(item)
        )
    versions.append(_version(ref))
    with write_session() as s:
        checklist.mark_skipped(
            s, item_id=other.id or 0, actor=f.actor(s), now=clock.now(), reason="not needed here"
        )
    versions.append(_version(ref))
    with write_session() as s:
        handoffs.propose(
            s, item_id=third.id or 0, to_org_slug="fmb", actor=f.actor(s), now=clock.now()
        )
    versions.append(_version(ref))
    with write_session() as s:
        handoffs.accept(
            s, item_id=third.id or 0, actor=f.actor(s, "cw@fmb.example.org"), now=clock.now()
        )
    versions.append(_version(ref))
    assert versions == sorted(set(versions)), versions  # strictly rising, one step per change


def _outcome(item: ChecklistItem) -> str | None:
    from tasks.catalog import load_catalog

    spec = load_catalog("v1").spec(item.code)
    return spec.outcomes[0] if spec.outcomes else None


def test_a_stale_expected_version_refuses_an_item_change_and_changes_nothing(db_url, clock) -> None:
    f.seed()
    ref = f.open_case(clock)
    first, second = f.items(ref, status=ItemStatus.OPEN)[:2]
    seen = _version(ref)
    with write_session() as s:  # someone else records another item meanwhile
        checklist.mark_skipped(
            s, item_id=second.id or 0, actor=f.actor(s), now=clock.now(), reason="done elsewhere"
        )
    before = f.db_snapshot()
    with pytest.raises(Conflict) as refused, write_session() as s:
        checklist.mark_done(
            s,
            item_id=first.id or 0,
            actor=f.actor(s),
            now=clock.now(),
            outcome=_outcome(first),
            expected_version=seen,
        )
    assert str(refused.value) == (
        f"case {ref} was changed by someone else (version {seen + 1}, you had {seen}); "
        f"reload it with `homeward case show {ref}` and retry"
    )
    assert f.db_snapshot() == before


def test_a_transition_and_an_item_change_from_the_same_version_conflict(db_url, clock) -> None:
    f.seed()
    ref = f.open_case(clock)
    f.complete_stage(ref, clock)
    seen = _version(ref)
    f.advance(ref, "record_consent", clock)  # the transition wins
    item = _open_item(ref)
    before = f.db_snapshot()
    with pytest.raises(Conflict, match="was changed by someone else"), write_session() as s:
        checklist.assign(
            s,
            item_id=item.id or 0,
            assignee=f.actor(s, "cw@iom-it.example.org"),
            actor=f.actor(s),
            now=clock.now(),
            expected_version=seen,
        )
    assert f.db_snapshot() == before
    seen = _version(ref)
    with write_session() as s:  # now the item change wins
        checklist.assign(
            s,
            item_id=item.id or 0,
            assignee=f.actor(s, "cw@iom-it.example.org"),
            actor=f.actor(s),
            now=clock.now(),
        )
    before = f.db_snapshot()
    with pytest.raises(Conflict, match=f"version {seen + 1}, you had {seen}"), write_session() as s:
        fire(
            s,
            case_ref=ref,
            trigger="suspend",
            actor=f.actor(s),
            data=f.step_data("suspend", clock),
            now=clock.now(),
            expected_version=seen,
        )
    assert f.db_snapshot() == before


@pg_only
@pytest.mark.parametrize("second", ["item", "transition"])
def test_two_sessions_that_read_the_same_version_cannot_both_write(db_url, clock, second) -> None:
    """Session A reads the case, B changes it and commits, then A writes: A is refused."""
    f.seed()
    ref = f.open_case(clock)
    f.complete_stage(ref, clock, stage=None)
    f.advance(ref, "record_consent", clock)
    first, other = f.items(ref, status=ItemStatus.OPEN)[:2]
    seen = _version(ref)
    before: dict[str, Any] = {}
    with pytest.raises(Conflict) as refused, write_session() as a:
        who = f.actor(a)
        read = get_case(a, case_ref=ref, actor=who)  # A has read version `seen` (and keeps it)
        assert read.version == seen
        with write_session() as b:  # B changes the case meanwhile and commits
            checklist.mark_skipped(
                b, item_id=other.id or 0, actor=f.actor(b), now=clock.now(), reason="not needed"
            )
        before.update(f.db_snapshot())
        if second == "item":
            checklist.mark_done(
                a, item_id=first.id or 0, actor=who, now=clock.now(), outcome=_outcome(first)
            )
        else:
            fire(
                a,
                case_ref=ref,
                trigger="suspend",
                actor=who,
                data=f.step_data("suspend", clock),
                now=clock.now(),
                expected_version=seen,
            )
    assert f"case {ref} was changed by someone else" in str(refused.value)
    assert f"you had {seen}" in str(refused.value)
    assert f.db_snapshot() == before


# --- crashes ----------------------------------------------------------------------------


def _signed_in(db_url: str) -> dict[str, str]:
    """The environment of a ``homeward`` process signed in as the coordinator (a session
    opened at the wall clock, which the process runs at)."""
    token = token_for(f.COORD, SYSTEM_CLOCK.now())
    return {**os.environ, "HOMEWARD_DATABASE_URL": db_url, "HOMEWARD_SESSION": token}


def _homeward(db_url: str, *args: str, stdin: str = "") -> subprocess.Popen[bytes]:
    homeward = Path(sys.executable).parent / "homeward"
    env = _signed_in(db_url)
    proc = subprocess.Popen(
        [str(homeward), *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(stdin.encode())
    proc.stdin.close()
    return proc


def _key_committed(engine: Engine, key: str) -> bool:
    with engine.connect() as conn, system_scope(conn):
        found = conn.execute(text("SELECT count(*) FROM request_key WHERE key = :k"), {"k": key})
        return bool(found.scalar())


def _kill(proc: subprocess.Popen[bytes], engine: Engine, key: str, delay: float | None) -> str:
    """SIGKILL ``proc`` after ``delay`` seconds, or (``None``) as soon as its key is committed."""
    deadline = time.monotonic() + (delay if delay is not None else 60)
    while proc.poll() is None and time.monotonic() < deadline:
        if delay is None and _key_committed(engine, key):
            break
        time.sleep(0.001 if delay is None else 0.005)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stderr.close()
    return "killed" if proc.returncode == -signal.SIGKILL else "finished"


def _retry(db_url: str, *args: str, stdin: str = "") -> str:
    homeward = Path(sys.executable).parent / "homeward"
    env = _signed_in(db_url)
    done = subprocess.run(
        [str(homeward), *args], env=env, input=stdin.encode(), capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def _crash_and_retry(db_url: str, rounds: int, seed: int) -> dict[str, int]:
    """Open cases with keys, each attempt killed at a random moment (or just after its commit),
    then retried: every key ends with exactly one case, one open event, one key row."""
    rng, engine, outcomes = random.Random(seed), get_engine(), {"killed": 0, "finished": 0}
    for n in range(rounds):
        key = f"crash-open-{seed}-{n:03d}"
        args = ("case", "start", "--person", "-", "--request-id", key)
        delay = None if n % 3 == 0 else rng.uniform(0.2, 2.0)  # CLI start-up is ~1-2 s
        outcomes[_kill(_homeward(db_url, *args, stdin=PERSON), engine, key, delay)] += 1
        out = _retry(db_url, *args, stdin=PERSON)
        with f.admin_read() as s:
            row = s.exec(select(RequestKey).where(RequestKey.key == key)).one()
        assert f"case {row.result['case_ref']} opened in stage identified_abroad" in out
    assert _count(Case) == rounds
    assert _count(CaseEvent, CaseEvent.trigger == "open") == rounds
    assert _count(RequestKey) == rounds
    return outcomes


def test_a_killed_case_start_retried_with_its_key_opens_exactly_one_case(db_url) -> None:
    f.seed()
    outcomes = _crash_and_retry(db_url, rounds=3, seed=6)
    assert outcomes["killed"] >= 1  # at least the kill right after the commit lands


@pytest.mark.slow
def test_many_killed_case_starts_each_open_exactly_one_case(db_url, request) -> None:
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("a soak test (24 killed processes, ~2 min): run it with -m slow")
    f.seed()
    outcomes = _crash_and_retry(db_url, rounds=24, seed=42)
    assert outcomes["killed"] >= 8


def test_a_killed_item_record_and_handoff_retried_with_their_keys_happen_once(
    db_url, clock
) -> None:
    f.seed()
    ref = f.open_case(clock)
    first, second = f.items(ref, status=ItemStatus.OPEN)[:2]
    engine, rng = get_engine(), random.Random(7)
    commands = [
        ("items", "done", str(first.id), *_outcome_args(first), "--request-id", "crash-done-1"),
        ("items", "handoff", str(second.id), "--to", "fmb", "--request-id", "crash-handoff-1"),
    ]
    for command, delay in zip(commands, (None, rng.uniform(0.2, 2.0)), strict=True):
        _kill(_homeward(db_url, *command), engine, command[-1], delay)  # right after commit
        _retry(db_url, *command)
    assert _count(CaseEvent, CaseEvent.trigger == "item_done") == 1
    assert _count(Handoff, Handoff.item_id == second.id) == 1
    assert _count(CaseEvent, CaseEvent.trigger == "handoff_proposed") == 1
    with f.admin_read() as s:
        [event] = s.exec(select(CaseEvent).where(CaseEvent.trigger == "handoff_proposed")).all()
        mails = s.exec(
            select(OutboxMessage).where(col(OutboxMessage.key).contains(f":event-{event.id}:"))
        ).all()
    assert len(mails) == 1
    assert _count(RequestKey) == 2


def _outcome_args(item: ChecklistItem) -> tuple[str, ...]:
    outcome = _outcome(item)
    return ("--outcome", outcome) if outcome else ()


# --- mail -------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
UNSTABLE = {"uuid", "uuid4", "now", "utcnow", "today", "time", "random", "secrets", "token_hex"}


def test_every_email_is_queued_under_a_key_a_retry_would_compute_again() -> None:
    """Each ``enqueue(key=...)`` / ``Queued(key=...)`` in the product builds its key from ids,
    codes and dates of the change (event id, item, due date, recipient, day): never a random
    value or the clock."""
    import ast

    sites = 0
    for package in ("homeward", "notifications", "tasks", "statemachines", "workflows"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                queues = ("enqueue", "Queued")  # one email, or one of a batch (enqueue_many)
                if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") in queues):
                    continue
                keyword = next((k.value for k in node.keywords if k.arg == "key"), None)
                key = keyword or node.args[0]
                # Plain names (``now``, ``uuid``) and what the key calls (``today()``,
                # ``uuid4()``); not attributes such as the reminder run's own ``self.today``.
                names = {n.id for n in ast.walk(key) if isinstance(n, ast.Name)} | {
                    n.func.attr
                    for n in ast.walk(key)
                    if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                }
                assert not names & UNSTABLE, (
                    f"{path.name}:{node.lineno} key uses {names & UNSTABLE}"
                )
                sites += 1
    assert sites >= 3  # notices, reminders, visit invitations
