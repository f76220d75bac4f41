"""My work (``GET /``): overdue first, then due today, then coming up; only the person's own
organisation's items; handoffs waiting for it; closures waiting for a supervisor; filters;
in the person's language. Real database, the app served over HTTP, signed in by email."""

from __future__ import annotations

import re

import pytest

from homeward.base.models import ChecklistItem
from homeward.commands import mywork
from homeward.commands.closures import RequestClosure
from homeward.commands.handoffs import ProposeHandoff
from homeward.commands.runner import run
from statemachines.steps import ClosureReason
from tests import factories as f
from tests.signin import credential_for
from tests.statemachines.test_guards import in_reintegration
from tests.web.conftest import Staff, Workspace

OFFICER = "officer@cons-rome.example.org"  # a consulate: owns one item of the first stage
ADPARE = "cw@adpare.example.org"  # the partner NGO
FMB = "cw@fmb.example.org"  # an NGO taking no part in the case


def _by_code(ref: str) -> dict[str, ChecklistItem]:
    return {item.code: item for item in f.items(ref)}


def _section_of(html: str, marker: str) -> str | None:
    """Which section ('closures', 'handoffs', 'overdue', 'today', 'upcoming') ``marker`` is in."""
    where = html.find(marker)
    if where < 0:
        return None
    heads = [(m.start(), m.group(1)) for m in re.finditer(r'<h2 id="h-(\w+)"', html)]
    found = [name for start, name in heads if start < where]
    return found[-1] if found else None


def _signed_in(workspace: Workspace, email: str) -> Staff:
    person = workspace.browser()
    assert person.sign_in(email).status_code == 303
    return person


def test_overdue_first_then_today_then_coming_up(workspace: Workspace) -> None:
    clock = workspace.clock
    ref = f.open_case(clock)  # Monday 5 January 2026, 09:00 UTC
    items = _by_code(ref)
    clock.advance(hours=23)  # Tuesday 08:00 UTC, 10:00 in Bucharest

    page = _signed_in(workspace, f.COORD).get("/")

    assert page.status_code == 200
    html = page.text
    assert _section_of(html, f'id="item-{items["victim_identified"].id}"') == "overdue"  # Mon
    assert _section_of(html, f'id="item-{items["basic_needs_met"].id}"') == "today"  # Tue 09:00
    assert _section_of(html, f'id="item-{items["rights_informed"].id}"') == "upcoming"  # 12 Jan
    order = [html.index(f'id="h-{name}"') for name in ("overdue", "today", "upcoming")]
    assert order == sorted(order)
    assert "Overdue since 5 January 2026" in html and "Due 12 January 2026" in html
    assert f'href="/items/{items["victim_identified"].id}"' in html
    assert f'href="/cases/{ref}"' in html
    assert f'id="item-{items["anitp_notified"].id}"' not in html  # the consulate's
    assert 'id="h-closures"' not in html  # a coordinator decides no closure
    for personal in (f.CANARY.given_name, f.CANARY.family_name, f.CANARY.phone):
        assert personal not in html


def test_a_partner_sees_only_its_own_organisations_work(workspace: Workspace) -> None:
    clock = workspace.clock
    ref = f.open_case(clock)
    items = _by_code(ref)
    handed = items["rights_informed"]
    run(ProposeHandoff(handed.id or 0, "adpare"), credential_for(f.COORD, clock.now()), clock=clock)

    consulate = _signed_in(workspace, OFFICER).get("/").text
    ngo = _signed_in(workspace, ADPARE).get("/").text
    stranger = _signed_in(workspace, FMB).get("/").text

    shown = {code for code, item in items.items() if f'id="item-{item.id}"' in consulate}
    assert shown == {"anitp_notified"}
    assert "Consulate of Romania in Rome" in consulate  # the header: which organisation
    assert _section_of(ngo, f'id="handoff-{handed.id}"') == "handoffs"
    assert "From IOM Italy" in ngo
    assert not any(f'id="item-{item.id}"' in ngo for item in items.values())
    assert ref not in stranger and "No handoff is waiting." in stranger


def test_a_handoff_names_who_handed_it_over_not_who_held_it(workspace: Workspace) -> None:
    """The case owner's coordinator hands on the consulate's item: the NGO reads that IOM Italy
    handed it over (as the email says), not the consulate that held it."""
    clock = workspace.clock
    ref = f.open_case(clock)
    held = _by_code(ref)["anitp_notified"]  # the consulate's item
    run(ProposeHandoff(held.id or 0, "adpare"), credential_for(f.COORD, clock.now()), clock=clock)

    ngo = _signed_in(workspace, ADPARE).get("/").text

    assert _section_of(ngo, f'id="handoff-{held.id}"') == "handoffs"
    assert "From IOM Italy" in ngo and "From Consulate" not in ngo


