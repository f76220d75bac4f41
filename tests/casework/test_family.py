"""Several people in one case, and finding a case by a person's name (issue 16, points 5, 9):
through the CLI and the commands, on a real database (SQLite, or PostgreSQL under row security
with ``HOMEWARD_TEST_DB=postgres``)."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from homeward.base.db import system_scope, write_session
from homeward.base.errors import Refused
from homeward.base.models import Beneficiary, CasePerson, ChecklistItem, ItemStatus
from tests import factories as f
from tests.cli.runner import run_cli
from tests.protect.test_canary import forms

CHILD = ("--relation", "child", "--given", "Quintessa", "--family", "Kidcanary")
CHILD_BORN = "2019-03-01"  # 6 on the clock's 2026-01-05
NGO = "cw@adpare.example.org"
OUTSIDER = "cw@fmb.example.org"  # the person consented to sharing with it; it takes no part


@pytest.fixture
def cli(db_url, capsys, monkeypatch):
    f.seed()

    def run(*args: str):
        return run_cli(capsys, monkeypatch, *args)

    return run


def as_coord(cli, *args: str):
    return cli("--as", f.COORD, *args)


def add_child(cli, ref: str, *extra: str):
    return as_coord(cli, "case", "add-person", ref, *CHILD, "--born", CHILD_BORN, *extra)


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
    added = as_coord(
        cli, "case", "add-person", ref, "--relation", "partner", "--given", "Ilie",
        "--family", "Partenerul", "--born", "1990-02-02", "--sex", "male",
    )  # fmt: skip
    assert added.code == 0, added.err
    assert "partner 1" in added.out and "minor" not in added.out
    assert child_items(ref) == []
    assert f.drive_to(ref, "travel_arranged", clock).state == "travel_arranged"


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
    assert f.advance(ref, "arrange_travel", clock).state == "travel_arranged"
    with f.admin_read() as s:
        row = s.get(CasePerson, person_id)
        assert row is not None and row.removed_at is not None
        assert row.given_name is None and row.name_index is None and row.match_index is None


def test_a_child_whose_work_is_done_travels_with_the_adult(cli, clock):
    ref = f.open_case(clock)
    assert add_child(cli, ref).code == 0
    assert f.drive_to(ref, "travel_arranged", clock).state == "travel_arranged"
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
    found = as_coord(cli, "case", "find", "--name", "quintessa  KIDCANARY")
    assert found.code == 0, found.err
    assert ref in found.out and "child 1" in found.out and "identified_abroad" in found.out
    primary = as_coord(cli, "case", "find", "--name", "Zenobia Canarycanary")
    assert ref in primary.out and "primary" in primary.out
    nothing = as_coord(cli, "case", "find", "--name", "Nobody Atall")
    assert nothing.code == 0 and ref not in nothing.out
    # not a party: the same answer as no match at all
    hidden = cli("--as", OUTSIDER, "case", "find", "--name", "Quintessa Kidcanary")
    assert (hidden.code, hidden.out, hidden.err) == (nothing.code, nothing.out, nothing.err)
    # a party without the person's sharing consent may not read names: no match either
    ursa = f.PersonIn(given_name="Ursa", family_name="Minor")
    unshared = f.open_case(clock, share=False, person=ursa)
    no_consent = cli("--as", NGO, "case", "find", "--name", "Ursa Minor")
    assert (no_consent.out, no_consent.code) == (nothing.out, nothing.code)
    assert unshared in as_coord(cli, "case", "find", "--name", "Ursa Minor").out
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
    assert ref not in as_coord(cli, "case", "find", "--name", "Zenobia Canarycanary").out
    done = cli("keys", "reindex-names")
    assert done.code == 0, done.err
    assert "name index written for 2 person(s)" in done.out
    assert ref in as_coord(cli, "case", "find", "--name", "Zenobia Canarycanary").out
    assert ref in as_coord(cli, "case", "find", "--name", "Quintessa Kidcanary").out
    assert "for 0 person(s)" in cli("keys", "reindex-names").out


def test_adding_the_same_person_again_warns_of_the_owners_own_case(cli, clock):
    first, second = f.open_case(clock), f.open_case(clock)
    assert "warning" not in add_child(cli, first).out
    again = add_child(cli, second)
    assert again.code == 0 and f"warning: possibly the same person as in {first}" in again.out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--relation", "cousin", "--given", "A", "--family", "B"), "--relation"),
        ((*CHILD, "--born", "2019-13-01"), "--born: give the birth date as YYYY-MM-DD"),
        ((*CHILD,), "--born: a child's birth date"),
        ((*CHILD, "--born", "2030-01-01"), "--born: 2030-01-01 is in the future"),
        ((*CHILD, "--born", CHILD_BORN, "--sex", "f"), "--sex"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(cli, clock, args, expected):
    ref = f.open_case(clock)
    before = f.db_snapshot()
    bad = as_coord(cli, "case", "add-person", ref, *args)
    assert bad.code != 0 and expected in bad.err, bad.err
    assert len(bad.err.strip().splitlines()) == 1 and "Traceback" not in bad.err
    assert "Kidcanary" not in bad.err
    assert f.db_snapshot() == before


def test_only_the_owners_staff_add_or_remove_people(cli, clock):
    ref = f.open_case(clock)
    before = f.db_snapshot()
    refused = cli("--as", NGO, "case", "add-person", ref, *CHILD, "--born", CHILD_BORN)
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
    printed = "".join(
        as_coord(cli, *argv).out + as_coord(cli, *argv).err
        for argv in (
            ["case", "show", ref],
            ["case", "history", ref],
            ["items", "list", "--status", "all"],
            ["case", "list"],
            ["case", "find", "--name", "Quintessa Kidcanary"],
        )
    )
    blob = (printed + repr(f.db_snapshot()) + caplog.text).encode()
    for leak in {*forms(secret), *forms("Kidcanary")}:
        assert leak not in blob, f"{leak!r} leaked"
