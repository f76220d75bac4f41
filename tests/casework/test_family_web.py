"""The family page and the name search in the workspace (issue 16, points 5, 9), through the
real app on the test's real database: names only behind an audited POST, a child added with its
minors' items, a hidden case "not found", and a search that never puts a name in an address."""

from __future__ import annotations

from sqlalchemy import text

from tests import factories as f
from tests.web import conftest as web
from tests.web.conftest import Staff, Workspace, form

# the workspace fixtures of tests/web (this package has no conftest of its own)
mailbox, workspace, staff = web.mailbox, web.workspace, web.staff

OUTSIDER = "cw@fmb.example.org"


def _audit(action: str) -> int:
    with f.admin_read() as s:
        rows = s.exec(text("SELECT action FROM audit_entry")).all()  # type: ignore[call-overload]
    return sum(1 for r in rows if r[0] == action)


def test_a_child_is_added_on_the_family_page_and_names_show_only_on_request(staff: Staff) -> None:
    ref = f.open_case(staff.clock)
    landed = staff.sign_in(f.COORD, f"/cases/{ref}/family")
    assert landed.status_code == 303
    assert f"/cases/{ref}/family" in staff.get(f"/cases/{ref}").text  # linked from the case
    page = staff.get(f"/cases/{ref}/family")
    assert page.status_code == 200 and "No family members" in page.text
    for field in ("relation", "given_name", "family_name", "birth_date", "sex"):
        assert f'for="add-{field}"' in page.text  # a label on every field

    bad = staff.submit(
        f"/cases/{ref}/family", f"/cases/{ref}/family/add", given_name="Quintessa",
        family_name="Kidcanary", relation="child",
    )  # fmt: skip
    assert bad.status_code == 400 and "birth_date" in bad.text and "Quintessa" not in bad.text
    added = staff.submit(
        f"/cases/{ref}/family", f"/cases/{ref}/family/add", given_name="Quintessa",
        family_name="Kidcanary", relation="child", birth_date="2019-03-01", sex="female",
    )  # fmt: skip
    assert added.status_code == 200 and "child 1" in added.text and "minors" in added.text
    assert "Quintessa" not in added.text
    assert [i.code for i in f.items(ref) if i.person_id] == ["dgaspc_notified"]

    listed = staff.get(f"/cases/{ref}/family")
    assert "child 1" in listed.text and "Quintessa" not in listed.text
    case_page = staff.get(f"/cases/{ref}").text  # the child's item says whom it is about
    assert '<span class="about">(child 1)</span>' in case_page and "Quintessa" not in case_page
    reads = _audit("personal_read")
    shown = staff.submit(f"/cases/{ref}/family", f"/cases/{ref}/family/names")
    assert shown.status_code == 200 and "Quintessa" in shown.text and "Kidcanary" in shown.text
    assert _audit("personal_read") == reads + 1

    person_id = [i.person_id for i in f.items(ref) if i.person_id][0]
    action = f"/cases/{ref}/family/{person_id}/remove"
    gone = staff.submit(f"/cases/{ref}/family", action, reason="entered_in_error")
    assert gone.status_code == 303
    assert "removed" in staff.get(f"/cases/{ref}/family").text


def test_romanian_family_page(staff: Staff) -> None:
    ref = f.open_case(staff.clock)
    staff.sign_in(f.COORD, f"/cases/{ref}/family")
    page = staff.get(f"/cases/{ref}/family")
    switched = staff.post("/language", {**form(page.text, "/language"), "language": "ro"})
    assert switched.status_code in (303, 200)
    assert "Membrii familiei" in staff.get(f"/cases/{ref}/family").text


def test_a_hidden_case_is_not_found_and_the_search_is_a_post(workspace: Workspace) -> None:
    ref = f.open_case(workspace.clock)
    owner, outsider = workspace.browser(), workspace.browser()
    owner.sign_in(f.COORD, "/find")
    outsider.sign_in(OUTSIDER, "/find")
    hidden = outsider.get(f"/cases/{ref}/family")
    missing = outsider.get("/cases/RT-7KQ2-M9/family")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace(ref, "REF") == missing.text.replace("RT-7KQ2-M9", "REF")

    page = owner.get("/find")
    assert page.status_code == 200 and 'method="post" action="/find"' in page.text
    assert 'for="find-name"' in page.text
    found = owner.submit("/find", "/find", name="Zenobia Canarycanary")
    assert found.status_code == 200 and ref in found.text and "Canarycanary" not in found.text
    nobody = outsider.submit("/find", "/find", name="Nobody Atall")
    hidden_hit = outsider.submit("/find", "/find", name="Zenobia Canarycanary")
    assert hidden_hit.status_code == nobody.status_code == 200
    assert hidden_hit.text == nobody.text  # the same answer as no match: no count, no hint
    assert ref not in hidden_hit.text
