"""Consent is the owner's to record (issue 14, point 1): a partner never records the person's
consent to share with itself, never re-gives it after the owner withdrew it, and a consent's day
is neither in the future nor before the case was opened. Each refusal is one line and leaves the
database as it was; a partner whose consent was withdrawn reads none of the person's data.
Through the commands layer (signed-in sessions) and through the CLI (``--as EMAIL``)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from homeward.base.clock import SimulatedClock, local_date
from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.commands.case_views import ShowCasePersonal
from homeward.commands.consent import GiveConsent, WithdrawConsent
from homeward.commands.runner import run
from homeward.protection.consent import ConsentIn
from tests import factories as f
from tests.cli.runner import run_cli
from tests.signin import credential_for

IOM_RO = "coord@iom-ro.example.org"  # a partner's coordinator: the role that steers its own cases
OWNER_HINT = "ask a coordinator or supervisor of IOM Italy (iom-it), the case's owner"


def sharing(org: str, given_on: date | None = None) -> ConsentIn:
    data: dict[str, Any] = {"purpose": "sharing", "org": org, "method": "signed", "language": "ro"}
    if given_on is not None:
        data["given_on"] = given_on
    return ConsentIn.model_validate(data)


@pytest.fixture
def ref(db_url, clock) -> str:
    """An adult's case at consent_obtained, owned by IOM Italy with IOM Romania named as the
    receiving mission; no sharing consent yet; the person's data entered."""
    f.seed()
    ref = f.open_case(clock, share=False, r_iom="iom-ro")
    f.drive_to(ref, "consent_obtained", clock)
    return ref


def as_(email: str, command: Any, clock: SimulatedClock) -> Any:
    return run(command, credential_for(email, clock.now()), clock=clock)


def refused_unchanged(email: str, command: Any, clock: SimulatedClock, error: Any) -> str:
    before = f.db_snapshot()
    with pytest.raises(error) as refused:
        as_(email, command, clock)
    assert f.db_snapshot() == before
    assert "\n" not in str(refused.value)
    return str(refused.value)


def test_a_partner_cannot_record_sharing_consent_with_itself(ref, clock):
    # waiting for the consent, it does not even see the case: "not found", never a hint
    said = refused_unchanged(IOM_RO, GiveConsent(ref, sharing("iom-ro")), clock, NotFound)
    assert said.startswith(f"case {ref} not found")
    with pytest.raises(NotFound):  # and so reads nothing
        as_(IOM_RO, ShowCasePersonal(ref), clock)


@pytest.mark.parametrize("email", [IOM_RO, "cw@adpare.example.org"])
def test_a_partner_cannot_record_a_backdated_or_any_consent(ref, clock, email):
    opened = local_date(f.load_case(ref).opened_at)
    for day in (opened - timedelta(days=30), local_date(clock.now())):
        for purpose in ("sharing", "data_processing"):
            given = sharing("iom-ro", day) if purpose == "sharing" else None
            given = given or ConsentIn.model_validate(
                {"purpose": purpose, "method": "signed", "language": "ro", "given_on": day}
            )
            refused_unchanged(email, GiveConsent(ref, given), clock, (Refused, NotFound))


@pytest.mark.parametrize(
    ("shift", "why"), [(1, "is in the future"), (-1, "was opened")], ids=["future", "backdated"]
)
def test_a_consent_day_is_neither_future_nor_before_the_case(ref, clock, shift, why):
    opened, today = local_date(f.load_case(ref).opened_at), local_date(clock.now())
    day = today + timedelta(days=1) if shift > 0 else opened - timedelta(days=1)
    said = refused_unchanged(f.COORD, GiveConsent(ref, sharing("iom-ro", day)), clock, InvalidInput)
    assert said.startswith("given_on: ") and why in said


def test_after_the_owner_withdraws_the_partner_cannot_give_it_back(ref, clock):
    as_(f.COORD, GiveConsent(ref, sharing("iom-ro")), clock)
    assert as_(IOM_RO, ShowCasePersonal(ref), clock).person  # it reads while it has consent
    clock.advance(hours=1)
    as_(f.COORD, WithdrawConsent(ref, "sharing", "iom-ro"), clock)
    clock.advance(minutes=1)
    refused_unchanged(IOM_RO, GiveConsent(ref, sharing("iom-ro")), clock, NotFound)
    refused_unchanged(IOM_RO, ShowCasePersonal(ref), clock, NotFound)


def test_a_partner_cannot_withdraw_a_consent(ref, clock):
    as_(f.COORD, GiveConsent(ref, sharing("iom-ro")), clock)
    as_(f.COORD, GiveConsent(ref, sharing("adpare")), clock)
    said = refused_unchanged(IOM_RO, WithdrawConsent(ref, "sharing", "adpare"), clock, Refused)
    assert OWNER_HINT in said


# --- through the CLI -------------------------------------------------------------------------


@pytest.fixture
def cli(ref, capsys, monkeypatch, clock):
    from homeward.edges.cli.common import state

    monkeypatch.setattr(state, "clock", clock)

    def call(email: str, *args: str) -> Any:
        return run_cli(capsys, monkeypatch, "--as", email, *args)

    return call


def cli_refused(cli: Any, email: str, *args: str) -> str:
    before = f.db_snapshot()
    result = cli(email, *args)
    assert result.code != 0, result.out
    assert f.db_snapshot() == before
    assert result.err.count("\n") == 1, result.err
    return result.err


