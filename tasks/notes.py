"""A case's free text: item notes, skip reasons and handoff reasons, and who may read them.

They are stored encrypted (``homeward.protection.vault``). Who may read one is
``vault.may_read_text``: the case owner's staff, and an organisation the text concerns once the
person consented to sharing with it. ``read`` decrypts through the vault, which audits the
read; anyone else learns that a text exists, never what it says.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from homeward.base import models
from homeward.base.models import (
    Case,
    ChecklistItem,
    ItemStatus,
    StaffMember,
)
from homeward.protection import vault

if TYPE_CHECKING:
    from homeward.base.models import Handoff

_ADHOC_CHANGES = ("rescheduled", "cancelled")  # an ad-hoc item's changes (``tasks.adhoc``)


@dataclass(frozen=True)
class FreeText:
    """One stored free-text value and the organisations it concerns."""

    label: str
    table: str
    column: str
    row_id: int
    stored: str
    parties: frozenset[int]


def item_texts(session: Session, item: ChecklistItem) -> Iterator[FreeText]:
    """An ad-hoc item's title, the item's note or skip reason, the reasons of its handoffs,
    then why an ad-hoc item was rescheduled or cancelled."""
    assert item.id is not None  # noqa: S101
    if item.title:  # an ad-hoc item's own title (``tasks.adhoc``)
        yield FreeText(
            "title", "checklist_item", "title", item.id, item.title, frozenset({item.owner_org_id})
        )
    if item.note:
        label = "skip reason" if item.status == ItemStatus.SKIPPED else "note"
        yield FreeText(
            label, "checklist_item", "note", item.id, item.note, frozenset({item.owner_org_id})
        )
    query = (
        select(models.Handoff)
        .where(models.Handoff.item_id == item.id)
        .order_by(col(models.Handoff.id))
    )
    yield from _handoff_texts(session.exec(query))
    changes = select(models.ItemChange).where(
        models.ItemChange.item_id == item.id, col(models.ItemChange.kind).in_(_ADHOC_CHANGES)
    )
    for change in session.exec(changes.order_by(col(models.ItemChange.id))):
        if change.reason and change.id is not None:
            yield FreeText(
                f"{change.kind} reason",
                "item_change",
                "reason",
                change.id,
                change.reason,
                frozenset({item.owner_org_id}),
            )


def case_texts(session: Session, case: Case) -> Iterator[tuple[str, FreeText]]:
    """Every free text of the case, each with what it belongs to (``#ID`` or ``case``)."""
    items = select(ChecklistItem).where(ChecklistItem.case_id == case.id)
    for item in session.exec(items.order_by(col(ChecklistItem.id))):
        for text in item_texts(session, item):
            yield f"#{item.id}", text
    transfers = select(models.Handoff).where(
        models.Handoff.case_id == case.id, col(models.Handoff.item_id).is_(None)
    )
    for text in _handoff_texts(session.exec(transfers.order_by(col(models.Handoff.id)))):
        yield "case", text


def _handoff_texts(handoffs: Iterable[Handoff]) -> Iterator[FreeText]:
    for handoff in handoffs:
        if handoff.reason and handoff.id is not None:
            sides = frozenset({handoff.from_org_id, handoff.to_org_id})
            label = f"handoff {handoff.status} reason"
            yield FreeText(label, "handoff", "reason", handoff.id, handoff.reason, sides)


def read(
    session: Session, *, case: Case, actor: StaffMember, text: FreeText, now: datetime
) -> str | None:
    """The text itself if ``actor`` may read it (the vault audits the read), else None."""
    if not vault.may_read_text(session, case=case, actor=actor, parties=text.parties):
        return None
    return vault.reveal_text(
        session,
        case=case,
        table=text.table,
        column=text.column,
        row_id=text.row_id,
        stored=text.stored,
        actor=actor,
        now=now,
        parties=text.parties,
    )
