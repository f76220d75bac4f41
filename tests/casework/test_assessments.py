"""Structured assessments that steer (issue 16, point 7), through the commands and the CLI, on
SQLite and (``HOMEWARD_TEST_DB=postgres``) PostgreSQL under row security."""

from __future__ import annotations

import json

import pytest

from homeward.base.clock import SimulatedClock
from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.commands import assessments as cmd
from homeward.commands import providers as directory
from homeward.commands.runner import run
from tasks import assessments
from tests import factories as f
from tests.cli.runner import run_cli
from tests.signin import credential_for

LOW = {
    "trafficker_knows_home": "no",
    "trafficker_contacts_family": "no",
    "network_in_destination": "no",
    "family_involved": "no",
    "threats_received": "no",
    "debt": "no",
    "no_income": "no",
    "prior_trafficking": "no",
    "substance_use": "no",
    "health": "none",
}
HIGH = {**LOW, "trafficker_knows_home": "yes"}
CANARY_NOTE = "Zenobia Canarycanary fears the uncle"


def as_(email: str, clock: SimulatedClock):  # type: ignore[no-untyped-def]
    return credential_for(email, clock.now())


# --- scoring ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "level"),
    [
        ({}, "low"),
        ({"trafficker_knows_home": "yes"}, "high"),
        ({"family_involved": "yes"}, "high"),
        ({"threats_received": "yes"}, "high"),
        ({"threats_received": "unknown"}, "medium"),
        ({"debt": "yes"}, "low"),
        ({"debt": "yes", "no_income": "yes"}, "medium"),
        ({"trafficker_contacts_family": "yes"}, "medium"),
        ({"trafficker_contacts_family": "yes", "network_in_destination": "yes"}, "high"),
        ({"debt": "yes", "no_income": "yes", "substance_use": "yes", "health": "pregnant"}, "high"),
        ({"network_in_destination": "unknown"}, "low"),
        ({"network_in_destination": "unknown", "debt": "yes"}, "medium"),
    ],
)
def test_risk_scoring_rules(changes: dict[str, str], level: str) -> None:
    checked = assessments.check_answers("risk", {**LOW, **changes})
    assert assessments.risk_level(checked) == level


def test_family_levels_and_needs() -> None:
    involved = {"family_support": "no", "family_involved": "yes", "safe_to_return_home": "no"}
    assert assessments.family_level(involved) == "high"
    distant = {"family_support": "partly", "family_involved": "no", "safe_to_return_home": "yes"}
    assert assessments.family_level(distant) == "low"
    assert assessments.needs_found("family", distant) == ["family_mediation"]
    unsafe = {**distant, "safe_to_return_home": "unknown"}
    assert assessments.family_level(unsafe) == "medium"
    assert assessments.needs_found("family", unsafe) == ["housing", "family_mediation"]


@pytest.mark.parametrize(
    ("answers", "says"),
    [
        ({**LOW, "debt": "maybe"}, "answer: debt takes one of yes, no, unknown"),
        ({**LOW, "colour": "red"}, "answer: question 'colour' is not one of the risk assessment"),
        ({k: v for k, v in LOW.items() if k != "health"}, "answer: the risk assessment needs"),
    ],
)
def test_bad_answers_are_one_line(answers: dict[str, str], says: str) -> None:
    with pytest.raises(InvalidInput) as bad:
        assessments.check_answers("risk", answers)
    assert str(bad.value).startswith(says)
    assert "\n" not in str(bad.value)


# --- recording, the item, the travel guard -------------------------------------------------


def _to_assessment_stage(clock: SimulatedClock) -> str:
    f.seed()
    ref = f.open_case(clock)
    f.drive_to(ref, "consent_obtained", clock)
    return ref