def give_args(ref: str, org: str, *more: str) -> tuple[str, ...]:
    return ("consent", "give", ref, "--purpose", "sharing", "--org", org, "--method", "signed",
            "--language", "ro", *more)  # fmt: skip


def test_cli_a_partner_cannot_share_with_itself_nor_reopen_a_withdrawal(cli, ref, clock):
    cli_refused(cli, IOM_RO, *give_args(ref, "iom-ro"))
    past = str(local_date(f.load_case(ref).opened_at) - timedelta(days=10))
    cli_refused(cli, IOM_RO, *give_args(ref, "iom-ro", "--given-on", past))
    assert cli(f.COORD, *give_args(ref, "iom-ro")).code == 0
    withdrawn = cli(f.COORD, "consent", "withdraw", ref, "--purpose", "sharing", "--org", "iom-ro")
    assert withdrawn.code == 0, withdrawn.err
    cli_refused(cli, IOM_RO, *give_args(ref, "iom-ro"))
    cli_refused(cli, IOM_RO, "case", "show", ref, "--personal")
    assert f.CANARY.family_name not in cli(IOM_RO, "case", "show", ref, "--personal").out


@pytest.mark.parametrize("day", [1, -1], ids=["future", "backdated"])
def test_cli_the_owner_gives_no_consent_on_an_impossible_day(cli, ref, clock, day):
    opened, today = local_date(f.load_case(ref).opened_at), local_date(clock.now())
    given_on = today + timedelta(days=1) if day > 0 else opened - timedelta(days=1)
    err = cli_refused(cli, f.COORD, *give_args(ref, "iom-ro", "--given-on", str(given_on)))
    assert "given_on: " in err


# --- the ledger refuses whoever calls it, and withdrawals are dated too -----------------------


def test_the_ledger_itself_refuses_a_partner_and_an_impossible_day(ref, clock):
    """Below the commands: the ledger is the only writer of consents, so it holds the rule."""
    from homeward.base.db import write_session
    from homeward.protection import consent
    from homeward.records.directory import get_org
    from statemachines.cases import get_case

    f.give_sharing(ref, clock, "iom-ro")  # the partner sees the case: its consent is live
    today = local_date(clock.now())
    tries = [
        (IOM_RO, "sharing", today, Refused, "cannot give or withdraw consent"),
        (f.COORD, "sharing", today + timedelta(days=1), InvalidInput, "given_on: "),
        (f.COORD, "sharing", today - timedelta(days=400), InvalidInput, "given_on: "),
    ]
    before = f.db_snapshot()
    for email, purpose, day, error, said in tries:
        with write_session() as s, pytest.raises(error, match=said):
            case = get_case(s, case_ref=ref, actor=f.actor(s, email))
            who, adpare = f.actor(s, email), get_org(session=s, slug="adpare").id
            consent.give(
                s, case=case, purpose=purpose, org_id=adpare, method="signed",
                language="ro", interpreter=False, given_on=day, actor=who, now=clock.now(),
            )  # fmt: skip
    with write_session() as s, pytest.raises(Refused, match="cannot give or withdraw consent"):
        case = get_case(s, case_ref=ref, actor=f.actor(s, IOM_RO))
        consent.withdraw(
            s, case=case, purpose="sharing", org_id=get_org(session=s, slug="iom-ro").id, on=today,
            actor=f.actor(s, IOM_RO), now=clock.now(),
        )  # fmt: skip
    assert f.db_snapshot() == before


def advance_withdraw(email: str, ref: str, clock: SimulatedClock, day: date) -> Any:
    from homeward.commands.cases import AdvanceCase

    return as_(email, AdvanceCase(ref, "withdraw_consent", {"withdrawn_on": str(day)}), clock)


@pytest.mark.parametrize(
    ("shift", "why"),
    [(1, "is in the future"), (-1, "was opened")],
    ids=["future", "before the case"],
)
def test_withdrawing_all_consent_is_dated_no_later_than_today(ref, clock, shift, why):
    opened, today = local_date(f.load_case(ref).opened_at), local_date(clock.now())
    day = today + timedelta(days=shift) if shift > 0 else opened + timedelta(days=shift)
    before = f.db_snapshot()
    with pytest.raises(InvalidInput) as refused:
        advance_withdraw(f.COORD, ref, clock, day)
    assert str(refused.value).startswith("withdrawn_on: ") and why in str(refused.value)
    assert f.db_snapshot() == before


def test_withdrawing_all_consent_records_the_day_given(ref, clock):
    from sqlmodel import select

    from homeward.base.models import Consent

    clock.advance(days=3)
    day = local_date(clock.now()) - timedelta(days=1)
    advance_withdraw(f.COORD, ref, clock, day)
    with f.admin_read() as s:
        assert {c.withdrawn_on for c in s.exec(select(Consent))} == {day}


def test_cli_withdrawing_all_consent_in_the_future_is_refused(cli, ref, clock):
    tomorrow = str(local_date(clock.now()) + timedelta(days=1))
    err = cli_refused(
        cli,
        f.COORD,
        "case",
        "advance",
        ref,
        "withdraw_consent",
        "--set",
        f"withdrawn_on={tomorrow}",
    )
    assert err.startswith("error: withdrawn_on: ") and "in the future" in err
