"""Start a return from the workspace: the ``start-return`` Prefect deployment runs for the
signed-in coordinator, so the manager still sees the run on the Prefect dashboard.

The form takes case facts only (``CaseIn``: minor or not, countries, partner organisations);
the run gets them and a run assertion issued to the coordinator's session for this one flow
(``IssueAssertion``), never a name: the person's details are entered on the case page
afterwards, stored encrypted. The form's request key becomes the run's ``request_id`` (so a
retried run opens no second case) and its Prefect idempotency key (so a second submit starts
no second run); the coordinator then waits on a page that goes to the new case as soon as
their own request key names it (``StartedCase``), or says why the run ended without one: the
refusal's one line for a run the engine refused (a Completed state named ``Refused``, see
``workflows.refusals``), the failure's message for one that failed. The wait page shows only
a run the viewer started (its run assertion was issued to them): any other run id, another
organisation's included, gets the same "not found" as a run that is not there.

The Prefect API is the one ``homeward up`` serves (``app.state.prefect_api_url`` and
``app.state.prefect_auth`` when it set them), else ``PREFECT_API_URL`` and
``PREFECT_API_AUTH_STRING``; when none answers, the page says so in place.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL
from pydantic import ValidationError

from homeward.base.choices import offered
from homeward.base.errors import InvalidInput
from homeward.base.models import ParticipantRole
from homeward.commands.case_page import StartedCase, StartForm, StartFormView
from homeward.commands.signin import IssueAssertion, StartedByReader
from homeward.edges.web import deps
from homeward.edges.web.cases import new_key
from homeward.edges.web.deps import Form, Problem, Viewer
from homeward.edges.web.i18n import N_
from homeward.edges.web.labels import role_label
from homeward.records.directory import first_error
from homeward.records.idempotency import KEY_SHAPE
from statemachines.cases import CaseIn

router = APIRouter()

FLOW, DEPLOYMENT = "start-return", "start-return/start-return"
POLL_SECONDS, POLL_EVERY = 3.0, 0.25  # how long a submit waits for the case before the wait page
REFRESH_SECONDS = 2
ENDED = ("FAILED", "CRASHED", "CANCELLED", "CANCELLING")


@dataclass(frozen=True)
class PrefectApi:
    url: str
    auth: str | None


class NoPrefect(Exception):
    """No Prefect server answers (or it serves no ``start-return``): ``why`` is a msgid."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def prefect_api(request: Request) -> PrefectApi | None:
    """Where the Prefect API is, if anywhere (see the module)."""
    url = getattr(request.app.state, "prefect_api_url", None) or PREFECT_API_URL.value()
    auth = getattr(request.app.state, "prefect_auth", None) or PREFECT_API_AUTH_STRING.value()
    return PrefectApi(str(url), auth or None) if url else None


def _client(api: PrefectApi | None) -> SyncPrefectClient:
    if api is None:
        raise NoPrefect(
            N_("No Prefect server is set for the workspace: start Homeward with `homeward up`.")
        )
    return SyncPrefectClient(api.url, auth_string=api.auth, httpx_settings={"timeout": 10.0})


def launch(api: PrefectApi | None, parameters: dict[str, Any], key: str) -> UUID:
    """Create the ``start-return`` run (once per ``key``); its id."""
    try:
        with _client(api) as client:
            deployment = client.read_deployment_by_name(DEPLOYMENT)
            chosen = offered(deployment.parameter_openapi_schema or {}, parameters)  # as labels
            run = client.create_flow_run_from_deployment(
                deployment.id, parameters=chosen, idempotency_key=f"homeward-web:{key}"
            )
    except ObjectNotFound:
        raise NoPrefect(
            N_(
                "The Prefect server does not serve the start-return flow: start Homeward with "
                "`homeward up`."
            )
        ) from None
    except (httpx.HTTPError, OSError, RuntimeError):
        raise NoPrefect(
            N_("The Prefect server cannot be reached; try again in a moment.")
        ) from None
    return run.id


class NoSuchRun(Exception):
    """Prefect has no run of that id."""


def read_run(api: PrefectApi | None, run_id: UUID) -> FlowRun | None:
    """The run as Prefect has it now (None if Prefect does not answer; ``NoSuchRun`` if it
    answers that there is no such run)."""
    try:
        with _client(api) as client:
            return client.read_flow_run(run_id)
    except ObjectNotFound:
        raise NoSuchRun from None
    except (NoPrefect, httpx.HTTPError, OSError, RuntimeError):
        return None


def started_by(v: Viewer, flow_run: FlowRun) -> bool:
    """Whether ``flow_run`` is a ``start-return`` run the viewer started: the run assertion in
    its parameters was issued to them (and no other run holds it)."""
    assertion = flow_run.parameters.get("assertion")
    if not isinstance(assertion, str) or not assertion:
        return False
    return deps.call(v, StartedByReader(assertion, str(flow_run.id)))


def _no_such_run(request: Request, v: Viewer) -> Response:
    """The answer for a run that is not there and for anyone else's alike."""
    problem = Problem.make("not_found", N_("There is no such page."), v.language)
    return deps.render(request, v, "problem.html", error=problem, status_code=404)


_RAISED = re.compile(r"^Flow run encountered an exception: (?:[\w.]+: )?(.*)$", re.DOTALL)