def test_high_risk_blocks_travel_until_another_supervisor_reviews_it(
    db_url: str, clock: SimulatedClock
) -> None:
    ref = _to_assessment_stage(clock)
    done = run(
        cmd.RecordAssessment(ref, "risk", {**HIGH, "notes": CANARY_NOTE}),
        as_(f.SUPERVISOR, clock),
        clock=clock,
    )
    assert (done.level, done.item_done, done.review_needed) == ("high", "risk_assessment", True)
    assert done.suggest and f"homeward case advance {ref} suspend" in done.suggest
    risk_item = [i for i in f.items(ref) if i.code == "risk_assessment"][0]
    assert (risk_item.status, risk_item.outcome) == ("done", "high")

    f.complete_stage(ref, clock)
    f.advance(ref, "complete_assessment", clock)
    with pytest.raises(Refused) as refused:
        f.advance(ref, "arrange_travel", clock)
    assert f"homeward assess review {done.assessment_id} --agree" in str(refused.value)
    assert "consider suspending" in str(refused.value)

    # The one who recorded it cannot review it; a coordinator cannot either.
    with pytest.raises(Refused, match="recorded by you"):
        run(cmd.ReviewAssessment(done.assessment_id), as_(f.SUPERVISOR, clock), clock=clock)
    with pytest.raises(Refused, match="cannot review a risk assessment"):
        run(cmd.ReviewAssessment(done.assessment_id), as_(f.COORD, clock), clock=clock)
    assert f.load_case(ref).phase == "assessed"


def test_reviewed_high_risk_travels(db_url: str, clock: SimulatedClock) -> None:
    ref = _to_assessment_stage(clock)
    done = run(cmd.RecordAssessment(ref, "risk", HIGH), as_(f.COORD, clock), clock=clock)
    f.complete_stage(ref, clock)
    f.advance(ref, "complete_assessment", clock)
    with pytest.raises(Refused):
        f.advance(ref, "arrange_travel", clock)
    reviewed = run(cmd.ReviewAssessment(done.assessment_id), as_(f.SUPERVISOR, clock), clock=clock)
    assert (reviewed.review, reviewed.level) == ("agreed", "high")
    f.complete_stage(ref, clock)
    assert f.advance(ref, "arrange_travel", clock).phase == "travel_arranged"
    view = run(cmd.ListAssessments(ref), as_(f.COORD, clock), clock=clock)
    assert [(line.kind, line.level, line.review) for line in view.lines] == [
        ("risk", "high", "agreed")
    ]
    assert view.review_needed is False


def test_family_involved_raises_the_risk_for_travel(db_url: str, clock: SimulatedClock) -> None:
    ref = _to_assessment_stage(clock)
    risk = run(cmd.RecordAssessment(ref, "risk", LOW), as_(f.COORD, clock), clock=clock)
    assert (risk.level, risk.review_needed) == ("low", False)
    family = {"family_support": "no", "family_involved": "yes", "safe_to_return_home": "no"}
    done = run(cmd.RecordAssessment(ref, "family", family), as_(f.COORD, clock), clock=clock)
    assert (done.level, done.review_needed) == ("high", True)
    f.complete_stage(ref, clock)
    f.advance(ref, "complete_assessment", clock)
    with pytest.raises(Refused, match="family involved"):
        f.advance(ref, "arrange_travel", clock)
    # The supervisor reviews the latest risk assessment (and may set it to high).
    changed = run(
        cmd.ReviewAssessment(risk.assessment_id, "high"), as_(f.SUPERVISOR, clock), clock=clock
    )
    assert (changed.review, changed.level) == ("changed", "high")
    f.complete_stage(ref, clock)
    assert f.advance(ref, "arrange_travel", clock).phase == "travel_arranged"


def test_a_risk_item_ticked_high_by_hand_needs_the_same_review(
    db_url: str, clock: SimulatedClock
) -> None:
    """Ticking ``risk_assessment`` high instead of recording the structured assessment is no
    way around the supervisor's review: travel waits for a recorded, reviewed assessment."""
    ref = _to_assessment_stage(clock)
    f.complete_stage(ref, clock, risk_assessment="high")  # the item alone, as before issue 16
    f.advance(ref, "complete_assessment", clock)
    f.complete_stage(ref, clock)
    with pytest.raises(Refused) as refused:
        f.advance(ref, "arrange_travel", clock)
    assert f"homeward assess risk {ref}" in str(refused.value)
    clock.advance(minutes=5)
    done = run(cmd.RecordAssessment(ref, "risk", HIGH), as_(f.COORD, clock), clock=clock)
    run(cmd.ReviewAssessment(done.assessment_id), as_(f.SUPERVISOR, clock), clock=clock)
    assert f.advance(ref, "arrange_travel", clock).phase == "travel_arranged"


