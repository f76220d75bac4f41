"""Starting a return from the workspace (issue 15, point 4): the ``start-return`` deployment
runs for the signed-in coordinator on a real Prefect server, served as ``homeward up`` serves
it, and the coordinator lands on the new case; without a Prefect server the page says so."""

from __future__ import annotations

import asyncio
import html
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import pytest
from prefect import get_client
from prefect.client.schemas.objects import StateType
from prefect.settings import PREFECT_API_URL
from sqlmodel import select

from homeward.base.clock import SimulatedClock
from homeward.base.models import Case
from homeward.edges.cli import up
from homeward.edges.web.app import create_app
from homeward.edges.web.serve import Served
from notifications.sink import RecordingHandler
from tests import factories as f
from tests.signin import assertion_for
from tests.web.conftest import Staff, Workspace, form
from tests.workflows.conftest import prefect_db  # noqa: F401 (the session's Prefect server)
from workflows.deployments import build_deployments
from workflows.runtime import now as flows_now
from workflows.start_return import start_return

FOLLOW_SECONDS = 150.0
NOWHERE = UUID(int=7)  # a run id no Prefect server has


@contextmanager
def _workspace(
    mailbox: RecordingHandler, clock: SimulatedClock, api_url: str
) -> Iterator[Workspace]:
    """The workspace served with its Prefect API at ``api_url`` (as ``homeward up`` sets it)."""
    app = create_app(clock=clock)
    app.state.prefect_api_url = api_url
    with Served(app) as served:
        workspace = Workspace(served.url, clock, mailbox, [])
        yield workspace
        for client in workspace.opened:
            client.close()


def _cases() -> list[Case]:
    with f.admin_read() as s:
        return list(s.exec(select(Case)))


