"""Issue 16's casework pages in a real browser (Chromium), on the live app: a coordinator goes
from the case page to each casework page by its link (every page checked by axe-core and
photographed, tests/web/browser.py), writes a journal note through the form, and a caseworker
of the partner NGO reads the same pages on a phone in Romanian without sideways scrolling."""

from __future__ import annotations

from datetime import timedelta

import pytest

from homeward.base.clock import local_date
from homeward.commands.adhoc import AddAdhocItem
from homeward.commands.family import AddPerson
from homeward.commands.plan import AddGoal, AddService, DraftPlan
from homeward.commands.profile import SetMyLanguage
from homeward.commands.runner import run
from homeward.commands.visits import RecordVisit
from homeward.edges.web.casework import PARTS
from homeward.protection.vault import DependantIn
from tests import factories as f
from tests.signin import credential_for
from tests.web.browser import PHONE, Opener, Workspace, no_sideways_scroll

pytestmark = pytest.mark.browser

PARTNER = "cw@adpare.example.org"


def _as(email: str, command, clock):  # type: ignore[no-untyped-def]
    return run(command, credential_for(email, clock.now()), clock=clock)


def _a_case_with_casework(clock) -> str:  # type: ignore[no-untyped-def]
    ref = f.open_case(clock)
    _as(
        f.COORD,
        AddPerson(ref, DependantIn(relation="partner", given_name="P", family_name="Q")),
        clock,
    )
    f.drive_to(ref, "reintegration", clock)
    today = local_date(clock.now())
    _as(f.COORD, DraftPlan(ref, None), clock)
    _as(f.COORD, AddGoal(ref, "economic", "a steady income"), clock)
    _as(f.COORD, AddService(ref, "housing", "adpare", today, None, 120000, "RON", None), clock)
    _as(
        f.COORD,
        AddAdhocItem(ref, "court_hearing", "adpare", today + timedelta(days=9), at="10:30"),
        clock,
    )
    _as(PARTNER, RecordVisit(ref, today, "home"), clock)
    return ref


def test_a_coordinator_walks_every_casework_page_and_writes_a_note(
    open_tab: Opener, live_workspace: Workspace
):
    ws, clock = live_workspace, live_workspace.clock
    ref = _a_case_with_casework(clock)
    tab = open_tab(ws.url, who="coordinator")
    tab.goto(f"/cases/{ref}", "deep-link")
    ws.sign_in(tab, f.COORD)
    assert tab.path == f"/cases/{ref}"
    assert {suffix for suffix, _label in PARTS} >= {
        "plan",
        "visits",
        "journal",
        "appointments",
        "family",
        "referral",
        "assessments",
    }
    for suffix, _label in PARTS:
        tab.goto(f"/cases/{ref}", f"case-before-{suffix}")
        tab.click(f"nav.casework a[href='/cases/{ref}/{suffix}']", suffix)
        assert tab.path == f"/cases/{ref}/{suffix}"
        assert ref in tab.text()
    tab.goto(f"/cases/{ref}/journal", "journal")
    tab.page.locator("#note-text").fill("Met at the shelter; agreed on the next steps.")
    tab.click(f"form[action='/cases/{ref}/journal/notes'] button[type=submit]", "note-added")
    assert "Met at the shelter; agreed on the next steps." in tab.text()


def test_the_partner_reads_the_casework_pages_on_a_phone_in_romanian(
    open_tab: Opener, live_workspace: Workspace
):
    ws, clock = live_workspace, live_workspace.clock
    ref = _a_case_with_casework(clock)
    _as(PARTNER, SetMyLanguage("ro"), clock)
    tab = open_tab(ws.url, who="partner", viewport=PHONE, locale="ro-RO")
    tab.goto(f"/cases/{ref}/visits", "deep-link")
    ws.sign_in_with_code(tab, PARTNER)
    for suffix in ("visits", "plan", "appointments", "journal"):
        tab.goto(f"/cases/{ref}/{suffix}", f"ro-{suffix}")
        assert tab.page.get_attribute("html", "lang") == "ro"
        no_sideways_scroll(tab)
