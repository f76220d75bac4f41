"""Health alerts on a real Prefect server, a real SMTP server and the test database: a schedule
that did not run, a failed sweep and mail stuck in the outbox reach the managers by email once
a day each, say nothing personal, and a notice follows when each clears."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from uuid import UUID

import pytest
from prefect import get_client
from prefect.states import Completed, Failed, Running

from homeward.base import settings as homeward_settings
from homeward.base.clock import SimulatedClock, local_date
from homeward.base.db import write_session
from homeward.base.settings import get_settings
from notifications.outbox import enqueue
from notifications.sink import LocalSmtpServer, Received, RecordingHandler
from tests import factories
from tests.notifications.conftest import point_mail_at, run_drain
from tests.notifications.test_links_not_commands import commands_in
from workflows.deployments import build_deployments
from workflows.health import Checked, HealthWatch, check_and_alert
from workflows.runtime import now as flows_now

MANAGER = "mgr@iom-it.example.org"
SWEEP = "sweep-due-items"


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingHandler]:
    handler = RecordingHandler()
    with LocalSmtpServer(handler) as server:
        point_mail_at(monkeypatch, server.port)
        yield handler
    homeward_settings.get_settings.cache_clear()


@pytest.fixture
def sweep_deployment(homeward: str) -> Iterator[UUID]:
    """The sweep's deployment on its hourly schedule, registered now (its first tick is ahead)."""
    (deployment,) = [d for d in build_deployments() if d.name == SWEEP]
    deployment_id = deployment.apply()  # sync: the deployment was built with _sync=True
    yield deployment_id
    asyncio.run(_delete(deployment_id))


async def _delete(deployment_id: UUID) -> None:
    async with get_client() as client:
        await client.delete_deployment(deployment_id)


async def _run_ending(deployment_id: UUID, *, failed: bool) -> None:
    """A run of the deployment that starts and then fails or completes (as a worker's would)."""
    async with get_client() as client:
        run = await client.create_flow_run_from_deployment(deployment_id)
        await client.set_flow_run_state(run.id, Running(), force=True)
        end = Failed(message="sweep failed") if failed else Completed()
        await client.set_flow_run_state(run.id, end, force=True)


def _check(clock: SimulatedClock) -> Checked:
    return asyncio.run(check_and_alert(clock, [SWEEP]))


def _subjects(messages: list[Received]) -> list[str]:
    return sorted(str(m.parsed()["Subject"]) for m in messages)


@pytest.mark.usefixtures("homeward")
def test_managers_are_told_once_a_day_per_problem_and_when_it_clears(
    clock: SimulatedClock, sink: RecordingHandler, sweep_deployment: UUID
) -> None:
    case_ref = factories.open_case(clock)  # a case with the canary person: never in an alert
    asyncio.run(_run_ending(sweep_deployment, failed=True))
    with write_session() as s:  # an email queued three hours ago and never sent
        enqueue(
            s,
            key="stuck-1",
            template="test",
            to="cw@adpare.example.org",
            language="en",
            context={"day": "2026-03-08"},
            now=flows_now() - timedelta(hours=3),
        )
    day1 = SimulatedClock(flows_now() + timedelta(hours=2))  # an hourly tick was due, none ran

    first = _check(day1)
    assert {p.key for p in first.facts.problems} == {
        f"late:{SWEEP}",
        f"failed:{SWEEP}",
        "mail_stuck",
    }
    assert len(first.queued) == 3 and first.sent == 3
    assert {m.rcpt_tos for m in sink.received} == {(MANAGER,)}
    assert _subjects(sink.received) == [
        "Homeward health: 1 email waiting, none sent",
        f"Homeward health: {SWEEP} did not run on time",
        f"Homeward health: {SWEEP} failed",
    ]
    for message in sink.received:
        parsed = message.parsed()
        text = "".join(str(part.get_content()) for part in parsed.walk() if not part.is_multipart())
        assert "Canarycanary" not in text and "Zenobia" not in text and case_ref not in text
        assert not commands_in(text)  # a link, never a command
        assert "http://127.0.0.1:4300/" in text
    assert f"{SWEEP} did not run on time" in first.facts.summary()

    # later the same local day (the suite may run just before local midnight: stay in it)
    last_second = datetime.combine(
        local_date(day1.now()), time(23, 59, 59), tzinfo=get_settings().tz
    )
    day1.current = max(day1.now(), min(day1.now() + timedelta(minutes=30), last_second))
    assert _check(day1).queued == () and len(sink.received) == 3  # once a day

    day1.advance(days=1)
    assert len(_check(day1).queued) == 3 and len(sink.received) == 6  # the next day, again

    asyncio.run(_run_ending(sweep_deployment, failed=False))  # the sweep completes again
    run_drain(day1)  # and mail flows again
    cleared = _check(day1)
    assert {p.key for p in cleared.facts.problems} == {f"late:{SWEEP}"}
    assert _subjects(sink.received[7:]) == [
        "Homeward health: emails are being sent again",
        f"Homeward health: {SWEEP} completed a run again",
    ]
    assert _check(day1).queued == ()  # told once


@pytest.mark.usefixtures("homeward")
def test_the_watch_says_a_line_when_the_summary_changes(
    clock: SimulatedClock, sink: RecordingHandler, sweep_deployment: UUID
) -> None:
    said: list[str] = []
    watch = HealthWatch(said.append, 60, SimulatedClock(flows_now()))
    asyncio.run(watch.once())
    asyncio.run(watch.once())
    assert said == [said[0]] and said[0].startswith("health: all well: ")
    assert sink.received == []