def run_problem(v: Viewer, message: str) -> str:
    """Why a run was refused or failed, as its state says (the engine's message, translated
    where the catalog has it); nothing but what the engine and Prefect wrote: codes and case
    facts."""
    matched = _RAISED.match(message.strip())
    return deps.translate_error(v.language, matched.group(1) if matched else message.strip())


def _form(request: Request, v: Viewer, **ctx: Any) -> Response:
    view: StartFormView = deps.call(v, StartForm())
    status = ctx.pop("status_code", None)
    problem: Problem | None = ctx.get("issue")
    return deps.render(
        request,
        v,
        "start.html",
        status_code=status or (problem.status if problem else 200),
        active="start",
        view=view,
        key=ctx.pop("form_key", None) or new_key(),
        given=ctx.pop("given", {}),
        role=lambda r: role_label(v, r),
        issue=problem,
        **{k: value for k, value in ctx.items() if k != "issue"},
    )


@router.get("/start")
def start_form(request: Request, v: Viewer = Depends(deps.viewer)) -> Response:
    """The form: case facts only."""
    return _form(request, v)


def case_in(v: Viewer, form: Form) -> CaseIn:
    """The form's case facts, validated as the flow will (``CaseIn``); refused in place."""
    facts: dict[str, Any] = {"is_minor": form.get("is_minor") == "on"}
    route = form.get("route", "").strip() or "return"
    facts["route"] = route
    # an internal case is identified and assisted in Romania: the countries are not asked
    for name in ("host_country", "destination_country") if route == "return" else ():
        if form.get(name, "").strip():
            facts[name] = form[name].strip().upper()
    if form.get("destination_county", "").strip():
        facts["destination_county"] = form["destination_county"].strip().upper()
    facts["participants"] = {
        str(role): form[f"role_{role}"].strip()
        for role in ParticipantRole
        if form.get(f"role_{role}", "").strip()
    }
    try:
        return CaseIn.model_validate(facts)
    except ValidationError as exc:
        raise Problem.of(first_error(exc), v.language) from None
    except InvalidInput as exc:  # the route's own checks (an internal case stays in Romania)
        raise Problem.of(exc, v.language) from None


def run_parameters(facts: CaseIn) -> dict[str, Any]:
    """The case facts as the ``start-return`` form's fields: one per part, left out if empty."""
    given = facts.model_dump(mode="json", exclude={"participants", "process_version"})
    fields = {**given, **{str(role): slug for role, slug in facts.participants.items()}}
    return {name: value for name, value in fields.items() if value is not None}


@router.post("/start")
def start(
    request: Request, v: Viewer = Depends(deps.viewer), form: Form = Depends(deps.checked_form)
) -> Response:
    """Start the run, wait a moment for the case, then go to it (or to the wait page)."""
    key = form.get("key", "")
    given = {k: value for k, value in form.items() if k != "key"}
    if not KEY_SHAPE.fullmatch(key):
        key = new_key()  # a form without its key: this submit gets one
    try:
        if opened := deps.call(v, StartedCase(key)):  # a second submit of a started form
            return deps.see_other(f"/cases/{opened}")
        facts = case_in(v, form)
        assertion = deps.call(v, IssueAssertion(FLOW)).token
        parameters = {**run_parameters(facts), "assertion": assertion}
        run_id = launch(prefect_api(request), {**parameters, "request_id": key}, key)
    except Problem as problem:
        return _form(request, v, issue=problem, given=given, form_key=key)
    except NoPrefect as none:
        down = Problem(
            kind="unavailable", message=v._(none.why), lead=v._("The case was not started.")
        )
        return _form(request, v, issue=down, given=given, form_key=key, status_code=503)
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline:
        if opened := deps.call(v, StartedCase(key)):
            return deps.see_other(f"/cases/{opened}")
        time.sleep(POLL_EVERY)
    return deps.see_other(f"/start/wait?run={run_id}&key={quote(key)}")


@router.get("/start/wait")
def wait(
    request: Request, run: str = "", key: str = "", v: Viewer = Depends(deps.viewer)
) -> Response:
    """While the run opens the case: this page, refreshing itself; then the case, or why the
    run ended without one."""
    if not KEY_SHAPE.fullmatch(key):
        return deps.see_other("/start")
    if opened := deps.call(v, StartedCase(key)):
        return deps.see_other(f"/cases/{opened}")
    try:
        run_id = UUID(run)
    except ValueError:
        return deps.see_other("/start")
    try:
        flow_run = read_run(prefect_api(request), run_id)
    except NoSuchRun:
        return _no_such_run(request, v)
    if flow_run is not None and not started_by(v, flow_run):
        return _no_such_run(request, v)  # another's run: as if there were none
    state = flow_run.state if flow_run else None
    # a run that completed without our case was refused (it commits the case before it ends;
    # asked again, as it may have ended since the case was looked for above)
    refused = state is not None and state.type == StateType.COMPLETED
    if refused and (opened := deps.call(v, StartedCase(key))):
        return deps.see_other(f"/cases/{opened}")
    ended = refused or (state is not None and str(state.type.value) in ENDED)
    return deps.render(
        request,
        v,
        "starting.html",
        status_code=200,
        active="start",
        run_id=str(run_id),
        state=state.name if state else None,
        failed=ended,
        refused=refused,
        message=run_problem(v, state.message or "") if ended and state else "",
        reachable=flow_run is not None,
        refresh=None if ended else REFRESH_SECONDS,
    )
