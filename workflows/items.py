"""What the checklist-item flows share: fixed reason codes, and the item's case as a view.

A reason typed as free text could name a person, and a flow's parameters are stored by Prefect
in the clear; so the item flows take reasons as codes from these lists. The engine still keeps
the reason encrypted with the item, as it does for reasons given at the CLI.
"""

from __future__ import annotations

from enum import StrEnum

from homeward.commands.items import ItemChanged
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


def reason_text(code: str) -> str:
    """A reason code as the engine stores it: ``no_capacity`` -> ``no capacity``."""
    return str(code).replace("_", " ")


def item_case(changed: ItemChanged) -> CaseView:
    """The view of the case an item belongs to, from the command's view of the change."""
    return CaseView(changed.case_ref, changed.stage, changed.org_kind)
