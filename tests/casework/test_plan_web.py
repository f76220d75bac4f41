"""The plan page (``/cases/{ref}/plan``) as staff use it: draft, goal, service, submit,
approve by another supervisor, the provider recording the service; refusals shown in place
with nothing changed; Romanian; a hidden case answers as a missing one."""
# ruff: noqa: F811 (the workspace fixtures are imported, and named as parameters)

from __future__ import annotations

from sqlmodel import select

from homeward.base.db import write_session
from homeward.base.models import ChecklistItem, PlanService, ReintegrationPlan
from homeward.records.directory import StaffIn, add_staff, validate
from tests import factories as f
from tests.web.conftest import Staff, Workspace, form, mailbox, workspace  # noqa: F401 (the workspace fixtures)

CW, FMB, SUP2 = "cw@iom-it.example.org", "cw@fmb.example.org", "sup2@iom-it.example.org"
GOAL, NOTE = "Zenobia Canarycanary wants to train as a cook", "Zenobia Canarycanary note"


def _signed_in(workspace: Workspace, email: str) -> Staff:
    person = workspace.browser()
    assert person.sign_in(email).status_code == 303
    return person


def _post(person: Staff, ref: str, action: str, **fields: str):  # type: ignore[no-untyped-def]
    return person.submit(f"/cases/{ref}/plan", action, **fields)


def _data() -> dict[str, object]:
    return {k: v for k, v in f.db_snapshot().items() if k != "audit_entry"}


def _case(workspace: Workspace) -> str:
    with write_session() as s:
        add_staff(
            session=s,
            staff_in=validate(StaffIn, org="iom-it", name="Sup Two", email=SUP2, role="supervisor"),
        )
    ref = f.open_case(workspace.clock)
    f.drive_to(ref, "received", workspace.clock)
    return ref


def test_a_plan_from_draft_to_a_delivered_service_in_the_workspace(workspace: Workspace) -> None:
    ref = _case(workspace)
    cw = _signed_in(workspace, CW)
    page = cw.get(f"/cases/{ref}")
    assert f'href="/cases/{ref}/plan"' in page.text  # linked from the case page
    empty = cw.get(f"/cases/{ref}/plan")
    assert empty.status_code == 200 and "no reintegration plan yet" in empty.text
    assert _post(cw, ref, f"/cases/{ref}/plan/draft", summary="").status_code == 303
    goal = _post(cw, ref, f"/cases/{ref}/plan/goal", dimension="economic", text=GOAL)
    assert goal.status_code == 303
    fields = {
        "service_type": "vocational_training",
        "provider": "fmb",
        "start": "2026-02-01",
        "budget": "1200.50",
        "currency": "RON",
        "note": NOTE,
    }
    before = _data()
    bad = _post(cw, ref, f"/cases/{ref}/plan/service", **{**fields, "budget": "lots"})
    assert bad.status_code == 400 and "write an amount like 1200.50" in bad.text
    assert 'role="alert"' in bad.text and NOTE not in bad.text.split('role="alert"')[1][:300]
    assert _data() == before  # showing the page again audits its reads, nothing else
    assert _post(cw, ref, f"/cases/{ref}/plan/service", **fields).status_code == 303
    assert _post(cw, ref, f"/cases/{ref}/plan/submit").status_code == 303
    shown = cw.get(f"/cases/{ref}/plan").text
    assert GOAL in shown and NOTE in shown and "1200.50 RON" in shown
    assert "/plan/approve" not in shown  # a caseworker does not decide

    sup = _signed_in(workspace, SUP2)
    assert _post(sup, ref, f"/cases/{ref}/plan/approve").status_code == 303
    with f.admin_read() as s:
        [service] = s.exec(select(PlanService)).all()
        assert s.exec(select(ReintegrationPlan)).one().status == "approved"
        item = s.get(ChecklistItem, service.item_id)
        assert item is not None and item.code == "service_vocational_training"

    case_page = cw.get(f"/cases/{ref}")  # the case page lists the provider's item too
    assert case_page.status_code == 200 and "Plan service: vocational training" in case_page.text
    provider = _signed_in(workspace, FMB)
    mine = provider.get("/")
    assert "Plan service: vocational training" in mine.text and ref in mine.text
    plan_page = provider.get(f"/cases/{ref}/plan")
    assert plan_page.status_code == 200 and GOAL not in plan_page.text and NOTE in plan_page.text
    action = f"/cases/{ref}/plan/services/{service.id}/delivered"
    assert action in plan_page.text
    done = provider.post(action, {**form(plan_page.text, action), "cost": "999"})
    assert done.status_code == 303
    after = provider.get(f"/cases/{ref}/plan").text
    assert "999.00 RON" in after


def test_romanian_page_and_a_hidden_case_answers_like_a_missing_one(workspace: Workspace) -> None:
    ref = _case(workspace)
    with write_session() as s:
        f.actor(s, CW).language = "ro"
    cw = _signed_in(workspace, CW)
    page = cw.get(f"/cases/{ref}/plan")
    assert "Plan de reintegrare" in page.text and "Întocmiți un plan" in page.text
    outsider = _signed_in(workspace, "cw@dgaspc-bv.example.org")
    hidden = outsider.get(f"/cases/{ref}/plan")
    missing = outsider.get("/cases/RT-0000-00/plan")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace(ref, "REF") == missing.text.replace("RT-0000-00", "REF")
