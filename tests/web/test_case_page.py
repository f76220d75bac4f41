"""The case page (issue 15, point 3) through the real app, on the test's real database: items
done and refused in place, the next steps' typed forms, closure approved by a supervisor, a
double submit done once, personal details shown only on request and audited, and a partner
without the person's consent seeing no personal data (and a hidden case as "not found")."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlmodel import col, select

from homeward.base.clock import local_date
from homeward.base.models import CaseEvent, ItemStatus, Organisation, RequestKey
from tests import factories as f
from tests.web.conftest import Staff, Workspace, form, forms

ADPARE, CONSULATE = "cw@adpare.example.org", "officer@cons-rome.example.org"
NAME, PHONE = f.CANARY.family_name, "+40 700 000 111"


def _events(ref: str, trigger: str) -> list[CaseEvent]:
    case = f.load_case(ref)
    with f.admin_read() as s:
        query = select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.trigger == trigger)
        return list(s.exec(query.order_by(col(CaseEvent.id))))


def _audit(action: str) -> list[tuple[str, str]]:
    with f.admin_read() as s:
        rows = s.exec(text("SELECT action, case_ref FROM audit_entry")).all()  # type: ignore[call-overload]
    return [(r[0], r[1]) for r in rows if r[0] == action]


def _signed_in(staff: Staff, email: str, ref: str) -> str:
    """Sign ``email`` in through the emailed link, landing on the case page; its HTML."""
    landed = staff.sign_in(email, f"/cases/{ref}")
    assert landed.status_code == 303 and landed.headers["location"] == f"/cases/{ref}"
    page = staff.get(f"/cases/{ref}")
    assert page.status_code == 200, page.text
    return str(page.text)


def test_an_item_is_marked_done_from_the_case_page_with_its_note(staff: Staff) -> None:
    ref = f.open_case(staff.clock)
    first = f.items(ref)[0]
    _signed_in(staff, f.COORD, ref)

    done = staff.submit(f"/cases/{ref}", f"/items/{first.id}/done", note="bed in the shelter")

    assert done.status_code == 303 and done.headers["location"] == f"/cases/{ref}#item-{first.id}"
    (item,) = [i for i in f.items(ref) if i.id == first.id]
    assert item.status == ItemStatus.DONE
    assert f.plain("checklist_item", "note", item.id or 0, item.note) == "bed in the shelter"
    page = staff.get(f"/cases/{ref}").text
    assert f"/items/{first.id}/done" not in page  # nothing left to do on it
    assert "bed in the shelter" not in page  # notes only behind "show personal details"


def test_the_deep_link_of_an_item_opens_its_place_on_the_case_page(staff: Staff) -> None:
    ref = f.open_case(staff.clock)
    item = f.items(ref)[2]
    away = staff.get(f"/items/{item.id}")
    assert away.status_code == 303 and away.headers["location"].startswith("/signin?next=")
    staff.sign_in(f.COORD, f"/items/{item.id}")

    there = staff.get(f"/items/{item.id}")

    assert there.status_code == 303 and there.headers["location"] == f"/cases/{ref}#item-{item.id}"
    assert f'id="item-{item.id}"' in staff.get(f"/cases/{ref}").text


def test_a_refusal_is_shown_in_place_in_the_readers_language_and_changes_nothing(
    staff: Staff,
) -> None:
    ref = f.open_case(staff.clock)
    _signed_in(staff, f.COORD, ref)
    before = f.db_snapshot()

    refused = staff.submit(
        f"/cases/{ref}", f"/cases/{ref}/advance", method="signed", language="ro"
    )  # the record_consent form: the stage's blocking items are still open

    assert refused.status_code == 409
    assert 'id="problem-step-record_consent"' in refused.text
    assert "blocking items still open" in refused.text
    assert '<details class="step" id="step-record_consent" open>' in refused.text
    assert 'value="signed" selected' in refused.text  # what was chosen stays chosen
    assert f.db_snapshot() == before

    item = f.items(ref)[0]
    short = staff.submit(f"/cases/{ref}", f"/items/{item.id}/skip", reason="no")
    assert short.status_code == 400 and 'id="problem-item-' + str(item.id) + '"' in short.text
    assert "reason: say why the item is skipped" in short.text
    assert f.db_snapshot() == before

    staff.submit("/", "/language", language="ro")
    again = staff.submit(f"/cases/{ref}", f"/items/{item.id}/skip", reason="no")
    assert again.status_code == 400
    assert 'lang="ro"' in again.text and "Sari peste" in again.text  # the page, in Romanian
    assert "spuneți de ce este omisă sarcina (cel puțin 5 caractere)" in again.text  # the refusal


def test_a_next_step_form_asks_for_typed_fields_and_moves_the_case(staff: Staff) -> None:
    ref = f.open_case(staff.clock)
    f.complete_stage(ref, staff.clock)
    page = _signed_in(staff, f.COORD, ref)
    assert '<select id="record_consent-method" name="method" required' in page
    assert '<option value="proxy">' in page

    moved = staff.submit(
        f"/cases/{ref}", f"/cases/{ref}/advance", method="signed", language="ro", interpreter="on"
    )

    assert moved.status_code == 303, moved.text
    assert f.load_case(ref).phase == "consent_obtained"
    (event,) = _events(ref, "record_consent")
    assert event.data["interpreter"] is True and event.data["method"] == "signed"


def test_a_travel_form_has_date_pickers_and_a_document_dropdown(staff: Staff) -> None:
    ref = f.open_case(staff.clock)
    f.drive_to(ref, "assessed", staff.clock)
    f.complete_stage(ref, staff.clock)
    page = _signed_in(staff, f.COORD, ref)

    assert '<input type="date" id="arrange_travel-departure_on" name="departure_on"' in page
    assert '<option value="emergency_travel_document">Emergency travel document</option>' in page
    today = local_date(staff.clock.now())
    fields = {
        "document_kind": "passport",
        "document_expires_on": str(today + timedelta(days=400)),
        "departure_on": str(today + timedelta(days=5)),
    }
    page_forms = [fs for action, fs in forms(page) if action == f"/cases/{ref}/advance"]
    travel = next(fs for fs in page_forms if fs.get("trigger") == "arrange_travel")
    moved = staff.post(f"/cases/{ref}/advance", {**travel, **fields})
    assert moved.status_code == 303, moved.text
    assert f.load_case(ref).phase == "travel_arranged"


def test_a_double_submit_does_the_action_once(staff: Staff) -> None:
    ref = f.open_case(staff.clock)
    item = f.items(ref)[0]
    page = _signed_in(staff, f.COORD, ref)
    fields = {**form(page, f"/items/{item.id}/done"), "note": "first visit"}

    first = staff.post(f"/items/{item.id}/done", fields)
    second = staff.post(f"/items/{item.id}/done", fields)  # the same form, sent again

    assert first.status_code == second.status_code == 303
    assert second.headers["location"] == first.headers["location"]
    assert len(_events(ref, "item_done")) == 1
    with f.admin_read() as s:
        assert s.exec(select(RequestKey).where(RequestKey.key == fields["key"])).one()
    another = staff.post(f"/items/{item.id}/done", {**fields, "key": "web:another-form-01"})
    assert another.status_code == 409 and "already done" in another.text  # a new form: refused


def test_a_supervisor_approves_a_closure_requested_on_the_case_page(
    workspace: Workspace,
) -> None:
    coordinator, supervisor = workspace.browser(), workspace.browser()
    ref = f.open_case(coordinator.clock)
    f.drive_to(ref, "reintegration", coordinator.clock)
    f.complete_stage(ref, coordinator.clock)
    page = _signed_in(coordinator, f.COORD, ref)
    assert "/closure/approve" not in page

    asked = coordinator.submit(
        f"/cases/{ref}", f"/cases/{ref}/closure/request", reason="support_period_ended"
    )
    assert asked.status_code == 303, asked.text
    mine = coordinator.get(f"/cases/{ref}").text
    assert "/closure/approve" not in mine  # who asked does not decide

    page = _signed_in(supervisor, f.SUPERVISOR, ref)
    assert "A closure was requested by coord@iom-it.example.org" in page
    approved = supervisor.submit(f"/cases/{ref}", f"/cases/{ref}/closure/approve")

    assert approved.status_code == 303, approved.text
    case = f.load_case(ref)
    assert case.phase == "closed" and case.closure_reason == "support_period_ended"
    again = supervisor.post(
        f"/cases/{ref}/closure/approve", form(page, f"/cases/{ref}/closure/approve")
    )
    assert again.status_code == 303  # the same approval sent twice: done once
    assert len(_events(ref, "close")) == 1


def test_personal_details_show_only_on_request_and_each_showing_is_audited(staff: Staff) -> None:
    ref = f.open_case(staff.clock)
    page = _signed_in(staff, f.COORD, ref)
    assert NAME not in page and PHONE not in page
    reads = len(_audit("personal_read"))

    shown = staff.submit(f"/cases/{ref}", f"/cases/{ref}/personal")

    assert shown.status_code == 200
    assert NAME in shown.text and PHONE in shown.text
    assert len(_audit("personal_read")) == reads + 1
    assert (("personal_read", ref)) in _audit("personal_read")
    assert NAME not in staff.get(f"/cases/{ref}").text  # the next page holds none of it


def test_the_persons_details_are_entered_and_corrected_on_the_case_page(staff: Staff) -> None:
    ref = f.open_case(staff.clock)
    _signed_in(staff, f.COORD, ref)

    bad = staff.submit(f"/cases/{ref}", f"/cases/{ref}/person", given_name="Ilinca")
    assert bad.status_code == 400 and "family_name" in bad.text
    assert "Ilinca" not in bad.text  # what was typed is not repeated
    assert (
        'name="family_name" value="" autocomplete="off" required aria-describedby="problem-person"'
        in bad.text
    )
    saved = staff.submit(
        f"/cases/{ref}",
        f"/cases/{ref}/person",
        given_name="Ilinca",
        family_name="Vornicescu",
        birth_date="1999-02-03",
        sex="female",
    )

    assert saved.status_code == 303 and saved.headers["location"] == f"/cases/{ref}#person"
    shown = staff.submit(f"/cases/{ref}", f"/cases/{ref}/personal")
    assert "Vornicescu" in shown.text and NAME not in shown.text
    assert 'name="family_name" value="Vornicescu"' in shown.text  # corrected from here
    with f.admin_read() as s:
        stored = s.exec(text("SELECT family_name FROM beneficiary")).all()  # type: ignore[call-overload]
    assert stored and all("Vornicescu" not in str(row) for row in stored)  # encrypted


def test_a_partner_without_the_persons_consent_sees_no_personal_data(
    workspace: Workspace,
) -> None:
    coordinator, consulate, ngo = workspace.browser(), workspace.browser(), workspace.browser()
    ref = f.open_case(coordinator.clock, share=False)  # ADPARE waits for the sharing consent
    item = next(i for i in f.items(ref) if i.owner_org_id != f.load_case(ref).owner_org_id)

    page = _signed_in(consulate, CONSULATE, ref)  # works on the case, no consent to share
    assert NAME not in page and PHONE not in page
    assert f"/cases/{ref}/personal" not in page
    forced = consulate.post(
        f"/cases/{ref}/personal", {"csrf": form(page, f"/items/{item.id}/done")["csrf"]}
    )
    assert forced.status_code == 404 and NAME not in forced.text and PHONE not in forced.text

    ngo.sign_in(ADPARE)
    hidden = ngo.get(f"/cases/{ref}")
    missing = ngo.get("/cases/RT-2222-22")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace(ref, "RT-2222-22") == missing.text  # the same "not found"
    assert NAME not in hidden.text
    hidden_item = ngo.get(f"/items/{item.id}")
    missing_item = ngo.get("/items/999999")
    assert hidden_item.status_code == missing_item.status_code == 404
    assert ref not in hidden_item.text
    same = hidden_item.text.replace(f"#{item.id}", "#999999")
    assert same.replace(f"/items/{item.id}", "/items/999999") == missing_item.text


def test_an_item_handed_off_on_the_page_is_accepted_by_the_partner_there(
    workspace: Workspace,
) -> None:
    coordinator, partner = workspace.browser(), workspace.browser()
    ref = f.open_case(coordinator.clock)
    item = f.items(ref)[1]
    _signed_in(coordinator, f.COORD, ref)
    offered = coordinator.submit(f"/cases/{ref}", f"/items/{item.id}/handoff", to="adpare")
    assert offered.status_code == 303, offered.text
    assert "Handed off to adpare, waiting for an answer." in coordinator.get(f"/cases/{ref}").text

    page = _signed_in(partner, ADPARE, ref)
    assert f"/items/{item.id}/accept" in page and f"/items/{item.id}/done" not in page
    accepted = partner.submit(f"/cases/{ref}", f"/items/{item.id}/accept")

    assert accepted.status_code == 303, accepted.text
    (now,) = [i for i in f.items(ref) if i.id == item.id]
    with f.admin_read() as s:
        owner = s.get(Organisation, now.owner_org_id)
    assert owner is not None and owner.slug == "adpare"
    assert f"/items/{item.id}/done" in partner.get(f"/cases/{ref}").text  # now theirs to do


def test_a_supervisor_does_not_approve_with_a_code_and_an_outcome_is_asked_for(
    workspace: Workspace,
) -> None:
    coordinator, supervisor = workspace.browser(), workspace.browser()
    ref = f.open_case(coordinator.clock)
    f.drive_to(ref, "reintegration", coordinator.clock)
    _signed_in(coordinator, f.COORD, ref)
    asked = coordinator.submit(
        f"/cases/{ref}", f"/cases/{ref}/closure/request", reason="person_chose_to_stop"
    )
    assert asked.status_code == 303, asked.text
    _signed_in(supervisor, f.SUPERVISOR, ref)

    unsure = supervisor.submit(f"/cases/{ref}", f"/cases/{ref}/closure/reject")
    assert unsure.status_code == 400 and 'id="problem-closure"' in unsure.text
    assert 'id="rejection" name="rejection" required aria-invalid="true"' in unsure.text
    rejected = supervisor.submit(
        f"/cases/{ref}", f"/cases/{ref}/closure/reject", rejection="work_outstanding"
    )

    assert rejected.status_code == 303, rejected.text
    (event,) = _events(ref, "closure_rejected")
    assert event.data["rejection"] == "work_outstanding"
    assert f.load_case(ref).phase == "reintegration"


def test_an_item_with_outcomes_asks_for_one_from_its_list(staff: Staff) -> None:
    ref = f.open_case(staff.clock)
    f.drive_to(ref, "consent_obtained", staff.clock)
    risk = next(i for i in f.items(ref) if i.code == "risk_assessment")
    page = _signed_in(staff, f.COORD, ref)
    assert f'<select id="outcome-{risk.id}" name="outcome" required' in page

    missing = staff.submit(f"/cases/{ref}", f"/items/{risk.id}/done")
    assert missing.status_code == 400 and f'id="problem-item-{risk.id}"' in missing.text
    assert "outcome: item risk_assessment needs one of low, medium, high" in missing.text
    done = staff.submit(f"/cases/{ref}", f"/items/{risk.id}/done", outcome="medium")
    assert done.status_code == 303
    (item,) = [i for i in f.items(ref) if i.id == risk.id]
    assert (item.status, item.outcome) == ("done", "medium")
