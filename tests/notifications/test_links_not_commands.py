"""Links, not commands (issue 17, point 6): every email sends its reader to a page of the web
workspace, the item's or the case's, and never asks anyone to run a command.

Every template, in English and Romanian, from each of its samples (``notifications.samples.
variants``): subject, text part and the HTML part as a mail client shows it hold no command
(``homeward items done 17``), no backticks, no shell prompt; both parts link to the exact item
or case page. The template and locale files themselves are checked too, so a new sentence
cannot bring a command back. (``tests/notifications/test_mail_links.py`` proves the same on
emails sent by real flows through a real SMTP server.)
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from importlib import resources

import pytest

from homeward.base.settings import workspace_url
from notifications.render import render, template_names
from notifications.samples import variants
from tests.notifications.facts import hrefs, visible_text

LANGUAGES = ("en", "ro")
TODAY = date(2026, 3, 2)
STAMP = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
COMMANDS = (
    re.compile(r"\bhomeward [a-z]"),  # "homeward items done 17" ("Homeward names cases": prose)
    re.compile(r"`"),  # `homeward ...`, as the CLI's own messages quote commands
    re.compile(r"(?m)^\s*\$ "),  # a shell prompt
    re.compile(r"(?<![\w-])--[a-z]"),  # an option
)
# Templates with no page to link to: the test email links the workspace's first page; a
# sign-in code its sign-in page; a partner whose sharing was withdrawn may not look any more.
NO_PAGE = {"test", "login_code", "sharing_withdrawn", "health_alert"}


def commands_in(text: str) -> list[str]:
    return [m.group() for pattern in COMMANDS for m in pattern.finditer(text)]


def page_of(template: str, context: dict[str, object]) -> str:
    """The workspace page the email is about."""
    base = workspace_url()
    if template in ("consent_withdrawn", "partner_joined") or (
        template.startswith("handoff_") and context.get("item_title") is None
    ):
        return f"{base}/cases/{context['case_ref']}"
    if template == "digest":
        lines = [line for key in ("overdue", "due_today", "coming_due", "partners_overdue")
                 for line in context[key]]  # type: ignore[attr-defined]  # fmt: skip
        return f"{base}/items/{lines[0]['item_number']}"
    if template == "escalation":  # the day's one escalation: its first group's first item
        return f"{base}/items/{context['cases'][0]['overdue'][0]['item_number']}"  # type: ignore[index]
    return f"{base}/items/{context['item_number']}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", template_names())
def test_every_email_links_its_page_and_asks_no_command(template, language):
    base = workspace_url()
    for name, context in variants(template, language, TODAY).items():
        result = render(template, language, context, stamp=STAMP)
        for part in (result.subject, result.text, visible_text(result.html)):
            assert not commands_in(part), (template, language, name, commands_in(part))
        links = set(re.findall(r"https?://\S+", result.text)) | set(hrefs(result.html))
        assert all(link.startswith(base + "/") for link in links), (template, name, links)
        if template in NO_PAGE:
            continue
        page = page_of(template, context.model_dump())
        assert page in result.text and page in hrefs(result.html), (template, language, name)


def test_the_template_and_locale_files_hold_no_command():
    root = resources.files("notifications")
    files = [root / "locale" / f"{language}.json" for language in LANGUAGES]
    stack = [root / "templates"]
    while stack:
        for entry in stack.pop().iterdir():
            (stack if entry.is_dir() else files).append(entry)
    assert len(files) > 60
    for file in files:
        text = file.read_text("utf-8")
        text = re.sub(r"\{[{%#].*?[}%#]\}", " ", text, flags=re.S)  # the words, not the code
        assert not commands_in(text), (file.name, commands_in(text))


def test_a_command_is_caught():
    assert commands_in("Run `homeward items done 17` to record it.")
    assert commands_in("then homeward case show RT-7KQ2-M9")
    assert commands_in("$ homeward mail outbox --dead")
    assert not commands_in("Homeward names cases only by their case_ref.")
