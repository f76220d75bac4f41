"""The NRM referral page in the workspace (``/cases/{ref}/referral``) and the start form's route
choice, through the real app on the test's database: recorded from the form, the record number
shown only on request (a POST, audited) and never echoed after a refusal; a partner sees the
referral without the number; a case the reader takes no part in is "not found"."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from homeward.base.clock import local_date
from homeward.edges.web.deps import Problem
from homeward.edges.web.start import case_in
from tests import factories as f
from tests.casework.test_referral_route import RO_COORD, items, open_internal
from tests.web.conftest import Staff, Workspace, mailbox, staff, workspace  # noqa: F401

RECORD_NO = "CANARYCANARY-77/QW"


def _reads() -> int:
    with f.admin_read() as s:
        rows = s.exec(text("SELECT action FROM audit_entry")).all()  # type: ignore[call-overload]
    return sum(1 for r in rows if r[0] == "note_read")


def _signed_in(staff: Staff, email: str, path: str) -> str:  # noqa: F811
    landed = staff.sign_in(email, path)
    assert landed.status_code == 303 and landed.headers["location"] == path
    page = staff.get(path)
    assert page.status_code == 200, page.text
    return page.text


def test_the_referral_page_records_and_shows_it(workspace: Workspace, staff: Staff):  # noqa: F811
    ref = open_internal(workspace.clock)
    page = f"/cases/{ref}/referral"
    html = _signed_in(staff, RO_COORD, page)
    assert "No NRM referral is recorded yet." in html and 'for="record_no"' in html
    case_page = staff.get(f"/cases/{ref}")
    assert f'href="/cases/{ref}/referral"' in case_page.text and "NRM referral" in case_page.text

    today = local_date(workspace.clock.now()).isoformat()
    bad = staff.submit(
        page, page, record_no="not a number!", referred_on=today, referring_body="police"
    )
    assert bad.status_code == 400 and "record_no" in bad.text
    assert "not a number!" not in bad.text  # the typed number is not echoed back
    saved = staff.submit(
        page, page, record_no=RECORD_NO, referred_on=today, referring_body="police"
    )
    assert saved.status_code == 303 and saved.headers["location"] == page
    shown = staff.get(page)
    assert "Police" in shown.text and RECORD_NO not in shown.text and "(hidden)" in shown.text
    assert _reads() == 0
    revealed = staff.submit(page, f"{page}/show")
    assert revealed.status_code == 200 and RECORD_NO in revealed.text
    assert _reads() == 1
    assert {i.code: i.status for i in items(ref)}["nrm_referral"] == "done"


def test_a_partner_sees_the_referral_without_the_number(
    workspace: Workspace,  # noqa: F811
    staff: Staff,  # noqa: F811
):
    ref = f.open_case(workspace.clock)
    consulate = "officer@cons-rome.example.org"
    page = f"/cases/{ref}/referral"
    _signed_in(staff, consulate, page)
    today = local_date(workspace.clock.now()).isoformat()
    saved = staff.submit(
        page, page, record_no=RECORD_NO, referred_on=today, referring_body="consulate"
    )
    assert saved.status_code == 303, saved.text
    revealed = staff.submit(page, f"{page}/show")
    assert revealed.status_code == 200 and RECORD_NO not in revealed.text
    assert "(hidden)" in revealed.text and "Consulate" in revealed.text


def test_an_outsider_finds_no_referral_page(workspace: Workspace, staff: Staff):  # noqa: F811
    ref = open_internal(workspace.clock)
    staff.sign_in("cw@fmb.example.org", "/")
    hidden, missing = staff.get(f"/cases/{ref}/referral"), staff.get("/cases/RT-ZZZZ-ZZ/referral")
    assert hidden.status_code == missing.status_code == 404
    assert RECORD_NO not in hidden.text


def test_the_start_form_offers_the_route(workspace: Workspace, staff: Staff):  # noqa: F811
    html = _signed_in(staff, f.COORD, "/start")
    assert 'id="route_internal"' in html and 'for="destination_county"' in html


def _facts(**form: str) -> Any:
    return case_in(SimpleNamespace(language="en"), form)  # type: ignore[arg-type]


def test_the_start_form_reads_an_internal_case():
    facts = _facts(route="internal", host_country="IT", destination_county="ro-cj", role_ngo="a")
    assert (facts.route, facts.host_country, facts.destination_county) == (
        "internal",
        "RO",
        "RO-CJ",
    )
    assert _facts(host_country="IT").route == "return"
    with pytest.raises(Problem) as bad:
        _facts(route="internal", role_cons="cons-rome")
    assert bad.value.field == "participants"
