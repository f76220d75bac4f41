"""The journal page (``/cases/REF/journal``) through the real app served over HTTP: a note and
a document added from its forms, the document downloaded as an attachment, refusals shown in
place, a partner seeing only what is shared, the upload's CSRF check, and Romanian."""

from __future__ import annotations

from sqlmodel import select

from homeward.base import settings as homeward_settings
from homeward.base.models import CaseDocument
from tests import factories as f
from tests.casework.test_journal import PDF, png
from tests.web import conftest as web
from tests.web.conftest import Staff, form

mailbox, workspace, staff = web.mailbox, web.workspace, web.staff  # the workspace's fixtures

ADPARE = "cw@adpare.example.org"


def _open(staff: Staff, email: str, ref: str) -> str:
    landed = staff.sign_in(email, f"/cases/{ref}/journal")
    assert landed.status_code == 303, landed.text
    page = staff.get(f"/cases/{ref}/journal")
    assert page.status_code == 200, page.text
    return str(page.text)


def _upload(staff: Staff, ref: str, name: str, content: bytes, **fields: str):  # type: ignore[no-untyped-def]
    action = f"/cases/{ref}/journal/documents"
    page = staff.get(f"/cases/{ref}/journal")
    data = {**form(page.text, action), "kind": "signed_consent", **fields}
    files = {"file": (name, content, "application/octet-stream")}
    return staff.client.post(action, data=data, files=files, follow_redirects=False)


def test_a_note_and_a_document_from_the_page_and_the_download(staff: Staff) -> None:
    ref = f.open_case(staff.clock)
    _open(staff, f.COORD, ref)
    assert f'href="/cases/{ref}/journal"' in staff.get(f"/cases/{ref}").text

    added = staff.submit(
        f"/cases/{ref}/journal", f"/cases/{ref}/journal/notes", text="phoned the shelter"
    )
    assert added.status_code == 303 and added.headers["location"].endswith("/journal#notes")
    uploaded = _upload(staff, ref, "consent.pdf", PDF)
    assert uploaded.status_code == 303, uploaded.text
    page = staff.get(f"/cases/{ref}/journal").text
    assert "phoned the shelter" in page and "consent.pdf" in page
    with f.admin_read() as s:
        (doc,) = s.exec(select(CaseDocument)).all()

    got = staff.get(f"/documents/{doc.id}")

    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert "consent.pdf" in got.headers["content-disposition"]
    assert got.headers["x-content-type-options"] == "nosniff"


def test_refusals_show_in_place_and_change_nothing(staff: Staff, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ref = f.open_case(staff.clock)
    _open(staff, f.COORD, ref)
    before = _without_audit()

    mismatch = _upload(staff, ref, "consent.png", PDF)
    assert mismatch.status_code == 400 and 'id="problem-document"' in mismatch.text
    assert "does not end in .pdf" in mismatch.text
    monkeypatch.setenv("HOMEWARD_DOCUMENT_MAX_BYTES", "2048")
    homeward_settings.get_settings.cache_clear()
    too_big = _upload(staff, ref, "big.txt", b"a" * 200_000)
    assert too_big.status_code == 400 and "larger than the limit" in too_big.text
    empty = staff.submit(f"/cases/{ref}/journal", f"/cases/{ref}/journal/notes", text=" ")
    assert empty.status_code == 400 and 'id="problem-note"' in empty.text
    action = f"/cases/{ref}/journal/documents"
    files = {"file": ("a.pdf", PDF, "application/pdf")}
    forged = staff.client.post(action, data={"csrf": "x", "kind": "other"}, files=files)
    assert forged.status_code == 403
    fields = form(staff.get(f"/cases/{ref}/journal").text, action)
    assert staff.post(action, {**fields, "kind": "other"}).status_code == 403  # not multipart
    assert _without_audit() == before  # the page shown again audits its reads, nothing else


def _without_audit() -> dict[str, list[tuple[object, ...]]]:
    return {k: v for k, v in f.db_snapshot().items() if k != "audit_entry"}


def test_a_partner_sees_what_is_shared_in_romanian(workspace) -> None:  # type: ignore[no-untyped-def]
    owner, partner = workspace.browser(), workspace.browser()
    ref = f.open_case(workspace.clock)
    _open(owner, f.COORD, ref)
    page = f"/cases/{ref}/journal"
    owner.submit(page, f"{page}/notes", text="owner only words", visibility="owner")
    owner.submit(page, f"{page}/notes", text="words for partners", visibility="shared")
    _upload(owner, ref, "passport.png", png(), visibility="owner")

    seen = _open(partner, ADPARE, ref)

    assert "words for partners" in seen and "owner only words" not in seen
    assert "(private)" in seen and "passport.png" not in seen
    with f.admin_read() as s:
        (doc,) = s.exec(select(CaseDocument)).all()
    assert partner.get(f"/documents/{doc.id}").status_code == 409
    partner.submit("/", "/language", language="ro")
    assert "Jurnal și documente" in partner.get(page).text