def test_low_risk_travels_without_a_review(db_url: str, clock: SimulatedClock) -> None:
    ref = _to_assessment_stage(clock)
    f.complete_stage(ref, clock, risk_assessment="low")
    f.advance(ref, "complete_assessment", clock)
    f.complete_stage(ref, clock)
    assert f.advance(ref, "arrange_travel", clock).phase == "travel_arranged"


def test_an_outsider_gets_not_found_and_a_partner_cannot_record(
    db_url: str, clock: SimulatedClock
) -> None:
    f.seed()
    ref = f.open_case(clock, share=False)
    done = run(cmd.RecordAssessment(ref, "risk", LOW), as_(f.COORD, clock), clock=clock)
    with pytest.raises(NotFound):  # fmb takes no part in the case
        run(cmd.ListAssessments(ref), as_("cw@fmb.example.org", clock), clock=clock)
    with pytest.raises(NotFound) as hidden:
        run(cmd.ShowAssessment(done.assessment_id), as_("cw@fmb.example.org", clock), clock=clock)
    with pytest.raises(NotFound) as missing:
        run(cmd.ShowAssessment(99999), as_("cw@fmb.example.org", clock), clock=clock)
    assert str(hidden.value) == str(missing.value).replace("99999", str(done.assessment_id))
    f.give_sharing(ref, clock, "adpare")
    with pytest.raises(Refused, match="cannot record a needs assessment"):
        run(
            cmd.RecordAssessment(ref, "needs", {"medical": "yes"}),
            as_("cw@adpare.example.org", clock),
            clock=clock,
        )


def test_answers_are_encrypted_and_shown_to_the_owner_only(
    db_url: str, clock: SimulatedClock
) -> None:
    from tests.protect.test_canary import assert_clean

    f.seed()
    ref = f.open_case(clock, share=False)
    done = run(
        cmd.RecordAssessment(ref, "needs", {"medical": "yes", "skills": CANARY_NOTE}),
        as_(f.COORD, clock),
        key="assess-canary-1",
        clock=clock,
    )
    assert done.needs == "medical"
    assert cmd.RecordAssessment(ref, "needs", {"skills": CANARY_NOTE}).args() == {
        "ref": ref,
        "kind": "needs",
    }  # a request key's fingerprint never covers the answers
    rows = repr(f.db_snapshot()).encode()
    assert_clean(rows, "the database")
    shown = run(cmd.ShowAssessment(done.assessment_id), as_(f.COORD, clock), clock=clock)
    assert shown.answers == {"medical": "yes", "skills": CANARY_NOTE}
    f.give_sharing(ref, clock, "iom-ro")
    partner = run(
        cmd.ShowAssessment(done.assessment_id), as_("coord@iom-ro.example.org", clock), clock=clock
    )
    assert partner.answers is None


# --- proposals by county ------------------------------------------------------------------


def test_proposals_list_providers_of_the_destination_county(
    db_url: str, clock: SimulatedClock
) -> None:
    f.seed()
    ref = f.open_case(clock)
    adpare, fmb = "admin@adpare.example.org", "cw@adpare.example.org"
    run(directory.AddService("housing", "ro-cj", 3), as_(adpare, clock), clock=clock)
    run(directory.AddService("medical", "RO-CJ"), as_(adpare, clock), clock=clock)
    run(directory.AddService("housing", "RO-B", 9), as_(adpare, clock), clock=clock)
    with pytest.raises(InvalidInput, match="has no destination county"):
        run(cmd.ProposeServices(ref), as_(f.COORD, clock), clock=clock)
    run(directory.SetDestinationCounty(ref, "RO-CJ"), as_(f.COORD, clock), clock=clock)
    with pytest.raises(Refused, match="cannot set the destination county"):
        run(directory.SetDestinationCounty(ref, "RO-B"), as_(fmb, clock), clock=clock)
    needs = {"medical": "yes", "housing": "yes", "legal": "yes"}
    run(cmd.RecordAssessment(ref, "needs", needs), as_(f.COORD, clock), clock=clock)
    found = run(cmd.ProposeServices(ref), as_(f.COORD, clock), clock=clock)
    assert found.county == "RO-CJ"
    assert [(s.need, [(p.org, p.capacity) for p in s.providers]) for s in found.services] == [
        ("medical", [("adpare", None)]),
        ("legal", []),
        ("housing", [("adpare", 3)]),
    ]


