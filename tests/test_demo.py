"""``homeward demo`` in-process: both journeys reach closure on a fresh temporary database."""

from __future__ import annotations

import io

from rich.console import Console
from sqlmodel import select

from homeward.base.db import make_engine, read_session
from homeward.base.models import Case, CaseEvent, OutboxMessage
from homeward.edges.demo import run_demo


def test_demo_runs_adult_and_minor_to_closure_and_can_keep_its_database(tmp_path):
    out = io.StringIO()
    kept = tmp_path / "demo.db"
    refs = run_demo(keep=str(kept), console=Console(file=out, width=160))
    text = out.getvalue()
    assert text.count("final stage closed") == 2 and all(ref in text for ref in refs)
    # ...and the emails the journeys would send, through a local SMTP sink, in both languages.
    assert "emails delivered over SMTP to a sink on 127.0.0.1, 0 left queued, 0 dead" in text
    assert "en: Homeward digest" in text and "ro: Homeward, rezumatul zilei" in text
    assert all(kind in text for kind in ("digest", "escalation", "handoff_proposed"))
    assert "Demo" not in text  # the made-up people's names never print
    engine = make_engine(f"sqlite:///{kept}")
    with read_session(engine) as session:
        cases = {c.case_ref: c for c in session.exec(select(Case))}
        assert {c.state for c in cases.values()} == {"closed"}
        minor = next(c for c in cases.values() if c.is_minor)
        triggers = [
            e.trigger for e in session.exec(select(CaseEvent).where(CaseEvent.case_id == minor.id))
        ]
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
