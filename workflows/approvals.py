"""A supervisor's approval inside a running flow: ``close-case`` (or ``advance-case`` with
``close``) records a closure request, pauses, and the Prefect UI shows the ``ClosureDecision``
form.

The request is a record in Homeward's database (``statemachines.closure_requests``), so it
outlives this run: a run started later for the same pending request takes it over, and a
supervisor may decide it from the CLI instead. Whoever decides in the form proves it: the
form takes their own run assertion (``homeward assertion --flow approve-closure``), which this
run proves and binds to itself; the decision is recorded as that person, by the commands of
``homeward.commands.closures``, where the rules live (a supervisor of the owner organisation,
by the permission table; never the requester approving their own request). The form holds no
free text: a yes/no, the assertion, and reason codes from fixed lists. An answer that cannot be
recorded (a rejection without its code, an assertion that does not prove a supervisor who may
decide, the requester approving) pauses again, saying what was wrong.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any
from uuid import UUID

import anyio
from prefect import get_client, get_run_logger
from prefect._internal.pydantic.v2_schema import create_v2_schema
from prefect.client.schemas.objects import State
from prefect.client.schemas.responses import OrchestrationResult, SetStateStatus
from prefect.exceptions import FlowPauseTimeout, PrefectHTTPStatusError
from prefect.flow_runs import apause_flow_run
from prefect.input import RunInput
from prefect.input.actions import acreate_flow_run_input, aread_flow_run_input
from prefect.input.run_input import Keyset, keyset_from_paused_state
from prefect.runtime import flow_run
from prefect.states import Paused, Running
from pydantic import Field, field_validator

from homeward.base.choices import code_of
from homeward.base.errors import Conflict, InvalidInput, NotFound, NotSignedIn, Refused
from homeward.base.settings import get_settings
from homeward.commands.closure_runs import ClosureOutcome, ExpireClosure, RenewedClosure
from homeward.commands.closures import (
    ApproveClosure,
    ClosureStatus,
    ClosureView,
    RejectClosure,
    RequestClosure,
)
from homeward.protection.identity import Credential
from homeward.records.directory import validate
from homeward.records.idempotency import step_key
from statemachines.steps import ClosureReason, ClosureRejection, Step
from workflows.closure_runs import run_is_live
from workflows.forms import ASSERTION_PATTERN, labelled_lists
from workflows.moves import after_transition, timeline_of
from workflows.refusals import ended
from workflows.runtime import CaseView, command, engine_errors, label_run, prove_run, run_credential

APPROVE_FLOW = "approve-closure"  # what the decider's assertion is issued for
CLOSURE_REJECTED = "Closure rejected"  # the state a run ends in when the supervisor says no
# The state a run ends in when nobody answered in time: Completed under this name (the case
# stays where it was). Prefect fails a run still paused past its pause's timeout, so the pause
# outlives the run's own wait by ``PAUSE_GRACE_SECONDS`` and the run leaves it itself.
UNANSWERED = "Unanswered"
PAUSE_GRACE_SECONDS = 120
# An answer the supervisor can correct in the form (a wrong or stale assertion included).
SLIPS = (InvalidInput, Refused, NotFound, NotSignedIn)


class ClosureDecision(RunInput):
    """Close this case? Decided by a supervisor of the case's owner organisation."""

    approve: bool = Field(description="Approve closing this case")
    assertion: str = Field(
        default="",
        max_length=400,
        pattern=ASSERTION_PATTERN,  # a token: no room for a name or a sentence
        description="Who decides, proven: run `homeward assertion --flow approve-closure` and "
        "paste what it prints (a supervisor of the case's owner organisation)",
    )
    reason: ClosureReason = Field(description="Why the case closes (fixed list)")
    rejection: ClosureRejection | None = Field(
        default=None, description="If you do not approve: why not (fixed list)"
    )

    @field_validator("reason", "rejection", mode="before")
    @classmethod
    def _chosen(cls, value: Any) -> Any:
        """The form offers each reason as its label (``workflows.forms.labelled_lists``)."""
        return code_of(value)

    @classmethod
    async def asave(cls, keyset: Keyset, flow_run_id: UUID | None = None) -> None:
        """Store the form (its schema, then its description) for the paused run, each once.

        Prefect's client sends a POST again when its answer was lost (a read timeout, a dropped
        connection); the input the first one stored then answers 409 and, left alone, fails the
        run at the pause. A stored part equal to ours is ours, saved."""
        schema = create_v2_schema(cls.__name__, model_base=cls)  # as Prefect's own asave
        schema = labelled_lists(schema)  # reasons offered by name, as the deployments' forms
        await _save_once(keyset["schema"], schema, flow_run_id)
        if isinstance(cls._description, str) and cls._description:
            await _save_once(keyset["description"], cls._description, flow_run_id)