# --- the CLI ------------------------------------------------------------------------------


def test_cli_assess_review_and_propose(
    db_url: str, clock: SimulatedClock, capsys, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from tests.protect.test_canary import assert_clean

    ref = _to_assessment_stage(clock)
    cli = lambda *a, **k: run_cli(capsys, monkeypatch, *a, **k)  # noqa: E731

    shown = cli("--as", f.COORD, "assess", "questions", "risk")
    assert shown.code == 0 and "trafficker_knows_home" in shown.out

    bad = cli("--as", f.COORD, "assess", "risk", ref, "--answer", "debt=maybe")
    assert bad.code != 0 and bad.err.startswith("error: answer: debt takes one of")
    assert "Traceback" not in bad.err

    answers = tmp_path / "risk.json"
    answers.write_text(json.dumps({**HIGH, "notes": CANARY_NOTE}))
    done = cli("--as", f.COORD, "assess", "risk", ref, "--answers", str(answers))
    assert done.code == 0, done.err
    assert "level high" in done.out and "item risk_assessment recorded done" in done.out
    assert f"consider suspending: homeward case advance {ref} suspend" in done.out
    assert_clean(done.out.encode(), "assess risk output")

    listed = cli("--as", f.COORD, "assess", "list", ref)
    assert listed.code == 0 and "high" in listed.out
    assert_clean(listed.out.encode(), "assess list output")
    assessment_id = assessments_of(ref)[0]

    both = cli("--as", f.SUPERVISOR, "assess", "review", str(assessment_id))
    assert both.code != 0 and "give --agree or --level" in both.err
    reviewed = cli(
        "--as", f.SUPERVISOR, "assess", "review", str(assessment_id), "--level", "medium"
    )  # fmt: skip
    assert reviewed.code == 0, reviewed.err
    assert "reviewed: changed, level medium" in reviewed.out

    county = cli("--as", f.COORD, "case", "set-county", ref, "Cluj")
    assert county.code != 0 and "RO-CJ" in county.err and "\n" not in county.err.strip()
    county = cli("--as", f.COORD, "case", "set-county", ref, "ro-cj")
    assert county.code == 0 and "RO-CJ" in county.out
    added = cli(
        "--as", "admin@adpare.example.org", "providers", "add", "--service", "housing",
        "--county", "RO-CJ", "--capacity", "2",
    )  # fmt: skip
    assert added.code == 0, added.err
    cli("--as", f.COORD, "assess", "needs", ref, "--answer", "housing=yes")
    proposed = cli("--as", f.COORD, "assess", "propose", ref)
    assert proposed.code == 0 and "ADPARE (adpare)" in proposed.out and "2" in proposed.out

    show = cli("--as", f.COORD, "assess", "show", str(assessment_id))
    assert show.code == 0 and CANARY_NOTE in show.out


def assessments_of(ref: str) -> list[int]:
    from homeward.base.models import Assessment

    with f.admin_read() as s:
        case = f.load_case(ref)
        rows = s.exec(
            __import__("sqlmodel").select(Assessment).where(Assessment.case_id == case.id)
        ).all()
        return [row.id for row in rows if row.id is not None]


def test_while_suspended_it_records_the_reassessment_and_the_case_resumes(
    db_url: str, clock: SimulatedClock
) -> None:
    f.seed()
    ref = f.open_case(clock)
    f.drive_to(ref, "reintegration", clock)
    f.advance(ref, "suspend", clock)
    with pytest.raises(Refused, match="risk_reassessment"):
        f.advance(ref, "resume", clock)
    done = run(cmd.RecordAssessment(ref, "risk", LOW), as_(f.COORD, clock), clock=clock)
    assert (done.level, done.item_done) == ("low", "risk_reassessment")
    assert f.advance(ref, "resume", clock).phase == "reintegration"
