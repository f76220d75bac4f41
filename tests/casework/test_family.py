"""Several people in one case, and finding a case by a person's name (issue 16, points 5, 9):
through the CLI and the commands, on a real database (SQLite, or PostgreSQL under row security
with ``HOMEWARD_TEST_DB=postgres``)."""

from __future__ import annotations

import json
import logging

import pytest
from sqlmodel import select

from homeward.base.db import system_scope, write_session
from homeward.base.errors import Refused
from homeward.base.models import Beneficiary, CasePerson, ChecklistItem, ItemStatus
from tests import factories as f
from tests.cli.runner import run_cli
from tests.protect.test_canary import forms

CHILD = ("--relation", "child", "--person", "-")  # the names on standard input, never as arguments
CHILD_BORN = "2019-03-01"  # 6 on the clock's 2026-01-05
NAMES = {"given_name": "Quintessa", "family_name": "Kidcanary"}


def person(**fields: str) -> str:
    return json.dumps(NAMES | fields)


NGO = "cw@adpare.example.org"
OUTSIDER = "cw@fmb.example.org"  # the person consented to sharing with it; it takes no part


@pytest.fixture
def cli(db_url, capsys, monkeypatch):
    f.seed()

    def run(*args: str, stdin: str = ""):
        return run_cli(capsys, monkeypatch, *args, stdin=stdin)

    return run


def as_coord(cli, *args: str, stdin: str = ""):
    return cli("--as", f.COORD, *args, stdin=stdin)


def add_child(cli, ref: str, *extra: str):
    return as_coord(
        cli, "case", "add-person", ref, *CHILD, *extra, stdin=person(birth_date=CHILD_BORN)
    )


def find(cli, who: str, name: str):
    return cli("--as", who, "case", "find", "--name-file", "-", stdin=name)


def child_items(ref: str) -> list[ChecklistItem]:
    return [i for i in f.items(ref) if i.person_id is not None]


def test_a_child_gets_the_minors_items_and_is_listed_by_label(cli, clock):
    ref = f.open_case(clock)
    added = add_child(cli, ref)
    assert added.code == 0, added.err
    assert "child 1 (#" in added.out and "a minor: 1 minors' item(s) created" in added.out
    assert [i.code for i in child_items(ref)] == ["dgaspc_notified"]
    primary = [i.code for i in f.items(ref) if i.person_id is None]
    assert "dgaspc_notified" not in primary  # an adult's case: only the child's

    people = as_coord(cli, "case", "people", ref)
    assert people.code == 0, people.err
    assert "child 1" in people.out and "Quintessa" in people.out and CHILD_BORN in people.out
    # a partner reads names (its part's fields, with sharing consent), not the birth date
    seen_by_ngo = cli("--as", NGO, "case", "people", ref)
    assert seen_by_ngo.code == 0, seen_by_ngo.err
    assert "Kidcanary" in seen_by_ngo.out and CHILD_BORN not in seen_by_ngo.out
    # an organisation that takes no part: the case is not found, as a missing one
    hidden = cli("--as", OUTSIDER, "case", "people", ref)
    missing = cli("--as", OUTSIDER, "case", "people", "RT-7KQ2-M9")
    assert hidden.code == missing.code != 0
    assert hidden.err.replace(ref, "REF") == missing.err.replace("RT-7KQ2-M9", "REF")


def test_an_adult_partner_does_not_bring_the_minors_rules(cli, clock):
    ref = f.open_case(clock)
    partner = {"given_name": "Ilie", "family_name": "Partenerul", "birth_date": "1990-02-02"}
    added = as_coord(
        cli, "case", "add-person", ref, "--relation", "partner", "--person", "-",
        stdin=json.dumps(partner | {"sex": "male"}),
    )  # fmt: skip
    assert added.code == 0, added.err
    assert "partner 1" in added.out and "minor" not in added.out
    assert child_items(ref) == []
    assert f.drive_to(ref, "travel_arranged", clock).phase == "travel_arranged"


