"""Flow ``start-return``: a coordinator opens a return case from the Prefect UI.

The form takes case facts only (those of ``CaseIn``: route, minor or not, countries, and the
partner organisation for each part, from dropdowns of the directory) and the coordinator's run
assertion (``homeward assertion --flow start-return``), which the run
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
from homeward.records.directory import validate
from homeward.records.idempotency import flow_key
from statemachines.cases import CaseIn
from statemachines.return_case import Route
from workflows.artifacts import publish_timeline
from workflows.forms import (
    FORM,
    Assertion,
    Country,
    County,
    OrgSlug,
    RequestId,
    checked,
    step_data,
    takes_codes,
)
from workflows.moves import timeline_of
from workflows.refusals import refusals_end_runs
from workflows.runtime import (
    CaseView,
    command,
    dated_run_name,
    emit_transition,
    engine_errors,
    label_run,
    prove_run,
    run_credential,
)

FLOW = "start-return"


@refusals_end_runs
@takes_codes
@flow(name=FLOW, flow_run_name=dated_run_name(FLOW), **FORM)
async def start_return(
    route: Route = Route.RETURN,
    is_minor: bool = False,
    host_country: Country | None = None,
    destination_county: County | None = None,
    s_iom: OrgSlug | None = None,
    cons: OrgSlug | None = None,
    r_iom: OrgSlug | None = None,
    ngo: OrgSlug | None = None,
    dgaspc: OrgSlug | None = None,
    anitp: OrgSlug | None = None,
    le: OrgSlug | None = None,
    assertion: Assertion = "",
    request_id: RequestId | None = None,
    destination_country: Country = "RO",
) -> dict[str, Any]:
    """Open a case in its route's first stage (``identified_abroad``, or ``identified_in_romania``
    for the internal route), owned by the signed-in coordinator's organisation.

    Args:
        route: return (identified abroad, travels home) or internal (identified in Romania:
            no travel stages).
        is_minor: the person is under 18: DGASPC owns the case in Romania.
        host_country: where the person was identified (empty: your organisation's country).
        destination_county: where in Romania the person lives or goes.
        s_iom: who plays this part (empty: the only organisation of its kind, if one).
        cons: who plays this part (empty: the only organisation of its kind, if one).
        r_iom: who plays this part (empty: the only organisation of its kind, if one).
        ngo: who plays this part (empty: the only organisation of its kind, if one).
        dgaspc: who plays this part (empty: the only organisation of its kind, if one).
        anitp: who plays this part (empty: the only organisation of its kind, if one).
        le: who plays this part (empty: the only organisation of its kind, if one).
        assertion: who opens it, proven: paste what `homeward assertion --flow start-return`
            prints (it works for this one run).
        request_id: leave it empty (a retry of this run then opens no second case).
        destination_country: the country of return.

    Returns:
        The case_ref, stage and owner organisation kind of the new case.
    """
    await checked()
    parts = {"s_iom": s_iom, "cons": cons, "r_iom": r_iom, "ngo": ngo}
    parts |= {"dgaspc": dgaspc, "anitp": anitp, "le": le}
    facts = step_data(
        route=route,
        is_minor=is_minor,
        host_country=host_country,
        destination_country=destination_country,
        destination_county=destination_county,
    )
    with engine_errors():
        case = validate(CaseIn, **facts, participants=step_data(**parts))
    return await _open(case, assertion, request_id)


async def _open(case: CaseIn, assertion: str, request_id: str | None) -> dict[str, Any]:
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
