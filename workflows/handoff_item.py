"""Flow ``handoff-item``: hand a checklist item to another organisation, or answer a handoff.

The run acts for the person whose run assertion started it, through the same commands as
``homeward items handoff``, ``accept`` and ``reject``. The engine checks the sharing consent,
who may hand off and who may answer; the notices to the organisations are queued by the
notifications package in the same transaction.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from homeward.base.errors import InvalidInput
from homeward.commands.handoffs import AcceptHandoff, ProposeHandoff, RejectHandoff
from homeward.commands.items import ItemChanged
from homeward.commands.runner import Command
from homeward.records.idempotency import flow_key
from workflows.forms import FORM, Assertion, ItemId, OrgSlug, RequestId, checked, takes_codes
from workflows.items import HandoffRejection, item_case, reason_text
from workflows.refusals import refusals_end_runs
from workflows.runtime import (
    command,
    engine_errors,
    item_run_name,
    label_run,
    prove_run,
    run_credential,
)

FLOW = "handoff-item"


class HandoffAction(StrEnum):
    PROPOSE = "propose"
    ACCEPT = "accept"
    REJECT = "reject"


def _required(value: str | None, field: str, what: str) -> str:
    if not value:
        raise InvalidInput(f"{field}: {what}")
    return value


def _command(
    item_id: int, action: HandoffAction, to_org: str | None, rejection: HandoffRejection | None
) -> Command[ItemChanged]:
    if action is HandoffAction.PROPOSE:
        slug = _required(to_org, "to_org", "name the organisation (slug) to hand the item to")
        return ProposeHandoff(item_id, slug)
    if action is HandoffAction.ACCEPT:
        return AcceptHandoff(item_id)
    why = _required(rejection, "rejection", "say why; choose one of " + ", ".join(HandoffRejection))
    return RejectHandoff(item_id, reason_text(why))


@refusals_end_runs
@takes_codes
@flow(name=FLOW, flow_run_name=item_run_name("handoff"), **FORM)
async def handoff_item(
    item_id: ItemId,
    action: HandoffAction,
    assertion: Assertion,
    to_org: OrgSlug | None = None,
    rejection: HandoffRejection | None = None,
    request_id: RequestId | None = None,
) -> dict[str, Any]:
    """Propose a handoff of an item, or accept or reject one addressed to your organisation.

    Args:
        item_id: the # number beside the item on its case's page in the staff workspace, and
            in the reminder and handoff emails.
        action: propose (hand it off), accept or reject (one handed to your organisation).
        assertion: who acts: paste what `homeward assertion --flow handoff-item` prints
            (one run, within minutes).
        to_org: for propose: the organisation to hand it to.
        rejection: for reject: why.
        request_id: leave it empty (a retry of this run then acts only once).

    Returns:
        The item number, the action, and the case_ref and stage of its case.
    """
    await checked()
    action = HandoffAction(action)
    with engine_errors():
        cred = run_credential(assertion, FLOW)
        key = flow_key(flow_run.get_id(), f"handoff-{action}", request_id)
    await prove_run(cred)  # a forged or replayed assertion stops the run here
    with engine_errors():
        why = HandoffRejection(rejection) if rejection is not None else None
        step = _command(item_id, action, to_org, why)
    view = item_case(await command(step, cred, key=key))
    await label_run(view, f"item-{item_id}-handoff-{action}")
    get_run_logger().info("case %s: handoff of item #%s: %s", view.case_ref, item_id, action)
    return view.summary(item_id=item_id, handoff=str(action))