async def _save_once(key: str, value: Any, flow_run_id: UUID | None) -> None:
    try:
        await acreate_flow_run_input(key=key, value=value, flow_run_id=flow_run_id)
    except PrefectHTTPStatusError as exc:
        if exc.response.status_code != 409:
            raise
        if await aread_flow_run_input(key=key, flow_run_id=flow_run_id) != value:
            raise


class CloseRequest(Step):
    """What ``advance-case`` takes for ``close``: the proposed reason, nothing else."""

    reason: ClosureReason | None = None


def _request(data: dict[str, Any]) -> CloseRequest:
    if "approved_by" in data:
        raise InvalidInput(
            "data.approved_by: a closure started here is approved in the paused run's form; "
            "leave approved_by out"
        )
    return validate(CloseRequest, **data)


def form_problem(decision: ClosureDecision) -> str | None:
    """What makes the form's answer contradict itself, or None."""
    if not decision.approve and decision.rejection is None:
        return "rejection: say why the closure is not approved; choose one of " + ", ".join(
            ClosureRejection
        )
    if decision.approve and decision.rejection is not None:
        return "rejection: leave it empty when you approve, or switch approve off"
    return None


def _case(view: ClosureView) -> CaseView:
    return CaseView(view.case_ref, view.state, view.org_kind, view.from_state)


async def close_with_approval(
    case_ref: str, credential: Credential, data: dict[str, Any], key: str | None = None
) -> dict[str, Any]:
    """Check the case may close, record the request as the run's (proven) requester, wait for
    a supervisor's valid answer."""
    with engine_errors():
        asked = _request(data)
    status = await command(ClosureStatus(case_ref), credential)
    await label_run(_case(status), "close")
    run_id = str(flow_run.get_id())
    waiting = status.waiting_run
    if status.request_id and waiting != run_id and await run_is_live(waiting):
        raise Conflict(
            f"a closure of case {status.case_ref} is already requested and waits in flow run "
            f"{waiting}; answer it there or with "
            f"`homeward case approve-closure {status.case_ref}`"
        )
    ask = RequestClosure(case_ref, asked.reason, run_id)
    recorded = await command(ask, credential, key=step_key(key, "request"))
    assert recorded.request_id is not None  # noqa: S101 (just recorded)
    # A re-run of this run (a crashed run scheduled again) gets its first request back, which
    # may have been answered before the crash: then nobody is asked again.
    outcome = await command(ClosureOutcome(case_ref, recorded.request_id), credential)
    if outcome.decision != "pending":
        return _case(status).summary(decision=outcome.decision)
    return await _wait(_case(status), recorded.request_id, recorded.reason, credential, key)


async def wait_again(
    case_ref: str, request: int, credential: Credential, key: str | None = None
) -> dict[str, Any]:
    """A run ``homeward up`` started (as the scheduler) for a pending request whose run is gone:
    wait for a supervisor's answer to it."""
    found = await command(RenewedClosure(case_ref, request, str(flow_run.get_id())), credential)
    await label_run(_case(found), "close")
    return await _wait(_case(found), request, found.reason, credential, key)


async def _wait(
    view: CaseView, request: int, reason: str | None, credential: Credential, key: str | None
) -> dict[str, Any]:
    """Ask until an answer is recorded, the request is decided elsewhere, or time runs out."""
    problem: str | None = None
    while True:
        decision = await ask_supervisor(view, reason, problem)
        if decision is None:
            return await _expired(view, request, credential, key)
        problem = form_problem(decision)
        if problem is None:
            try:
                return await decide(view, request, decision, key)
            except SLIPS as exc:
                problem = str(exc)
        outcome = await command(ClosureOutcome(view.case_ref, request), credential)
        if outcome.decision != "pending":  # decided from the CLI meanwhile: nothing to record
            return view.summary(decision=outcome.decision)
        get_run_logger().info(
            "case %s: answer not recorded (%s); asking again", view.case_ref, problem
        )


