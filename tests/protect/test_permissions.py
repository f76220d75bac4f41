"""Who may do what, as users met it: partners steering the owner's case, minors' reception.

The whole table is tested cell by cell in ``test_permission_matrix.py``; here are the two
reported defects, reproduced through the CLI, the minors' rule, and README's copy of the table.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from homeward.base.db import write_session
from homeward.records.directory import OrganisationIn, StaffIn, add_org, add_staff, validate
from tests import factories as f
from tests.cli.runner import run_cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
OWNER_HINT = "ask a coordinator or supervisor of IOM Italy (iom-it), the case's owner"


def add_partners() -> None:
    """ANITP and a police unit, with a coordinator each, beside the factory organisations."""
    with write_session() as s:
        for slug, name, kind in (
            ("anitp", "ANITP", "anitp"),
            ("police-bv", "IPJ Brasov", "police"),
        ):
            org_in = validate(OrganisationIn, slug=slug, name=name, kind=kind, country="RO")
            add_org(session=s, org_in=org_in)
            staff_in = validate(
                StaffIn,
                org=slug,
                name="Staff",
                email=f"coord@{slug}.example.org",
                role="coordinator",
            )
            add_staff(session=s, staff_in=staff_in)


@pytest.fixture
def iom_case(db_url, clock):
    """An adult's case owned by IOM Italy, with ADPARE, ANITP and the police taking part."""
    f.seed()
    add_partners()
    ref = f.open_case(clock, le="police-bv")
    f.give_sharing(ref, clock, "anitp", "police-bv")
    return ref


def refused_unchanged(capsys, monkeypatch, *argv: str) -> str:
    before = f.db_snapshot()
    result = run_cli(capsys, monkeypatch, *argv)
    assert result.code == 4, result.err
    assert f.db_snapshot() == before
    assert result.err.count("\n") == 1, result.err  # one line
    return result.err


def test_anitp_cannot_withdraw_consent_on_an_iom_case(iom_case, capsys, monkeypatch):
    err = refused_unchanged(
        capsys,
        monkeypatch,
        *("--as", "coord@anitp.example.org", "consent", "withdraw", iom_case),
        *("--purpose", "sharing", "--org", "adpare"),
    )
    assert OWNER_HINT in err


def test_an_ngo_cannot_set_an_iom_case_to_lost_contact(iom_case, capsys, monkeypatch):
    err = refused_unchanged(
        capsys,
        monkeypatch,
        *("--as", "cw@adpare.example.org", "case", "advance", iom_case, "lose_contact"),
    )
    assert OWNER_HINT in err
    with write_session() as s:  # a coordinator of ADPARE is refused the same way
        add_staff(
            session=s,
            staff_in=validate(
                StaffIn,
                org="adpare",
                name="Coord",
                email="coord@adpare.example.org",
                role="coordinator",
            ),
        )
    err = refused_unchanged(
        capsys,
        monkeypatch,
        *("--as", "coord@adpare.example.org", "case", "advance", iom_case, "lose_contact"),
    )
    assert OWNER_HINT in err


def test_police_taking_part_cannot_record_its_own_item(iom_case, clock, capsys, monkeypatch):
    f.complete_stage(iom_case, clock)
    f.advance(iom_case, "record_consent", clock)
    items = f.items(iom_case, stage="consent_obtained")
    item = next(i for i in items if i.code == "criminal_case_status")
    err = refused_unchanged(
        capsys,
        monkeypatch,
        *("--as", "coord@police-bv.example.org", "items", "done", str(item.id)),
    )
    assert "read-only" in err and "IOM Italy (iom-it)" in err


@pytest.fixture
def minor_case(db_url, clock):
    """A child's case owned by IOM Italy, DGASPC Brasov taking part, shared with everyone."""
    f.seed()
    with write_session() as s:
        staff_in = validate(
            StaffIn, org="dgaspc-bv", name="Coord", email=DGASPC_COORD, role="coordinator"
        )
        add_staff(session=s, staff_in=staff_in)
    return f.open_case(clock, minor=True)


DGASPC_COORD = "coord@dgaspc-bv.example.org"


def cli(capsys, monkeypatch, email: str, *argv: str):
    return run_cli(capsys, monkeypatch, "--as", email, *argv)


def test_a_childs_reception_items_stay_with_dgaspc(minor_case, clock, capsys, monkeypatch):
    f.drive_to(minor_case, "consent_obtained", clock)
    before_reception = next(
        i for i in f.items(minor_case, stage="consent_obtained") if i.code == "family_assessment"
    )  # DGASPC's too, but not reception: it may be handed on
    done = cli(capsys, monkeypatch, DGASPC_COORD, "items", "handoff", str(before_reception.id),
               "--to", "iom-ro")  # fmt: skip
    assert done.code == 0, done.err
    for trigger in ("complete_assessment", "arrange_travel", "depart"):
        f.complete_stage(minor_case, clock)
        clock.advance(days=5 if trigger == "depart" else 0)
        f.advance(minor_case, trigger, clock)
    (met,) = [i for i in f.items(minor_case, stage="in_transit") if i.code == "met_on_arrival"]
    for email in (DGASPC_COORD, f.COORD):  # neither DGASPC nor the case's owner may
        err = refused_unchanged(
            capsys, monkeypatch, "--as", email, "items", "handoff", str(met.id), "--to", "adpare"
        )
        assert "child's reception, which stays with DGASPC Brasov (dgaspc-bv)" in err


def test_a_childs_case_stays_with_dgaspc_once_reception_began(
    minor_case, clock, capsys, monkeypatch
):
    early = f.open_case(clock, minor=True)  # before reception a child's case may move
    assert cli(capsys, monkeypatch, f.COORD, "case", "handoff", early, "--to", "iom-ro").code == 0
    f.drive_to(minor_case, "in_transit", clock)
    err = refused_unchanged(
        capsys, monkeypatch, "--as", f.COORD, "case", "handoff", minor_case, "--to", "iom-ro"
    )
    assert "reception has begun" in err and "hand it to DGASPC Brasov (dgaspc-bv)" in err
    offered = cli(capsys, monkeypatch, f.COORD, "case", "handoff", minor_case, "--to", "dgaspc-bv")
    assert offered.code == 0, offered.err
    taken = cli(capsys, monkeypatch, DGASPC_COORD, "case", "accept", minor_case)
    assert taken.code == 0, taken.err
    err = refused_unchanged(
        capsys, monkeypatch, "--as", DGASPC_COORD, "case", "handoff", minor_case, "--to", "adpare"
    )
    assert "reception has begun" in err


def test_readme_shows_the_permission_table_of_the_code():
    from homeward.protection.permissions import markdown_table

    block = re.search(
        r"<!-- permissions:start -->\n(.*?)\n<!-- permissions:end -->", README, flags=re.S
    )
    assert block, "README lost its permissions markers"
    hint = "run `homeward staff permissions` and paste it into README"
    assert block.group(1) == markdown_table(), hint
