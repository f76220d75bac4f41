"""Ad-hoc items and appointments (issue 16 point 4): added outside the catalog through the CLI,
moved and cancelled with reasons, invited to by calendar (stable UID, rising SEQUENCE, CANCEL),
reminded of under their kind's generic title; the free title and the reasons stay encrypted."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, date, datetime

import pytest
from icalendar import Calendar
from sqlmodel import col, select

from homeward.base import settings as homeward_settings
from homeward.base.db import get_engine, write_session
from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.base.models import ChecklistItem, ItemChange
from homeward.commands.adhoc import AddAdhocItem, CancelItem, ListAdhoc, RescheduleItem
from homeward.commands.runner import run
from homeward.edges.cli.common import state
from homeward.records.directory import get_org
from notifications.i18n import item_title
from notifications.sink import LocalSmtpServer
from statemachines.cases import get_case
from tasks import adhoc
from tests import factories as f
from tests.cli.runner import run_cli
from tests.conftest import BACKEND
from tests.notifications.conftest import point_mail_at, run_drain
from tests.notifications.helpers import outbox, remind
from tests.notifications.smtp_server import ScriptedHandler, received_text
from tests.protect.test_canary import _all_rows, forms
from tests.signin import credential_for

TITLE = "Zenobia Canarycanary hearing at the Tribunale of Verona"
REASON = "judge Canaryport fell ill, hearing moved"
CANCEL = "Canaryport trial withdrawn by the prosecutor"
SECRETS = ["Zenobia", "Canarycanary", "Canaryport", "Verona"]
ADPARE_CW, IOM_CW = "cw@adpare.example.org", "cw@iom-it.example.org"


def assert_clean(blob: bytes, where: str) -> None:
    for secret in SECRETS:
        for form in forms(secret):
            assert form not in blob, f"{secret!r} leaked into {where} as {form!r}"


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    f.seed()
    monkeypatch.setattr(state, "clock", clock)

    def go(*args: str, who: str = f.COORD, stdin: str = ""):
        return run_cli(capsys, monkeypatch, "--as", who, *args, stdin=stdin)

    return go


@pytest.fixture
def smtp(monkeypatch):
    """A real SMTP server on loopback that the settings point at (as the notification tests)."""
    handler = ScriptedHandler()
    with LocalSmtpServer(handler) as server:
        handler.controller = server
        point_mail_at(monkeypatch, server.port)
        yield handler
    homeward_settings.get_settings.cache_clear()


def _added(result) -> int:
    assert result.code == 0, result.out + result.err
    found = re.search(r"item #(\d+) adhoc_", result.out)
    assert found, result.out
    return int(found[1])


def _one_line(result, code: int) -> str:
    assert result.code == code, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    return lines[0]


def _calendars(received) -> list[Calendar]:
    found = []
    for message in received:
        for part in message.parsed().walk():
            if part.get_content_type() == "text/calendar":
                found.append(Calendar.from_ical(part.get_payload(decode=True)))
    return found


def test_an_appointment_is_added_moved_and_cancelled_with_one_calendar_entry(
    cli, clock, smtp, caplog
):
    caplog.set_level(logging.DEBUG)
    ref = f.open_case(clock)
    added = cli(
        "items", "add", ref, "--kind", "court_hearing", "--owner", "iom-it",
        "--due", "2026-01-12", "--at", "10:30", "--assignee", IOM_CW, "--title-file", "-",
        stdin=TITLE,
    )  # fmt: skip
    item_id = _added(added)
    moved = cli(
        "items", "reschedule", str(item_id), "--due", "2026-01-14", "--at", "11:15",
        "--reason-file", "-", stdin=REASON,
    )  # fmt: skip
    assert moved.code == 0, moved.err
    assert "now due 2026-01-14" in moved.out
    cancelled = cli("items", "cancel", str(item_id), "--reason-file", "-", stdin=CANCEL)
    assert cancelled.code == 0, cancelled.err

    with f.admin_read() as s:
        item = s.get(ChecklistItem, item_id)
        assert item is not None
        assert (item.code, item.status, item.blocking) == (
            "adhoc_court_hearing",
            "cancelled",
            False,
        )
        assert item.starts_at is not None
        assert item.starts_at.replace(tzinfo=UTC) == datetime(2026, 1, 14, 9, 15, tzinfo=UTC)
        changes = s.exec(select(ItemChange).where(ItemChange.item_id == item_id)).all()
        assert [c.kind for c in changes] == ["rescheduled", "cancelled"]
        assert all(c.reason and REASON not in c.reason for c in changes)

    # Who may read them sees the title and both reasons (audited reads).
    shown = cli("items", "show", str(item_id))
    assert shown.code == 0, shown.err
    assert TITLE in shown.out and REASON in shown.out and CANCEL in shown.out
    listed = cli("items", "adhoc", ref)
    assert listed.code == 0 and "Canarycanary" in listed.out and "cancelled" in listed.out

    # One invitation per change, to the assignee; the calendar moves and removes one entry.
    mails = outbox("appointment")
    assert len(mails) == 3 and all(m.to_addrs == [IOM_CW] for m in mails)
    report = run_drain(clock)
    assert report.sent == 3 and report.dead == 0
    calendars = _calendars(smtp.received)
    assert [str(c["method"]) for c in calendars] == ["REQUEST", "REQUEST", "CANCEL"]
    events = [c.walk("VEVENT")[0] for c in calendars]
    assert len({str(e["uid"]) for e in events}) == 1
    uid = str(events[0]["uid"])
    assert str(item_id) in uid and "2026" not in uid  # the item's, not its date's
    assert [int(e["sequence"]) for e in events] == [0, 1, 2]
    starts = [e.decoded("dtstart") for e in events]
    assert starts[0] == datetime(2026, 1, 12, 8, 30, tzinfo=UTC)  # 10:30 in Bucharest
    assert starts[1] == starts[2] == datetime(2026, 1, 14, 9, 15, tzinfo=UTC)
    assert all(str(e["organizer"]).startswith("mailto:") for e in events)
    assert all(str(e["summary"]) == f"Court hearing ({ref})" for e in events)
    raw = b"".join(c.to_ical() for c in calendars)
    # iom-it's calendar in Rome's time (one hour behind Bucharest), with its VTIMEZONE.
    assert b"DTSTART;TZID=Europe/Rome:20260112T093000" in raw and b"STATUS:CANCELLED" in raw
    assert all(c.walk("VTIMEZONE")[0]["tzid"] == "Europe/Rome" for c in calendars)
    assert all(str(e["attendee"]) == f"mailto:{IOM_CW}" for e in events)

    # Nothing typed reaches an email, the outbox, a log, the rows in plaintext or other output.
    assert_clean(received_text(smtp.received).encode(), "emails")
    assert_clean(json.dumps([[m.key, m.context] for m in outbox()]).encode(), "outbox")
    assert_clean(caplog.text.encode(), "logs")
    assert_clean(_all_rows(get_engine()).encode(), "database rows")
    printed = "".join(
        cli(*argv).out
        for argv in (
            ["items", "list", "--status", "all"],
            ["case", "history", ref],
            ["case", "show", ref],
        )
    )
    assert "Court hearing" in printed or "adhoc_court_hearing" in printed
    assert_clean((printed + added.out + moved.out + cancelled.out).encode(), "CLI output")


def test_reminders_and_digests_name_the_kind_never_the_free_title(cli, clock):
    ref = f.open_case(clock)
    item_id = _added(
        cli(
            "items",
            "add",
            ref,
            "--kind",
            "medical_appointment",
            "--owner",
            "adpare",
            "--due",
            "2026-01-08",
            "--title",
            TITLE,
            who=ADPARE_CW,
        )  # fmt: skip
    )
    remind(clock)
    digests = [m for m in outbox("digest") if m.to_addrs == [ADPARE_CW]]
    assert digests, [m.to_addrs for m in outbox()]
    lines = [line for m in digests for line in m.context["coming_due"]]
    ours = [line for line in lines if line["item_number"] == item_id]
    assert [line["item_title"] for line in ours] == ["Medical appointment"]
    assert_clean(json.dumps([m.context for m in outbox()]).encode(), "outbox")
    assert item_title("adhoc_medical_appointment", "ro") == "Programare medicală"
    assert item_title("adhoc_court_hearing", "en") == "Court hearing"
    # No start, no invitation; it is overdue later like every item (told on a working day:
    # Monday 12 January, not the weekend before).
    assert not outbox("appointment")
    clock.advance(days=7)
    remind(clock)
    assert any(m.template == "escalation" for m in outbox())


def test_who_may_add_reschedule_and_cancel(cli, clock):
    ref = f.open_case(clock)
    catalog_item = f.items(ref)[0]

    def add(owner: str, who: str, *more: str):
        return cli(
            "items", "add", ref, "--kind", "flight", "--owner", owner, "--due", "2026-01-20",
            *more, who=who,
        )  # fmt: skip

    with f.admin_read() as s:
        before = len(s.exec(select(ChecklistItem)).all())
    # A partner adds for itself, never for the owner; the owner's caseworker only for the owner.
    assert "cannot add items" in _one_line(add("iom-it", ADPARE_CW), 4)
    assert "cannot add items" in _one_line(add("adpare", IOM_CW), 4)
    assert "takes no part" in _one_line(add("fmb", f.COORD), 4)
    # A case the reader cannot see is "not found", as a missing one.
    hidden = _one_line(add("fmb", "cw@fmb.example.org"), 3)
    missing = _one_line(
        cli(
            "items",
            "add",
            "RT-ZZZZ-ZZ",
            "--kind",
            "flight",
            "--owner",
            "fmb",
            "--due",
            "2026-01-20",
            who="cw@fmb.example.org",
        ),  # fmt: skip
        3,
    )
    assert hidden.replace(ref, "REF") == missing.replace("RT-ZZZZ-ZZ", "REF")
    # Bad input: one line naming the field.
    assert "kind:" in _one_line(
        cli("items", "add", ref, "--kind", "party", "--owner", "iom-it", "--due", "2026-01-20"),
        2,
    )
    assert "at:" in _one_line(add("iom-it", f.COORD, "--at", "25:99"), 2)
    assert "due:" in _one_line(
        cli("items", "add", ref, "--kind", "flight", "--owner", "iom-it", "--due", "2025-12-01"),
        2,
    )
    assert "zone:" in _one_line(add("iom-it", f.COORD, "--at", "10:00", "--zone", "moon"), 2)
    with f.admin_read() as s:
        assert len(s.exec(select(ChecklistItem)).all()) == before  # nothing was added

    mine = _added(add("adpare", ADPARE_CW, "--at", "07:45", "--zone", "host"))
    own = _added(add("iom-it", IOM_CW))
    with f.admin_read() as s:
        item = s.get(ChecklistItem, mine)
        assert item is not None and item.starts_at is not None
        assert item.starts_at.replace(tzinfo=UTC) == datetime(2026, 1, 20, 6, 45, tzinfo=UTC)
    # The owner's steering staff move a partner's item; another partner cannot.
    moved = cli("items", "reschedule", str(mine), "--due", "2026-01-21", "--reason", REASON)
    assert moved.code == 0, moved.err
    refused = cli("items", "cancel", str(own), "--reason", CANCEL, who=ADPARE_CW)
    assert "cannot record" in _one_line(refused, 4)
    # Only ad-hoc items are rescheduled or cancelled here; a catalog item's date moves with `due`.
    catalog = cli("items", "cancel", str(catalog_item.id), "--reason", CANCEL)
    assert "outside the catalog" in _one_line(catalog, 4)
    assert cli("items", "cancel", str(own), "--reason", CANCEL, who=IOM_CW).code == 0
    again = cli("items", "reschedule", str(own), "--due", "2026-01-22", "--reason", REASON)
    assert "cancelled" in _one_line(again, 4)
    assert "reason:" in _one_line(cli("items", "cancel", str(mine), "--reason", "no"), 2)


def test_commands_keep_free_text_out_of_request_fingerprints(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    credential = credential_for(f.COORD, clock.now())
    add = AddAdhocItem(ref, "legal_consultation", "iom-it", date(2026, 1, 9), title=TITLE)
    assert "title" not in add.args() and TITLE not in json.dumps(add.args())
    done = run(add, credential, key="adhoc-add-0001", clock=clock)
    assert run(add, credential, key="adhoc-add-0001", clock=clock) == done  # a retry
    move = RescheduleItem(done.item_id, date(2026, 1, 10), REASON, at="09:00")
    assert REASON not in json.dumps(move.args())
    run(move, credential, clock=clock)
    assert CANCEL not in json.dumps(CancelItem(done.item_id, CANCEL).args())
    view = run(ListAdhoc(ref), credential, clock=clock)
    assert [(line.kind, line.title) for line in view.lines] == [("legal_consultation", TITLE)]
    assert "iom-it" in view.owners and "adpare" in view.owners
    partner = run(ListAdhoc(ref), credential_for(ADPARE_CW, clock.now()), clock=clock)
    assert partner.lines[0].title is None  # not its item: the title stays sealed
    assert partner.owners == ["adpare"]
    with write_session() as s, pytest.raises(Refused, match="cannot add items"):
        manager = f.acting(session=s, email="mgr@iom-it.example.org")  # reports, no casework
        adhoc.add_item(
            s,
            case=get_case(s, case_ref=ref, actor=manager),
            actor=manager,
            kind="flight",
            owner=get_org(session=s, slug="iom-it"),
            on=date(2026, 1, 9),
            now=clock.now(),
        )
    with pytest.raises((InvalidInput, NotFound)):
        run(RescheduleItem(999_999, date(2026, 1, 10), REASON), credential, clock=clock)
    with f.admin_read() as s:
        count = len(s.exec(select(ItemChange).where(col(ItemChange.kind) == "rescheduled")).all())
    assert count == 1
    assert BACKEND in {"sqlite", "postgres"}