def test_a_childs_negative_best_interests_assessment_blocks_travel_until_removed(cli, clock):
    ref = f.open_case(clock)
    assert add_child(cli, ref).code == 0
    f.drive_to(ref, "consent_obtained", clock)
    codes = sorted(i.code for i in child_items(ref) if i.stage == "consent_obtained")
    assert codes == [
        "best_interests_assessment",
        "guardian_appointed",
        "reintegration_preparation_plan",
        "social_inquiry",
    ]
    f.complete_stage(ref, clock, best_interests_assessment="return_not_in_interest")
    f.advance(ref, "complete_assessment", clock)
    assert "escort_arranged" in [i.code for i in child_items(ref)]
    f.complete_stage(ref, clock)
    with pytest.raises(Refused) as refused:
        f.advance(ref, "arrange_travel", clock)
    line = str(refused.value)
    assert "child 1 (a minor) cannot travel without best-interests assessment" in line
    assert "remove-person" in line and "Quintessa" not in line
    person_id = child_items(ref)[0].person_id
    removed = as_coord(
        cli, "case", "remove-person", ref, str(person_id), "--reason", "not_travelling"
    )
    assert removed.code == 0, removed.err
    assert f.advance(ref, "arrange_travel", clock).phase == "travel_arranged"
    with f.admin_read() as s:
        row = s.get(CasePerson, person_id)
        assert row is not None and row.removed_at is not None
        assert row.given_name is None and row.name_index is None and row.match_index is None


def test_a_child_whose_work_is_done_travels_with_the_adult(cli, clock):
    ref = f.open_case(clock)
    assert add_child(cli, ref).code == 0
    assert f.drive_to(ref, "travel_arranged", clock).phase == "travel_arranged"
    assert all(i.status == ItemStatus.DONE for i in child_items(ref))


def test_a_minor_primary_keeps_its_own_rules_next_to_a_sibling(cli, clock):
    ref = f.open_case(clock, minor=True)
    assert add_child(cli, ref).code == 0
    primary = [i.code for i in f.items(ref) if i.person_id is None]
    assert primary.count("dgaspc_notified") == 1
    f.drive_to(ref, "consent_obtained", clock)
    f.complete_stage(ref, clock)
    f.advance(ref, "complete_assessment", clock)
    f.complete_stage(ref, clock)
    # the sibling's escort is not done: the primary's being done does not count for it
    escort = [i for i in child_items(ref) if i.code == "escort_arranged"][0]
    with write_session() as s, system_scope(s):
        s.get(ChecklistItem, escort.id).status = ItemStatus.OPEN  # type: ignore[union-attr]
    with pytest.raises(Refused, match="child 1 \\(a minor\\) cannot travel without an escort"):
        f.advance(ref, "arrange_travel", clock)


def test_find_by_name_answers_only_for_visible_readable_cases(cli, clock):
    ref = f.open_case(clock)
    assert add_child(cli, ref).code == 0
    found = find(cli, f.COORD, "quintessa  KIDCANARY")
    assert found.code == 0, found.err
    assert ref in found.out and "child 1" in found.out and "identified_abroad" in found.out
    primary = find(cli, f.COORD, "Zenobia Canarycanary")
    assert ref in primary.out and "primary" in primary.out
    nothing = find(cli, f.COORD, "Nobody Atall")
    assert nothing.code == 0 and ref not in nothing.out
    # not a party: the same answer as no match at all
    hidden = find(cli, OUTSIDER, "Quintessa Kidcanary")
    assert (hidden.code, hidden.out, hidden.err) == (nothing.code, nothing.out, nothing.err)
    # a party without the person's sharing consent may not read names: no match either
    ursa = f.PersonIn(given_name="Ursa", family_name="Minor")
    unshared = f.open_case(clock, share=False, person=ursa)
    no_consent = find(cli, NGO, "Ursa Minor")
    assert (no_consent.out, no_consent.code) == (nothing.out, nothing.code)
    assert unshared in find(cli, f.COORD, "Ursa Minor").out
    with f.admin_read() as s:
        from homeward.base.models import AuditEntry

        searches = list(s.exec(select(AuditEntry).where(AuditEntry.action == "name_search")))
    assert len(searches) == 6
    assert all("Quintessa" not in repr(e) and "Ursa" not in repr(e) for e in searches)


def test_reindex_writes_the_names_of_earlier_rows(cli, clock):
    ref = f.open_case(clock)
    assert add_child(cli, ref).code == 0
    with write_session() as s, system_scope(s):
        for row in [*s.exec(select(Beneficiary)), *s.exec(select(CasePerson))]:
            row.name_index = None
            s.add(row)
    assert ref not in find(cli, f.COORD, "Zenobia Canarycanary").out
    done = cli("keys", "reindex-names")
    assert done.code == 0, done.err
    assert "name index written for 2 person(s)" in done.out
    assert ref in find(cli, f.COORD, "Zenobia Canarycanary").out
    assert ref in find(cli, f.COORD, "Quintessa Kidcanary").out
    assert "for 0 person(s)" in cli("keys", "reindex-names").out


def test_adding_the_same_person_again_warns_of_the_owners_own_case(cli, clock):
    first, second = f.open_case(clock), f.open_case(clock)
    assert "warning" not in add_child(cli, first).out
    again = add_child(cli, second)
    assert again.code == 0 and f"warning: possibly the same person as in {first}" in again.out


