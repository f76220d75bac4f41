"""Flow ``start-return``: a coordinator opens a return case from the Prefect UI.

The form takes case facts only (``CaseIn``: minor or not, countries, partner organisations).
The person's details are never a parameter: they are entered afterwards through the CLI
(``homeward case person RT-...``), which stores them encrypted, and the case is named by its
case_ref everywhere else.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from homeward.base.db import write_session
from homeward.records.directory import acting
from homeward.records.idempotency import flow_key, once
from statemachines.cases import CaseIn, get_case, start_case
from workflows.artifacts import publish_timeline
from workflows.caseload import timeline
from workflows.runtime import CaseView, emit_transition, engine_errors, in_engine, label_run, now


def _run_name() -> str:
    case = flow_run.get_parameters().get("case") or {}
    host = (
        case.get("host_country") if isinstance(case, dict) else getattr(case, "host_country", None)
    )
    return f"start-return/{(host or 'host').lower()}"


def _open(
    case_in: CaseIn, acting_email: str, key: str | None
) -> tuple[CaseView, list[dict[str, Any]]]:
    with write_session() as session:
        actor = acting(session=session, email=acting_email)

        def open_case() -> dict[str, Any]:
            case = start_case(session, actor=actor, case_in=case_in, person=None, now=now())
            return {"case_ref": case.case_ref, "case_id": case.id, "state": case.state}

        args = case_in.model_dump(mode="json")
        opened, _ = once(
            session,
            key=key,
            command="start-return",
            actor=actor,
            args=args,
            now=now(),
            run=open_case,
        )
        case = get_case(session, case_ref=str(opened["case_ref"]), actor=actor)
        return CaseView.of(session, case), timeline(session, case)


@flow(name="start-return", flow_run_name=_run_name, persist_result=False)
async def start_return(
    case: CaseIn, acting_email: str, request_id: str | None = None
) -> dict[str, Any]:
    """Open a case in ``identified_abroad``, owned by the acting coordinator's organisation.

    Args:
        case: case facts only: whether the person is a minor, host and destination country,
            process version, and partner organisations by role (``{"ngo": "adpare"}``).
        acting_email: the coordinator opening the case (their staff email).
        request_id: an idempotency key (8-100 of letters, digits and ``. _ : -``); by default
            the flow run's id, so a retry of this run does not open a second case.

    Returns:
        The case_ref, stage and owner organisation kind of the new case.
    """
    with engine_errors():
        key = flow_key(flow_run.get_id(), "start", request_id)
    view, stages = await in_engine(lambda: _open(case, acting_email, key))
    await label_run(view, "start")
    emit_transition(view, "open")
    await publish_timeline(view.case_ref, stages)
    get_run_logger().info("case %s opened in stage %s", view.case_ref, view.state)
    return view.summary()
