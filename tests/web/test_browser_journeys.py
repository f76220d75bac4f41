"""The workspace's "Done when", in a real browser (Chromium) on the live app:

- a partner NGO caseworker, in Romanian, accepts a handoff from its email and goes from the
  next day's reminder email to the item done in at most three clicks after signing in;
- a supervisor approves a closure from their "waiting for me" list, with the keyboard;
- a refusal is shown in place, in the person's language, on a phone, and changes nothing.

Every page visited is checked by axe-core and photographed (tests/web/browser.py).
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from homeward.base.db import read_session, system_scope
from homeward.base.models import Case, ChecklistItem, Handoff
from homeward.commands.closures import RequestClosure
from homeward.commands.handoffs import ProposeHandoff
from homeward.commands.profile import SetMyLanguage
from homeward.commands.runner import run
from notifications.reminders import queue_reminders
from statemachines.steps import ClosureReason
from tests import factories as f
from tests.signin import credential_for
from tests.web.browser import PHONE, Opener, Workspace, focus_by_tab, no_sideways_scroll

pytestmark = pytest.mark.browser

PARTNER = "cw@adpare.example.org"  # a caseworker of ADPARE, a partner NGO of the case


def _item(item_id: int) -> ChecklistItem:
    with read_session() as s, system_scope(s):
        item = s.get(ChecklistItem, item_id)
        assert item is not None
        s.expunge(item)
        return item


def _case(ref: str) -> Case:
    with read_session() as s, system_scope(s):
        return s.exec(select(Case).where(Case.case_ref == ref)).one()


def _as(email: str, command, clock):  # type: ignore[no-untyped-def]
    return run(command, credential_for(email, clock.now()), clock=clock)


def test_partner_accepts_a_handoff_then_goes_from_the_reminder_to_done_in_romanian(
    open_tab: Opener, live_workspace: Workspace
):
    ws, clock = live_workspace, live_workspace.clock
    ref = f.open_case(clock)  # ADPARE takes part; the person agreed to sharing with it
    item = next(i for i in f.items(ref) if i.code == "basic_needs_met")
    item_id = item.id or 0
    _as(PARTNER, SetMyLanguage("ro"), clock)
    _as(f.COORD, ProposeHandoff(item_id, to="adpare"), clock)
    ws.send_mail()

    # The handoff email links to the item; the partner signs in there and accepts it.
    tab = open_tab(ws.url, who="partner", locale="ro-RO")
    tab.goto(ws.link_in_last_email(PARTNER, f"/items/{item_id}"), "handoff-link")
    assert tab.path.startswith("/signin?next=/items/"), tab.path
    assert tab.page.get_attribute("html", "lang") == "ro"
    ws.sign_in_with_code(tab, PARTNER)
    assert tab.path == f"/cases/{ref}", tab.path
    tab.click(f"form[action='/items/{item_id}/accept'] button", "handoff-accepted")
    assert tab.page.get_attribute("html", "lang") == "ro"
    assert _item(item_id).owner_org_id != item.owner_org_id  # ADPARE owns it now
    with read_session() as s, system_scope(s):
        handoff = s.exec(select(Handoff).where(Handoff.item_id == item_id)).one()
        assert handoff.status == "accepted"

    # The next working day (the session has long gone idle; 6 and 7 January are Romanian
    # holidays, when no digest is built) the reminder digest, in Romanian, links to the item:
    # the email's link, sign in (the sign-in email's link), then "mark done".
    clock.advance(days=3)
    with f.write_session() as s:
        queue_reminders(s, now=clock.now())
    ws.send_mail()
    link = ws.link_in_last_email(PARTNER, f"/items/{item_id}")
    assert "rezumatul zilei" in ws.emails_to(PARTNER)[-1].parsed()["subject"]
    clicks = ["the item's link in the reminder email"]
    tab.goto(link, "reminder-link")
    assert tab.path.startswith("/signin"), "a day later the session should have ended"
    ws.sign_in(tab, PARTNER)  # with the link in the sign-in email: back to the item after
    assert tab.path == f"/cases/{ref}" and tab.page.url.endswith(f"#item-{item_id}")
    done = tab.page.locator(f"#item-{item_id} form[action='/items/{item_id}/done']")
    assert done.is_visible()
    clicks.append("mark done")
    tab.click(f"form[action='/items/{item_id}/done'] button[type=submit]", "item-done")
    assert len(clicks) <= 3, clicks
    assert _item(item_id).status == "done"
    assert tab.page.get_attribute("html", "lang") == "ro"
    assert tab.page.locator(f"form[action='/items/{item_id}/done']").count() == 0
    assert "îndeplinit" in tab.page.locator(f"#item-{item_id}").inner_text()  # "done", in Romanian


def test_supervisor_approves_a_closure_from_waiting_for_me_keyboard_only(
    open_tab: Opener, live_workspace: Workspace
):
    ws, clock = live_workspace, live_workspace.clock
    ref = f.open_case(clock)
    f.drive_to(ref, "reintegration", clock)
    f.complete_stage(ref, clock)
    _as(f.COORD, RequestClosure(ref, reason=ClosureReason.SUPPORT_PERIOD_ENDED), clock)

    tab = open_tab(ws.url, who="supervisor")
    tab.goto("/", "signin")
    ws.sign_in(tab, f.SUPERVISOR)
    assert tab.path == "/"
    waiting = "section[aria-labelledby=h-closures]"
    link = f"{waiting} a[href='/cases/{ref}#closure']"
    assert tab.page.locator(link).count() == 1, f"{ref} is not waiting for me:\n{tab.text()}"
    tab.click(link, "case-waiting")
    assert tab.path == f"/cases/{ref}"
    focus_by_tab(tab, f"form[action='/cases/{ref}/closure/approve'] button", presses=120)
    with tab.navigates("closure-approved"):
        tab.page.keyboard.press("Enter")  # keyboard only
    assert _case(ref).phase == "closed"
    tab.goto("/", "my-work-after")
    assert tab.page.locator(link).count() == 0
    assert tab.page.locator(f"a[href^='/cases/{ref}']").count() == 0  # nothing left to do


def test_refusals_are_shown_in_place_in_romanian_on_a_phone(
    open_tab: Opener, live_workspace: Workspace
):
    ws, clock = live_workspace, live_workspace.clock
    ref = f.open_case(clock)  # identification: its items are open, so no step may fire yet
    _as(f.COORD, SetMyLanguage("ro"), clock)

    tab = open_tab(ws.url, who="coordinator", viewport=PHONE, locale="ro-RO")
    tab.goto(f"/cases/{ref}", "deep-link")
    ws.sign_in_with_code(tab, f.COORD)
    assert tab.path == f"/cases/{ref}"
    before = f.db_snapshot()
    no_sideways_scroll(tab)

    # A next step the procedure refuses: said at the step's form, which stays open and filled.
    step = tab.page.locator("#step-record_consent")
    step.locator("summary").click()
    step.locator("select[name=method]").select_option("signed")
    step.locator("input[name=language]").fill("ro")
    tab.click("#step-record_consent button[type=submit]", "step-refused")
    no_sideways_scroll(tab)
    problem = tab.page.locator("#step-record_consent [role=alert]")
    assert problem.is_visible(), tab.text()
    assert "Nu este permis acum." in problem.inner_text()  # the lead, in Romanian
    assert tab.page.locator("#step-record_consent select[name=method]").input_value() == "signed"

    # Bad input on an item: said at the item, every word in Romanian.
    item = f.items(ref)[0].id
    skip = tab.page.locator(f"#item-{item} form[action='/items/{item}/skip']")
    tab.page.locator(f"#item-{item} summary", has=tab.page.locator("text=/motiv/i")).click()
    skip.locator("textarea[name=reason]").fill("nu")
    tab.click(f"#item-{item} form[action='/items/{item}/skip'] button[type=submit]", "skip-refused")
    no_sideways_scroll(tab)
    said = tab.page.locator(f"#item-{item} [role=alert]").inner_text()
    assert "spuneți de ce este omisă sarcina" in said, said
    assert tab.page.get_attribute("html", "lang") == "ro"
    assert f.db_snapshot() == before  # refused: nothing changed
