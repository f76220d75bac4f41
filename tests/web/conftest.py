"""Fixtures of the browser tests: one Chromium for the session, a fresh browser context per
person, a live server per test, and the artefacts folder of each test (see tests/web/browser.py).

Locally the browser tests skip, saying why, when Chromium or axe-core is missing; under
``CI=true`` they fail instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.browser import (
    ARTEFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    Browsing,
    Opener,
    _slug,
    require_tools,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that opens a browser carries the ``browser`` marker (``-m 'not browser'``)."""
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, once per session (never a downloaded browser)."""
    require_tools()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artefacts(request: pytest.FixtureRequest) -> Any:
    """This test's folder of screenshots (and axe-core reports), emptied first."""
    folder = ARTEFACTS / _slug(request.node.nodeid.replace("/", "."))
    shutil.rmtree(folder, ignore_errors=True)
    return folder


@pytest.fixture
def open_browser(chromium: Any, artefacts: Any) -> Iterator[Opener]:
    """Opens a tab for one person in a context of its own (own cookies): ``open_browser(base,
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
