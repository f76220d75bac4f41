"""The consoles the CLI prints to, and how typed text is shown on them: light (rich only), so
that a usage error or ``homeward --help`` loads nothing of the engine."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from homeward.base.text import printable


def for_terminal(value: str) -> Text:
    """Typed text (a name, a donor, a reason) as a terminal shows it: never read as rich
    markup, control and format characters (ANSI escapes, bidi overrides) replaced."""
    return Text(printable(value))


class PlainConsole(Console):
    """A console that takes every string it renders as plain text.

    Table cells and printed lines carry names and notes people typed: a ``[/x]`` in a name
    must not end (or crash) a style, nor an ESC recolour the terminal. So markup is off and
    every string, a table cell as much as a line, goes through ``printable``; styles are
    given as ``style=`` or ``Text``, never as markup.
    """

    def render_str(self, text: str, **options: Any) -> Text:
        options["markup"] = False
        return super().render_str(printable(text), **options)


def _console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    # Piped output (CI logs, ``| less``) gets room for the tables instead of 80 columns.
    width = None if probe.is_terminal else 160
    return PlainConsole(stderr=stderr, highlight=False, markup=False, width=width)


console = _console()
err_console = _console(stderr=True)
