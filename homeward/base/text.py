"""Typed text made safe for where it is shown: a terminal, a spreadsheet, a markdown page.

Names, donors, reasons and notes are typed by people, some of them in partner organisations.
Shown as they are, they are instructions to whatever displays them: an ANSI escape or a bidi
override rewrites a terminal line, ``=HYPERLINK(...)`` is a formula to a spreadsheet (OWASP's
CSV injection), ``<script>`` or ``**x** | y`` is markup to a markdown renderer. Each helper
here turns such text back into text for one destination, and changes nothing else.
"""

from __future__ import annotations

import re
import unicodedata

# OWASP "CSV injection": a cell a spreadsheet reads as a formula (or, with tab and carriage
# return, one whose formula starts after them) gets a leading single quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&])")
_REPLACEMENT = "\ufffd"


def printable(value: str) -> str:
    """``value`` with every control and format character (ESC, NUL, CR, bidi overrides,
    zero-width joiners...) but the line feed replaced by U+FFFD, so that nothing a person
    typed can move the cursor, recolour or reorder what a terminal shows; tabs become spaces."""
    if value.isprintable():  # the common case: nothing to replace
        return value
    return "".join(_shown(c) for c in value)


def _shown(char: str) -> str:
    if char in "\n ":
        return char
    if char == "\t":
        return " "
    return _REPLACEMENT if unicodedata.category(char).startswith("C") else char


def for_sheet(value: object) -> object:
    """A cell for a CSV or XLSX file: text that a spreadsheet would read as a formula gets a
    leading ``'``, control characters (which XLSX cannot hold) are replaced; numbers, dates
    and empty cells stay as they are."""
    if not isinstance(value, str):
        return value
    return ("'" if value.startswith(_FORMULA_START) else "") + printable(value)


def for_markdown(value: object) -> str:
    """Text for a markdown page (a Prefect artifact, its description): one line, every
    character markdown or HTML gives a meaning to backslash-escaped, ``<``/``>``/``&`` as
    entities."""
    text = " ".join(printable(str(value)).split())
    escaped = _MARKDOWN.sub(r"\\\1", text)
    return escaped.replace("\\&", "&amp;").replace("\\<", "&lt;").replace("\\>", "&gt;")