@contextmanager
def _silent_api() -> Iterator[str]:
    """A Prefect API address nobody answers at while the block lasts: the port is held bound,
    never listening. A port only probed free and let go can be taken meanwhile by a server of
    the other suite running beside this one (tests/homeward/test_scheduler_watch.py saw it)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}/api"


def test_without_a_prefect_server_the_page_says_so_in_place(mailbox: RecordingHandler) -> None:
    with _silent_api() as api, _workspace(mailbox, SimulatedClock(), api) as ws:
        staff = ws.browser()
        staff.sign_in(f.COORD, "/start")

        answer = staff.submit("/start", "/start", host_country="it", role_ngo="adpare")

        assert answer.status_code == 503
        assert "The Prefect server cannot be reached" in answer.text
        assert 'id="problem-start"' in answer.text
        assert '<option value="adpare" selected>' in answer.text  # the choices stay made
        assert _cases() == []


def test_bad_case_facts_are_refused_in_place_before_anything_starts(
    mailbox: RecordingHandler,
) -> None:
    with _silent_api() as api, _workspace(mailbox, SimulatedClock(), api) as ws:
        staff = ws.browser()
        staff.sign_in(f.COORD, "/start")

        answer = staff.submit("/start", "/start", host_country="XX")

        assert answer.status_code == 400
        assert "host_country" in answer.text and 'aria-invalid="true"' in answer.text
        assert _cases() == []
        caseworker = ws.browser()
        caseworker.sign_in("cw@adpare.example.org", "/start")
        page = caseworker.get("/start")
        assert "Your role does not open cases" in page.text and 'action="/start"' not in page.text


async def _follow(staff: Staff, answer_location: str) -> str:
    """Follow the wait page until it sends the coordinator on; where it sends them."""
    location = answer_location
    deadline = asyncio.get_running_loop().time() + FOLLOW_SECONDS
    while location.startswith("/start/wait"):
        assert asyncio.get_running_loop().time() < deadline, "no case was opened in time"
        await asyncio.sleep(1)
        page = await asyncio.to_thread(staff.get, location)
        if page.status_code == 303:
            location = page.headers["location"]
            continue
        assert page.status_code == 200
        assert "The run ended" not in page.text, page.text
        assert '<meta http-equiv="refresh"' in page.text
    return location


async def _deployment_ready(wait: float = 60) -> None:
    async with get_client() as client:
        for _ in range(int(wait * 5)):
            try:
                await client.read_deployment_by_name("start-return/start-return")
                return
            except Exception:  # noqa: BLE001 (not registered yet)
                await asyncio.sleep(0.2)
    raise AssertionError("start-return was not registered")


async def _start_and_follow(staff: Staff, home: Path) -> tuple[str, str, UUID | None]:
    deployments = [d for d in build_deployments() if d.name == "start-return"]
    stop = asyncio.Event()
    api = str(PREFECT_API_URL.value())
    serving = asyncio.create_task(up._serve(api, home, deployments, stop, None, None, "-"))
    try:
        await _deployment_ready()
        page = await asyncio.to_thread(staff.get, "/start")
        fields = {"host_country": "IT", "role_ngo": "adpare"}
        sent = {**form(page.text, "/start"), **fields}
        answer = await asyncio.to_thread(staff.post, "/start", sent)
        assert answer.status_code == 303, answer.text
        landed = await _follow(staff, answer.headers["location"])
        again = await asyncio.to_thread(staff.post, "/start", sent)  # the same form, twice
        run_id = None
        if "run=" in answer.headers["location"]:
            run_id = UUID(answer.headers["location"].split("run=")[1].split("&")[0])
        return landed, again.headers.get("location", ""), run_id
    finally:
        stop.set()
        await serving


@pytest.mark.usefixtures("prefect_db")
def test_a_coordinator_starts_a_return_and_lands_on_the_new_case(
    mailbox: RecordingHandler, tmp_path: Path
) -> None:
    clock = SimulatedClock(current=flows_now())  # the flow acts at the wall clock
    with _workspace(mailbox, clock, str(PREFECT_API_URL.value())) as ws:
        staff = ws.browser()
        staff.sign_in(f.COORD, "/start")

        landed, again, run_id = asyncio.run(_start_and_follow(staff, tmp_path))

        (case,) = _cases()
        assert landed == f"/cases/{case.case_ref}"
        assert again == landed  # a second submit of the form opens no second case
        assert case.phase == "identified_abroad" and case.host_country == "IT"
        page = staff.get(landed)
        assert page.status_code == 200 and "adpare" in page.text
    if run_id is not None:
        flow_run = asyncio.run(_read_run(run_id))
        assert flow_run.name == f"case-{case.case_ref}/start"
        # the form's fields, as the start-return deployment's form has them: facts only
        given = {"host_country", "ngo", "route", "is_minor", "destination_country"}
        assert set(flow_run.parameters) == {*given, "assertion", "request_id"}
        assert f.CANARY.family_name not in str(flow_run.parameters)


async def _read_run(run_id: UUID):  # type: ignore[no-untyped-def]
    async with get_client() as client:
        return await client.read_flow_run(run_id)


@pytest.mark.usefixtures("prefect_db")
def test_a_refused_start_shows_the_refusal_s_one_line_not_a_failure(
    mailbox: RecordingHandler,
) -> None:
    """Issue 18 point 2: the wait page of a run the engine refused ends (no more refreshing)
    with the refusal's one line, as the run's state carries it; no case is opened."""
    token = assertion_for(f.COORD, "start-return")
    # iom-ro is not an NGO: the engine refuses it
    state = asyncio.run(start_return(ngo="iom-ro", assertion=token, return_state=True))
    assert state.name == "Refused" and state.type == StateType.COMPLETED
    clock = SimulatedClock(current=flows_now())
    with _workspace(mailbox, clock, str(PREFECT_API_URL.value())) as ws:
        staff = ws.browser()
        staff.sign_in(f.COORD, "/start")

        run_id = state.state_details.flow_run_id
        page = staff.get(f"/start/wait?run={run_id}&key=web-start-000001")

        assert page.status_code == 200
        assert "The case was not opened." in page.text and html.escape(state.message) in page.text
        assert '<meta http-equiv="refresh"' not in page.text and "(Refused)" in page.text
        assert "Traceback" not in page.text and "The run ended" not in page.text
    assert _cases() == []


@pytest.mark.usefixtures("prefect_db")
def test_the_wait_page_shows_only_one_s_own_runs_others_are_not_found(
    mailbox: RecordingHandler,
) -> None:
    """Issue 18: a signed-in person cannot read another's run through the wait page: another
    organisation's coordinator, and a colleague of the same organisation, get for a real run
    exactly what they get for a run id that is not there."""
    token = assertion_for(f.COORD, "start-return")
    state = asyncio.run(start_return(ngo="iom-ro", assertion=token, return_state=True))
    run_id = state.state_details.flow_run_id
    unsigned = asyncio.run(start_return(ngo="iom-ro", assertion="", return_state=True))
    clock = SimulatedClock(current=flows_now())
    with _workspace(mailbox, clock, str(PREFECT_API_URL.value())) as ws:
        owner = ws.browser()
        owner.sign_in(f.COORD, "/start")
        assert owner.get(f"/start/wait?run={run_id}&key=web-start-000001").status_code == 200

        for email in ("coord@iom-ro.example.org", f.SUPERVISOR):
            other = ws.browser()
            other.sign_in(email, "/start")
            theirs = other.get(f"/start/wait?run={run_id}&key=web-start-000001")
            missing = other.get(f"/start/wait?run={NOWHERE}&key=web-start-000001")
            assert theirs.status_code == missing.status_code == 404
            # the same page, but for the run id in its own address (the sign-out link's)
            assert theirs.text.replace(str(run_id), str(NOWHERE)) == missing.text
            assert "There is no such page." in theirs.text
            assert "Prefect run" not in theirs.text and "Refused" not in theirs.text
        # a run that carries no assertion of the owner's (here none at all) is nobody's
        unsigned_id = unsigned.state_details.flow_run_id
        nobody = owner.get(f"/start/wait?run={unsigned_id}&key=web-start-000001")
        missing = owner.get(f"/start/wait?run={NOWHERE}&key=web-start-000001")
        assert nobody.status_code == 404
        assert nobody.text.replace(str(unsigned_id), str(NOWHERE)) == missing.text