@pytest.mark.parametrize(
    ("relation", "fields", "expected"),
    [
        ("cousin", {}, "--relation"),
        ("child", {"birth_date": "2019-13-01"}, "birth_date"),
        ("child", {}, "birth_date: a child's birth date"),
        ("child", {"birth_date": "2030-01-01"}, "is in the future"),
        ("child", {"birth_date": CHILD_BORN, "sex": "f"}, "sex"),
        ("child", {"birth_date": CHILD_BORN, "notes": "Kidcanary"}, "remove the other keys"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(cli, clock, relation, fields, expected):
    ref = f.open_case(clock)
    before = f.db_snapshot()
    bad = as_coord(
        cli, "case", "add-person", ref, "--relation", relation, "--person", "-",
        stdin=person(**fields),
    )  # fmt: skip
    assert bad.code != 0 and expected in bad.err, bad.err
    assert len(bad.err.strip().splitlines()) == 1 and "Traceback" not in bad.err
    assert "Kidcanary" not in bad.err and "2030" not in bad.err  # nothing typed is repeated
    assert f.db_snapshot() == before


def test_names_are_never_taken_as_arguments(cli, clock):
    ref = f.open_case(clock)
    bare = as_coord(cli, "case", "add-person", ref, "--relation", "child")
    assert bare.code != 0 and "never taken as command-line arguments" in bare.err
    assert as_coord(cli, "case", "find").code != 0
    old = as_coord(cli, "case", "add-person", ref, "--relation", "child", "--given", "Q")
    assert old.code != 0 and "Q" not in old.out


def test_only_the_owners_staff_add_or_remove_people(cli, clock):
    ref = f.open_case(clock)
    before = f.db_snapshot()
    refused = cli(
        "--as", NGO, "case", "add-person", ref, *CHILD, stdin=person(birth_date=CHILD_BORN)
    )
    assert refused.code != 0 and "Kidcanary" not in refused.err
    assert f.db_snapshot() == before
    assert add_child(cli, ref).code == 0
    person_id = str(child_items(ref)[0].person_id)
    assert cli("--as", NGO, "case", "remove-person", ref, person_id, "--reason", "other").code != 0
    wrong = as_coord(cli, "case", "remove-person", ref, person_id, "--reason", "because")
    assert wrong.code != 0 and "--reason: use one of" in wrong.err
    gone = as_coord(cli, "case", "remove-person", ref, person_id, "--reason", "entered_in_error")
    assert gone.code == 0 and "child 1" in gone.out
    assert all(i.status == ItemStatus.CANCELLED for i in child_items(ref))
    listed = as_coord(cli, "case", "people", ref)
    assert "removed" in listed.out and "Quintessa" not in listed.out


def test_a_retried_add_with_its_request_key_adds_once(cli, clock):
    ref = f.open_case(clock)
    first = add_child(cli, ref, "--request-id", "family-add-0001")
    again = add_child(cli, ref, "--request-id", "family-add-0001")
    assert first.code == again.code == 0 and first.out == again.out
    with f.admin_read() as s:
        assert len(list(s.exec(select(CasePerson)))) == 1


def test_dependant_names_leave_no_plaintext_trace(cli, clock, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "Quintessa"
    ref = f.open_case(clock)
    assert add_child(cli, ref).code == 0
    f.drive_to(ref, "assessed", clock)
    printed = (
        "".join(
            as_coord(cli, *argv).out + as_coord(cli, *argv).err
            for argv in (
                ["case", "show", ref],
                ["case", "history", ref],
                ["items", "list", "--status", "all"],
                ["case", "list"],
            )
        )
        + find(cli, f.COORD, "Quintessa Kidcanary").out
    )
    blob = (printed + repr(f.db_snapshot()) + caplog.text).encode()
    for leak in {*forms(secret), *forms("Kidcanary")}:
        assert leak not in blob, f"{leak!r} leaked"


def test_an_imported_case_is_found_by_name_without_a_reindex(cli, clock, tmp_path):
    from tests.reporting.test_import import caseload

    source = caseload(tmp_path / "cases.csv", 3)
    done = as_coord(cli, "import", "cases", str(source), "--skip-bad")
    assert done.code == 0, done.err
    found = find(cli, f.COORD, "Given3 Family3")
    assert found.code == 0 and found.out.count("RT-") == 1, found.out + found.err


def test_a_child_s_items_say_which_child_they_are_about(cli, clock):
    ref = f.open_case(clock)
    assert add_child(cli, ref).code == 0
    shown = as_coord(cli, "case", "show", ref)
    assert shown.code == 0, shown.err
    assert "(child 1)" in shown.out and "Quintessa" not in shown.out
