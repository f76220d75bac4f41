"""PII canary: a person with unmistakable details goes through the engine (where personal data
belongs), then every flow runs on their case, each also made to fail, and the person's name is
typed into every field of every form (the served forms on the server, and Python calls of the
flows: ``tests.workflows.canary_forms``). Nothing of the person may reach Prefect: not its
database (runs, parameters, states, logs, artifacts, events, inputs, variables: every table),
nor the process's captured output and logs."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Coroutine
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from homeward.base import settings as homeward_settings
from homeward.base.clock import SimulatedClock
from homeward.base.db import write_session
from homeward.base.errors import HomewardError
from homeward.base.models import Beneficiary
from homeward.protection.vault import PersonIn, store_person
from statemachines.cases import get_case
from tasks.catalog import load_catalog
from tests import factories
from tests.factories import COORD, SUPERVISOR, acting
from tests.signin import assertion_for
from tests.workflows.canary_forms import typed_into_every_form, typed_into_every_python_call
from tests.workflows.helpers import add_enrolled_programme, closure_answered, dump, reason, run
from workflows.advance_case import advance_case
from workflows.caseload_report import caseload_report
from workflows.handoff_item import handoff_item
from workflows.record_checklist_item import record_checklist_item
from workflows.runtime import now as flows_now
from workflows.schedule_follow_ups import schedule_follow_ups
from workflows.stage_forms import record_consent
from workflows.start_return import start_return
from workflows.status_forms import close_case
from workflows.sweep_due_items import sweep_due_items

PERSON = PersonIn(
    given_name="Zyxcanary",
    family_name="Qwopperton",
    birth_date=date(1998, 2, 27),
    sex="female",
    phone="+40 799 123 457",
    home_address="Strada Ștefăniță Qwopperton 17, Brașov",
    notes="Zyxcanary was recruited by Qwoppercorp in Napoli",
    exploitation_form="sexual",
)
NEEDLES = ["Zyxcanary", "Qwopperton", "Qwoppercorp", "+40 799 123 457", "799 123 457", "Ștefăniță"]
MANAGER = "mgr@iom-it.example.org"
REASON = {"reason": "support_period_ended"}
START, ADVANCE = "start-return", "advance-case"


def _as(flow: str) -> str:
    """The coordinator's assertion for one run of ``flow``."""
    return assertion_for(COORD, flow)


def _shifted_base64(needle: bytes) -> list[str]:
    """The part of base64 that encodes ``needle`` whatever its offset in the encoded text."""
    found = []
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + needle).decode("ascii")
        start, end = (4 if pad else 0), len(encoded) - 4
        found.append(encoded[start:end])
    return found


def variants() -> set[str]:
    """Each needle raw, lower-case, JSON-escaped, hex and base64 (every alignment)."""
    found: set[str] = set()
    for needle in NEEDLES:
        raw = needle.encode("utf-8")
        found |= {needle, needle.lower(), json.dumps(needle)[1:-1], raw.hex(), raw.hex().upper()}
        found |= set(_shifted_base64(raw)) | set(_shifted_base64(needle.lower().encode()))
    return {v for v in found if len(v) >= 6}


def _fails(flow: Coroutine[Any, Any, Any]) -> None:
    """The run ends refused (a state named Refused) or fails (a fault): in one line either way."""
    try:
        said = reason(run(flow))
    except HomewardError as exc:
        said = str(exc)
    assert "\n" not in said


def _give_person(ref: str) -> None:
    """The person's details entered through the engine, as ``homeward case person`` does."""
    with write_session() as s:
        actor = acting(session=s, email=COORD)
        case = get_case(s, case_ref=ref, actor=actor)
        store_person(s, case=case, person=PERSON, actor=actor, now=flows_now())


def _to_reintegration(ref: str, clock: SimulatedClock) -> None:
    for trigger in factories.HAPPY_PATH[1:6]:
        factories.complete_stage(ref, clock)
        if trigger == "depart":
            clock.advance(days=5)
        factories.advance(ref, trigger, clock)
    factories.complete_stage(ref, clock)


