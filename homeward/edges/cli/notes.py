"""Reading a case's free text: item notes, skip reasons and handoff reasons.

They are stored encrypted; who may read one is the vault's rule (``tasks.notes``). Each text
shown was decrypted through the vault, which audited the read; anyone else sees that a text
exists, never what it says.
"""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from homeward.commands.runner import run
from homeward.commands.texts import TextLine
from homeward.edges.cli.common import (
    console,
    credential,
    for_terminal,
    local,
    local_day,
    state,
)

PRIVATE = "(private: for the case owner and, with the person's sharing consent, those it concerns)"


def shown(line: TextLine) -> Text:
    """The text, or ``PRIVATE``; as plain ``Text``, so brackets typed in a note are never
    taken for markup, nor escapes in it passed to the terminal."""
    return for_terminal(PRIVATE if line.text is None else line.text)


def print_text_lines(lines: list[TextLine]) -> None:
    """The ``notes`` table of ``homeward case show --personal``, from the case's text lines."""
    table = Table("of", "what", "text", title="notes and reasons (confidential)")
    for line in lines:
        table.add_row(line.holder, line.label, shown(line))
    console.print(table, markup=False)


def items_show(item_id: int) -> None:
    """Show one checklist item, with its note or skip reason and its handoffs' reasons
    (readable by the case owner and, with the person's sharing consent, those they concern;
    each read is audited)."""
    from homeward.commands.items import ShowItem  # not at the top: ``case show`` needs none

    item = run(ShowItem(item_id), credential(), clock=state.clock)
    table = Table(show_header=False, title=f"item #{item.item_id}")
    rows = [
        ("case", item.case_ref),
        ("stage", item.stage),
        ("item", item.title),
        ("owner", item.owner),
        ("due", local_day(item.due_at)),
        ("status", item.status + (f" ({item.outcome})" if item.outcome else "")),
        ("recorded", local(item.completed_at)),
    ]
    for key, value in rows:
        if value:
            table.add_row(key, value)
    for line in item.texts:
        table.add_row(line.label, shown(line))
    console.print(table, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``show`` to ``homeward items``."""
    app.command("show")(items_show)
