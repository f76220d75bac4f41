"""The scheduled flows on a real Prefect server: sweep-due-items (reminders, escalations once,
the outbox drained to a real SMTP server), schedule-follow-ups (idempotent), caseload-report
(the pinned overview artifacts under stable keys, read back from the server), and the
deployments that schedule them."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from prefect import get_client
from prefect.flow_engine import run_flow_async
from prefect.states import Scheduled
from sqlalchemy import Engine, text
from sqlmodel import select

from homeward.base import settings as homeward_settings
from homeward.base.clock import SimulatedClock, utc
from homeward.base.db import write_session
from homeward.base.models import AuditEntry, OutboxMessage
from notifications.render import render
from notifications.sink import LocalSmtpServer, RecordingHandler
from statemachines.cases import get_case
from statemachines.closure_requests import request_closure
from tests import factories
from tests.notifications.conftest import point_mail_at
from tests.signin import assertion_for
from tests.workflows.helpers import add_enrolled_programme, artifacts, run
from workflows.artifacts import (
    CASELOAD_BY_OWNER,
    CASELOAD_BY_STAGE,
    MAX_COLUMNS,
    OVERVIEW,
    PINNED,
    STUCK_CASES,
    WORK_WAITING,
)
from workflows.caseload_report import caseload_report
from workflows.deployments import DEPLOYMENTS, build_deployments
from workflows.runtime import now as flows_now
from workflows.schedule_follow_ups import schedule_follow_ups
from workflows.sweep_due_items import sweep_due_items

MANAGER = "mgr@iom-it.example.org"
KEY = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingHandler]:
    """A real SMTP server on loopback; ``HOMEWARD_SMTP_HOST`` points at it."""
    handler = RecordingHandler()
    with LocalSmtpServer(handler) as server:
        point_mail_at(monkeypatch, server.port)
        yield handler
    homeward_settings.get_settings.cache_clear()


def _escalated(ref: str) -> dict[int | None, datetime | None]:
    return {item.id: item.escalated_at for item in factories.items(ref)}


def _audited(action: str) -> list[tuple[int | None, str]]:
    """Who each audit line of ``action`` names (a staff id, or None), and its fields."""
    with factories.admin_read() as s:
        found = s.exec(select(AuditEntry).where(AuditEntry.action == action))
        return [(entry.actor_id, entry.fields) for entry in found]


@pytest.mark.usefixtures("homeward")
def test_sweep_queues_reminders_escalates_once_and_drains(
    clock: SimulatedClock, sink: RecordingHandler
) -> None:
    ref = factories.open_case(clock)  # ten days ago: the first stage's items are overdue

    first = run(sweep_due_items())
    escalated = _escalated(ref)
    again = run(sweep_due_items())

    assert first["overdue"] > 0 and first["escalated"] > 0
    assert first["emails_sent"] == first["queued"] == len(sink.received) > 0
    assert any(escalated.values())
    assert again["overdue"] == again["escalated"] == again["emails_sent"] == 0
    assert _escalated(ref) == escalated  # escalated once, not again
    assert _audited("cmd:sweep due items") == [(None, "service")] * 2  # the scheduler, twice


@pytest.mark.usefixtures("homeward")
def test_sweep_without_smtp_only_queues(clock: SimulatedClock) -> None:
    factories.open_case(clock)

    summary = run(sweep_due_items())

    assert summary["queued"] > 0 and "emails_sent" not in summary
    with factories.admin_read() as s:
        assert len(list(s.exec(select(OutboxMessage)))) == summary["queued"]


@pytest.mark.usefixtures("homeward")
def test_follow_ups_are_made_to_exist_and_invited_once(
    clock: SimulatedClock, engine: Engine
) -> None:
    ref = factories.open_case(clock)
    factories.drive_to(ref, "reintegration", clock)
    with engine.begin() as conn:  # a case that entered reintegration without its last visit
        gone = "SELECT id FROM checklist_item WHERE code = 'follow_up_6m'"
        # its seal too: a row deleted outside Homeward leaves its seal, and the next row SQLite
        # gives that id is refused at commit (tampering shows; it is not sealed over)
        conn.execute(
            text(f"DELETE FROM row_seal WHERE tbl = 'checklist_item' AND row_id IN ({gone})")
        )
        conn.execute(text("DELETE FROM checklist_item WHERE code = 'follow_up_6m'"))

    first = run(schedule_follow_ups())
    again = run(schedule_follow_ups())

    assert first == {"cases": 1, "visits_created": 1, "invitations_queued": 4}
    assert again == {"cases": 1, "visits_created": 0, "invitations_queued": 0}
    assert _audited("cmd:schedule follow ups") == [(None, "service")] * 2
    assert [i.code for i in factories.items(ref, stage="reintegration")][-1] == "follow_up_6m"
    with factories.admin_read() as s:
        rows = list(s.exec(select(OutboxMessage)))
    assert all(row.key.startswith("visit:item-") for row in rows)
    rendered = render(rows[0].template, rows[0].language, rows[0].context, stamp=rows[0].created_at)
    assert rendered.attachments[0].subtype == "calendar" and ref in rendered.subject + rendered.text


def _table(artifact_data: object) -> list[dict[str, object]]:
    return json.loads(artifact_data) if isinstance(artifact_data, str) else artifact_data  # type: ignore[return-value]


def _svg(markdown: object) -> str:
    encoded = re.search(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", str(markdown))
    assert encoded, "no SVG image in the chart's markdown"
    return base64.b64decode(encoded.group(1)).decode("utf-8")


def _request_closure(ref: str, clock: SimulatedClock) -> None:
    with write_session() as s:
        who = factories.actor(s, factories.COORD)
        case = get_case(s, case_ref=ref, actor=who)
        request_closure(s, case=case, actor=who, reason=None, flow_run_id=None, now=clock.now())


@pytest.mark.usefixtures("homeward")
def test_caseload_report_publishes_the_pinned_overview_under_stable_keys(
    clock: SimulatedClock,
) -> None:
    stuck = factories.open_case(clock)
    factories.drive_to(stuck, "consent_obtained", clock)
    recent = factories.open_case(SimulatedClock(current=flows_now()))
    _request_closure(recent, clock)
    code = add_enrolled_programme(MANAGER, [stuck, recent])
    swept = run(sweep_due_items())  # mail queued today, and a sweep the overview names

    as_manager = assertion_for(MANAGER, "caseload-report")
    summary = run(caseload_report(stuck_after_days=5, assertion=as_manager))

    timeline = f"case-{stuck.lower()}-timeline"
    chart = f"report-targets-{code}-chart"
    keys = [*PINNED, timeline, chart]
    found = asyncio.run(artifacts(*keys))
    assert set(found) == set(keys) and all(KEY.match(key) for key in keys)
    assert summary["cases"] == 2 and summary["stuck"] == 1 and summary["artifacts"] > len(keys)
    tables = {key: _table(found[key].data) for key in PINNED[1:]}
    for rows in tables.values():  # headers people read, never a code
        assert all("_" not in header for row in rows for header in row)
    by_stage = tables[CASELOAD_BY_STAGE]
    assert [row["Stage"] for row in by_stage] == ["Identified abroad", "Informed consent", "All"]
    assert list(by_stage[0]) == [
        "Stage",
        "Active",
        "Suspended",
        "Contact lost",
        "Consent withdrawn",
        "Closed",
        "Total",
    ]
    assert by_stage[-1]["Total"] == "<11" and by_stage[-1]["Closed"] == 0  # suppressed, k=11
    [owner, _all] = tables[CASELOAD_BY_OWNER]
    assert owner["Owner organisation"] == "iom-it" and owner["Active"] == "<11"
    [waiting] = tables[WORK_WAITING]
    assert waiting["Organisation"] == "iom-it" and waiting["Closures waiting"] == 1
    assert waiting["Overdue items"] > 0 and waiting["Plans waiting"] == 0
    [row] = tables[STUCK_CASES]
    assert row["Case"] == stuck and row["Days in stage"] >= 5
    stages = [r["Stage"] for r in _table(found[timeline].data)]
    assert stages == ["Identified abroad", "Informed consent"]
    overview = str(found[OVERVIEW].data)
    assert overview.startswith("# Homeward overview")
    assert "| Closures waiting for a supervisor | 1 |" in overview
    assert f"| {swept['queued']} | " in overview.split("## Mail today")[1]
    assert "| Sweep of due items (hourly) | never |" not in overview
    assert "| Informed consent | &lt;11 | 0 | 0 | 0 | 0 | &lt;11 |" in overview  # "<11"
    assert "|---|---|---|---|---|---|---|" in overview
    assert all(f"/artifacts/key/{key})" in overview for key in PINNED[1:])
    assert stuck not in overview and recent not in overview  # counts, never a case
    svg = _svg(found[chart].data)
    assert 'class="background"' in svg and svg.count('class="target-mark"') == 2


@pytest.mark.usefixtures("homeward")
def test_report_artifact_keys_are_lower_case_and_dashes(clock: SimulatedClock) -> None:
    ref = factories.open_case(clock)
    code = add_enrolled_programme(MANAGER, [ref])

    run(caseload_report(assertion=assertion_for(MANAGER, "caseload-report")))

    report_keys = [
        f"report-targets-{code}-progress-against-targets",
        "report-stages-days-spent-per-stage",
        "report-overdue-overdue-checklist-items-per-organisation",
        "report-closures-closures-by-reason",
    ]
    found = asyncio.run(artifacts(*report_keys))
    assert set(found) == set(report_keys) and all(KEY.match(key) for key in found)
    progress = _table(found[report_keys[0]].data)
    assert progress[0]["Indicator"] == "Victims identified" and progress[0]["Achieved"] == "<11"
    # ten age bands and a total do not fit a screen: two parts, each with labels and total
    parts = [f"report-targets-{code}-by-age-band-part-{n}" for n in (1, 2)]
    split = {key: _table(a.data) for key, a in asyncio.run(artifacts(*parts)).items()}
    assert set(split) == set(parts)
    for rows in split.values():
        assert len(rows[0]) <= 1 + MAX_COLUMNS and list(rows[0])[0] == "Indicator"
        assert list(rows[0])[-1] == "Total"


@pytest.mark.usefixtures("homeward")
def test_the_scheduled_caseload_report_publishes_the_dashboard_only_as_the_scheduler(
    clock: SimulatedClock,
) -> None:
    ref = factories.open_case(clock)
    code = add_enrolled_programme(MANAGER, [ref])

    dashboard = list(PINNED)
    reports = [f"report-targets-{code}-chart", "report-stages-days-spent-per-stage"]
    before = {key: a.id for key, a in asyncio.run(artifacts(*dashboard, *reports)).items()}
    summary = run(caseload_report(stuck_after_days=5))

    found = asyncio.run(artifacts(*dashboard, *reports))
    # published by this run: a new latest artifact under the key (ids, not clocks: the server
    # and the test may not agree on the time when the suite runs at a chosen hour)
    fresh = {key for key, artifact in found.items() if before.get(key) != artifact.id}
    assert fresh == set(dashboard)  # report artifacts only from other tests' runs, if any
    assert summary == {"cases": 1, "stuck": 1, "artifacts": 6}  # the pinned five, a timeline
    assert _audited("cmd:caseload dashboard") == [(None, "service")]
    with factories.admin_read() as s:  # nothing decrypted, no report run
        actions = [e.action for e in s.exec(select(AuditEntry))]
    assert not [a for a in actions if a.startswith(("report", "cmd:report"))]


def test_deployments_carry_the_schedules() -> None:
    deployments = {d.name: d for d in build_deployments()}

    assert set(deployments) == {planned.flow.name for planned in DEPLOYMENTS}
    crons = {
        name: [(s.schedule.cron, s.schedule.timezone) for s in d.schedules]  # type: ignore[union-attr]
        for name, d in deployments.items()
    }
    zone = "Europe/Bucharest"
    forms = {name: [] for name, d in deployments.items() if "on-demand" in d.tags}
    assert forms.keys() >= {"start-return", "record-consent", "close-case", "handoff-item"}
    assert crons == {
        **forms,
        "start-return": [],
        "record-checklist-item": [],
        "handoff-item": [],
        "sweep-due-items": [("0 * * * *", zone)],
        "schedule-follow-ups": [("0 6 * * *", zone)],
        "caseload-report": [("30 6 * * *", zone)],
        "audit-checkpoint": [("15 2 * * *", zone)],
    }
    assert "scheduled" in deployments["sweep-due-items"].tags
    moved = {d.name: d for d in build_deployments(timezone="Europe/Rome")}["sweep-due-items"]
    assert moved.schedules[0].schedule.timezone == "Europe/Rome"  # type: ignore[union-attr]


@pytest.mark.usefixtures("homeward")
def test_a_sweep_started_before_its_scheduled_moment_acts_at_that_moment() -> None:
    """Prefect's server rounds the wait before a scheduled run to whole seconds (a run may start
    half a second early), and a worker's clock may be behind the server's. Such a run acts at
    its scheduled moment: at local midnight, on the new day, not on the day before (seen in
    the multi-machine trial: the day's work skipped)."""

    async def scheduled_then_run_early() -> datetime:
        planned = flows_now().replace(microsecond=0) + timedelta(seconds=3)
        async with get_client() as client:
            created = await client.create_flow_run(
                sweep_due_items, parameters={"send": False}, state=Scheduled(scheduled_time=planned)
            )
        # This worker's clock reads half a second before the schedule while the run goes.
        with time_machine.travel(planned - timedelta(seconds=0.5), tick=False):
            await run_flow_async(sweep_due_items, flow_run=created, parameters={"send": False})
        return planned

    planned = asyncio.run(scheduled_then_run_early())

    with factories.admin_read() as s:
        query = select(AuditEntry).where(AuditEntry.action == "cmd:sweep due items")
        (entry,) = s.exec(query)
    assert utc(entry.at) == planned


@pytest.mark.usefixtures("homeward")
@pytest.mark.parametrize(
    ("flow", "given", "line"),
    [
        (
            schedule_follow_ups,
            {"visits": "Ana Pop"},
            "visits: not a field of this form; leave it out",
        ),
        (sweep_due_items, {"send": "Ana Pop"}, "send: fill it in as the form asks (Send)"),
    ],
)
def test_a_scheduled_run_given_parameters_outside_its_form_ends_refused_unused(
    flow: Any, given: dict[str, Any], line: str
) -> None:
    """The scheduler creates a schedule's runs with its parameters, unchecked: a run whose
    parameters do not fit its flow's form (one the flow does not take, a value of another
    type) ends Refused naming the field, before the flow does anything, its values scrubbed."""

    async def scheduled() -> tuple[Any, Any]:
        async with get_client() as client:
            created = await client.create_flow_run(flow, parameters=given)
        state = await run_flow_async(flow, flow_run=created, parameters=given, return_type="state")
        async with get_client() as client:
            return state, await client.read_flow_run(created.id)

    with factories.admin_read() as s:
        audited = len(list(s.exec(select(AuditEntry))))
    state, stored = asyncio.run(scheduled())
    assert (state.type.value, state.name, state.message) == ("COMPLETED", "Refused", line)
    assert stored.parameters == dict.fromkeys(given, "(refused)")
    with factories.admin_read() as s:
        assert len(list(s.exec(select(AuditEntry)))) == audited  # nothing was done
