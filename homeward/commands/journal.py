"""The case journal and documents as commands: add and list notes, attach, list, fetch and
remove documents, and the journal page's view.

The engine's rules are in ``tasks.journal``. Free text, file names and contents stay out of
request fingerprints (``private``); lists and fetches are writes, since every text or document
read is audited in the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from sqlmodel import col, select

from homeward.base.models import Case, StaffMember
from homeward.base.settings import get_settings
from homeward.commands.runner import Command, Context
from homeward.records.directory import orgs_by_id
from statemachines.cases import get_case
from tasks import journal

V = TypeVar("V")


class PrivateArgs(Command[V]):
    """A command whose free text (or file) is left out of its request key's fingerprint."""

    private: ClassVar[tuple[str, ...]] = ()

    def args(self) -> Mapping[str, Any]:
        return {k: v for k, v in super().args().items() if k not in self.private}


@dataclass(frozen=True)
class NoteAdded:
    note_id: int
    case_ref: str
    visibility: str


@dataclass(frozen=True)
class AddNote(PrivateArgs[NoteAdded]):
    """Add a note to the case journal (``shared``: None gives the writer's default)."""

    ref: str
    text: str
    shared: bool | None = None
    name = "journal add"
    view = NoteAdded
    private = ("text",)

    def execute(self, ctx: Context) -> NoteAdded:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        note = journal.add_note(
            ctx.session, case=case, actor=ctx.staff, text=self.text, shared=self.shared, now=ctx.now
        )
        return NoteAdded(note.id or 0, case.case_ref, note.visibility)


@dataclass(frozen=True)
class NoteLine:
    """One note as listed: its text, or None where the reader may not read it."""

    note_id: int
    at: datetime
    org: str
    author: str
    visibility: str
    text: str | None


def _emails(ctx: Context, ids: set[int]) -> dict[int, str]:
    query = select(StaffMember.id, StaffMember.email).where(col(StaffMember.id).in_(ids))
    return {i: e for i, e in ctx.session.exec(query).all() if i is not None} if ids else {}


def _notes(ctx: Context, case: Case) -> list[NoteLine]:
    orgs, notes = orgs_by_id(ctx.session), journal.list_notes(ctx.session, case)
    emails, lines = _emails(ctx, {n.author_id for n in notes}), []
    for note in notes:
        text = journal.read_note(ctx.session, case=case, actor=ctx.staff, note=note, now=ctx.now)
        org = orgs[note.org_id].slug
        author = emails.get(note.author_id, org)
        lines.append(NoteLine(note.id or 0, note.at, org, author, note.visibility, text))
    return lines


@dataclass(frozen=True)
class ListNotes(Command[list[NoteLine]]):
    """The case journal, newest first (each note read is audited)."""

    ref: str
    name = "journal list"

    def execute(self, ctx: Context) -> list[NoteLine]:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        return _notes(ctx, case)


@dataclass(frozen=True)
class DocumentAdded:
    document_id: int
    case_ref: str
    kind: str
    media_type: str
    size: int
    visibility: str


@dataclass(frozen=True)
class AddDocument(PrivateArgs[DocumentAdded]):
    """Attach a document to a case: sniffed, size-checked, encrypted."""

    ref: str
    kind: str
    filename: str
    content: bytes
    shared: bool | None = None
    name = "document add"
    view = DocumentAdded
    private = ("filename", "content")

    def execute(self, ctx: Context) -> DocumentAdded:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        doc = journal.add_document(
            ctx.session,
            case=case,
            actor=ctx.staff,
            kind=self.kind,
            filename=self.filename,
            content=self.content,
            shared=self.shared,
            now=ctx.now,
        )
        return DocumentAdded(
            doc.id or 0, case.case_ref, doc.kind, doc.media_type, doc.size, doc.visibility
        )


@dataclass(frozen=True)
class DocumentLine:
    """One document as listed: its file name, or None where the reader may not read it (or
    it was removed)."""

    document_id: int
    kind: str
    media_type: str
    size: int
    uploaded_at: datetime
    org: str
    visibility: str
    filename: str | None
    removed_at: datetime | None
    readable: bool


def _documents(ctx: Context, case: Case) -> list[DocumentLine]:
    orgs, lines = orgs_by_id(ctx.session), []
    for doc in journal.list_documents(ctx.session, case):
        name = journal.read_filename(ctx.session, case=case, actor=ctx.staff, doc=doc, now=ctx.now)
        lines.append(
            DocumentLine(
                doc.id or 0,
                doc.kind,
                doc.media_type,
                doc.size,
                doc.uploaded_at,
                orgs[doc.org_id].slug,
                doc.visibility,
                name,
                doc.removed_at,
                name is not None,
            )
        )
    return lines


@dataclass(frozen=True)
class ListDocuments(Command[list[DocumentLine]]):
    """The case's documents, newest first (each file name read is audited)."""

    ref: str
    name = "document list"

    def execute(self, ctx: Context) -> list[DocumentLine]:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        return _documents(ctx, case)


@dataclass(frozen=True)
class DocumentFile:
    """A document to hand over: its name, sniffed media type and content."""

    document_id: int
    case_ref: str
    filename: str
    media_type: str
    content: bytes


@dataclass(frozen=True)
class GetDocument(Command[DocumentFile]):
    """Fetch one document (the read is audited)."""

    document_id: int
    name = "document get"

    def execute(self, ctx: Context) -> DocumentFile:
        doc, case, name, content = journal.read_document(
            ctx.session, document_id=self.document_id, actor=ctx.staff, now=ctx.now
        )
        return DocumentFile(doc.id or 0, case.case_ref, name, doc.media_type, content)


@dataclass(frozen=True)
class DocumentRemoved:
    document_id: int
    case_ref: str


@dataclass(frozen=True)
class RemoveDocument(PrivateArgs[DocumentRemoved]):
    """Remove a document: content and name wiped; the reason becomes a journal note."""

    document_id: int
    reason: str
    name = "document remove"
    view = DocumentRemoved
    private = ("reason",)

    def execute(self, ctx: Context) -> DocumentRemoved:
        doc, case = journal.remove_document(
            ctx.session,
            document_id=self.document_id,
            actor=ctx.staff,
            reason=self.reason,
            now=ctx.now,
        )
        return DocumentRemoved(doc.id or 0, case.case_ref)


@dataclass(frozen=True)
class JournalView:
    """The journal page: notes and documents as the reader may see them, and what they may do."""

    case_ref: str
    notes: list[NoteLine]
    documents: list[DocumentLine]
    may_write: bool
    is_owner: bool
    kinds: tuple[str, ...]
    max_bytes: int


@dataclass(frozen=True)
class JournalPage(Command[JournalView]):
    """Everything the journal page shows (each text read is audited)."""

    ref: str
    name = "journal page"

    def execute(self, ctx: Context) -> JournalView:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        return JournalView(
            case.case_ref,
            _notes(ctx, case),
            _documents(ctx, case),
            journal.may_write(ctx.session, case, ctx.staff),
            ctx.staff.org_id == case.owner_org_id,
            journal.DOCUMENT_KINDS,
            get_settings().document_max_bytes,
        )
