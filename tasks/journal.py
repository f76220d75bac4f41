"""The case journal and its documents: who may write, who may read, and how each is kept.

A note or a document is ``owner`` (the owner organisation's staff only) or ``shared`` (also the
live participants the person consented to share with): who reads is ``vault.may_read_text``
with those participants as its parties, and the organisation that wrote it always among them.
Who writes: caseworkers, coordinators and supervisors of the owner, and of a live participant
with the person's sharing consent (the table's ``read_notes`` cell: whoever may read the
journal may add to it). Notes are never edited; a correction is a new note. A document's type
is sniffed from its first bytes (``SNIFFED``), its name and content are encrypted under the
case key bound to their row, and removing it wipes both, keeping the row and the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.base.models import (
    Case,
    CaseDocument,
    CaseNote,
    CaseParticipant,
    ParticipantStatus,
    StaffMember,
)
from homeward.base.settings import get_settings
from homeward.crypt import crypto
from homeward.protection import vault
from homeward.protection.access import can_see
from homeward.protection.consent import has_sharing_consent
from homeward.protection.permissions import (
    Action,
    owner_staff,
    permits,
    who_text,
)
from homeward.records import seals
from homeward.records.audit import record_event
from homeward.records.auditlog import audit
from homeward.records.locking import bump

VISIBILITIES = ("owner", "shared")
DOCUMENT_KINDS = (
    "signed_consent",
    "travel_document_copy",
    "fit_to_travel_certificate",
    "best_interests_report",
    "court_papers",
    "medical_report",
    "other",
)
NOTE_MAX = 2_000  # as the CLI caps a note (``homeward.edges.cli.texts``)
FILENAME_MAX = 200


@dataclass(frozen=True)
class Sniffed:
    """A document type we accept: its media type, first bytes and file name extensions."""

    media_type: str
    magic: bytes
    extensions: tuple[str, ...]


# Only these types; plain text has no magic and is recognised as UTF-8 without control codes.
SNIFFED = (
    Sniffed("application/pdf", b"%PDF-", (".pdf",)),
    Sniffed("image/png", b"\x89PNG\r\n\x1a\n", (".png",)),
    Sniffed("image/jpeg", b"\xff\xd8\xff", (".jpg", ".jpeg")),
    Sniffed("text/plain", b"", (".txt",)),
)
_TEXT_CONTROLS = {chr(c) for c in range(32)} - set("\t\n\r\f") | {"\x7f"}


# -- Who ---------------------------------------------------------------------------------------


def live_partners(session: Session, case: Case) -> frozenset[int]:
    """The organisations taking part live in ``case`` (the owner's own row included)."""
    query = select(CaseParticipant.org_id).where(
        CaseParticipant.case_id == case.id, CaseParticipant.status == ParticipantStatus.LIVE
    )
    return frozenset(session.exec(query))


def parties(session: Session, case: Case, visibility: str, org_id: int) -> frozenset[int]:
    """The organisations besides the owner a note or document of ``visibility`` concerns: its
    writer's organisation, and for ``shared`` every live participant (the vault still asks
    for the person's sharing consent with each)."""
    if visibility == "shared":
        return live_partners(session, case) | {org_id}
    return frozenset({org_id})


def may_write(session: Session, case: Case, actor: StaffMember) -> bool:
    """Whether ``actor`` may add to the journal or attach a document."""
    if not permits(session, actor, Action.READ_NOTES, case):
        return False
    if actor.org_id == case.owner_org_id:
        return True
    return actor.org_id in live_partners(session, case) and has_sharing_consent(
        session, case=case, org_id=actor.org_id
    )


def ensure_may_write(session: Session, case: Case, actor: StaffMember) -> None:
    """Refuse (one line, whom to ask) unless ``actor`` may write to the journal."""
    if not may_write(session, case, actor):
        raise Refused(
            f"{who_text(session, actor)} cannot write to the journal of case {case.case_ref}; "
            f"ask {owner_staff(session, case, Action.READ_NOTES)}"
        )


def visibility_for(case: Case, actor: StaffMember, shared: bool | None) -> str:
    """``shared`` if asked, ``owner`` if refused; by default the owner's notes stay with the
    owner and a partner's are shared (it writes for the people it works with)."""
    if shared is None:
        shared = actor.org_id != case.owner_org_id
    return "shared" if shared else "owner"


def may_read(
    session: Session, case: Case, actor: StaffMember, row: CaseNote | CaseDocument
) -> bool:
    """Whether ``actor`` may read this note's or document's text: the permission table's
    kind and role (ANITP and the police read no free text), then the vault's rule."""
    if not permits(session, actor, Action.READ_NOTES, case):
        return False
    found = parties(session, case, row.visibility, row.org_id)
    return vault.may_read_text(session, case=case, actor=actor, parties=found)


def _changed(
    session: Session, case: Case, actor: StaffMember, now: datetime, trigger: str, **data: object
) -> None:
    """A journal change is a case change: the case's next version and a history event (ids,
    codes and visibility only)."""
    bump(session, case)
    record_event(session, case=case, trigger=trigger, at=now, actor=actor, data=data)


# -- Notes -------------------------------------------------------------------------------------


def add_note(
    session: Session,
    *,
    case: Case,
    actor: StaffMember,
    text: str,
    shared: bool | None,
    now: datetime,
) -> CaseNote:
    """Add a note to the journal, encrypted under the case key."""
    body = text.strip()
    if not body:
        raise InvalidInput("text: empty; write what happened (the note is kept encrypted)")
    if len(body) > NOTE_MAX:
        raise InvalidInput(f"text: longer than {NOTE_MAX:,} characters; split it into two notes")
    ensure_may_write(session, case, actor)
    assert case.id is not None and actor.id is not None  # noqa: S101 (stored rows)
    note = CaseNote(
        case_id=case.id,
        author_id=actor.id,
        org_id=actor.org_id,
        at=now,
        visibility=visibility_for(case, actor, shared),
    )
    session.add(note)
    session.flush()
    assert note.id is not None  # noqa: S101
    note.body = vault.protect_text(
        session, case=case, table="case_note", column="body", row_id=note.id, text=body, now=now
    )
    session.add(note)
    _changed(session, case, actor, now, "note_added", note_id=note.id, visibility=note.visibility)
    return note


def list_notes(session: Session, case: Case) -> list[CaseNote]:
    """The case's notes, newest first."""
    query = select(CaseNote).where(CaseNote.case_id == case.id)
    return list(session.exec(query.order_by(col(CaseNote.at).desc(), col(CaseNote.id).desc())))


def read_note(
    session: Session, *, case: Case, actor: StaffMember, note: CaseNote, now: datetime
) -> str | None:
    """The note's text if ``actor`` may read it (the vault audits the read), else None."""
    if note.body is None or note.id is None or not may_read(session, case, actor, note):
        return None
    return vault.reveal_text(
        session,
        case=case,
        table="case_note",
        column="body",
        row_id=note.id,
        stored=note.body,
        actor=actor,
        now=now,
        parties=parties(session, case, note.visibility, note.org_id),
    )


# -- Documents ---------------------------------------------------------------------------------


def clean_filename(name: str) -> str:
    """The file's own name (no folders), checked; refused without quoting it."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or base in (".", ".."):
        raise InvalidInput("file: give the document's file name, e.g. consent.pdf")
    if len(base) > FILENAME_MAX or any(not ch.isprintable() for ch in base):
        raise InvalidInput(
            f"file: the name is longer than {FILENAME_MAX} characters or has control "
            "characters; rename the file"
        )
    return base


def _is_text(content: bytes) -> bool:
    try:
        decoded = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return not any(ch in _TEXT_CONTROLS for ch in decoded)


def sniff(content: bytes, filename: str) -> str:
    """The media type the content's first bytes show, if it is one we accept and the file
    name's extension agrees; otherwise a refusal naming what to do."""
    found = next(
        (s for s in SNIFFED if s.magic and content.startswith(s.magic)),
        SNIFFED[-1] if _is_text(content) else None,
    )
    accepted = "PDF, PNG, JPEG or plain text (UTF-8)"
    if found is None:
        raise InvalidInput(f"file: not a {accepted} document; convert it to PDF first")
    extension = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in found.extensions:
        raise InvalidInput(
            f"file: the content is {found.media_type} but the name does not end in "
            f"{' or '.join(found.extensions)}; rename the file or attach the right one"
        )
    return found.media_type


def check_content(content: bytes) -> None:
    """Refuse an empty document or one over ``HOMEWARD_DOCUMENT_MAX_BYTES``."""
    limit = get_settings().document_max_bytes
    if not content:
        raise InvalidInput("file: empty; attach the document itself")
    if len(content) > limit:
        raise InvalidInput(
            f"file: larger than {limit:,} bytes (HOMEWARD_DOCUMENT_MAX_BYTES); "
            "scan it at a lower resolution or split it"
        )


def add_document(
    session: Session,
    *,
    case: Case,
    actor: StaffMember,
    kind: str,
    filename: str,
    content: bytes,
    shared: bool | None,
    now: datetime,
) -> CaseDocument:
    """Attach a document: checked, sniffed, then its name and content encrypted."""
    if kind not in DOCUMENT_KINDS:
        raise InvalidInput(f"kind: one of {', '.join(DOCUMENT_KINDS)}")
    name = clean_filename(filename)
    check_content(content)
    media_type = sniff(content, name)
    ensure_may_write(session, case, actor)
    assert case.id is not None and actor.id is not None  # noqa: S101 (stored rows)
    doc = CaseDocument(
        case_id=case.id,
        kind=kind,
        media_type=media_type,
        size=len(content),
        visibility=visibility_for(case, actor, shared),
        uploaded_by_id=actor.id,
        org_id=actor.org_id,
        uploaded_at=now,
    )
    session.add(doc)
    session.flush()
    assert doc.id is not None  # noqa: S101
    key = vault.ensure_case_key(session, case, now)
    doc.filename = crypto.encrypt_field(
        key, name, table="case_document", column="filename", row_id=doc.id
    )
    doc.content = crypto.encrypt_bytes(
        key, content, table="case_document", column="content", row_id=doc.id
    )
    session.add(doc)
    audit(
        session,
        actor=actor,
        action="document_write",
        case_ref=case.case_ref,
        at=now,
        fields=["case_document.filename", "case_document.content"],
    )
    _changed(
        session,
        case,
        actor,
        now,
        "document_added",
        document_id=doc.id,
        kind=kind,
        visibility=doc.visibility,
    )
    return doc


def document_not_found(document_id: int) -> NotFound:
    """The one answer for a document that does not exist or whose case the caller may not see."""
    return NotFound(f"document #{document_id} not found; see `homeward document list CASE_REF`")


def visible_document(
    session: Session, document_id: int, actor: StaffMember
) -> tuple[CaseDocument, Case]:
    """A document and its case, if the actor's organisation sees the case."""
    doc = session.get(CaseDocument, document_id)
    case = session.get(Case, doc.case_id) if doc else None
    if doc is None or case is None or not can_see(session, actor, case):
        raise document_not_found(document_id)
    return doc, case


def list_documents(session: Session, case: Case) -> list[CaseDocument]:
    """The case's documents, newest first (removed ones too, without name or content)."""
    query = select(CaseDocument).where(CaseDocument.case_id == case.id)
    order = (col(CaseDocument.uploaded_at).desc(), col(CaseDocument.id).desc())
    return list(session.exec(query.order_by(*order)))


def read_filename(
    session: Session, *, case: Case, actor: StaffMember, doc: CaseDocument, now: datetime
) -> str | None:
    """The document's file name if ``actor`` may read it (audited), else None."""
    if doc.filename is None or doc.id is None or not may_read(session, case, actor, doc):
        return None
    return vault.reveal_text(
        session,
        case=case,
        table="case_document",
        column="filename",
        row_id=doc.id,
        stored=doc.filename,
        actor=actor,
        now=now,
        parties=parties(session, case, doc.visibility, doc.org_id),
    )


def _ensure_readable(session: Session, case: Case, actor: StaffMember, doc: CaseDocument) -> None:
    if doc.removed_at is not None or doc.content is None:
        raise Refused(f"document #{doc.id} was removed; its content is gone")
    if not may_read(session, case, actor, doc):
        whom = "the case owner's staff" + (
            " and partners with the person's sharing consent" if doc.visibility == "shared" else ""
        )
        raise Refused(
            f"document #{doc.id} is for {whom} only; "
            f"ask {owner_staff(session, case, Action.READ_NOTES)}"
        )


def read_document(
    session: Session, *, document_id: int, actor: StaffMember, now: datetime
) -> tuple[CaseDocument, Case, str, bytes]:
    """The document, its case, its file name and content, for someone who may read it; the
    read is audited (which fields, never what they hold)."""
    doc, case = visible_document(session, document_id, actor)
    _ensure_readable(session, case, actor, doc)
    assert doc.id is not None and doc.content is not None  # noqa: S101 (checked above)
    name = read_filename(session, case=case, actor=actor, doc=doc, now=now) or ""
    key = vault.case_key(session, case)
    seals.check_row(session, "case_document", doc.id)
    content = crypto.decrypt_bytes(
        key, doc.content, table="case_document", column="content", row_id=doc.id
    )
    audit(
        session,
        actor=actor,
        action="document_read",
        case_ref=case.case_ref,
        at=now,
        fields=["case_document.content"],
    )
    return doc, case, name, content


def remove_document(
    session: Session, *, document_id: int, actor: StaffMember, reason: str, now: datetime
) -> tuple[CaseDocument, Case]:
    """Remove a document: its name and content wiped, the row kept; the reason becomes a
    journal note of the document's visibility (encrypted, like every note)."""
    doc, case = visible_document(session, document_id, actor)
    if doc.removed_at is not None:
        raise Refused(f"document #{document_id} was removed already")
    if len(reason.strip()) < 5:
        raise InvalidInput("reason: say why the document is removed (5+ characters)")
    ensure_may_write(session, case, actor)
    if actor.org_id not in (case.owner_org_id, doc.org_id):
        raise Refused(
            f"document #{document_id} is removed by the case owner or the organisation that "
            f"attached it; ask {owner_staff(session, case, Action.READ_NOTES)}"
        )
    doc.filename, doc.content, doc.removed_at = None, None, now
    session.add(doc)
    text = f"Document #{document_id} ({doc.kind}) removed: {reason.strip()}"
    add_note(session, case=case, actor=actor, text=text, shared=doc.visibility == "shared", now=now)
    record_event(
        session,
        case=case,
        trigger="document_removed",
        at=now,
        actor=actor,
        data={"document_id": doc.id},
    )
    return doc, case
