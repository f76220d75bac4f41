"""The case journal and its documents (issue 16, point 3) through the CLI and the commands, on
the test's real database: who reads and writes what, sniffing and the size limit, round trips,
audited reads, removal, the purge, and a canary that never shows in the clear."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from homeward.base import settings as homeward_settings
from homeward.base.db import get_engine, system_scope, write_session
from homeward.base.models import Case, CaseDocument, CaseEvent, CaseNote
from homeward.commands import journal as cmd
from homeward.commands.runner import run
from homeward.protection import retention
from tests import factories as f
from tests.cli.runner import run_cli
from tests.conftest import BACKEND
from tests.protect.test_canary import _all_rows, forms
from tests.protect.test_permissions import add_partners
from tests.signin import credential_for

OWNER_CW, OWNER_MGR = "cw@iom-it.example.org", "mgr@iom-it.example.org"
ADPARE, CONSULATE = "cw@adpare.example.org", "officer@cons-rome.example.org"
POLICE, ANITP = "coord@police-bv.example.org", "coord@anitp.example.org"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def png() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture
def ref(db_url, clock):
    """An adult's case owned by IOM Italy: ADPARE live with sharing consent, the consulate
    live without it, ANITP and the police taking part (with consent: they still read nothing)."""
    f.seed()
    add_partners()
    ref = f.open_case(clock, share=False, le="police-bv", anitp="anitp")
    f.give_sharing(ref, clock, "adpare", "anitp", "police-bv")
    return ref


def cli(capsys, monkeypatch, who, *argv):
    return run_cli(capsys, monkeypatch, "--as", who, *argv)


def as_(who, command, clock):
    return run(command, credential_for(who, clock.now()), clock=clock)


def _audit(action: str) -> int:
    with f.admin_read() as s:
        rows = s.exec(text("SELECT action FROM audit_entry")).all()  # type: ignore[call-overload]
    return sum(1 for r in rows if r[0] == action)


def test_who_writes_and_reads_which_note(ref, clock, capsys, monkeypatch):
    own = cli(capsys, monkeypatch, f.COORD, "journal", "add", ref, "--text", "owner's own note")
    assert own.code == 0 and "owner only" in own.out, own.err
    shared = cli(
        capsys, monkeypatch, f.COORD, "journal", "add", ref, "--text", "for all", "--shared"
    )
    assert shared.code == 0 and "shared" in shared.out
    partner = cli(capsys, monkeypatch, ADPARE, "journal", "add", ref, "--text", "visited today")
    assert partner.code == 0 and "shared with consented partners" in partner.out, partner.err

    readable = {
        who: {line.text for line in as_(who, cmd.ListNotes(ref), clock) if line.text}
        for who in (OWNER_CW, ADPARE, CONSULATE, POLICE, ANITP, OWNER_MGR)
    }
    assert readable[OWNER_CW] == {"owner's own note", "for all", "visited today"}
    assert readable[ADPARE] == {"for all", "visited today"}
    for nobody in (CONSULATE, POLICE, ANITP, OWNER_MGR):
        assert readable[nobody] == set(), nobody

    listed = cli(capsys, monkeypatch, ADPARE, "journal", "list", ref)
    assert listed.code == 0 and "(private)" in listed.out and "owner's own note" not in listed.out
    first = listed.out.index("visited today")
    assert first < listed.out.index("for all")  # newest first

    before = f.db_snapshot()
    for who in (CONSULATE, POLICE, ANITP, OWNER_MGR):
        refused = cli(capsys, monkeypatch, who, "journal", "add", ref, "--text", "not mine")
        assert refused.code == 4 and refused.err.count("\n") == 1, (who, refused.err)
        assert "cannot write to the journal" in refused.err
    assert f.db_snapshot() == before


def test_each_read_is_audited_and_a_note_is_a_case_change(ref, clock):
    as_(f.COORD, cmd.AddNote(ref, "first", None), clock)
    as_(ADPARE, cmd.AddNote(ref, "second", None), clock)
    version = f.load_case(ref).version
    reads = _audit("note_read")

    as_(OWNER_CW, cmd.ListNotes(ref), clock)
    as_(ADPARE, cmd.ListNotes(ref), clock)  # reads only the shared one
    as_(CONSULATE, cmd.ListNotes(ref), clock)  # reads none

    assert _audit("note_read") == reads + 3
    as_(f.COORD, cmd.AddNote(ref, "third", True), clock)
    assert f.load_case(ref).version == version + 1
    with f.admin_read() as s:
        events = s.exec(select(CaseEvent).where(CaseEvent.trigger == "note_added")).all()
    assert [e.data["visibility"] for e in events] == ["owner", "shared", "shared"]


def test_a_hidden_case_answers_like_a_missing_one(ref, clock, capsys, monkeypatch):
    as_(f.COORD, cmd.AddNote(ref, "a note", True), clock)
    absent = "RT-7KQ2-M9" if ref != "RT-7KQ2-M9" else "RT-7KQ2-M8"
    for argv in (["journal", "list"], ["document", "list"], ["journal", "add"]):
        extra = ["--text", "x"] if argv[-1] == "add" else []
        hidden = cli(capsys, monkeypatch, "cw@fmb.example.org", *argv, ref, *extra)
        missing = cli(capsys, monkeypatch, "cw@fmb.example.org", *argv, absent, *extra)
        assert hidden.code == missing.code == 3
        assert hidden.err.replace(ref, "X") == missing.err.replace(absent, "X")


def _write(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def test_a_pdf_and_a_png_round_trip_and_are_read_only_by_whom_they_are_for(
    ref, clock, tmp_path, capsys, monkeypatch
):
    image = png()
    pdf = _write(tmp_path, "consent.pdf", PDF)
    added = cli(
        capsys, monkeypatch, f.COORD, "document", "add", ref, pdf, "--kind", "signed_consent"
    )
    assert added.code == 0 and "application/pdf" in added.out and "owner only" in added.out
    photo = _write(tmp_path, "passport.png", image)
    shared = cli(
        capsys, monkeypatch, ADPARE, "document", "add", ref, photo, "--kind", "travel_document_copy"
    )
    assert shared.code == 0 and "image/png" in shared.out, shared.err
    with f.admin_read() as s:
        pdf_id, png_id = (d.id for d in s.exec(select(CaseDocument).order_by(CaseDocument.id)))

    reads = _audit("document_read")
    for who, doc, content in ((OWNER_CW, pdf_id, PDF), (ADPARE, png_id, image)):
        out = tmp_path / f"out-{doc}-{who[:3]}"
        got = cli(capsys, monkeypatch, who, "document", "get", str(doc), "--out", str(out))
        assert got.code == 0, got.err
        assert out.read_bytes() == content
        assert os.stat(out).st_mode & 0o777 == 0o600
    assert _audit("document_read") == reads + 2

    again = cli(capsys, monkeypatch, OWNER_CW, "document", "get", str(pdf_id), "--out", str(out))
    assert again.code == 2 and "exists already" in again.err
    listed = cli(capsys, monkeypatch, ADPARE, "document", "list", ref)
    assert "passport.png" in listed.out and "consent.pdf" not in listed.out
    assert "(private)" in listed.out
    for who in (ADPARE, CONSULATE, POLICE, OWNER_MGR):
        refused = cli(capsys, monkeypatch, who, "document", "get", str(pdf_id), "--out", "x")
        assert refused.code == 4, (who, refused.err)
    hidden = cli(capsys, monkeypatch, "cw@fmb.example.org", "document", "get", str(pdf_id))
    assert hidden.code != 0


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("report.pdf", b"MZ\x90\x00\x03\x00\x00\x00binary", "not a PDF, PNG, JPEG or plain text"),
        ("photo.png", PDF, "content is application/pdf but the name does not end in .pdf"),
        ("consent.pdf", b"\x89PNG\r\n\x1a\nrest", "content is image/png"),
        ("notes.html", b"<html><body>hi</body></html>", "does not end in .txt"),
        ("empty.txt", b"", "file: empty"),
        ("control.txt", b"text with \x1b[31m escape", "not a PDF, PNG, JPEG"),
    ],
)
def test_what_is_not_sniffed_as_its_name_says_is_refused(
    ref, tmp_path, capsys, monkeypatch, name, content, says
):
    path = _write(tmp_path, name, content)
    before = f.db_snapshot()
    refused = cli(capsys, monkeypatch, f.COORD, "document", "add", ref, path, "--kind", "other")
    assert refused.code == 2 and says in refused.err, refused.err
    assert refused.err.count("\n") == 1 and name not in refused.err
    assert f.db_snapshot() == before


def test_the_size_limit_is_a_setting(ref, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOMEWARD_DOCUMENT_MAX_BYTES", "2048")
    homeward_settings.get_settings.cache_clear()
    fits = _write(tmp_path, "small.txt", b"a" * 2048)
    big = _write(tmp_path, "big.txt", b"a" * 2049)
    before = f.db_snapshot()
    refused = cli(capsys, monkeypatch, f.COORD, "document", "add", ref, big, "--kind", "other")
    assert refused.code == 2 and "larger than 2,048 bytes" in refused.err
    assert f.db_snapshot() == before
    kind = "medical_report"
    assert cli(capsys, monkeypatch, f.COORD, "document", "add", ref, fits, "--kind", kind).code == 0
    wrong = cli(capsys, monkeypatch, f.COORD, "document", "add", ref, fits, "--kind", "diary")
    assert wrong.code == 2 and "kind: one of signed_consent" in wrong.err


def test_removing_wipes_the_document_and_keeps_the_reason_in_the_journal(
    ref, clock, tmp_path, capsys, monkeypatch
):
    path = _write(tmp_path, "wrong.txt", b"belongs to another case\n")
    assert (
        cli(capsys, monkeypatch, f.COORD, "document", "add", ref, path, "--kind", "other").code == 0
    )
    with f.admin_read() as s:
        (doc_id,) = [d.id for d in s.exec(select(CaseDocument))]
    refused = cli(capsys, monkeypatch, ADPARE, "document", "remove", str(doc_id), "--reason", "x")
    assert refused.code != 0
    removed = cli(
        capsys,
        monkeypatch,
        OWNER_CW,
        "document",
        "remove",
        str(doc_id),
        "--reason",
        "attached to the wrong case",
    )
    assert removed.code == 0, removed.err
    with f.admin_read() as s:
        doc = s.get(CaseDocument, doc_id)
        assert doc is not None and doc.content is None and doc.filename is None and doc.removed_at
    (line,) = [n for n in as_(OWNER_CW, cmd.ListNotes(ref), clock) if n.text]
    assert line.text == f"Document #{doc_id} (other) removed: attached to the wrong case"
    gone = cli(capsys, monkeypatch, OWNER_CW, "document", "get", str(doc_id), "--out", "y")
    assert gone.code == 4 and "was removed" in gone.err
    listed = cli(capsys, monkeypatch, OWNER_CW, "document", "list", ref)
    assert "(removed" in listed.out


def test_the_purge_leaves_no_note_nor_document(ref, clock, tmp_path, capsys, monkeypatch):
    as_(f.COORD, cmd.AddNote(ref, "a note to purge", True), clock)
    as_(f.COORD, cmd.AddDocument(ref, "other", "a.pdf", PDF, None), clock)
    with write_session() as s, system_scope(s):
        case = s.exec(select(Case).where(Case.case_ref == ref)).one()
        retention.purge_case(s, case=case, now=clock.now(), actor=None)
    with f.admin_read() as s:
        assert [n.body for n in s.exec(select(CaseNote))] == [None]
        docs = list(s.exec(select(CaseDocument)))
        assert [(d.filename, d.content) for d in docs] == [(None, None)]
    listed = cli(capsys, monkeypatch, f.COORD, "journal", "list", ref)
    assert listed.code == 0 and "(private)" in listed.out


CANARY_NOTE = "Zenobia Canarycanary hides at Strada Canarului"
CANARY_FILE = "Canaryport_Zenobia.txt"
CANARY_TEXT = b"Statement of Canarycanary about Canaryport\n"
SECRETS = ["Zenobia", "Canarycanary", "Canaryport", "Strada Canarului"]


def _leaks(blob: bytes) -> list[str]:
    return [s for s in SECRETS for form in forms(s) if form in blob]


def test_the_canary_never_shows_in_the_clear(ref, clock, tmp_path, capsys, monkeypatch):
    path = _write(tmp_path, CANARY_FILE, CANARY_TEXT)
    printed = ""
    for who, argv in (
        (f.COORD, ["journal", "add", ref, "--text", CANARY_NOTE, "--shared"]),
        (f.COORD, ["document", "add", ref, path, "--kind", "other", "--shared"]),
        (CONSULATE, ["journal", "list", ref]),
        (CONSULATE, ["document", "list", ref]),
        (f.COORD, ["document", "get", "1", "--out", str(tmp_path / "copy")]),
        (f.COORD, ["document", "remove", "1", "--reason", "moved to Canaryport's file"]),
    ):
        result = cli(capsys, monkeypatch, who, *argv)
        assert result.code == 0, (argv, result.err)
        printed += result.out + result.err
    assert (tmp_path / "copy").read_bytes() == CANARY_TEXT
    assert _leaks(printed.encode()) == []
    engine = get_engine()
    assert _leaks(_all_rows(engine).encode()) == []
    if BACKEND == "sqlite":
        database = Path(engine.url.database or "")
        for file in (database, database.with_name(database.name + "-wal")):
            if file.exists():
                assert _leaks(file.read_bytes()) == [], file.name


def test_a_document_is_bound_to_its_row_and_a_retried_note_is_added_once(
    ref, clock, capsys, monkeypatch
):
    from homeward.crypt import crypto
    from homeward.crypt.crypto import DecryptionFailed
    from homeward.protection import vault

    as_(f.COORD, cmd.AddDocument(ref, "other", "a.pdf", PDF, None), clock)
    with f.admin_read() as s:
        (doc,) = s.exec(select(CaseDocument)).all()
        case = s.get(Case, doc.case_id)
        assert case is not None and doc.content is not None and doc.id is not None
        key = vault.case_key(s, case)
    where = {"table": "case_document", "column": "content"}
    assert crypto.decrypt_bytes(key, doc.content, row_id=doc.id, **where) == PDF
    with pytest.raises(DecryptionFailed):
        crypto.decrypt_bytes(key, doc.content, row_id=doc.id + 1, **where)

    argv = ["journal", "add", ref, "--text", "once only", "--request-id", "retry-note-0001"]
    first, again = (cli(capsys, monkeypatch, f.COORD, *argv) for _ in range(2))
    assert first.code == again.code == 0 and first.out == again.out
    with f.admin_read() as s:
        assert len(s.exec(select(CaseNote)).all()) == 1
