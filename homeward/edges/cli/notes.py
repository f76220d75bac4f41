"""Reading a case's free text: item notes, skip reasons and handoff reasons.

They are stored encrypted (``homeward.protection.vault``). Who may read one is
``vault.may_read_text``:
the case owner's staff, and an organisation the text concerns once the person consented to
sharing with it. Each text shown is decrypted through the vault, which audits the read;
anyone else sees that a text exists, never what it says.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import typer
from rich.table import Table
from rich.text import Text
from sqlmodel import Session, col, select

from homeward.base.errors import NotFound
from homeward.base.models import Case, ChecklistItem, Handoff, ItemStatus, StaffMember
from homeward.edges.cli.common import actor, console, local, local_day, now, writing
from homeward.protection import vault
from homeward.protection.access import ensure_can_see
from homeward.records.directory import orgs_by_id
from tasks.catalog import load_catalog
from tasks.checklist import get_item

PRIVATE = "(private: for the case owner and, with the person's sharing consent, those it concerns)"


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
    """The item's note or skip reason, then the reasons of its handoffs."""
    assert item.id is not None  # noqa: S101
    if item.note:
        label = "skip reason" if item.status == ItemStatus.SKIPPED else "note"
        yield FreeText(
            label, "checklist_item", "note", item.id, item.note, frozenset({item.owner_org_id})
        )
    query = select(Handoff).where(Handoff.item_id == item.id).order_by(col(Handoff.id))
    yield from _handoff_texts(session.exec(query))


def case_texts(session: Session, case: Case) -> Iterator[tuple[str, FreeText]]:
    """Every free text of the case, each with what it belongs to (``#ID`` or ``case``)."""
    items = select(ChecklistItem).where(ChecklistItem.case_id == case.id)
    for item in session.exec(items.order_by(col(ChecklistItem.id))):
        for text in item_texts(session, item):
            yield f"#{item.id}", text
    transfers = select(Handoff).where(Handoff.case_id == case.id, col(Handoff.item_id).is_(None))
    for text in _handoff_texts(session.exec(transfers.order_by(col(Handoff.id)))):
        yield "case", text


def _handoff_texts(handoffs: Iterable[Handoff]) -> Iterator[FreeText]:
    for handoff in handoffs:
        if handoff.reason and handoff.id is not None:
            sides = frozenset({handoff.from_org_id, handoff.to_org_id})
            label = f"handoff {handoff.status} reason"
            yield FreeText(label, "handoff", "reason", handoff.id, handoff.reason, sides)


def shown(session: Session, case: Case, who: StaffMember, text: FreeText) -> Text:
    """The text itself if ``who`` may read it (the vault audits the read), else ``PRIVATE``;
    as plain ``Text``, so brackets typed in a note are never taken for markup."""
    if not vault.may_read_text(session, case=case, actor=who, parties=text.parties):
        return Text(PRIVATE)
    return Text(
        vault.reveal_text(
            session,
            case=case,
            table=text.table,
            column=text.column,
            row_id=text.row_id,
            stored=text.stored,
            actor=who,
            now=now(),
            parties=text.parties,
        )
    )


def print_case_texts(session: Session, case: Case, who: StaffMember) -> None:
    """The ``notes`` table of ``homeward case show --personal``."""
    table = Table("of", "what", "text", title="notes and reasons (confidential)")
    for holder, text in case_texts(session, case):
        table.add_row(holder, text.label, shown(session, case, who, text))
    console.print(table, markup=False)


def items_show(item_id: int) -> None:
    """Show one checklist item, with its note or skip reason and its handoffs' reasons
    (readable by the case owner and, with the person's sharing consent, those they concern;
    each read is audited)."""
    with writing() as session:  # writing: a read of a note is audited
        who = actor(session)
        item, case = get_item(session, item_id)
        try:
            ensure_can_see(session, who, case)
        except NotFound:
            raise NotFound(
                f"checklist item #{item_id} not found; see `homeward items list`"
            ) from None
        orgs = orgs_by_id(session)
        table = Table(show_header=False, title=f"item #{item.id}")
        rows = [
            ("case", case.case_ref),
            ("stage", item.stage),
            ("item", load_catalog(case.process_version).spec(item.code).title),
            ("owner", orgs[item.owner_org_id].slug),
            ("due", local_day(item.due_at)),
            ("status", item.status + (f" ({item.outcome})" if item.outcome else "")),
            ("recorded", local(item.completed_at)),
        ]
        for key, value in rows:
            if value:
                table.add_row(key, value)
        for text in item_texts(session, item):
            table.add_row(text.label, shown(session, case, who, text))
        console.print(table, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``show`` to ``homeward items``."""
    app.command("show")(items_show)
