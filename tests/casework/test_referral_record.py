"""The NRM referral as a record, through the CLI a user types: recorded (with its checklist item
done as the same person), corrected (history keeps who and when), shown with the ANITP record
number to the owner's staff only (audited), refused in one line for bad input or the wrong
person, and never leaking the record number in plaintext."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlmodel import col, select

from homeward.base.clock import local_date
from homeward.base.db import write_session
from homeward.base.models import AuditEntry, Case, CaseEvent, ChecklistItem, NrmReferral
from homeward.crypt.crypto import decrypt_field
from homeward.edges.cli.common import state
from homeward.protection import vault
from homeward.records.directory import StaffIn, add_staff, validate
from tests import factories as f
from tests.cli.runner import run_cli
from tests.protect.test_canary import forms

RO_COORD, RO_CW = "coord@iom-ro.example.org", "cw@iom-ro.example.org"
CONSULATE, ADPARE = "officer@cons-rome.example.org", "cw@adpare.example.org"
RECORD_NO = "CANARYCANARY-4242/ZX"  # a distinctive record number, for the canary
PERSON = json.dumps({"given_name": "Zenobia", "family_name": "Canarycanary"})


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    f.seed()
    with write_session() as s:
        add_staff(
            session=s,
            staff_in=validate(
                StaffIn, org="iom-ro", name="Staff cw", email=RO_CW, role="caseworker"
            ),
        )
    monkeypatch.setattr(state, "clock", clock)

    def run(who: str, *args: str):
        return run_cli(capsys, monkeypatch, "--as", who, *args, stdin=PERSON)

    return run


def _today(clock) -> str:
    return local_date(clock.now()).isoformat()


def _internal(cli) -> str:
    opened = cli(
        RO_COORD,
        "case", "start", "--route", "internal", "--county", "RO-CJ",
        "--with", "ngo=adpare", "--person", "-",
    )  # fmt: skip
    assert opened.code == 0, opened.err
    assert "opened in stage identified_in_romania" in opened.out
    match = re.search(r"case (RT-[\w-]+) opened", opened.out)
    assert match
    return match.group(1)


def _item(ref: str, code: str) -> ChecklistItem:
    with f.admin_read() as s:
        case = s.exec(select(Case).where(Case.case_ref == ref)).one()
        query = select(ChecklistItem).where(
            ChecklistItem.case_id == case.id, ChecklistItem.code == code
        )
        return s.exec(query).one()


def _rows(ref: str) -> tuple[list[NrmReferral], list[CaseEvent]]:
    with f.admin_read() as s:
        case = s.exec(select(Case).where(Case.case_ref == ref)).one()
        rows = list(s.exec(select(NrmReferral).where(NrmReferral.case_id == case.id)))
        events = s.exec(
            select(CaseEvent)
            .where(CaseEvent.case_id == case.id, col(CaseEvent.trigger).like("nrm_referral%"))
            .order_by(col(CaseEvent.id))
        )
        return rows, list(events)


def _plain(row: NrmReferral) -> str:
    """The stored record number, decrypted as the system would (for assertions)."""
    with f.admin_read() as s:
        case = s.get(Case, row.case_id)
        assert case is not None and row.record_no is not None
        key = vault.case_key(s, case)
    return decrypt_field(
        key, row.record_no, table="nrm_referral", column="record_no", row_id=row.id
    )


def _reads(email: str) -> int:
    with f.admin_read() as s:
        who = f.actor(s, email)
        query = select(AuditEntry).where(
            AuditEntry.action == "note_read", AuditEntry.actor_id == who.id
        )
        return len(list(s.exec(query)))


def _everything() -> bytes:
    return repr(f.db_snapshot()).encode()


def test_an_internal_case_records_its_referral_and_corrects_it(cli, clock):
    ref = _internal(cli)
    none_yet = cli(RO_COORD, "referral", "show", ref)
    assert none_yet.code == 0, none_yet.err
    assert "no NRM referral recorded yet" in none_yet.out
    clock.advance(days=1)
    done = cli(
        RO_COORD, "referral", "record", ref,
        "--record-no", RECORD_NO, "--on", _today(clock), "--by", "police",
    )  # fmt: skip
    assert done.code == 0, done.err
    assert "recorded" in done.out and "item nrm_referral done" in done.out
    assert RECORD_NO not in done.out
    item = _item(ref, "nrm_referral")
    assert item.status == "done"
    with f.admin_read() as s:
        assert item.completed_by_id == f.actor(s, RO_COORD).id
    [row], [event] = _rows(ref)
    assert (row.referring_body, event.trigger) == ("police", "nrm_referral_recorded")
    assert _plain(row) == RECORD_NO

    shown = cli(RO_COORD, "referral", "show", ref)
    assert shown.code == 0, shown.err
    assert RECORD_NO in shown.out and "police" in shown.out
    assert _reads(RO_COORD) == 1  # the read is audited

    clock.advance(days=1)
    fixed = cli(
        RO_CW, "referral", "record", ref,
        "--record-no", "RO-2026/00123", "--on", _today(clock), "--by", "ngo",
    )  # fmt: skip
    assert fixed.code != 0 and "cannot" in fixed.err  # a caseworker does not steer
    fixed = cli(
        RO_COORD, "referral", "record", ref,
        "--record-no", "RO-2026/00123", "--on", _today(clock), "--by", "ngo",
    )  # fmt: skip
    assert fixed.code == 0, fixed.err
    assert "corrected" in fixed.out
    [row], events = _rows(ref)
    assert [e.trigger for e in events] == ["nrm_referral_recorded", "nrm_referral_corrected"]
    assert row.referring_body == "ngo"
    assert _plain(row) == "RO-2026/00123"
    caseworker_reads = cli(RO_CW, "referral", "show", ref)
    assert "RO-2026/00123" in caseworker_reads.out  # the owner's staff read it


def test_a_return_case_referral_is_the_consulates_as_before(cli, clock):
    ref = f.open_case(clock)
    today = _today(clock)
    refused = cli(
        ADPARE, "referral", "record", ref, "--record-no", RECORD_NO, "--on", today, "--by", "ngo"
    )
    assert refused.code != 0 and len(refused.err.strip().splitlines()) == 1
    assert "Traceback" not in refused.err
    done = cli(
        CONSULATE, "referral", "record", ref,
        "--record-no", RECORD_NO, "--on", today, "--by", "consulate",
    )  # fmt: skip
    assert done.code == 0, done.err
    assert "item anitp_notified done" in done.out
    item = _item(ref, "anitp_notified")
    with f.admin_read() as s:
        assert item.status == "done" and item.completed_by_id == f.actor(s, CONSULATE).id
    shown = cli(CONSULATE, "referral", "show", ref)
    assert shown.code == 0, shown.err
    assert RECORD_NO not in shown.out and "hidden" in shown.out  # the owner's staff only
    assert RECORD_NO in cli(f.COORD, "referral", "show", ref).out
    # a case the reader takes no part in answers as a missing one
    hidden = cli("cw@fmb.example.org", "referral", "show", ref)
    missing = cli("cw@fmb.example.org", "referral", "show", "RT-ZZZZ-ZZ")
    assert hidden.code == missing.code != 0
    assert hidden.err.replace(ref, "REF") == missing.err.replace("RT-ZZZZ-ZZ", "REF")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("--record-no", "no spaces allowed", "--by", "police"), "record_no"),
        (("--record-no", "X" * 33, "--by", "police"), "record_no"),
        (("--record-no", "RO-1", "--by", "neighbour"), "by"),
        (("--record-no", "RO-1", "--by", "police", "--on", "tomorrow"), "--on"),
        (("--record-no", "RO-1", "--by", "police", "--on", "FUTURE"), "referred_on"),
        (("--record-no", "RO-1", "--by", "police", "--on", "BEFORE"), "referred_on"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(cli, clock, args, field):
    ref = _internal(cli)
    today = local_date(clock.now())
    on = {"FUTURE": today + timedelta(days=1), "BEFORE": today - timedelta(days=1)}
    args = tuple(str(on.get(a, a)) for a in args)
    if "--on" not in args:
        args = (*args, "--on", today.isoformat())
    before = f.db_snapshot()
    bad = cli(RO_COORD, "referral", "record", ref, *args)
    assert bad.code != 0
    assert bad.err.strip().count("\n") == 0 and field in bad.err, bad.err
    assert "no spaces allowed" not in bad.err
    assert f.db_snapshot() == before


def test_the_record_number_never_lands_in_plaintext(cli, clock):
    ref = _internal(cli)
    done = cli(
        RO_COORD, "referral", "record", ref,
        "--record-no", RECORD_NO, "--on", _today(clock), "--by", "iom",
        "--request-id", "req-referral-1",
    )  # fmt: skip
    assert done.code == 0, done.err
    again = cli(
        RO_COORD, "referral", "record", ref,
        "--record-no", RECORD_NO, "--on", _today(clock), "--by", "iom",
        "--request-id", "req-referral-1",
    )  # fmt: skip
    assert again.code == 0, again.err
    assert len(_rows(ref)[1]) == 1  # the retry did nothing again
    blob = _everything() + done.out.encode() + done.err.encode()
    for form in forms(RECORD_NO) | forms("CANARYCANARY"):
        assert form not in blob, f"the record number leaked as {form!r}"


def test_an_internal_case_refuses_travel_in_one_line(cli, clock):
    ref = _internal(cli)
    refused = cli(
        RO_COORD, "case", "advance", ref, "arrange_travel",
        "--set", "document_kind=passport", "--set", "document_expires_on=2030-01-01",
        "--set", "departure_on=2026-02-01",
    )  # fmt: skip
    assert refused.code != 0
    assert "has no travel" in refused.err and refused.err.strip().count("\n") == 0
