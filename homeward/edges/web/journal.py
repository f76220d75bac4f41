"""The case journal page (``/cases/REF/journal``): notes with a form to add one, documents with
download links, an upload form and a form to remove one.

A document is uploaded as ``multipart/form-data``, parsed here in memory (never spooled to a
temporary file on disk) and capped at the size limit; it is downloaded as an attachment with
its sniffed media type and ``nosniff``, never shown inline. Nothing typed or uploaded goes into
a URL. The rules are the engine's (``tasks.journal``), through the commands layer.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from homeward.base.settings import get_settings
from homeward.commands.journal import (
    AddDocument,
    AddNote,
    GetDocument,
    JournalPage,
    RemoveDocument,
)
from homeward.commands.runner import Command
from homeward.edges.web import casework, deps
from homeward.edges.web.cases import new_key
from homeward.edges.web.deps import CSRF_FIELD, CsrfRefused, Form, Problem, Viewer
from homeward.edges.web.i18n import N_

router = APIRouter()
casework.part("journal", N_("Journal and documents"))

KIND_LABELS = {
    "signed_consent": N_("Signed consent"),
    "travel_document_copy": N_("Copy of the travel document"),
    "fit_to_travel_certificate": N_("Fit-to-travel certificate"),
    "best_interests_report": N_("Best interests report"),
    "court_papers": N_("Court papers"),
    "medical_report": N_("Medical report"),
    "other": N_("Other document"),
}
TOO_LONG = N_("text: at most 2000 characters; shorten it or write two notes")
TOO_BIG = N_("file: larger than the limit; scan it at a lower resolution or split it")
NO_FILE = N_("file: choose the document to attach")
_OVERHEAD = 64 * 1024  # the form's other fields and multipart boundaries


def journal_page(
    request: Request, v: Viewer, ref: str, *, problem: Problem | None = None, at: str = ""
) -> Response:
    """The journal page, with ``problem`` shown at ``at`` (``note``, ``document``, ``doc-N``)."""
    page = deps.call(v, JournalPage(ref))
    return deps.render(
        request,
        v,
        "journal.html",
        status_code=problem.status if problem else 200,
        active="case",
        path=f"/cases/{page.case_ref}/journal",
        page=page,
        ref=page.case_ref,
        kind_label=lambda kind: v._(KIND_LABELS[kind]) if kind in KIND_LABELS else kind,
        key=new_key,
        issue=problem,
        issue_at=at,
    )


@router.get("/cases/{ref}/journal")
def show_journal(ref: str, request: Request, v: Viewer = Depends(deps.viewer)) -> Response:
    """The journal (a case the reader may not see is "not found", as a missing one)."""
    return journal_page(request, v, ref)


def _act(
    request: Request, v: Viewer, ref: str, at: str, command: Command[Any], key: str | None
) -> Response:
    """Run ``command``; back to the journal at ``at``'s section, or, refused, the journal with
    the problem shown at ``at``."""

    def refused(problem: Problem) -> Response:
        if not ref:
            raise problem
        return journal_page(request, v, ref, problem=problem, at=at)

    section = "notes" if at == "note" else "documents"
    return deps.act(
        v,
        lambda: command,
        key,
        refused=refused,
        then=lambda done: f"/cases/{done.case_ref}/journal#{section}",
    )


@router.post("/cases/{ref}/journal/notes")
def add_note(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    """Add a note (owner only or shared, as chosen)."""
    text = form.get("text", "").strip()
    if len(text) > 2_000:
        problem = Problem.make("invalid", TOO_LONG, v.language, field="text")
        return journal_page(request, v, ref, problem=problem, at="note")
    command = AddNote(ref, text, _shared(form))
    return _act(request, v, ref, "note", command, form.get("key") or None)


def _shared(form: Form | FormData) -> bool | None:
    chosen = form.get("visibility")
    return None if chosen not in ("owner", "shared") else chosen == "shared"


class _InMemory(MultiPartParser):
    """Starlette's multipart parser, keeping an uploaded file in memory up to ``spool``
    bytes instead of spilling it into a temporary file (plaintext on disk) past 1 MB."""

    def __init__(self, request: Request, spool: int) -> None:
        super().__init__(
            request.headers, _capped(request, spool), max_files=1, max_fields=8, max_part_size=4096
        )
        self.spool_max_size = spool


class _TooBig(Exception):
    pass


async def _capped(request: Request, cap: int) -> AsyncGenerator[bytes, None]:
    """The request body, refused past ``cap`` bytes without reading the rest."""
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > cap:
            raise _TooBig
        yield chunk


async def _upload_form(request: Request, v: Viewer) -> FormData:
    """The upload form, CSRF-checked as ``deps.checked_form`` checks the others."""
    limit = get_settings().document_max_bytes
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise CsrfRefused  # not the upload form our page sends
    try:
        data = await _InMemory(request, limit + _OVERHEAD).parse()
    except MultiPartException:
        raise CsrfRefused from None  # not a form our page sent
    given = data.get(CSRF_FIELD)
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), v.csrf.encode()):
        raise CsrfRefused
    if not deps.same_origin(request):  # the same check as every form's
        raise CsrfRefused
    return data


@router.post("/cases/{ref}/journal/documents")
async def add_document(ref: str, request: Request, v: Viewer = Depends(deps.viewer)) -> Response:
    """Attach the uploaded document."""
    try:
        data = await _upload_form(request, v)
    except _TooBig:
        problem = Problem.make("invalid", TOO_BIG, v.language, field="file")
        return await run_in_threadpool(
            journal_page, request, v, ref, problem=problem, at="document"
        )
    upload = data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        problem = Problem.make("invalid", NO_FILE, v.language, field="file")
        return await run_in_threadpool(
            journal_page, request, v, ref, problem=problem, at="document"
        )
    content = await upload.read()
    kind = str(data.get("kind") or "")
    command = AddDocument(ref, kind, upload.filename, content, _shared(data))
    key = str(data.get("key") or "") or None
    return await run_in_threadpool(_act, request, v, ref, "document", command, key)


@router.get("/documents/{document_id}")
def download(document_id: int, v: Viewer = Depends(deps.viewer)) -> Response:
    """The document, as an attachment of its sniffed type (the read is audited)."""
    got = deps.call(v, GetDocument(document_id))
    fallback = f"document-{got.document_id}"
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(got.filename)}"
    return Response(
        got.content,
        media_type=got.media_type,
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@router.post("/documents/{document_id}/remove")
def remove(
    document_id: int,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    """Remove a document, with the reason (kept in the journal, encrypted)."""
    ref = form.get("ref", "")
    reason = form.get("reason", "").strip()[:2_000]
    command = RemoveDocument(document_id, reason)
    return _act(request, v, ref, f"doc-{document_id}", command, form.get("key") or None)
