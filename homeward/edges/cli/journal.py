"""``homeward journal`` and ``homeward document``: the case journal's notes and documents.

Notes and documents are stored encrypted; a list shows a note's text or a document's file name
only to whoever may read it (each read audited), "(private)" to the rest. No message here
repeats a note, a file's name or its path: they may name the person.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from homeward.base.errors import InvalidInput
from homeward.base.settings import get_settings
from homeward.commands import journal as cmd
from homeward.commands.runner import run
from homeward.edges.cli import texts
from homeward.edges.cli.common import (
    console,
    credential,
    for_terminal,
    local,
    request_id_option,
    state,
)
from tasks.journal import DOCUMENT_KINDS

journal_app = typer.Typer(
    help="The case journal: encrypted notes, newest first.", no_args_is_help=True
)
document_app = typer.Typer(
    help="A case's documents (PDF, PNG, JPEG, plain text), stored encrypted.", no_args_is_help=True
)
PRIVATE = "(private)"


def shared_option() -> bool | None:
    return typer.Option(  # type: ignore[no-any-return]
        None,
        "--shared/--owner-only",
        help="shared: also the partners the person consented to share with; owner-only: the "
        "case owner's staff (default: owner-only for the owner, shared for a partner)",
    )


@journal_app.command("add")
def journal_add(
    case_ref: str,
    text: str | None = typer.Option(None, "--text", help="the note (kept encrypted)"),
    text_file: str | None = texts.file_option("text"),
    edit: bool = texts.edit_option("text"),
    shared: bool | None = shared_option(),
    request_id: str = request_id_option(),
) -> None:
    """Add a note to the case journal (never edited: a correction is a new note)."""
    body = texts.FreeText("text", text, text_file, edit).required()
    added = run(
        cmd.AddNote(case_ref, body, shared), credential(), key=request_id, clock=state.clock
    )
    console.print(
        f"note #{added.note_id} added to case {added.case_ref} ({_seen_by(added.visibility)})"
    )


def _seen_by(visibility: str) -> str:
    return "shared with consented partners" if visibility == "shared" else "owner only"


@journal_app.command("list")
def journal_list(case_ref: str) -> None:
    """The case journal, newest first; each note you may read is shown (and the read audited)."""
    lines = run(cmd.ListNotes(case_ref), credential(), clock=state.clock)
    table = Table("#", "when", "by", "for", "note", title=f"journal of {case_ref.upper()}")
    for line in lines:
        shown = for_terminal(line.text) if line.text is not None else Text(PRIVATE)
        table.add_row(str(line.note_id), local(line.at), line.author, line.visibility, shown)
    console.print(table, markup=False)


def _read_file(file: Path) -> bytes:
    """The file's bytes, at most the size limit plus one (the engine refuses past it)."""
    limit = get_settings().document_max_bytes
    try:
        with file.open("rb") as source:
            return source.read(limit + 1)
    except OSError as exc:  # the path may name the person: say what failed, not where
        raise InvalidInput(f"FILE: cannot read the file ({exc.strerror})") from None


@document_app.command("add")
def document_add(
    case_ref: str,
    file: Path = typer.Argument(..., help="the document (PDF, PNG, JPEG or UTF-8 text)"),
    kind: str = typer.Option(..., "--kind", help=", ".join(DOCUMENT_KINDS)),
    shared: bool | None = shared_option(),
    request_id: str = request_id_option(),
) -> None:
    """Attach a document to a case: its type is read from its content, its name and content
    are stored encrypted."""
    content = _read_file(file)
    command = cmd.AddDocument(case_ref, kind, file.name, content, shared)
    added = run(command, credential(), key=request_id, clock=state.clock)
    console.print(
        f"document #{added.document_id} ({added.kind}, {added.media_type}, {added.size:,} bytes) "
        f"attached to case {added.case_ref} ({_seen_by(added.visibility)})"
    )


@document_app.command("list")
def document_list(case_ref: str) -> None:
    """A case's documents, newest first; the names you may read are shown (each read audited)."""
    lines = run(cmd.ListDocuments(case_ref), credential(), clock=state.clock)
    table = Table("#", "kind", "type", "bytes", "attached", "by", "for", "file", title="documents")
    for line in lines:
        if line.removed_at is not None:
            name = Text(f"(removed {local(line.removed_at)})")
        else:
            name = for_terminal(line.filename) if line.filename is not None else Text(PRIVATE)
        table.add_row(
            str(line.document_id),
            line.kind,
            line.media_type,
            f"{line.size:,}",
            local(line.uploaded_at),
            line.org,
            line.visibility,
            name,
        )
    console.print(table, markup=False)


def _write_private(out: Path, content: bytes) -> None:
    """Write a new file readable by its owner only (0600); never over an existing one."""
    try:
        handle = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput("--out: that file exists already; choose a new path") from None
    except OSError as exc:
        raise InvalidInput(f"--out: cannot create the file ({exc.strerror})") from None
    with os.fdopen(handle, "wb") as target:
        target.write(content)


@document_app.command("get")
def document_get(
    document_id: int,
    out: Path = typer.Option(..., "--out", help="where to write it (a new file, mode 0600)"),
) -> None:
    """Fetch a document into a new file readable only by you (the read is audited)."""
    got = run(cmd.GetDocument(document_id), credential(), clock=state.clock)
    _write_private(out, got.content)
    console.print(
        f"document #{got.document_id} ({got.media_type}, {len(got.content):,} bytes) written"
    )


@document_app.command("remove")
def document_remove(
    document_id: int,
    reason: str | None = typer.Option(None, "--reason", help="why it is removed (kept encrypted)"),
    reason_file: str | None = texts.file_option("reason"),
    edit: bool = texts.edit_option("reason"),
) -> None:
    """Remove a document: its content and name are wiped; the reason goes to the journal."""
    why = texts.FreeText("reason", reason, reason_file, edit).required()
    removed = run(cmd.RemoveDocument(document_id, why), credential(), clock=state.clock)
    console.print(f"document #{removed.document_id} of case {removed.case_ref} removed")


def register(app: typer.Typer) -> None:
    """Add ``homeward journal`` and ``homeward document``."""
    app.add_typer(journal_app, name="journal")
    app.add_typer(document_app, name="document")
