"""Emails in a real browser (issue 17, point 5): both parts of every template, in English and
Romanian, rendered by headless Chromium as a webmail shows them, lose nothing.

Each sample of each template (``notifications.samples.variants``) is rendered; its HTML part is
opened as it is, its text part as a webmail shows text/plain (preformatted, wrapped). For each:
the text Chromium lays out holds every fact of the text part (case refs, item numbers, dates,
times, counts, days late or to go, the calendar note: ``tests.notifications.facts``); nothing
is wider than a phone's screen; every link is on screen; axe-core finds no serious problem; and
a full-page screenshot is kept (``tests/.artefacts``, one folder per template and language).
Lives beside the workspace's browser tests, whose Chromium and artefacts it shares.
"""

from __future__ import annotations

import html
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from notifications.render import render, template_names
from notifications.samples import variants
from tests.notifications.facts import facts
from tests.web.browser import DESKTOP, PHONE

TODAY = date(2026, 3, 2)
STAMP = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
# How a webmail shows a text/plain part: preformatted, long lines wrapped.
TEXT_PAGE = """<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body><main><pre style="white-space: pre-wrap; overflow-wrap: anywhere; font-size: 14px;">
{text}</pre></main></body></html>"""
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
LINKS_OFF_SCREEN = """() => [...document.querySelectorAll('a')].filter(a => {
    const box = a.getBoundingClientRect();
    return box.width === 0 || box.height === 0 || box.right > window.innerWidth + 1;
}).map(a => a.href)"""


def write_parts(folder: Path, template: str, language: str, name: str) -> tuple[Path, Path, str]:
    context = variants(template, language, TODAY)[name]
    result = render(template, language, context, stamp=STAMP, domain="homeward.example.org")
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"{name}.html"
    page.write_text(result.html, "utf-8")
    text = folder / f"{name}.text.html"
    title = html.escape(result.subject)
    text.write_text(TEXT_PAGE.format(lang=language, title=title, text=html.escape(result.text)))
    (folder / f"{name}.txt").write_text(result.text, "utf-8")  # the part itself, as an artefact
    return page, text, result.text


@pytest.mark.parametrize("language", ["en", "ro"])
@pytest.mark.parametrize("template", template_names())
def test_both_parts_render_in_chromium_without_losing_content(
    open_tab, artefacts, template, language
):
    phone = open_tab("file://", who=f"{template}-{language}", viewport=PHONE, locale=language)
    desktop = open_tab("file://", who=f"{template}-{language}-desktop", viewport=DESKTOP)
    for name in variants(template, language, TODAY):
        page, text_page, text = write_parts(artefacts / "parts", template, language, name)
        told = facts(text)
        for tab, path, part in ((phone, page, "html"), (phone, text_page, "text")):
            tab.goto(path.as_uri(), f"{name}-{part}")
            shown = facts(tab.text())
            for kind, value in told.items():
                assert shown[kind] == value, (template, language, name, part, kind, shown[kind])
            assert tab.page.evaluate(OVERFLOW) <= 0, (template, language, name, part, "wide")
            assert tab.page.evaluate(LINKS_OFF_SCREEN) == [], (template, language, name, part)
        if name == "sample":
            desktop.goto(page.as_uri(), f"{name}-html")
            assert facts(desktop.text()) == told
