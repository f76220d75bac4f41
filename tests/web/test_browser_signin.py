"""Signing in to the workspace in a real browser (Chromium): the link from the email that
reached the SMTP sink, the language switch, keyboard only, and a phone's screen."""

from __future__ import annotations

import pytest

from tests import factories as f
from tests.web.browser import (
    PHONE,
    SIGNIN_CODE,
    Opener,
    Workspace,
    focus_by_tab,
    no_sideways_scroll,
)

pytestmark = pytest.mark.browser


def test_sign_in_with_the_emailed_link_switch_to_romanian_and_sign_out(
    open_tab: Opener, live_workspace: Workspace
):
    tab = open_tab(live_workspace.url, who="coordinator")
    tab.goto("/", "my-work-signed-out")
    assert tab.path.startswith("/signin"), "My work opened without signing in"

    live_workspace.sign_in(tab, f.COORD)
    assert tab.path == "/"
    header = tab.page.locator("header").inner_text()
    assert "IOM Italy" in header and "Staff coordinator" in header  # who, for which organisation

    tab.click("header button[value=ro]", "romanian")
    assert tab.page.get_attribute("html", "lang") == "ro"
    assert "Munca mea" in tab.text() and "Deconectare" in tab.text()
    tab.goto("/start", "start-a-return")  # the coordinator's other pages, checked by axe too
    assert tab.page.locator("main form[action='/start']").count() == 1
    tab.goto("/no-such-page", "not-found")
    assert tab.page.get_attribute("html", "lang") == "ro"

    tab.click("form[action='/signout'] button", "signed-out")
    assert tab.path.startswith("/signin")
    tab.goto("/", "after-sign-out")
    assert tab.path.startswith("/signin"), "the session outlived signing out"
    assert "Autentificare" in tab.text()  # the language stays with the browser and the profile


def test_keyboard_only_sign_in_on_a_phone(open_tab: Opener, live_workspace: Workspace):
    tab = open_tab(live_workspace.url, who="caseworker", viewport=PHONE)
    tab.goto("/signin", "signin-phone")
    no_sideways_scroll(tab)
    focus_by_tab(tab, "#email")
    tab.page.keyboard.type(f.COORD)
    with tab.navigates("code-phone"):
        tab.page.keyboard.press("Enter")
    no_sideways_scroll(tab)
    code = SIGNIN_CODE.search(live_workspace.last_email_text(f.COORD))
    assert code, "no code in the sign-in email"

    focus_by_tab(tab, "#code")
    tab.page.keyboard.type(code.group(1) + code.group(2))
    with tab.navigates("my-work-phone"):
        tab.page.keyboard.press("Enter")
    assert tab.path == "/", tab.text()
    no_sideways_scroll(tab)
    assert "IOM Italy" in tab.page.locator("header").inner_text()

    focus_by_tab(tab, "form[action='/signout'] button")
    with tab.navigates("signed-out-phone"):
        tab.page.keyboard.press("Enter")
    assert tab.path.startswith("/signin")
