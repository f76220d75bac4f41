"""No personal data reaches a partner without the person's consent, in a real browser.

A canary person's case names ADPARE as its partner NGO, but the person has not agreed to share
with ADPARE. The coordinator works the case (notes and a skip reason that name the person). An
ADPARE caseworker then signs in and opens every page they can reach: every link from My work,
followed page by page, and the case's and its items' addresses typed in directly. The canary,
in every encoding tests/protect/test_canary.py knows, appears in none of those pages, in no URL
the browser asked for, in no line the server logged, in no email to ADPARE and in nothing sent
to the Prefect API (a recording HTTP server stands in for the address the workspace would
call). As a control, the coordinator's audited "show personal details" does show the canary.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from homeward.commands.cases import EnterPerson
from homeward.commands.items import DoneItem, SkipItem
from homeward.commands.runner import run
from tests import factories as f
from tests.protect.test_canary import CANARY, SECRETS, assert_clean
from tests.signin import credential_for
from tests.web.browser import Browsing, Opener, Workspace

pytestmark = pytest.mark.browser

PARTNER = "cw@adpare.example.org"
MAX_PAGES = 40


class Recorder(BaseHTTPRequestHandler):
    """Keeps every request (line, headers, body) and answers 503: no Prefect here."""

    seen: list[bytes] = []

    def _keep(self) -> None:
        size = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(size) if size else b""
        self.seen.append(self.requestline.encode() + bytes(self.headers) + body)
        self.send_response(503)
        self.send_header("content-length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _keep  # noqa: N815

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def prefect_sink(live_workspace: Workspace) -> Iterator[list[bytes]]:
    """The workspace's Prefect API address points at a recording server on 127.0.0.1."""
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app = live_workspace.server.app
    app.state.prefect_api_url = f"http://127.0.0.1:{server.server_address[1]}/api"
    yield Recorder.seen
    server.shutdown()


def _crawl(tab: Browsing, start: str, also: list[str]) -> dict[str, str]:
    """Open ``start`` and every same-site link reachable from it, then each of ``also``;
    return the HTML of every page by the path asked for."""
    pages: dict[str, str] = {}
    queue = [start, *also]
    while queue and len(pages) < MAX_PAGES:
        path = queue.pop(0)
        if path in pages:
            continue
        tab.goto(path)
        pages[path] = tab.html()
        for href in tab.page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            parts = urlsplit(href)
            found = parts.path + (f"?{parts.query}" if parts.query else "")
            if href.startswith(tab.base + "/") and found not in pages:
                queue.append(found)
    return pages


def test_a_partner_without_consent_sees_no_personal_data_anywhere(
    open_tab: Opener, live_workspace: Workspace, prefect_sink: list[bytes]
):
    ws, clock = live_workspace, live_workspace.clock
    ref = f.open_case(clock, share=False, person=CANARY)  # ADPARE named, no consent to share
    coordinator = credential_for(f.COORD, clock.now())
    run(EnterPerson(ref, CANARY), coordinator, clock=clock)
    first, second, *rest = f.items(ref)
    run(DoneItem(first.id or 0, note="met Zenobia at Canaryport"), coordinator, clock=clock)
    run(SkipItem(second.id or 0, reason="Zenobia Canarycanary moved"), coordinator, clock=clock)
    items = [i.id for i in f.items(ref)]

    partner = open_tab(ws.url, who="partner", locale="ro-RO")
    asked: list[str] = []
    partner.page.on("request", lambda request: asked.append(request.url))
    partner.goto("/", "start")
    ws.sign_in(partner, PARTNER)
    typed = [f"/cases/{ref}", *(f"/items/{i}" for i in items), "/start", "/language"]
    pages = _crawl(partner, "/", typed)
    partner.click("header button[value=en]", "english")
    pages["/ (in English)"] = partner.html()

    assert set(typed) <= set(pages)
    for path, html in pages.items():
        assert_clean(html.encode(), f"the page {path}")
    for item_id in items:  # an item the partner may not see: "not found", naming no case
        assert ref not in pages[f"/items/{item_id}"], f"/items/{item_id} names its case"
    assert_clean("\n".join(asked + partner.visited).encode(), "the URLs the browser asked for")
    for message in ws.emails_to(PARTNER):
        assert_clean(message.data, "an email to the partner")

    # The control: the coordinator may see the person, and does, behind the audited button.
    owner = open_tab(ws.url, who="coordinator")
    owner.page.on("request", lambda request: asked.append(request.url))
    owner.goto(f"/cases/{ref}", "deep-link")
    ws.sign_in_with_code(owner, f.COORD)
    owner.click(f"form[action='/cases/{ref}/personal'] button", "personal-details")
    shown = owner.text()
    assert CANARY.family_name in shown and "Canaryport" in shown, "the control failed"
    assert_clean("\n".join(asked + owner.visited).encode(), "the URLs the browser asked for")

    # Served as `homeward web` serves it (no access log: the URLs are checked above).
    assert_clean("\n".join(ws.server.logs.lines).encode(), "the server's log lines")
    assert_clean(b"\n".join(prefect_sink), "what reached the Prefect API")
    assert SECRETS  # searched for: given and family name, phone, address, a note's place