def test_filters_by_case_stage_and_owner(workspace: Workspace) -> None:
    clock = workspace.clock
    first, second = f.open_case(clock), f.open_case(clock)
    coordinator = _signed_in(workspace, f.COORD)

    everything = coordinator.get("/").text
    one_case = coordinator.get(f"/?case={second.lower()}").text
    other_stage = coordinator.get("/?stage=reintegration").text
    mine = coordinator.get("/?owner=me").text
    unassigned = coordinator.get("/?owner=unassigned").text
    wrong = coordinator.get("/?owner=everyone")

    assert first in everything and second in everything
    assert second in one_case and f'href="/cases/{first}"' not in one_case
    assert f'value="{second.lower()}"' in one_case  # the filter stays filled in
    assert "Nothing overdue." in other_stage and f'href="/cases/{first}"' not in other_stage
    assert f'href="/cases/{first}"' not in mine  # nothing is assigned to anyone yet
    assert f'href="/cases/{first}"' in unassigned
    assert wrong.status_code == 400 and "owner: choose one of me, unassigned, others" in wrong.text
    assert 'aria-invalid="true"' not in wrong.text or 'id="f-owner"' in wrong.text


def test_a_supervisor_sees_the_closures_waiting_for_them(workspace: Workspace) -> None:
    clock = workspace.clock
    ref = in_reintegration(clock)
    run(
        RequestClosure(ref, ClosureReason("support_period_ended")),
        credential_for(f.COORD, clock.now()),
        clock=clock,
    )

    supervisor = _signed_in(workspace, f.SUPERVISOR).get("/").text
    coordinator = _signed_in(workspace, f.COORD).get("/").text

    assert _section_of(supervisor, f'id="closure-{ref}"') == "closures"
    assert f'href="/cases/{ref}#closure"' in supervisor
    assert 'id="h-closures"' not in coordinator


def test_my_work_in_romanian_from_the_profile_and_the_switch(workspace: Workspace) -> None:
    clock = workspace.clock
    ref = f.open_case(clock)
    clock.advance(days=1)
    english = _signed_in(workspace, f.COORD)
    assert "My work" in english.get("/").text

    switched = english.submit("/", "/language", language="ro")
    assert switched.status_code == 303 and switched.headers["location"] == "/"
    page = english.get("/").text

    assert '<html lang="ro">' in page
    assert "Munca mea" in page and "Întârziate" in page and "Deconectare" in page
    assert "coordonator" in page  # the role in the header
    assert "Identificare în străinătate" in page  # the stage, in Romanian
    assert "Victimă prezumată identificată și referită" in page  # the item's title
    assert "5 ianuarie 2026" in page  # the date, as Romanian writes it
    assert ref in page
    again = _signed_in(workspace, f.COORD).get("/").text  # another browser: the profile's
    assert "Munca mea" in again


def test_the_sign_in_page_follows_the_browsers_language(staff: Staff) -> None:
    page = staff.get("/signin", headers={"Accept-Language": "ro-RO,ro;q=0.9,en;q=0.5"})
    assert '<html lang="ro">' in page.text and "Autentificare în Homeward" in page.text


def test_a_long_list_shows_the_soonest_and_counts_the_rest(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mywork, "MAX_LINES", 2)  # the page's size, made small
    ref = f.open_case(workspace.clock)  # three open items of IOM Italy's
    items = _by_code(ref)

    page = _signed_in(workspace, f.COORD).get("/").text

    assert f'id="item-{items["victim_identified"].id}"' in page
    assert f'id="item-{items["basic_needs_met"].id}"' in page
    assert f'id="item-{items["rights_informed"].id}"' not in page
    assert "One more item is not shown: narrow the list with the filters." in page


def test_a_list_longer_than_the_count_cap_says_more_than(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting stops at COUNT_CAP (row security checks each row counted on PostgreSQL)."""
    monkeypatch.setattr(mywork, "MAX_LINES", 1)
    monkeypatch.setattr(mywork, "COUNT_CAP", 2)
    ref = f.open_case(workspace.clock)  # three open items of IOM Italy's: one over the cap
    items = _by_code(ref)

    page = _signed_in(workspace, f.COORD).get("/").text

    assert f'id="item-{items["victim_identified"].id}"' in page
    assert "More than one item is not shown: narrow the list with the filters." in page
    assert "One more item is not shown" not in page
