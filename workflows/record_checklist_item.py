"""Flow ``record-checklist-item``: a checklist item recorded done, or skipped with a reason.

Items stay rows in Homeward's database: one run records one item, with no Prefect task per
item. The run is named and tagged after the item's case once the engine has recorded it.
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
from tasks import checklist
from workflows.items import SkipReason, item_case
from workflows.runtime import CaseView, engine_errors, in_engine, item_run_name, label_run, now


class ItemResult(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"


def _record(
    item_id: int,
    result: ItemResult,
    acting_email: str,
    outcome: str | None,
    skip_reason: SkipReason | None,
    key: str | None,
) -> CaseView:
    if result is ItemResult.SKIPPED and skip_reason is None:
        raise InvalidInput(
            "skip_reason: say why the item is skipped; choose one of " + ", ".join(SkipReason)
        )
    with write_session() as session:
        actor = acting(session=session, email=acting_email)

        def record() -> dict[str, Any]:
            if result is ItemResult.DONE:
                item = checklist.mark_done(
                    session, item_id=item_id, actor=actor, now=now(), outcome=outcome
                )
            else:
                reason = str(skip_reason).replace("_", " ")
                item = checklist.mark_skipped(
                    session, item_id=item_id, actor=actor, now=now(), reason=reason
                )
            return {"item_id": item.id, "case_id": item.case_id, "status": item.status}

        args = {"item_id": item_id, "result": result, "outcome": outcome, "skip": skip_reason}
        once(
            session,
            key=key,
            command="record-checklist-item",
            actor=actor,
            args=args,
            now=now(),
            run=record,
        )
        return item_case(session, item_id)


@flow(name="record-checklist-item", flow_run_name=item_run_name("record"), persist_result=False)
async def record_checklist_item(
    item_id: int,
    result: ItemResult,
    acting_email: str,
    outcome: str | None = None,
    skip_reason: SkipReason | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Record checklist item ``item_id`` done (with its outcome, if it has one) or skipped.

    Args:
        item_id: the item's number, as ``homeward case show`` lists it.
        result: ``done`` or ``skipped``.
        acting_email: the staff member recording it (their email).
        outcome: for items with outcomes (e.g. a best-interests assessment), the outcome code.
        skip_reason: why the item is skipped (required for ``skipped``; a code).
        request_id: an idempotency key (8-100 of letters, digits and ``. _ : -``); by default
            the flow run's id, so a retry of this run does not record the item twice.

    Returns:
        The item number, what was recorded, and the case_ref and stage of its case.
    """
    with engine_errors():
        key = flow_key(flow_run.get_id(), "record", request_id)
    view = await in_engine(
        lambda: _record(item_id, result, acting_email, outcome, skip_reason, key)
    )
    await label_run(view, f"item-{item_id}-{result}")
    get_run_logger().info("case %s: item #%s %s", view.case_ref, item_id, result)
    return view.summary(item_id=item_id, recorded=str(result))
