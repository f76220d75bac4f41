"""Real-browser testing: Playwright driving Debian's Chromium (never a downloaded browser), a live
uvicorn server on 127.0.0.1 (port 0) in a background thread, axe-core (npm, ``package.json``)
run on every page a test visits, and a full-page screenshot of each kept as a test artefact.

``Browsing`` is one person's browser tab (a browser context of its own). Every navigation goes
through it (``goto``, ``click``, ``navigates``), and each page it lands on is ``look``-ed at:
axe-core runs on it (a serious or critical violation fails the test, printed readably; any
violation is kept beside the screenshot as JSON) and a full-page screenshot goes to
``$HOMEWARD_TEST_ARTEFACTS`` (default ``tests/.artefacts``), one folder per test. A page that
loaded and was left without a look, or a page the server answered with a 5xx, fails the test.
One Chromium serves each run of consecutive browser tests (see ``_Chromium``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import uvicorn

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("HOMEWARD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTEFACTS = Path(os.environ.get("HOMEWARD_TEST_ARTEFACTS") or ROOT / "tests" / ".artefacts")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
BLOCKING = ("serious", "critical")


def missing_tools() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
    if not AXE_JS.exists():
        return f"no axe-core at {AXE_JS.relative_to(ROOT)} (run `npm ci`; .ci/run does)"
    return None


def require_tools() -> None:
    """Skip with the reason locally; under ``CI=true`` a missing tool fails instead."""
    reason = missing_tools()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


# -- the live server ---------------------------------------------------------------------------


class LogLines(logging.Handler):
    """Every log record any logger emits while the server runs, formatted as a line (once,
    though it is attached to the root and to uvicorn's loggers, which may not propagate)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "_hw_kept", False):
            return
        record._hw_kept = True  # type: ignore[attr-defined]
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - a record that cannot format is kept as its repr
            line = repr(record.__dict__)
        self.lines.append(f"{line} {record.args!r}")


@dataclass
class LiveServer:
    """An ASGI app served by uvicorn on 127.0.0.1 and a free port, in a daemon thread."""

    app: Any
    config: uvicorn.Config | None = None
    url: str = ""
    logs: LogLines = field(default_factory=LogLines)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> LiveServer:
        config = self.config or uvicorn.Config(
            self.app, host="127.0.0.1", port=0, log_config=None, lifespan="on", access_log=True
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="live-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 120  # a guard against a hung start, not a speed check
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start (see the log above)")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)


UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@contextmanager
def serving(app: Any, config: uvicorn.Config | None = None) -> Iterator[LiveServer]:
    """Serve ``app`` (with uvicorn's ``config``, default: an access log on, every line to the
    root logger) for the duration; every log line meanwhile lands in ``server.logs``."""
    server = LiveServer(app, config)
    root = logging.getLogger()
    level = root.level
    for name in ("", *UVICORN_LOGGERS):
        logging.getLogger(name).addHandler(server.logs)
    root.setLevel(logging.DEBUG)
    quiet = {name: logging.getLogger(name).level for name in ("asyncio", "aiosqlite")}
    for name in quiet:  # event-loop chatter, not the server's lines
        logging.getLogger(name).setLevel(logging.WARNING)
    if config is None:  # the default: uvicorn's info lines (access log) too, whoever set them
        quiet |= {name: logging.getLogger(name).level for name in UVICORN_LOGGERS}
        for name in UVICORN_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
    try:
        yield server.start()
    finally:
        server.stop()
        for name in ("", *UVICORN_LOGGERS):
            logging.getLogger(name).removeHandler(server.logs)
        root.setLevel(level)
        for name, was in quiet.items():
            logging.getLogger(name).setLevel(was)


# -- accessibility -----------------------------------------------------------------------------


def describe(violations: list[dict[str, Any]]) -> str:
    """axe-core's violations as lines a person can act on."""
    lines = []
    for v in violations:
        lines.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            target = " ".join(map(str, node.get("target", [])))
            summary = " ".join(str(node.get("failureSummary") or "").split())
            lines.append(f"    at {target}: {summary[:300]}")
            lines.append(f"       {str(node.get('html', ''))[:200]}")
        if len(v["nodes"]) > 5:
            lines.append(f"    ... and {len(v['nodes']) - 5} more")
    return "\n".join(lines)


# -- one person's browser tab ------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:120] or "page"


@dataclass
class Browsing:
    """A browser tab on the live server that checks and photographs every page it lands on."""

    page: Any  # playwright.sync_api.Page
    base: str
    folder: Path
    who: str = "visitor"
    visited: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    unchecked: int = 0
    failures: list[str] = field(default_factory=list)
    _loads: int = 0
    _seen: int = 0

    def __post_init__(self) -> None:
        self.page.on("load", self._loaded)
        self.page.on("response", self._answered)

    def _answered(self, response: Any) -> None:
        """A page (not an image or a style sheet) the server failed on is a problem."""
        if response.status >= 500 and response.request.resource_type == "document":
            self.failures.append(f"{response.status} on {response.request.method} {response.url}")

    def _loaded(self, _page: Any) -> None:
        self._loads += 1

    def url(self, path: str = "/") -> str:
        return urljoin(self.base + "/", path.lstrip("/"))

    @property
    def path(self) -> str:
        """The current page's path and query."""
        parts = urlsplit(self.page.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def goto(self, path: str, label: str | None = None) -> Browsing:
        self.page.goto(path if "://" in path else self.url(path))
        return self.look(label)

    @contextmanager
    def navigates(self, label: str | None = None) -> Iterator[None]:
        """The action inside loads a new page (a click, Enter in a form); look at it after."""
        with self.page.expect_navigation():
            yield
        self.look(label)

    def click(self, selector: str, label: str | None = None) -> Browsing:
        """Click something that loads a page (a link, a form's button), then look at it."""
        with self.navigates(label):
            self.page.locator(selector).first.click()
        return self

    def look(self, label: str | None = None) -> Browsing:
        """Run axe-core on the current page and save its screenshot; a serious or critical
        violation fails the test at its end (every page of the test is still photographed)."""
        page = self.page
        page.wait_for_load_state("load")
        page.evaluate("() => 1")  # the load events before this one are delivered
        self.unchecked += max(0, self._loads - self._seen - 1)  # pages loaded and left unseen
        self._seen = self._loads
        self.visited.append(page.url)
        number = len(self.visited)
        name = f"{number:02d}-{_slug(self.who)}-{_slug(label or self.path)}"
        self.folder.mkdir(parents=True, exist_ok=True)
        shot = self.folder / f"{name}.jpg"  # JPEG: a third quicker than PNG, text still sharp
        page.screenshot(path=str(shot), full_page=True, type="jpeg", quality=85)
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.add_script_tag(path=str(AXE_JS))
        result = page.evaluate(
            """async () => {
                const r = await window.axe.run(document, {resultTypes: ['violations']});
                return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                    helpUrl: v.helpUrl, nodes: v.nodes.map(n => ({target: n.target,
                    html: n.html, failureSummary: n.failureSummary}))}));
            }"""
        )
        if result:
            (self.folder / f"{name}.axe.json").write_text(json.dumps(result, indent=1))
        blocking = [v for v in result if v["impact"] in BLOCKING]
        if blocking:
            self.violations.append(f"{self.path} ({shot.name}):\n{describe(blocking)}")
        return self

    def text(self) -> str:
        return str(self.page.inner_text("body"))

    def html(self) -> str:
        return str(self.page.content())

    def finish(self) -> list[str]:
        """Problems to fail the test with: pages never looked at, serious axe violations."""
        problems = []
        try:
            if not self.page.is_closed():
                self.page.evaluate("() => 1")  # a late load event is delivered
                if self._loads > self._seen and self.page.url != "about:blank":
                    self.look("last")
        except Exception as exc:  # noqa: BLE001 - a test that failed mid-way left a page
            problems.append(f"the last page of {self.who} could not be checked: {exc}")
        if self.unchecked:
            problems.append(
                f"{self.unchecked} page(s) of {self.who} loaded and left without a check "
                "(navigate with Browsing.goto/click/navigates, or call look())"
            )
        if self.failures:
            problems.append("the server failed on pages: " + "; ".join(self.failures))
        if self.violations:
            problems.append(
                "axe-core found serious or critical accessibility violations:\n"
                + "\n".join(self.violations)
            )
        return problems


Opener = Callable[..., Browsing]


# -- fixtures (imported by tests/web/conftest.py) ----------------------------------------------


class _Chromium:
    """One Chromium for a run of consecutive browser tests, stopped as soon as a test that does
    not drive it comes next: while Playwright's sync API is alive its event loop counts as
    running in this thread, and any other test's ``asyncio.run`` would fail."""

    def __init__(self) -> None:
        self.manager: Any = None
        self.browser: Any = None
        self.launches = 0

    def get(self) -> Any:
        if self.browser is None:
            require_tools()
            from playwright.sync_api import sync_playwright

            self.manager = sync_playwright()
            playwright = self.manager.__enter__()
            self.browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            self.launches += 1
        return self.browser

    def stop(self) -> None:
        if self.manager is not None:
            try:
                self.browser.close()
            finally:
                self.manager.__exit__(None, None, None)
                self.manager = self.browser = None


CHROMIUM_NOW = _Chromium()


@pytest.fixture
def chromium() -> Any:
    """Debian's Chromium driven by Playwright (never a downloaded browser), launched once for
    each run of consecutive browser tests (``pytest_runtest_teardown`` stops it)."""
    return CHROMIUM_NOW.get()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After a test's fixtures are torn down: stop Chromium unless the next test drives it."""
    yield
    if nextitem is None or "chromium" not in getattr(nextitem, "fixturenames", ()):
        CHROMIUM_NOW.stop()


@pytest.fixture
def artefacts(request: pytest.FixtureRequest) -> Any:
    """This test's folder of screenshots (and axe-core reports), emptied first."""
    folder = ARTEFACTS / _slug(request.node.nodeid.replace("/", "."))
    shutil.rmtree(folder, ignore_errors=True)
    return folder


@pytest.fixture
def open_tab(chromium: Any, artefacts: Any) -> Iterator[Opener]:
    """Opens a tab for one person in a context of its own (own cookies): ``open_tab(base,
    who="caseworker", viewport=PHONE, locale="ro-RO")``. At the end of the test, a page left
    unchecked or a serious accessibility violation on any page fails it."""
    opened: list[tuple[Any, Browsing]] = []

    def open_one(
        base: str,
        who: str = "visitor",
        viewport: dict[str, int] | None = None,
        locale: str = "en-GB",
        timezone: str = "Europe/Bucharest",
    ) -> Browsing:
        context = chromium.new_context(
            viewport=viewport or DESKTOP,
            locale=locale,
            timezone_id=timezone,
            bypass_csp=True,  # axe-core is injected as a script; the pages' own CSP stays tested
        )
        context.set_default_timeout(10_000)
        context.add_init_script(path=str(AXE_JS))  # in every page before its own code: no wait
        tab = Browsing(context.new_page(), base.rstrip("/"), artefacts, who=who)
        opened.append((context, tab))
        return tab

    yield open_one
    problems = []
    for context, tab in opened:
        problems += tab.finish()
        context.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# -- the workspace, served for real ------------------------------------------------------------

SIGNIN_LINK = re.compile(r"https?://\S+/signin/link\?\S+")
SIGNIN_CODE = re.compile(r"\b(\d{4}) ?(\d{4})\b")


@dataclass
class Workspace:
    """The web workspace (``create_app``) on a live server over this test's database, its
    emails arriving at a real SMTP server (``mailbox``), on the app's simulated clock."""

    server: LiveServer
    clock: Any  # homeward.base.clock.SimulatedClock
    mailbox: Any  # notifications.sink.RecordingHandler

    @property
    def url(self) -> str:
        return self.server.url

    def emails_to(self, address: str) -> list[Any]:
        return [m for m in self.mailbox.received if address in m.rcpt_tos]

    def last_email_text(self, address: str) -> str:
        found = self.emails_to(address)
        assert found, f"no email to {address}"
        body = found[-1].parsed().get_body(("plain",))
        assert body is not None
        return str(body.get_content())

    def ask_for_code(self, tab: Browsing, email: str) -> str:
        """Type ``email`` at /signin (or the sign-in page a deep link led to) and send it;
        return the text of the sign-in email that arrives."""
        if not tab.path.startswith("/signin"):
            tab.goto("/signin")
        seen = len(self.emails_to(email))
        tab.page.fill("form[action='/signin'] input[name=email]", email)
        tab.click("form[action='/signin'] button[type=submit]", "code-form")
        assert len(self.emails_to(email)) == seen + 1, f"no sign-in email reached {email}"
        return self.last_email_text(email)

    def sign_in(self, tab: Browsing, email: str) -> Browsing:
        """Sign in as a person would: ask for a code, open the emailed link (on this server),
        press its button. Lands where the sign-in page's ``next`` said."""
        text = self.ask_for_code(tab, email)
        link = SIGNIN_LINK.search(text)
        assert link, f"no sign-in link in the email:\n{text}"
        assert link.group(0).startswith(self.url + "/"), link.group(0)
        tab.goto(link.group(0), "signin-link")
        tab.click("form[action='/signin/link'] button[type=submit]", "signed-in")
        assert not tab.path.startswith("/signin"), tab.text()
        return tab

    def sign_in_with_code(self, tab: Browsing, email: str) -> Browsing:
        """On the sign-in page a deep link led to: type the address, then the code the email
        brings (the code form keeps where the link pointed, ``next``)."""
        if not tab.path.startswith("/signin"):
            tab.goto("/signin")
        text = self.ask_for_code(tab, email)
        code = SIGNIN_CODE.search(text)
        assert code, f"no code in the sign-in email:\n{text}"
        tab.page.fill("#code", code.group(1) + code.group(2))
        tab.click("form[action='/signin/code'] button[type=submit]", "signed-in")
        assert not tab.path.startswith("/signin"), tab.text()
        return tab

    def send_mail(self) -> None:
        """Drain the outbox into the SMTP sink at the app's clock (in a thread of its own:
        Playwright's event loop holds this one)."""
        from tests.notifications.conftest import run_drain

        off_the_loop(run_drain, self.clock)

    def link_in_last_email(self, address: str, path_starts: str) -> str:
        """The first link to this server whose path starts with ``path_starts`` in the newest
        email to ``address``."""
        text = self.last_email_text(address)
        for link in re.findall(r"https?://\S+", text):
            if link.startswith(self.url + path_starts):
                return str(link)
        raise AssertionError(f"no link to {path_starts}... in the email:\n{text}")


def off_the_loop(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a thread of its own, for code that runs its own asyncio loop
    (``asyncio.run``), which Playwright's sync API forbids in the test's thread."""
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=call, name="off-the-loop")
    worker.start()
    worker.join(60)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def workspace_fixture(mailbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """The body of the ``live_workspace`` fixture (tests/web/conftest.py's ``mailbox``: the seeded
    staff of tests/factories.py and a real SMTP server): emails link to this live server."""
    from homeward.base.clock import SimulatedClock
    from homeward.base.settings import get_settings
    from homeward.edges.web.app import create_app
    from homeward.edges.web.serve import config

    clock = SimulatedClock()
    app = create_app(clock=clock)
    with serving(app, config(app, "127.0.0.1", 0)) as server:  # as `homeward web` serves it
        monkeypatch.setenv("HOMEWARD_MAIL_BASE_URL", server.url)
        get_settings.cache_clear()
        yield Workspace(server, clock, mailbox)
    get_settings.cache_clear()


live_workspace = pytest.fixture(workspace_fixture, name="live_workspace")


def no_sideways_scroll(tab: Browsing) -> None:
    """The page fits the viewport's width: nothing to scroll sideways to (a phone)."""
    overflow = tab.page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    if overflow > 0:
        wide = tab.page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth
                             && ![...e.children].some(c => c.getBoundingClientRect().right
                                  > document.documentElement.clientWidth))
                .slice(0, 5).map(e => e.outerHTML.slice(0, 120))"""
        )
        raise AssertionError(
            f"{tab.path} scrolls sideways by {overflow}px at this width; too wide:\n"
            + "\n".join(wide)
        )


def focus_by_tab(tab: Browsing, selector: str, presses: int = 30) -> None:
    """Press Tab until ``selector`` has the focus (keyboard only), or fail."""
    target = tab.page.locator(selector).first
    for _ in range(presses):
        if target.evaluate("e => e === document.activeElement"):
            return
        tab.page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector} on {tab.path}")


# The darkest pixel of each box: a chart's card, or the ink of its text, as the browser drew it.
DARKEST_JS = """async ([src, boxes]) => {
    const img = new Image(); img.src = src; await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.width; canvas.height = img.height;
    const g = canvas.getContext('2d'); g.drawImage(img, 0, 0);
    return boxes.map(([x, y, w, h]) => {
        const d = g.getImageData(x, y, w, h).data; let best = null, lum = 9;
        for (let i = 0; i < d.length; i += 4) {
            const l = 0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2];
            if (l < lum * 255) { lum = l / 255; best = [d[i], d[i + 1], d[i + 2]]; }
        }
        return best;
    });
}"""


def hex_of(rgb: Sequence[int]) -> str:
    """``#rrggbb`` of red, green and blue from 0 to 255."""
    return "#" + "".join(f"{c:02x}" for c in rgb)


def darkest(tab: Any, shot: bytes, boxes: Sequence[tuple[int, int, int, int]]) -> list[str]:
    """The darkest pixel of each box of the screenshot ``shot`` (``x, y, width, height``), read
    back in the browser of ``tab``, as a colour."""
    src = "data:image/png;base64," + base64.b64encode(shot).decode("ascii")
    return [hex_of(rgb) for rgb in tab.evaluate(DARKEST_JS, [src, list(boxes)])]
