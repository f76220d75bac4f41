"""Probes of the case journal and document commands for the principal matrix
(tests/protect/test_principal_matrix.py): one ordinary request per command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeward.commands import journal

Register = Callable[..., Callable[[Callable[[Any], Any]], Any]]
PDF = b"%PDF-1.4\n% probe\n%%EOF\n"


def register(probe: Register) -> None:
    """Add one probe per command to the matrix's table."""
    table: dict[str, Callable[[Any], Any]] = {
        "AddNote": lambda w: journal.AddNote(w.adult, "called the shelter", None),
        "ListNotes": lambda w: journal.ListNotes(w.adult),
        "JournalPage": lambda w: journal.JournalPage(w.adult),
        "AddDocument": lambda w: journal.AddDocument(w.adult, "other", "probe.pdf", PDF, None),
        "ListDocuments": lambda w: journal.ListDocuments(w.adult),
        "GetDocument": lambda _w: journal.GetDocument(1),
        "RemoveDocument": lambda _w: journal.RemoveDocument(1, "attached to the wrong case"),
    }
    for name, make in table.items():
        probe(name)(make)
