"""What an email tells its reader, read back from a rendered part: the facts a busy person acts
on (case refs, item numbers, dates, times, counts, days late or to go, the note that a calendar
file is attached, organisation names, item titles, links) and the words around them.

``visible_text`` reads an HTML part as a mail client shows it (no head, no markup, entities
decoded, one space between words); ``facts`` then reads the same things from either part, so
a test can say that the text and the HTML part of an email say the same.
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser
from typing import Any

from notifications.i18n import locale

URL = re.compile(r"https?://[^\s\"'<>]+")
CASE_REF = re.compile(r"\b[A-Z]{2}-[A-Z0-9]{4}-[A-Z0-9]{2}\b")
ITEM_NUMBER = re.compile(r"#\d+\b")
TIME = re.compile(r"\b\d{2}:\d{2}\b")
COUNT = re.compile(r"\((\d+)\)")
DAYS = re.compile(
    r"(?:\bin |\bpeste |întârziere: |\bacum )?\b\d+(?: de)? (?:days?|zile|zi)\b(?: late| ago)?"
    r"|\bdue today\b|\btermen azi\b"
)
ATTACHED = re.compile(r"attached|atașat", re.IGNORECASE)
NUMBER = re.compile(r"\d+")
WORD = re.compile(r"[^\W\d_]{3,}")
SKIPPED = {"head", "title", "style", "script"}
BREAKS = {"p", "br", "tr", "li", "h1", "h2", "h3", "h4", "hr", "table", "div", "ul"}


def _months() -> str:
    names = [m for language in ("en", "ro") for m in locale(language).months]
    return "|".join(names)


DATE = re.compile(rf"\b\d{{1,2}} (?:{_months()}) \d{{4}}\b")


class _Visible(HTMLParser):
    """The text a reader sees, and the links they can follow."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.hrefs: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skipping += tag in SKIPPED
        self.chunks.append("\n" if tag in BREAKS else "")
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href" and value]

    def handle_endtag(self, tag: str) -> None:
        self._skipping -= tag in SKIPPED
        self.chunks.append("\n" if tag in BREAKS else " " if tag == "td" else "")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.chunks.append(data)


def visible_text(html: str) -> str:
    """What a mail client shows of an HTML part: text only, whitespace folded per line."""
    parser = _Visible()
    parser.feed(html)
    lines = ("".join(parser.chunks)).splitlines()
    return "\n".join(" ".join(line.split()) for line in lines if line.strip())


def hrefs(html: str) -> list[str]:
    """Every link of an HTML part (``href`` of its anchors, entities decoded)."""
    parser = _Visible()
    parser.feed(html)
    return parser.hrefs


def _folded(text: str) -> str:
    return " ".join(text.split())


def facts(text: str) -> dict[str, Any]:
    """The facts ``text`` (a text part, or an HTML part's visible text) tells, by kind:
    sets where repeating a fact changes nothing, a count where it does (attachment notes)."""
    text = _folded(text)
    bare = URL.sub(" ", text)
    return {
        "case refs": set(CASE_REF.findall(bare)),
        "item numbers": set(ITEM_NUMBER.findall(bare)),
        "dates": set(DATE.findall(bare)),
        "times": set(TIME.findall(bare)),
        "counts": Counter(COUNT.findall(bare)),
        "days": set(DAYS.findall(bare)),
        "attachment notes": len(ATTACHED.findall(bare)),
        "numbers": set(NUMBER.findall(bare)),
    }


def words(text: str) -> set[str]:
    """The distinct words (three letters or more, lower case) of ``text``, links left out."""
    return {w.lower() for w in WORD.findall(URL.sub(" ", text))}


def named(context: dict[str, Any]) -> set[str]:
    """Organisation names and item titles a context gives a template to say."""
    found: set[str] = set()
    for key in ("org_name", "from_org", "to_org", "owner_org", "unreached_org", "item_title"):
        if context.get(key):
            found.add(str(context[key]))
    found |= {str(t) for t in context.get("item_titles", ())}
    for section in ("overdue", "due_today", "coming_due", "partners_overdue"):
        for line in context.get(section, ()):
            found |= {str(line["org_name"]), str(line["item_title"])}
    return found
