"""The web workspace under test: the real app (``create_app``) served by uvicorn on a free port
(as ``homeward up`` serves it) and driven over HTTP by httpx, on this test's real database, with
sign-in emails arriving at a real SMTP server (aiosmtpd) and the link in them followed as a
person would. Each ``Staff`` is one browser: its own cookie jar."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest

from homeward.base.clock import SimulatedClock
from homeward.edges.web.app import create_app
from homeward.edges.web.serve import Served
from notifications.sink import LocalSmtpServer, Received, RecordingHandler
from tests import factories as f
from tests.notifications.conftest import point_mail_at
from tests.web.browser import (  # noqa: F401 (the browser tests' fixtures and hook)
    artefacts,
    chromium,
    live_workspace,
    open_tab,
    pytest_runtest_teardown,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that drives Chromium carries the ``browser`` marker (``-m 'not browser'``)."""
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


CODE = re.compile(r"(\d{4}) ?(\d{4})")
LINK = re.compile(r"https?://\S+/signin/link\?\S+")


@pytest.fixture
def mailbox(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingHandler]:
    """A real SMTP server the settings point at, and the seeded organisations and staff."""
    handler = RecordingHandler()
    with LocalSmtpServer(handler) as server:
        point_mail_at(monkeypatch, server.port, HOMEWARD_LOGIN_ANSWER_SECONDS="0")
        f.seed()
        yield handler


class Forms(HTMLParser):
    """The forms of a page: action -> {field name: value} (hidden and filled-in inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.forms.append((found.get("action") or "", {}))
        elif tag == "input" and self.forms and found.get("name"):
            if found.get("type") in ("radio", "checkbox") and "checked" not in found:
                return
            self.forms[-1][1][found["name"] or ""] = found.get("value") or ""


def forms(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def form(html: str, action: str) -> dict[str, str]:
    """The fields of the (first) form posting to ``action``."""
    for found, fields in forms(html):
        if found == action:
            return dict(fields)
    raise AssertionError(f"no form posting to {action}")


def email_text(message: Received) -> str:
    body = message.parsed().get_body(("plain",))
    assert body is not None
    return str(body.get_content())


@dataclass
class Staff:
    """A person using the workspace through one browser (a TestClient keeps its cookies)."""

    client: httpx.Client
    mailbox: RecordingHandler
    clock: SimulatedClock

    def get(self, url: str, **kw: object):  # type: ignore[no-untyped-def]
        return self.client.get(url, follow_redirects=False, **kw)  # type: ignore[arg-type]

    def post(self, url: str, data: dict[str, str], **kw: object):  # type: ignore[no-untyped-def]
        return self.client.post(url, data=data, follow_redirects=False, **kw)  # type: ignore[arg-type]

    def submit(self, page_url: str, action: str, **fields: str):  # type: ignore[no-untyped-def]
        """Open ``page_url`` and send its form to ``action`` with ``fields`` filled in."""
        page = self.get(page_url)
        assert page.status_code == 200, page.text
        return self.post(action, {**form(page.text, action), **fields})

    def ask_code(self, email: str, next_path: str = "/") -> str:
        """Ask for a sign-in email at /signin; return the link path it brings (the link, or
        the code typed into /signin/link's address as the link would carry it)."""
        seen = len(self.mailbox.received)
        url = "/signin" + (f"?next={next_path}" if next_path != "/" else "")
        answer = self.submit(url, "/signin", email=email)
        assert answer.status_code == 200, answer.text
        assert len(self.mailbox.received) == seen + 1, "no sign-in email"
        return self.link_in_newest_email(email)

    def link_in_newest_email(self, email: str) -> str:
        text = email_text(self.mailbox.received[-1])
        link = LINK.search(text)
        if link:
            parts = urlsplit(link.group(0))
            return f"{parts.path}?{parts.query}"
        code = CODE.search(text)
        assert code, "no code in the sign-in email"
        return f"/signin/link?e={email}&c={code.group(1)}{code.group(2)}"

    def sign_in(self, email: str, next_path: str = "/"):  # type: ignore[no-untyped-def]
        """Sign in with the emailed link, confirming on the page it opens."""
        link = self.ask_code(email, next_path)
        page = self.get(link)
        assert page.status_code == 200, page.text
        fields = form(page.text, "/signin/link")
        fields["next"] = next_path
        return self.post("/signin/link", fields)


@dataclass
class Workspace:
    """The served app, its clock, and the browsers opened on it."""

    url: str
    clock: SimulatedClock
    mailbox: RecordingHandler
    opened: list[httpx.Client]

    def browser(self) -> Staff:
        """A new browser (no cookies yet)."""
        client = httpx.Client(base_url=self.url, timeout=30)
        self.opened.append(client)
        return Staff(client, self.mailbox, self.clock)


@pytest.fixture
def workspace(mailbox: RecordingHandler) -> Iterator[Workspace]:
    clock = SimulatedClock()
    with Served(create_app(clock=clock)) as served:
        opened: list[httpx.Client] = []
        yield Workspace(served.url, clock, mailbox, opened)
        for client in opened:
            client.close()


@pytest.fixture
def staff(workspace: Workspace) -> Staff:
    """One browser on the workspace."""
    return workspace.browser()
