"""A minor's consent is given by a guardian or legal representative: the ledger records their
capacity (a code from a fixed list, method proxy), never their name; an adult's refuses both."""

from __future__ import annotations

import pytest
from sqlmodel import select

from homeward.base.errors import InvalidInput
from homeward.base.models import CaseEvent, Consent
from tests import factories as f
from tests.cli.runner import run_cli


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    from homeward.edges.cli.common import state

    f.seed()
    monkeypatch.setattr(state, "clock", clock)

    def run(*args: str):
        return run_cli(capsys, monkeypatch, "--as", f.COORD, *args)

    return run


def ready_for_consent(clock, *, minor: bool) -> str:
    ref = f.open_case(clock, minor=minor, share=False)
    f.complete_stage(ref, clock)
    return ref


@pytest.mark.parametrize(
    ("minor", "data", "why"),
    [
        (True, {"method": "signed", "language": "ro"}, "is a minor's"),
        (True, {"method": "proxy", "language": "ro"}, "is a minor's"),
        (True, {"method": "proxy", "language": "ro", "representative": "aunt"}, "'parent'"),
        (False, {"method": "proxy", "language": "ro"}, "is an adult's"),
        (False, {"method": "signed", "language": "ro", "representative": "parent"}, "adult's"),
    ],
)
def test_record_consent_refuses_a_consent_not_given_as_the_person_may(
    db_url, clock, minor, data, why
):
    f.seed()
    ref = ready_for_consent(clock, minor=minor)
    before = f.db_snapshot()
    with pytest.raises(InvalidInput, match="^representative: ") as refused:
        f.advance(ref, "record_consent", clock, data)
    assert why in str(refused.value)  # names the fix: the capacities, or no representative
    assert f.db_snapshot() == before


def test_a_minors_consent_records_the_representatives_capacity(cli, clock):
    ref = ready_for_consent(clock, minor=True)
    moved = cli(
        "case", "advance", ref, "record_consent",
        "--set", "method=proxy", "--set", "language=ro", "--set", "representative=dgaspc_guardian",
    )  # fmt: skip
    assert moved.code == 0, moved.err
    gave = cli(
        "consent", "give", ref, "--purpose", "sharing", "--org", "fmb", "--method", "proxy",
        "--language", "ro", "--representative", "legal_guardian",
    )  # fmt: skip
    assert gave.code == 0, gave.err
    with f.admin_read() as s:
        rows = list(s.exec(select(Consent).order_by(Consent.id)))
        assert [(c.purpose, c.representative) for c in rows] == [
            ("return", "dgaspc_guardian"),
            ("data_processing", "dgaspc_guardian"),
            ("sharing", "legal_guardian"),
        ]
        recorded = s.exec(select(CaseEvent).where(CaseEvent.trigger == "record_consent")).one()
        assert recorded.data["representative"] == "dgaspc_guardian"  # a code, not a name
    assert "proxy ro by dgaspc_guardian" in cli("case", "show", ref).out
    listed = cli("consent", "list", ref).out
    assert "dgaspc_guardian" in listed and "legal_guardian" in listed


def test_consent_give_on_a_minors_case_without_a_capacity_is_one_line(cli, clock):
    ref = ready_for_consent(clock, minor=True)
    before = f.db_snapshot()
    refused = cli(
        "consent", "give", ref, "--purpose", "sharing", "--org", "fmb", "--method", "signed",
        "--language", "ro",
    )  # fmt: skip
    assert refused.code != 0 and refused.err.startswith("error: representative: ")
    assert len(refused.err.strip().splitlines()) == 1
    unknown = cli(
        "consent", "give", ref, "--purpose", "sharing", "--org", "fmb", "--method", "proxy",
        "--language", "ro", "--representative", "neighbour",
    )  # fmt: skip
    assert unknown.code != 0 and "representative" in unknown.err and "Traceback" not in unknown.err
    assert f.db_snapshot() == before
