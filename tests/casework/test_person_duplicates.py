"""Entering or correcting the primary person's data warns of the owner's own other cases that
may hold the same person, as opening a case does (issue 16 point 9): case_refs only."""

from __future__ import annotations

import json

from homeward.commands.cases import EnterPerson
from homeward.commands.runner import run
from homeward.protection.vault import PersonIn
from tests import factories as f
from tests.cli.runner import run_cli
from tests.signin import credential_for

SAME = PersonIn(given_name="Ioana", family_name="Dupli", birth_date="1990-02-03", sex="female")
OTHER = PersonIn(given_name="Maria", family_name="Altfel", birth_date="1991-04-05", sex="female")


def test_correcting_a_person_into_an_earlier_case_s_person_warns_with_its_case_ref(db_url, clock):
    f.seed()
    first = f.open_case(clock, person=SAME)
    second = f.open_case(clock, person=OTHER)
    coordinator = credential_for(f.COORD, clock.now())
    kept = run(EnterPerson(second, OTHER), coordinator, clock=clock)
    assert kept.duplicates == ""  # its own case is not a duplicate of itself
    moved = run(EnterPerson(second, SAME), coordinator, clock=clock)
    assert moved.duplicates == first


def test_the_cli_prints_the_warning(db_url, clock, capsys, monkeypatch, tmp_path):
    f.seed()
    first = f.open_case(clock, person=SAME)
    second = f.open_case(clock, person=OTHER)
    data = tmp_path / "person.json"
    data.write_text(json.dumps(SAME.model_dump(mode="json")))
    done = run_cli(
        capsys, monkeypatch, "--as", f.COORD, "case", "person", second, "--person", str(data)
    )
    assert done.code == 0, done.err
    assert f"possibly the same person as {first}" in done.out
    assert "Ioana" not in done.out + done.err
