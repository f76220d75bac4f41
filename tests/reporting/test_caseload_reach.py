"""The caseload dashboard a person reads names only cases their organisation may see (issue 14:
no other organisation's case_ref); the scheduler's names every stuck case."""

from __future__ import annotations

from homeward.base.clock import SimulatedClock
from homeward.commands.reports import ReadCaseload
from homeward.commands.runner import run
from tests import factories
from tests.factories import COORD
from tests.signin import credential_for
from workflows.runtime import SCHEDULER

OUTSIDER = "coord@iom-ro.example.org"  # R-IOM, no sharing consent: takes no part in the case


def _stuck(credential: object, clock: SimulatedClock) -> tuple[list[str], int, list[str]]:
    board = run(ReadCaseload(stuck_after_days=5), credential, clock=clock)  # type: ignore[arg-type]
    cases = sum(row["cases"] for row in board.by_stage)
    return [row["case_ref"] for row in board.stuck], cases, sorted(board.timelines)


def test_a_person_sees_only_the_stuck_cases_their_organisation_may_see(
    db_url: str, clock: SimulatedClock
) -> None:
    factories.seed()
    ref = factories.open_case(clock, share=False)
    clock.advance(days=10)

    assert _stuck(credential_for(COORD, clock.now()), clock) == ([ref], 1, [ref])
    assert _stuck(credential_for(OUTSIDER, clock.now()), clock) == ([], 1, [])  # counts stay
    assert _stuck(SCHEDULER, clock) == ([ref], 1, [ref])
