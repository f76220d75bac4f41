"""``homeward demo`` in-process: the three journeys (an adult's family case, a minor's case and
an internal case) reach closure on a fresh temporary database, through plan, services and
scored visits."""

from __future__ import annotations

import io

from rich.console import Console
from sqlmodel import select

from homeward.base.db import make_engine, read_session
from homeward.base.models import (
    Assessment,
    Case,
    CaseDocument,
    CaseEvent,
    CaseNote,
    CasePerson,
    ChecklistItem,
    NrmReferral,
    OutboxMessage,
    PlanService,
    ReintegrationPlan,
    Visit,
)
from homeward.edges.demo import run_demo


def test_demo_runs_three_cases_to_closure_and_can_keep_its_database(tmp_path):
    out = io.StringIO()
    kept = tmp_path / "demo.db"
    refs = run_demo(keep=str(kept), console=Console(file=out, width=160))
    text = out.getvalue()
    assert len(refs) == 3 and len(set(refs)) == 3
    assert text.count("final stage closed") == 3 and all(ref in text for ref in refs)
    # One plan table and one visits table per case, with codes, amounts and scores.
    assert text.count(": plan") == 3 and text.count(": follow-up visits") == 3
    assert "plan version 1, approved: 8700.00 RON budget, 8245.00 RON spent" in text
    assert "plan version 1, approved: 5900.00 RON budget, 5420.00 RON spent" in text
    assert "no plan recorded" in text  # the minor's case keeps its follow-ups as items
    assert "proposed by the directory: psychological: adpare; housing: adpare;" in text
    # ...and the emails the journeys would send, through a local SMTP sink, in both languages.
    assert "emails delivered over SMTP to a sink on 127.0.0.1, 0 left queued, 0 dead" in text
    assert "en: Homeward digest" in text and "ro: Homeward, rezumatul zilei" in text
    assert all(kind in text for kind in ("digest", "escalation", "handoff_proposed", "appointment"))
    assert "Demo" not in text  # the made-up people's names never print
    engine = make_engine(f"sqlite:///{kept}")
    with read_session(engine) as session:
        cases = {c.case_ref: c for c in session.exec(select(Case))}
        assert {c.phase for c in cases.values()} == {"closed"}
        minor = next(c for c in cases.values() if c.is_minor)
        triggers = [
            e.trigger for e in session.exec(select(CaseEvent).where(CaseEvent.case_id == minor.id))
        ]
        family, _, internal = (cases[ref] for ref in refs)
        people = list(session.exec(select(CasePerson)))
        child_items = {
            (i.code, i.outcome, i.status)
            for i in session.exec(select(ChecklistItem).where(ChecklistItem.person_id.is_not(None)))
        }
        plans = list(session.exec(select(ReintegrationPlan)))
        services = list(session.exec(select(PlanService)))
        scored = list(session.exec(select(Visit).order_by(Visit.case_id, Visit.visited_on)))
        assessed = {(a.case_id, a.kind, a.level) for a in session.exec(select(Assessment))}
        referrals = {(r.case_id, r.referring_body) for r in session.exec(select(NrmReferral))}
        journal = (
            len(list(session.exec(select(CaseNote)))),
            list(session.exec(select(CaseDocument))),
        )
        events = {(e.case_id, e.trigger) for e in session.exec(select(CaseEvent))}
        emails = list(session.exec(select(OutboxMessage)))
        proofs = {e.trigger: e.proof for e in session.exec(select(CaseEvent))}
    engine.dispose()
    # Every change in the history was made by someone who proved who they were: a session.
    assert proofs and all(str(proof).startswith("session ") for proof in proofs.values()), proofs
    assert {"closure_requested", "close"} <= set(proofs)  # closed on a supervisor's approval
    assert minor.travel_doc_kind == "emergency_travel_document"
    assert {"suspend", "resume", "transfer_accepted"} <= set(triggers)
    assert emails and {e.status for e in emails} == {"sent"}
    assert {e.language for e in emails} == {"en", "ro"}
    # The adult's family case: her daughter, about 7, with the minors' items done for her.
    assert [(p.case_id, p.relation, p.is_minor) for p in people] == [(family.id, "child", True)]
    assert {("best_interests_assessment", "return_in_interest", "done")} <= child_items
    assert {("dgaspc_notified", None, "done"), ("escort_arranged", None, "done")} <= child_items
    assert family.destination_county == "RO-B" and family.route == "return"
    # The internal case: identified by the police in Cluj, no travel.
    assert (internal.route, internal.destination_county) == ("internal", "RO-CJ")
    assert internal.travel_doc_kind is None and not internal.is_minor
    assert {(family.id, "consulate"), (internal.id, "police")} == referrals
    assert {(family.id, "risk", "medium"), (internal.id, "risk", "low")} <= assessed
    assert {(family.id, "needs", None), (internal.id, "needs", None)} <= assessed
    assert journal[0] >= 2 and [d.kind for d in journal[1]] == ["signed_consent"]
    # Plans approved (by a supervisor who did not submit), services delivered with costs.
    assert {(p.case_id, p.status) for p in plans} == {
        (family.id, "approved"),
        (internal.id, "approved"),
    }
    assert all(p.decided_by_id != p.submitted_by_id for p in plans)
    assert len(services) == 6 and {s.status for s in services} == {"delivered"}
    assert all(s.cost_minor and s.budget_minor and s.cost_minor <= s.budget_minor for s in services)
    assert {s.case_id for s in services} == {family.id, internal.id}
    # Four follow-up visits per case, with scores improving over time.
    for case in (family, internal):
        composites = [v.composite_score for v in scored if v.case_id == case.id]
        assert len(composites) == 4 and composites == sorted(composites), composites
        assert composites[-1] > composites[0] + 0.2
    # An ad-hoc court hearing in the internal case, moved once, then held.
    assert {(internal.id, "item_rescheduled"), (internal.id, "start_assistance")} <= events
    assert {(family.id, "add_person"), (family.id, "plan_approved")} <= events
