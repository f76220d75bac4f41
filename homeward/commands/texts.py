"""A case's free texts as commands show them: notes, skip and handoff reasons, each decrypted
only where the reader may read it (``tasks.notes``, audited by the vault).

Apart from the item commands (``homeward.commands.items``), which use them too: ``homeward case
show`` loads these, not every item command (issue 19).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from homeward.base.models import Case, StaffMember
from tasks import notes


@dataclass(frozen=True)
class TextLine:
    """One free text of a case: what it belongs to (``#ID`` or ``case``), what it is, and the
    text itself, or None where the reader may not read it."""

    holder: str
    label: str
    text: str | None


def case_texts(session: Session, case: Case, reader: StaffMember, now: datetime) -> list[TextLine]:
    """Every free text of ``case`` as ``reader`` may see it (each read audited): for the case
    commands' ``show --personal``."""
    return [
        TextLine(holder, t.label, notes.read(session, case=case, actor=reader, text=t, now=now))
        for holder, t in notes.case_texts(session, case)
    ]
