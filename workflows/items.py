"""What the checklist-item flows share: the item's case as a view, and fixed reason codes.

A reason typed as free text could name a person, and a flow's parameters are stored by Prefect
in the clear; so the item flows take reasons as codes from these lists. The engine still keeps
the reason encrypted with the item, as it does for reasons given at the CLI.
"""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Session

from homeward.base.db import system_scope
from tasks.checklist import get_item
from workflows.runtime import CaseView


class SkipReason(StrEnum):
    """Why a checklist item is skipped."""

    NOT_APPLICABLE = "not_applicable_to_this_case"
    DONE_BY_ANOTHER_ORGANISATION = "done_by_another_organisation"
    PERSON_DECLINED = "person_declined"
    NO_CRIMINAL_PROCEEDINGS = "no_criminal_proceedings"
    NOT_POSSIBLE_SAFELY = "not_possible_safely"


class HandoffRejection(StrEnum):
    """Why an organisation rejects an item handed to it."""

    NOT_OUR_REMIT = "not_our_remit"
    NO_CAPACITY = "no_capacity"
    NEEDS_MORE_INFORMATION = "needs_more_information"
    WRONG_ORGANISATION = "wrong_organisation"


def item_case(session: Session, item_id: int) -> CaseView:
    """The view of the case an item belongs to (read after the engine allowed the change)."""
    with system_scope(session):  # a rejected handoff may leave the case out of the actor's sight
        _item, case = get_item(session, item_id)
        return CaseView.of(session, case)
