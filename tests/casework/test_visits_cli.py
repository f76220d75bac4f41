"""``homeward visit`` and ``homeward report sustainability`` as a user runs them: recording a
visit with answers from a file and the command line, listing and showing it, the form's
questions, one-line refusals, and the report's 3- and 6-month rows with small cells hidden."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from homeward.base import settings as homeward_settings
from homeward.base.clock import SimulatedClock, local_date
from homeward.edges.cli.common import state
from tasks import sustainability
from tests import factories as f
from tests.cli.runner import run_cli

ADPARE, MANAGER = "cw@adpare.example.org", "mgr@iom-it.example.org"
BEST = {q.key: q.choices[0].code for q in sustainability.QUESTIONS}
WORST = {q.key: q.choices[-1].code for q in sustainability.QUESTIONS}


@pytest.fixture
def cli_clock(clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch) -> SimulatedClock:
    monkeypatch.setattr(state, "clock", clock)
    return clock


def _arrived(clock: SimulatedClock) -> str:
    ref = f.open_case(clock)
    f.drive_to(ref, "reintegration", clock)
    return ref


def test_a_visit_is_recorded_listed_and_shown_from_the_command_line(
    db_url, cli_clock, capsys, monkeypatch, tmp_path: Path
) -> None:
    f.seed()
    ref = _arrived(cli_clock)
    cli_clock.advance(days=14)
    today = local_date(cli_clock.now()).isoformat()
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({k: v for k, v in BEST.items() if k != "distress"}))
    attended = tmp_path / "attended.txt"
    attended.write_text("Zenobia Canarycanary and her mother\n")

    def cli(*args: str):  # type: ignore[no-untyped-def]
        return run_cli(capsys, monkeypatch, "--as", ADPARE, *args)

    done = cli(
        "visit", "record", ref, "--on", today, "--mode", "home",
        "--attended-file", str(attended), "--safety-concern",
        "--safety-note", "a stranger asked for Zenobia", "--progress", "on_track",
        "--answers", str(answers), "--answer", "distress=sometimes",
    )  # fmt: skip
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[0].startswith(f"visit 1 recorded on case {ref}; item #")
    assert lines[0].endswith("follow_up_2w done")
    assert lines[1] == "sustainability score 0.95 (sustainable)"  # psychosocial (1*7-1)/8
    assert "SAFETY CONCERN" in lines[2] and f"case advance {ref} suspend" in lines[2]

    listed = cli("visit", "list", ref)
    assert listed.code == 0 and "CONCERN" in listed.out and "0.95" in listed.out
    assert "consider suspending" in listed.out
    shown = cli("visit", "show", "1")
    assert shown.code == 0 and "Zenobia Canarycanary and her mother" in shown.out
    assert "a stranger asked for Zenobia" in shown.out and "Sometimes" in shown.out
    for printed in (done.out, listed.out):
        assert "Zenobia" not in printed and "Canarycanary" not in printed


def test_bad_input_is_one_line_and_changes_nothing(
    db_url, cli_clock, capsys, monkeypatch, tmp_path: Path
) -> None:
    f.seed()
    ref = _arrived(cli_clock)
    tomorrow = (local_date(cli_clock.now()) + timedelta(days=1)).isoformat()
    today = local_date(cli_clock.now()).isoformat()
    broken = tmp_path / "broken.json"
    broken.write_text("{Zenobia")
    before = f.db_snapshot()
    runs = [
        (["--on", tomorrow, "--mode", "home"], "on: the visit's day is in the future"),
        (["--on", "someday", "--mode", "home"], "--on: 'someday' is not a date"),
        (["--on", today, "--mode", "boat"], "mode: use one of home, office, phone"),
        (["--on", today, "--mode", "home", "--answer", "debt"], "--answer: write it as"),
        (["--on", today, "--mode", "home", "--answer", "debt=lots"], "answers: debt takes"),
        (["--on", today, "--mode", "home", "--answers", str(broken)], "--answers: cannot read"),
    ]
    for args, message in runs:
        result = run_cli(capsys, monkeypatch, "--as", ADPARE, "visit", "record", ref, *args)
        assert result.code == 2, (args, result.out, result.err)
        assert message in result.err and len(result.err.strip().splitlines()) == 1, result.err
        assert "Zenobia" not in result.err and "Traceback" not in result.err
    assert f.db_snapshot() == before


def test_the_questions_list_every_key_and_answer(capsys, monkeypatch) -> None:
    result = run_cli(capsys, monkeypatch, "visit", "questions")
    assert result.code == 0
    for q in sustainability.QUESTIONS:
        assert f"{q.key} ({q.dimension}, weight {q.weight})" in result.out
    assert "  never = Never (score 1)" in result.out
    assert "  declined = no answer (not scored)" in result.out


@pytest.fixture
def k3(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOMEWARD_REPORT_K", "3")
    homeward_settings.get_settings.cache_clear()
    yield 3
    homeward_settings.get_settings.cache_clear()


def test_the_report_scores_3_months_and_hides_small_cells(
    db_url, cli_clock, k3, capsys, monkeypatch
) -> None:
    f.seed()
    refs = [_arrived(cli_clock) for _ in range(4)]
    cli_clock.advance(days=14)
    record = ["visit", "record", refs[0], "--mode", "phone", "--on"]
    two_weeks = [*record, local_date(cli_clock.now()).isoformat(), "--answer", "debt=none"]
    assert run_cli(capsys, monkeypatch, "--as", ADPARE, *two_weeks).code == 0  # no composite
    cli_clock.advance(days=76)  # about 3 months after each arrival
    for n, ref in enumerate(refs):
        given = WORST if n == 0 else BEST
        pairs = [a for k, v in given.items() for a in ("--answer", f"{k}={v}")]
        day = local_date(cli_clock.now()).isoformat()
        args = ["visit", "record", ref, "--on", day, "--mode", "home", *pairs]
        assert run_cli(capsys, monkeypatch, "--as", ADPARE, *args).code == 0

    result = run_cli(
        capsys, monkeypatch, "--as", MANAGER, "report", "sustainability", "--format", "json"
    )

    assert result.code == 0, result.err
    (table,) = json.loads(result.out)["tables"]
    rows = {row["label"]: row["cells"] for row in table["rows"]}
    # 4 scored, 3 sustainable, 1 not: the 1 is under k, so the 3 is withheld too
    assert rows["3 months"] == [4, "x", "<3", 0.75, 0.75, 0.75, 0.75]
    assert rows["6 months"] == [0, 0, 0, None, None, None, None]
    assert run_cli(capsys, monkeypatch, "--as", ADPARE, "report", "sustainability").code == 4
