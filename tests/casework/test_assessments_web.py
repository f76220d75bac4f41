"""The assessments page (issue 16, points 7 and 8) through the real app on the test's database:
a risk form recorded, a refusal shown in place, a supervisor's review, the county set and the
services proposed; a page nobody outside the case can open."""

from __future__ import annotations

from tests import factories as f
from tests.casework.test_assessments import CANARY_NOTE, HIGH
from tests.protect.test_canary import assert_clean
from tests.web.conftest import (  # noqa: F401 (the workspace fixtures)
    Staff,
    Workspace,
    form,
    mailbox,
    workspace,
)

ADPARE_ADMIN = "admin@adpare.example.org"


def _signed_in(staff: Staff, email: str, url: str) -> str:
    landed = staff.sign_in(email, url)
    assert landed.status_code == 303, landed.text
    page = staff.get(url)
    assert page.status_code == 200, page.text
    return str(page.text)


def test_record_review_and_propose_from_the_page(workspace: Workspace) -> None:  # noqa: F811
    clock = workspace.clock
    ref = f.open_case(clock)
    f.drive_to(ref, "consent_obtained", clock)
    url = f"/cases/{ref}/assessments"
    coord = workspace.browser()
    case_page = _signed_in(coord, f.COORD, f"/cases/{ref}")
    assert f'href="{url}"' in case_page and "Assessments" in case_page
    page = coord.get(url).text
    assert "<fieldset>" in page and 'type="radio"' in page and 'name="risk.health"' in page

    # One answer missing: the form comes back with the problem in place, nothing recorded.
    fields = form(page, f"{url}/risk")
    partial = {f"risk.{k}": v for k, v in HIGH.items() if k != "debt"}
    refused = coord.post(f"{url}/risk", {**fields, **partial})
    assert refused.status_code == 400 and 'id="problem-form-risk"' in refused.text
    assert "debt" in refused.text

    answers = {f"risk.{k}": v for k, v in HIGH.items()} | {"risk.notes": CANARY_NOTE}
    done = coord.post(f"{url}/risk", {**form(coord.get(url).text, f"{url}/risk"), **answers})
    assert done.status_code == 303, done.text
    page = coord.get(url).text
    assert "A high risk needs a supervisor" in page and f"case advance {ref} suspend" in page
    assert_clean(page.encode(), "the assessments page")
    assert "/assessments/review/" not in page  # a coordinator does not review

    supervisor = workspace.browser()
    page = _signed_in(supervisor, f.SUPERVISOR, url)
    action = f"/cases/{ref}/assessments/review/1"
    assert action in page
    reviewed = supervisor.post(action, {**form(page, action), "level": "agree"})
    assert reviewed.status_code == 303, reviewed.text
    page = supervisor.get(url).text
    assert "A high risk needs a supervisor" not in page and "agreed" in page

    # The destination county and the services proposed for the needs found.
    provider = workspace.browser()
    provider.sign_in(ADPARE_ADMIN, "/")
    from homeward.commands import providers
    from homeward.commands.runner import run
    from tests.signin import credential_for

    run(
        providers.AddService("housing", "RO-CJ", 2),
        credential_for(ADPARE_ADMIN, clock.now()),
        clock=clock,
    )
    county = supervisor.post(
        f"/cases/{ref}/county", {**form(page, f"/cases/{ref}/county"), "county": "RO-CJ"}
    )
    assert county.status_code == 303, county.text
    page = supervisor.get(url).text
    needs = {**form(page, f"{url}/needs"), "needs.housing": "yes"}
    assert supervisor.post(f"{url}/needs", needs).status_code == 303
    page = supervisor.get(url).text
    assert "Proposed services" in page and "ADPARE (adpare)" in page and "capacity 2" in page


def test_the_page_is_romanian_and_hidden_from_outsiders(workspace: Workspace) -> None:  # noqa: F811
    ref = f.open_case(workspace.clock, share=False)
    outsider = workspace.browser()
    landed = outsider.sign_in("cw@fmb.example.org", "/")
    assert landed.status_code == 303
    hidden = outsider.get(f"/cases/{ref}/assessments")
    missing = outsider.get("/cases/RT-ZZZZ-ZZ/assessments")
    assert hidden.status_code == missing.status_code == 404
    from homeward.commands.profile import SetMyLanguage
    from homeward.commands.runner import run
    from tests.signin import credential_for

    run(SetMyLanguage("ro"), credential_for(f.COORD, workspace.clock.now()), clock=workspace.clock)
    coord = workspace.browser()
    page = _signed_in(coord, f.COORD, f"/cases/{ref}/assessments")
    assert "Evaluări" in page and "Traficantul știe unde va locui persoana" in page
