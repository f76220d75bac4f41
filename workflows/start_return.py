"""Flow ``start-return``: a coordinator opens a return case from the Prefect UI.

The form takes case facts only (``CaseIn``: minor or not, countries, partner organisations)
and the coordinator's run assertion (``homeward assertion --flow start-return``), which the run
proves before anything changes: the case is opened by that signed-in person. The person's
details are never a parameter: they are entered afterwards through the CLI (``homeward case
person RT-...``), which stores them encrypted, and the case is named by its case_ref everywhere
else.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from homeward.commands.cases import StartCase
from homeward.records.idempotency import flow_key
from statemachines.cases import CaseIn
from workflows.artifacts import publish_timeline
from workflows.moves import timeline_of
from workflows.refusals import refusals_end_runs
from workflows.runtime import (
    CaseView,
    command,
    emit_transition,
    engine_errors,
    label_run,
    prove_run,
    run_credential,
)

FLOW = "start-return"


def _run_name() -> str:
    case = flow_run.get_parameters().get("case") or {}
    host = (
        case.get("host_country") if isinstance(case, dict) else getattr(case, "host_country", None)
    )
    return f"start-return/{(host or 'host').lower()}"


@refusals_end_runs
@flow(name=FLOW, flow_run_name=_run_name, persist_result=False)
async def start_return(
    case: CaseIn, assertion: str = "", request_id: str | None = None
) -> dict[str, Any]:
    """Open a case in its route's first stage (``identified_abroad``, or ``identified_in_romania``
    for ``route: internal``), owned by the signed-in coordinator's organisation.

    Args:
        case: case facts only: whether the person is a minor, host and destination country,
            process version, and partner organisations by role (``{"ngo": "adpare"}``).
        assertion: who opens it, proven: paste the output of
            ``homeward assertion --flow start-return`` (it works for this one run).
        request_id: an idempotency key (8-100 of letters, digits and ``. _ : -``); by default
            the flow run's id, so a retry of this run does not open a second case.

    Returns:
        The case_ref, stage and owner organisation kind of the new case.
    """
    credential = run_credential(assertion, FLOW)
    with engine_errors():
        key = flow_key(flow_run.get_id(), "start", request_id)
    await prove_run(credential)  # a bad assertion is refused before anything changes
    opened = await command(StartCase(case), credential, key=key)
    view = CaseView(opened.case_ref, opened.state, opened.org_kind)
    await label_run(view, "start")
    emit_transition(view, "open")
    await publish_timeline(view.case_ref, await timeline_of(credential, view.case_ref))
    get_run_logger().info("case %s opened in stage %s", view.case_ref, view.state)
    return view.summary()