async def ask_supervisor(
    view: CaseView, reason: str | None, problem: str | None = None
) -> ClosureDecision | None:
    """Pause the run until a supervisor answers the form; None if the approval timeout passed."""
    settings = get_settings()
    again = f" Your last answer was not recorded: {problem}. Answer again." if problem else ""
    form = ClosureDecision.with_initial_data(
        description=f"Close case {view.case_ref} (stage {view.state})?{again}",
        **({"reason": reason} if reason else {}),
    )
    get_run_logger().info("case %s: closure awaits a supervisor's decision", view.case_ref)
    waited = settings.approval_timeout_seconds
    key = f"closure-{secrets.token_hex(6)}"  # this pause's own: its answer is found by it
    try:
        with anyio.move_on_after(waited):
            return await apause_flow_run(
                wait_for_input=form,
                timeout=waited + PAUSE_GRACE_SECONDS,
                poll_interval=settings.approval_poll_seconds,
                key=key,
            )
    except FlowPauseTimeout:  # the grace ran out too (a run stalled that long)
        return None
    return await unpause(form, key)


async def unpause(form: type[ClosureDecision], key: str) -> ClosureDecision | None:
    """The wait for pause ``key`` ran out: leave the pause (Running again, before Prefect's
    own timeout would fail the run) and return None; or, when an answer resumed the run at the
    last moment, that answer."""
    run_id = UUID(str(flow_run.get_id()))
    async with get_client() as client:
        run = await client.read_flow_run(run_id)
        state = run.state
        if state is not None and state.is_paused() and state.state_details.pause_key == key:
            left: OrchestrationResult[Any] = await client.set_flow_run_state(run_id, Running())
            if left.status == SetStateStatus.ACCEPT:
                return None
    try:  # resumed meanwhile: by an answer to this pause, if one is stored under its key
        return await form.aload(keyset_from_paused_state(Paused(pause_key=key)))
    except (ValueError, TypeError, PrefectHTTPStatusError):  # no answer to this pause
        return None


async def decide(
    view: CaseView, request: int, decision: ClosureDecision, key: str | None
) -> dict[str, Any]:
    """Record the answer as the supervisor its assertion proves (bound to this run first): the
    case closes, or the refusal is in its history. A request decided elsewhere meanwhile is
    left as it is."""
    decider = run_credential(decision.assertion, APPROVE_FLOW)
    await prove_run(decider)
    if not decision.approve:
        assert decision.rejection is not None  # noqa: S101 (form_problem checked it)
        reject = RejectClosure(view.case_ref, decision.rejection, request)
        rejected = await command(reject, decider, key=step_key(key, "reject"))
        if rejected.decision != "rejected":
            return view.summary(decision=rejected.decision)
        return _case(rejected).summary(decision="rejected", rejection=str(decision.rejection))
    approve = ApproveClosure(view.case_ref, decision.reason, request)
    closed = await command(approve, decider, key=key)
    if closed.decision != "approved":
        return view.summary(decision=closed.decision)
    moved = _case(closed)
    await after_transition(moved, "close", await timeline_of(decider, moved.case_ref))
    return moved.summary(decision="approved", reason=str(decision.reason))


async def _expired(
    view: CaseView, request: int, credential: Credential, key: str | None
) -> dict[str, Any]:
    """Nobody answered in time: record it (as the run's principal); the run ends
    ``Unanswered``."""
    waited = get_settings().approval_timeout_seconds
    expire = ExpireClosure(view.case_ref, request, waited)
    expired = await command(expire, credential, key=step_key(key, "expire"))
    if expired.decision != "expired":  # decided from the CLI meanwhile
        return view.summary(decision=expired.decision)
    return _case(expired).summary(decision="expired", waited_seconds=waited)


def closure_ending(result: dict[str, Any]) -> dict[str, Any] | State[Any]:
    """How a closing run ends: ``Closure rejected``, Completed (the run got its answer; the
    rejection code in its message and log, the case stays where it was); ``Unanswered``,
    Completed, when nobody answered in time (the case stays where it was; the message says to
    ask again). An approved closure ends plainly Completed."""
    ref, stage = result["case_ref"], result["state"]
    if result.get("decision") == "rejected":
        code = result.get("rejection") or "decided outside this run, or before it restarted"
        why = f"case {ref}: closure not approved ({code}); the case stays in {stage}"
        return ended(CLOSURE_REJECTED, why, result)
    if result.get("decision") == "expired":
        waited = result.get("waited_seconds")
        within = f"within {waited} s" if waited is not None else "in time"
        why = (
            f"closure of case {ref} was not decided {within}; the case stays in {stage}: ask "
            "again with close-case"
        )
        return ended(UNANSWERED, why, result, level=logging.WARNING)
    return result
