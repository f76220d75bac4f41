"""The browser harness itself, on a tiny FastAPI app of this test's own: Chromium drives it over
a live uvicorn server, axe-core passes a clean page and reports a broken one readably, every
page visited is photographed, an unchecked page is caught, and the server's log lines are kept.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI, Form
from fastapi.responses import HTMLResponse, RedirectResponse

from tests.web.browser import PHONE, Browsing, Opener, serving

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body><main><h1>{title}</h1>{body}</main></body></html>"""


def tiny_app() -> FastAPI:
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    def home() -> str:
        form = (
            '<form method="post" action="/greet"><label for="name">Name</label>'
            '<input id="name" name="name" autocomplete="off"><button>Greet</button></form>'
        )
        return PAGE.format(title="Home", body=form + '<p><a href="/broken">Broken page</a></p>')

    @app.post("/greet")
    def greet(name: str = Form("")) -> RedirectResponse:
        return RedirectResponse(f"/hello?n={len(name)}", status_code=303)

    @app.get("/hello", response_class=HTMLResponse)
    def hello(n: int) -> str:
        return PAGE.format(title="Hello", body=f"<p>Greeted a name of {n} letters.</p>")

    @app.get("/broken", response_class=HTMLResponse)
    def broken() -> str:  # an image without text and an unlabelled field: serious, critical
        return PAGE.format(title="Broken", body='<img src="/x.png"><form><input name="q"></form>')

    return app


def test_a_page_is_driven_checked_and_photographed(open_tab: Opener, artefacts: Path):
    with serving(tiny_app()) as server:
        tab = open_tab(server.url, who="tester")
        tab.goto("/", "home")
        tab.page.fill("#name", "Zed")
        with tab.navigates("after greeting"):
            tab.page.keyboard.press("Enter")  # keyboard only: Enter submits the form
        assert tab.path == "/hello?n=3"
        assert "3 letters" in tab.text()
    shots = sorted(p.name for p in artefacts.glob("*.jpg"))
    assert shots == ["01-tester-home.jpg", "02-tester-after-greeting.jpg"]
    assert all((artefacts / s).stat().st_size > 1000 for s in shots)
    access = [line for line in server.logs.lines if "POST /greet" in line]
    assert access, server.logs.lines  # the access log is captured, URL and all


def test_axe_reports_serious_violations_readably(open_tab: Opener, artefacts: Path):
    with serving(tiny_app()) as server:
        tab = open_tab(server.url, viewport=PHONE)
        tab.goto("/broken")
        problems = tab.finish()
        tab.violations.clear()  # reported here, not at teardown
    assert len(problems) == 1, problems
    report = problems[0]
    assert "[critical] image-alt" in report and "at img" in report
    assert "label" in report and "/broken" in report
    assert list(artefacts.glob("*.axe.json"))


def test_a_page_left_unchecked_is_caught(open_tab: Opener):
    with serving(tiny_app()) as server:
        tab: Browsing = open_tab(server.url)
        tab.goto("/")
        with tab.page.expect_navigation():  # not through tab.click: nobody looks at /broken
            tab.page.click("text=Broken page")
        tab.goto("/", "home again")
        assert tab.unchecked == 1
        tab.unchecked = 0


def test_other_tests_run_asyncio_after_the_browser_tests():
    """No browser here: Playwright stopped after the tests above (its sync API keeps an event
    loop running in this thread while alive), so ``asyncio.run`` works again."""
    assert asyncio.run(asyncio.sleep(0, result="ran")) == "ran"
