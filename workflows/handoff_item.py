"""Flow ``handoff-item``: hand a checklist item to another organisation, or answer a handoff.

The engine checks the sharing consent, who may hand off and who may answer; the notices to
the organisations are queued by the notifications package in the same transaction.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from homeward.base.db import write_session
from homeward.base.errors import InvalidInput
from homeward.records.directory import acting
from homeward.records.idempotency import flow_key, once
from tasks import handoffs
from workflows.items import HandoffRejection, item_case
from workflows.runtime import CaseView, engine_errors, in_engine, item_run_name, label_run, now


class HandoffAction(StrEnum):
    PROPOSE = "propose"
    ACCEPT = "accept"
    REJECT = "reject"


def _required(value: str | None, field: str, what: str) -> str:
    if not value:
        raise InvalidInput(f"{field}: {what}")
    return value


def _handoff(
    item_id: int,
    action: HandoffAction,
    acting_email: str,
    to_org: str | None,
    rejection: HandoffRejection | None,
    key: str | None,
) -> CaseView:
    with write_session() as session:
        actor = acting(session=session, email=acting_email)

        def act() -> dict[str, Any]:
            if action is HandoffAction.PROPOSE:
                slug = _required(
                    to_org, "to_org", "name the organisation (slug) to hand the item to"
                )
                handoff = handoffs.propose(
                    session, item_id=item_id, to_org_slug=slug, actor=actor, now=now()
                )
            elif action is HandoffAction.ACCEPT:
                handoff = handoffs.accept(session, item_id=item_id, actor=actor, now=now())
            else:
                why = _required(
                    rejection, "rejection", "say why; choose one of " + ", ".join(HandoffRejection)
                )
                reason = why.replace("_", " ")
                handoff = handoffs.reject(
                    session, item_id=item_id, actor=actor, now=now(), reason=reason
                )
            return {"item_id": item_id, "handoff_id": handoff.id, "case_id": handoff.case_id}

        args = {"item_id": item_id, "action": action, "to_org": to_org, "rejection": rejection}
        once(session, key=key, command="handoff-item", actor=actor, args=args, now=now(), run=act)
        return item_case(session, item_id)


@flow(name="handoff-item", flow_run_name=item_run_name("handoff"), persist_result=False)
async def handoff_item(
    item_id: int,
    action: HandoffAction,
    acting_email: str,
    to_org: str | None = None,
    rejection: HandoffRejection | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Propose a handoff of an item, or accept or reject one addressed to your organisation.

    Args:
        item_id: the item's number, as ``homeward case show`` lists it.
        action: ``propose``, ``accept`` or ``reject``.
        acting_email: the staff member acting (their email).
        to_org: for ``propose``: the receiving organisation's slug, e.g. ``adpare``.
        rejection: for ``reject``: why (a code).
        request_id: an idempotency key (8-100 of letters, digits and ``. _ : -``); by default
            the flow run's id, so a retry of this run does not act twice.

    Returns:
        The item number, the action, and the case_ref and stage of its case.
    """
    with engine_errors():
        key = flow_key(flow_run.get_id(), f"handoff-{action}", request_id)
    view = await in_engine(lambda: _handoff(item_id, action, acting_email, to_org, rejection, key))
    await label_run(view, f"item-{item_id}-handoff-{action}")
    get_run_logger().info("case %s: handoff of item #%s: %s", view.case_ref, item_id, action)
    return view.summary(item_id=item_id, handoff=str(action))
