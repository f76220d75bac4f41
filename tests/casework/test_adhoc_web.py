"""The appointments page (``/cases/REF/appointments``): linked from the case page, an add form
with labelled fields, the own title shown to the owner's staff and "(title private)" to a
partner, rescheduling and cancelling with reasons, refusals shown in place; in Romanian too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from homeward.base.clock import SimulatedClock
from homeward.base.models import ChecklistItem, ItemStatus
from homeward.edges.web.app import create_app
from homeward.edges.web.serve import Served
from notifications.sink import LocalSmtpServer, RecordingHandler
from tests import factories as f
from tests.notifications.conftest import point_mail_at
from tests.web.conftest import Staff, form

TITLE = "Zenobia Canarycanary at the Verona tribunal"
ADPARE_CW = "cw@adpare.example.org"


@pytest.fixture
def desk(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Staff]:
    """One browser on the served workspace, sign-in emails at a real SMTP server."""
    handler = RecordingHandler()
    with LocalSmtpServer(handler) as server:
        point_mail_at(monkeypatch, server.port, HOMEWARD_LOGIN_ANSWER_SECONDS="0")
        f.seed()
        clock = SimulatedClock()
        with Served(create_app(clock=clock)) as served:
            client = httpx.Client(base_url=served.url, timeout=30)
            yield Staff(client, handler, clock)
            client.close()


def _page(desk: Staff, email: str, ref: str) -> str:
    path = f"/cases/{ref}/appointments"
    landed = desk.sign_in(email, path)
    assert landed.status_code == 303, landed.text
    page = desk.get(path)
    assert page.status_code == 200, page.text
    return str(page.text)


def _item(item_id: int) -> ChecklistItem:
    with f.admin_read() as s:
        item = s.get(ChecklistItem, item_id)
        assert item is not None
        return item


def test_add_reschedule_and_cancel_from_the_appointments_page(desk: Staff) -> None:
    ref = f.open_case(desk.clock)
    page = _page(desk, f.COORD, ref)
    assert f"/cases/{ref}/appointments" in desk.get(f"/cases/{ref}").text  # linked
    for name in ("add-kind", "add-owner", "add-due", "add-at", "add-zone", "add-title"):
        assert f'<label for="{name}">' in page, name
    action = f"/cases/{ref}/appointments"
    fields = form(page, action)
    added = desk.post(
        action,
        {
            **fields,
            "kind": "court_hearing",
            "owner": "iom-it",
            "due": "2026-01-12",
            "at": "10:30",
            "zone": "home",
            "title": TITLE,
        },
    )
    assert added.status_code == 303, added.text
    item_id = int(added.headers["location"].rsplit("#item-", 1)[1])
    item = _item(item_id)
    assert item.starts_at is not None and item.title is not None and TITLE not in item.title
    assert item.starts_at.replace(tzinfo=UTC) == datetime(2026, 1, 12, 8, 30, tzinfo=UTC)
    page = desk.get(action).text
    assert TITLE in page and "Court hearing" in page
    case_page, my_work = desk.get(f"/cases/{ref}"), desk.get("/")
    assert case_page.status_code == my_work.status_code == 200
    assert "Court hearing" in case_page.text and TITLE not in case_page.text + my_work.text

    # A refusal in place: a reason too short, the item unchanged.
    move = f"{action}/{item_id}/reschedule"
    short = desk.post(move, {**form(page, move), "due": "2026-01-13", "at": "09:00", "reason": "x"})
    assert short.status_code == 400 and 'id="problem-item-' in short.text
    assert _item(item_id).due_at == item.due_at
    moved = desk.post(
        move,
        {**form(page, move), "due": "2026-01-13", "at": "09:00", "reason": "the court moved it"},
    )
    assert moved.status_code == 303, moved.text
    assert _item(item_id).starts_at.replace(tzinfo=UTC) == datetime(2026, 1, 13, 7, tzinfo=UTC)  # type: ignore[union-attr]
    page = desk.get(action).text
    cancel = f"{action}/{item_id}/cancel"
    done = desk.post(cancel, {**form(page, cancel), "reason": "the hearing was called off"})
    assert done.status_code == 303, done.text
    assert _item(item_id).status == ItemStatus.CANCELLED
    assert cancel not in desk.get(action).text  # nothing left to change on it


def test_a_partner_sees_the_kind_not_the_title_and_adds_only_for_itself(desk: Staff) -> None:
    ref = f.open_case(desk.clock)
    coordinator = _page(desk, f.COORD, ref)
    action = f"/cases/{ref}/appointments"
    added = desk.post(
        action,
        {
            **form(coordinator, action),
            "kind": "medical_appointment",
            "owner": "iom-it",
            "due": "2026-01-09",
            "title": TITLE,
        },
    )
    assert added.status_code == 303, added.text
    partner = Staff(httpx.Client(base_url=str(desk.client.base_url)), desk.mailbox, desk.clock)
    try:
        page = _page(partner, ADPARE_CW, ref)
        assert TITLE not in page and "(title private)" in page and "Medical appointment" in page
        assert '<option value="adpare">' in page and '<option value="iom-it">' not in page
        refused = partner.post(
            action,
            {**form(page, action), "kind": "flight", "owner": "iom-it", "due": "2026-01-09"},
        )
        assert refused.status_code == 409 and 'id="problem-add"' in refused.text
        switched = partner.submit(action, "/language", language="ro")
        assert switched.status_code == 303, switched.text
        page_ro = partner.get(action).text
        assert "Programări și alte sarcini" in page_ro and "Programare medicală" in page_ro
    finally:
        partner.client.close()
