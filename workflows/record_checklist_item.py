"""Flow ``record-checklist-item``: a checklist item recorded done, or skipped with a reason.

Items stay rows in Homeward's database: one run records one item, with no Prefect task per
item, through the same commands as ``homeward items done`` and ``skip``, acting for the person
whose run assertion started it. The run is named and tagged after the item's case once the
engine has recorded it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from homeward.base.errors import InvalidInput
from homeward.commands.items import DoneItem, ItemChanged, SkipItem
from homeward.commands.runner import Command
from homeward.records.idempotency import flow_key
from workflows.forms import FORM, Assertion, ItemId, Outcome, RequestId, checked, takes_codes
from workflows.items import SkipReason, item_case, reason_text
from workflows.refusals import refusals_end_runs
from workflows.runtime import (
    command,
    engine_errors,
    item_run_name,
    label_run,
    prove_run,
    run_credential,
)

FLOW = "record-checklist-item"


class ItemResult(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"


def _command(
    item_id: int, result: ItemResult, outcome: str | None, skip_reason: SkipReason | None
) -> Command[ItemChanged]:
    if result is ItemResult.DONE:
        return DoneItem(item_id, outcome)
    if skip_reason is None:
        raise InvalidInput(
            "skip_reason: say why the item is skipped; choose one of " + ", ".join(SkipReason)
        )
    return SkipItem(item_id, reason_text(skip_reason))


def _reason(code: str | None) -> SkipReason | None:
    return SkipReason(code) if code is not None else None


@refusals_end_runs
@takes_codes
@flow(name=FLOW, flow_run_name=item_run_name("record"), **FORM)
async def record_checklist_item(
    item_id: ItemId,
    result: ItemResult,
    assertion: Assertion,
    outcome: Outcome | None = None,
    skip_reason: SkipReason | None = None,
    request_id: RequestId | None = None,
) -> dict[str, Any]:
    """Record checklist item ``item_id`` done (with its outcome, if it has one) or skipped.

    Args:
        item_id: the # number beside the item on its case's page in the staff workspace, and
            in the reminder emails.
        result: done or skipped.
        assertion: who records it: paste what
            `homeward assertion --flow record-checklist-item` prints (one run, within minutes).
        outcome: for items with outcomes (a risk level, a best-interests assessment's finding).
        skip_reason: why the item is skipped (required for skipped).
        request_id: leave it empty (a retry of this run then records nothing twice).

    Returns:
        The item number, what was recorded, and the case_ref and stage of its case.
    """
    await checked()
    with engine_errors():
        cred = run_credential(assertion, FLOW)
        key = flow_key(flow_run.get_id(), "record", request_id)
    await prove_run(cred)  # a forged or replayed assertion stops the run here
    with engine_errors():
        step = _command(item_id, ItemResult(result), outcome, _reason(skip_reason))
    view = item_case(await command(step, cred, key=key))
    await label_run(view, f"item-{item_id}-{ItemResult(result)}")
    get_run_logger().info("case %s: item #%s %s", view.case_ref, item_id, result)
    return view.summary(item_id=item_id, recorded=str(ItemResult(result)))
