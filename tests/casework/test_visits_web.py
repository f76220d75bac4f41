"""The follow-up visits page (``/cases/{ref}/visits``) through the real app on the test's real
database: the monitoring form as radio groups, a visit recorded and its item done, a safety
concern shown prominently, a refusal in place with nothing changed, notes shown on request
(audited), Romanian, and a case the reader may not see answered as "not found"."""

from __future__ import annotations

from sqlalchemy import text

from homeward.base.clock import local_date
from homeward.base.models import ItemStatus
from homeward.commands.profile import SetMyLanguage
from homeward.commands.runner import run
from homeward.edges.web import visits as page
from tasks import sustainability
from tests import factories as f
from tests.signin import credential_for
from tests.web import conftest as web
from tests.web.conftest import Staff, form

mailbox, workspace, staff = web.mailbox, web.workspace, web.staff  # the workspace's fixtures

ADPARE, FMB = "cw@adpare.example.org", "cw@fmb.example.org"
BEST = {f"q_{q.key}": q.choices[0].code for q in sustainability.QUESTIONS}


def _arrived(staff: Staff) -> str:
    """A case in reintegration (the workspace's mailbox fixture seeded the directory)."""
    ref = f.open_case(staff.clock)
    f.drive_to(ref, "reintegration", staff.clock)
    staff.clock.advance(days=14)
    return ref


def _signed_in(staff: Staff, email: str, ref: str) -> str:
    landed = staff.sign_in(email, f"/cases/{ref}/visits")
    assert landed.status_code == 303, landed.text
    shown = staff.get(f"/cases/{ref}/visits")
    assert shown.status_code == 200, shown.text
    return str(shown.text)


def _follow_up(ref: str, code: str) -> str:
    (item,) = [i for i in f.items(ref) if i.code == code]
    return str(item.status)


def test_the_form_records_a_visit_and_its_follow_up_item(staff: Staff) -> None:
    ref = _arrived(staff)
    html = _signed_in(staff, ADPARE, ref)
    assert "<legend>Economic</legend>" in html and 'type="radio" name="q_food_security"' in html
    assert "No visit recorded yet." in html
    case_page = staff.get(f"/cases/{ref}").text
    assert f'href="/cases/{ref}/visits"' in case_page and "Follow-up visits" in case_page

    today = local_date(staff.clock.now()).isoformat()
    done = staff.submit(
        f"/cases/{ref}/visits",
        f"/cases/{ref}/visits",
        on=today,
        mode="home",
        attended="Zenobia Canarycanary alone",
        progress="on_track",
        **BEST,
    )

    assert done.status_code == 303 and done.headers["location"] == f"/cases/{ref}/visits?recorded=1"
    assert _follow_up(ref, "follow_up_2w") == ItemStatus.DONE
    listed = staff.get(done.headers["location"]).text
    assert "Visit 1 recorded." in listed and "1.00" in listed
    assert "Zenobia" not in listed  # texts only behind "show notes and answers"


def test_a_safety_concern_is_shown_prominently(staff: Staff) -> None:
    ref = _arrived(staff)
    _signed_in(staff, ADPARE, ref)
    staff.submit(
        f"/cases/{ref}/visits",
        f"/cases/{ref}/visits",
        on=local_date(staff.clock.now()).isoformat(),
        mode="phone",
        safety_concern="on",
        safety_note="a car waited outside",
    )
    html = staff.get(f"/cases/{ref}/visits").text
    assert 'role="alert" id="safety"' in html and "Consider suspending the case" in html


def test_a_refusal_is_shown_in_place_and_changes_nothing(staff: Staff) -> None:
    ref = _arrived(staff)
    _signed_in(staff, ADPARE, ref)
    before = f.db_snapshot()
    fields = form(staff.get(f"/cases/{ref}/visits").text, f"/cases/{ref}/visits")
    fields.update(on="2031-01-01", mode="office", attended="Zenobia", q_debt="none")
    refused = staff.post(f"/cases/{ref}/visits", fields)
    assert refused.status_code == 400
    assert "on: the visit&#39;s day is in the future" in refused.text
    assert 'value="2031-01-01"' in refused.text and 'value="none" checked' in refused.text
    assert "Zenobia" not in refused.text  # typed text is not repeated
    assert f.db_snapshot() == before


def test_notes_are_shown_on_request_and_audited(staff: Staff) -> None:
    ref = _arrived(staff)
    _signed_in(staff, ADPARE, ref)
    staff.submit(
        f"/cases/{ref}/visits",
        f"/cases/{ref}/visits",
        on=local_date(staff.clock.now()).isoformat(),
        mode="home",
        attended="her brother",
        q_debt="manageable",
    )
    shown = staff.submit(f"/cases/{ref}/visits", f"/cases/{ref}/visits/1/show")
    assert shown.status_code == 200
    assert "her brother" in shown.text and "Debts that can be repaid" in shown.text
    with f.admin_read() as s:
        reads = s.exec(text("SELECT count(*) FROM audit_entry WHERE action = 'note_read'")).one()  # type: ignore[call-overload]
    assert reads[0] == 2


def test_the_page_speaks_romanian(staff: Staff) -> None:
    ref = _arrived(staff)
    run(SetMyLanguage("ro"), credential_for(ADPARE, staff.clock.now()), clock=staff.clock)
    html = _signed_in(staff, ADPARE, ref)
    assert "Vizite de monitorizare" in html and "Mulțumirea față de situația economică" in html


def test_a_case_the_reader_may_not_see_is_not_found(staff: Staff) -> None:
    ref = _arrived(staff)
    staff.sign_in(FMB, "/")
    assert staff.get(f"/cases/{ref}/visits").status_code == 404
    assert staff.get("/cases/RT-AAAA-AA/visits").status_code == 404


def test_every_question_and_answer_is_marked_for_translation() -> None:
    words = set(page.FORM_WORDS)
    for q in sustainability.QUESTIONS:
        assert q.text in words and {c.label for c in q.choices} <= words
