"""No personal data in any email: a canary person, and canary words typed into every free-text
field staff fill in, must never reach a message, the outbox or a log line."""

from __future__ import annotations

import json
import logging

from homeward.base.db import write_session
from statemachines.cases import CaseIn, PersonIn, start_case
from tasks import checklist, handoffs
from tests import factories as f
from tests.notifications.conftest import run_drain
from tests.notifications.helpers import outbox, remind
from tests.notifications.smtp_server import received_text

PERSON = PersonIn(
    given_name="Zenobia",
    family_name="Canarycanary",
    phone="+40 700 000 111",
    home_address="Strada Canarului 7, Brasov",
    notes="canary-note: trafficked via Verona",
)
TYPED = "Zenobia Canarycanary said the trafficker is her uncle"  # what staff must not type
CANARIES = ["Zenobia", "Canarycanary", "700 000 111", "Canarului", "canary-note", "Verona", "uncle"]


def open_canary_case(clock) -> str:
    with write_session() as s:
        case = start_case(
            s,
            actor=f.actor(s),
            case_in=CaseIn(participants={"ngo": "adpare"}),
            person=PERSON,
            now=clock.now(),
        )
        ref = case.case_ref
    f.give_sharing(ref, clock, "fmb", "adpare", "iom-ro")
    return ref


def test_no_personal_data_reaches_any_email_the_outbox_or_the_logs(db_url, smtp, clock, caplog):
    caplog.set_level(logging.DEBUG)
    f.seed()
    ref, withdrawn = open_canary_case(clock), open_canary_case(clock)
    f.drive_to(ref, "consent_obtained", clock)
    family = next(i for i in f.items(ref) if i.code == "family_assessment")
    needs = next(i for i in f.items(ref) if i.code == "needs_assessment")
    with write_session() as s:
        handoffs.propose(
            s, item_id=family.id, to_org_slug="fmb", actor=f.actor(s), now=clock.now(), reason=TYPED
        )
    with write_session() as s:
        handoffs.reject(
            s,
            item_id=family.id,
            actor=f.actor(s, "cw@fmb.example.org"),
            now=clock.now(),
            reason=TYPED,
        )
    with write_session() as s:
        handoffs.propose(
            s,
            item_id=family.id,
            to_org_slug="adpare",
            actor=f.actor(s),
            now=clock.now(),
            reason=TYPED,
        )
    with write_session() as s:
        checklist.mark_done(s, item_id=needs.id, actor=f.actor(s), now=clock.now(), note=TYPED)
    f.advance(withdrawn, "withdraw_consent", clock)
    for _ in range(25):  # three weeks of reminders, escalations included
        remind(clock)
        clock.advance(days=1)
    report = run_drain(clock)
    templates = {m.template for m in outbox()}
    assert {
        "digest",
        "escalation",
        "handoff_proposed",
        "handoff_rejected",
        "consent_withdrawn",
    } <= templates
    assert report.sent == len(outbox()) == len(smtp.received) and report.dead == 0
    everything = "\n".join(
        [
            received_text(smtp.received),
            json.dumps([[m.key, m.context, m.to_addrs, m.last_error] for m in outbox()]),
            caplog.text,
        ]
    )
    assert ref in everything  # the case is there, named by its case_ref...
    for canary in CANARIES:
        assert canary not in everything, canary  # ...and nothing about the person