def _every_flow(ref: str, clock: SimulatedClock) -> str:
    """Run every flow successfully on the canary's cases; returns the second case's ref."""
    other = run(start_return(ngo="adpare", assertion=_as(START)))
    _give_person(other["case_ref"])
    factories.complete_stage(ref, clock)
    consent = assertion_for(COORD, "record-consent")
    run(record_consent(case_ref=ref, method="signed", language="ro", assertion=consent))
    clock.current = flows_now()  # consent is the flow's today: travel is arranged after it
    first, second, third, fourth = factories.items(ref, stage="consent_obtained", status="open")[:4]
    outcome = (load_catalog().spec(first.code).outcomes or (None,))[0]
    record, hand = "record-checklist-item", "handoff-item"
    done = assertion_for(COORD, record)
    run(record_checklist_item(item_id=first.id, result="done", assertion=done, outcome=outcome))
    skip = assertion_for(COORD, record)
    run(
        record_checklist_item(
            item_id=second.id, result="skipped", assertion=skip, skip_reason="person_declined"
        )
    )
    for item in (third, fourth):
        propose = assertion_for(COORD, hand)
        run(handoff_item(item_id=item.id, action="propose", assertion=propose, to_org="adpare"))
    ngo = "cw@adpare.example.org"
    run(handoff_item(item_id=third.id, action="accept", assertion=assertion_for(ngo, hand)))
    no = assertion_for(ngo, hand)
    run(handoff_item(item_id=fourth.id, action="reject", assertion=no, rejection="no_capacity"))
    _to_reintegration(ref, clock)
    run(schedule_follow_ups())
    run(sweep_due_items(send=False))
    add_enrolled_programme(MANAGER, [ref, other["case_ref"]])
    run(caseload_report(stuck_after_days=1))  # the scheduler's: the dashboard
    run(caseload_report(stuck_after_days=1, assertion=assertion_for(MANAGER, "caseload-report")))
    decides = assertion_for(SUPERVISOR, "approve-closure")
    no = {"approve": False, "assertion": decides, **REASON, "rejection": "wrong_reason"}
    asks = assertion_for(COORD, "close-case")
    flow = close_case(case_ref=ref, reason=REASON["reason"], assertion=asks)
    run(closure_answered(flow, ref, no))
    return str(other["case_ref"])


def _every_flow_failing(ref: str, other: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each flow made to fail inside: bad input, unknown things, refused steps, bad settings."""
    _fails(advance_case(case_ref=ref, trigger="teleport", assertion=_as(ADVANCE), data={}))
    bad = {"method": "signed", "language": "Zyx"}
    _fails(advance_case(case_ref=other, trigger="record_consent", assertion=_as(ADVANCE), data=bad))
    _fails(advance_case(case_ref="RT-ZZZZ-99", trigger="suspend", assertion=_as(ADVANCE), data={}))
    good = {"method": "signed", "language": "ro"}
    _fails(
        advance_case(case_ref=other, trigger="record_consent", assertion=_as(ADVANCE), data=good)
    )
    # a slip in the approval form asks again (tests/workflows/test_approval.py); a case that
    # cannot close fails the run before anyone is asked
    _fails(advance_case(case_ref=other, trigger="close", assertion=_as(ADVANCE), data=REASON))
    record = assertion_for(COORD, "record-checklist-item")
    _fails(record_checklist_item(item_id=999_999, result="done", assertion=record))
    _fails(record_checklist_item(item_id=999_999, result="done", assertion=record))  # replayed
    _fails(
        handoff_item(
            item_id=999_999, action="accept", assertion=assertion_for(COORD, "handoff-item")
        )
    )
    _fails(start_return(ngo="iom-ro", assertion=_as(START)))
    _fails(caseload_report(stuck_after_days=0))
    monkeypatch.setenv("HOMEWARD_SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("HOMEWARD_SMTP_TLS", "none")
    homeward_settings.get_settings.cache_clear()
    _fails(sweep_due_items(send=True))
    monkeypatch.setenv("HOMEWARD_KEY_FILE", "/nonexistent/keys.json")
    homeward_settings.get_settings.cache_clear()
    _fails(schedule_follow_ups())


def _settled_dump(path: Path, ref: str) -> str:
    """Prefect's database once the logs and events of the runs above have been stored: every
    trace the test then looks for (waiting for two of them only, it could read the dump before
    the rest had been flushed). Waiting ends at a generous deadline: a guard, not a speed check."""
    wanted = (
        f"case-{ref}/close",
        "closure not approved",
        f"homeward.case.{ref}",
        "trigger: not one Homeward knows",
        "language: choose one of",
        "(refused)",
    )
    deadline = time.monotonic() + 120
    while True:
        text = dump(path)
        if all(trace in text for trace in wanted) or time.monotonic() > deadline:
            return text
        asyncio.run(asyncio.sleep(0.5))


@pytest.mark.usefixtures("homeward")
def test_no_personal_data_reaches_prefect(
    clock: SimulatedClock,
    prefect_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ref = factories.open_case(clock, person=PERSON)
    with factories.admin_read() as s:
        assert s.exec(select(Beneficiary)).first() is not None  # the engine holds the person

    other = _every_flow(ref, clock)
    assert typed_into_every_form(ref) > 50
    assert typed_into_every_python_call(ref) > 50
    _every_flow_failing(ref, other, monkeypatch)
    stored = _settled_dump(prefect_db, ref)

    # The dump is complete enough to catch a leak: runs, logs and events of these flows.
    assert f"case-{ref}/close" in stored and "closure not approved" in stored
    assert f"homeward.case.{ref}" in stored and "trigger: not one Homeward knows" in stored
    assert "language: choose one of" in stored and "(refused)" in stored  # the forms' refusals
    captured = capfd.readouterr()
    seen = "\n".join([stored, captured.out, captured.err, caplog.text])
    leaked = sorted(v for v in variants() if v in seen)
    assert leaked == []
