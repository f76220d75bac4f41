"""Notices queued in the transaction of the change that caused them: handoffs and their
answers, case transfers, consent withdrawn. A refused or failed change queues nothing."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from homeward.base import hooks
from homeward.base.db import read_session, write_session
from homeward.base.errors import Conflict, Refused
from homeward.base.models import OutboxMessage
from notifications.render import render
from statemachines.cases import get_case
from tasks import handoffs, transfers
from tests import factories as f
from tests.cli.runner import run_cli
from tests.notifications.helpers import outbox

ADPARE, IOM_RO = "cw@adpare.example.org", "coord@iom-ro.example.org"


def family_item(ref: str, clock) -> int:
    f.drive_to(ref, "consent_obtained", clock)
    (item,) = [i for i in f.items(ref) if i.code == "family_assessment"]
    assert item.id is not None
    return item.id


def propose(item_id: int, clock, to: str = "adpare", reason: str | None = None) -> None:
    with write_session() as s:
        handoffs.propose(
            s, item_id=item_id, to_org_slug=to, actor=f.actor(s), now=clock.now(), reason=reason
        )


def count_outbox(session) -> int:
    return session.exec(select(func.count()).select_from(OutboxMessage)).one()


def test_a_handoff_notice_is_written_in_the_transaction_of_the_handoff(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    item_id = family_item(ref, clock)
    with write_session() as s:
        handoffs.propose(
            s, item_id=item_id, to_org_slug="adpare", actor=f.actor(s), now=clock.now()
        )
        assert count_outbox(s) == 1  # queued with the handoff...
        with read_session() as other:
            assert count_outbox(other) == 0  # ...and invisible until both commit together
    (notice,) = outbox("handoff_proposed")
    assert notice.to_addrs == [ADPARE] and notice.created_at == clock.now()
    assert notice.context == {
        "case_ref": ref,
        "stage": "Informed consent",
        "item_number": item_id,
        "item_title": "Family assessment or tracing",
        "from_org": "IOM Italy",  # handed over by the case owner's coordinator...
        "owner_org": "IOM Romania",  # ...while the item is IOM Romania's until ADPARE accepts
        "to_org": "ADPARE",
        "link": f"http://127.0.0.1:4300/items/{item_id}",  # the item's page in the workspace
        "genitives": {},
    }


def test_a_failing_listener_rolls_back_the_handoff_and_its_notice(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    item_id = family_item(ref, clock)

    def broken(_session, _case, _event) -> None:
        raise RuntimeError("listener failed")

    hooks.subscribe(broken)
    try:
        with pytest.raises(RuntimeError):
            propose(item_id, clock)
    finally:
        hooks.unsubscribe(broken)
    assert outbox() == [] and handoffs_of(item_id) == 0


def handoffs_of(item_id: int) -> int:
    from homeward.base.models import Handoff

    with read_session() as s:
        return len(s.exec(select(Handoff).where(Handoff.item_id == item_id)).all())


def test_a_refused_handoff_queues_nothing(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    item_id = family_item(ref, clock)
    with pytest.raises(Refused):
        propose(item_id, clock, to="iom-ro")  # it is already IOM Romania's
    propose(item_id, clock)
    with pytest.raises(Conflict):
        propose(item_id, clock, to="fmb")  # one pending handoff at a time
    assert [m.template for m in outbox()] == ["handoff_proposed"]


def test_the_answer_goes_to_whoever_proposed_it_without_the_reason(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    item_id = family_item(ref, clock)
    propose(item_id, clock, to="fmb", reason="closer to the family")
    with write_session() as s:
        handoffs.reject(
            s,
            item_id=item_id,
            actor=f.actor(s, "cw@fmb.example.org"),
            now=clock.now(),
            reason="Zenobia's family is outside our county",
        )
    propose(item_id, clock)
    with write_session() as s:
        handoffs.accept(s, item_id=item_id, actor=f.actor(s, ADPARE), now=clock.now())
    rejected, accepted = outbox("handoff_rejected"), outbox("handoff_accepted")
    assert [m.to_addrs for m in rejected + accepted] == [[f.COORD], [f.COORD]]
    assert rejected[0].context["to_org"] == "Micu Bogdan Foundation"
    assert accepted[0].context["to_org"] == "ADPARE"
    assert "Zenobia" not in str([m.context for m in outbox()])


def test_case_transfers_are_told_like_handoffs(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    with write_session() as s:
        who = f.actor(s)
        case = get_case(s, case_ref=ref, actor=who)
        transfers.propose_transfer(s, case=case, to_org_slug="iom-ro", actor=who, now=clock.now())
    with write_session() as s:
        who = f.actor(s, IOM_RO)
        case = get_case(s, case_ref=ref, actor=who)
        transfers.accept_transfer(s, case=case, actor=who, now=clock.now())
    (offer,), (answer,) = outbox("handoff_proposed"), outbox("handoff_accepted")
    assert offer.to_addrs == [IOM_RO] and offer.context["item_title"] is None
    assert answer.to_addrs == [f.COORD] and answer.context["to_org"] == "IOM Romania"


def test_consent_withdrawn_tells_every_organisation_that_held_open_items(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    item_id = family_item(ref, clock)
    propose(item_id, clock)  # pending: ADPARE held an offer of work when consent was withdrawn
    f.advance(ref, "withdraw_consent", clock)
    notices = {tuple(m.to_addrs): m.context for m in outbox("consent_withdrawn")}
    iom_it = ("coord@iom-it.example.org", "cw@iom-it.example.org")
    # The consulate held no open item at this stage, so it is not told.
    assert set(notices) == {iom_it, (IOM_RO,), (ADPARE,)}
    assert notices[(IOM_RO,)]["item_titles"] == ["Family assessment or tracing"]
    assert notices[(ADPARE,)]["item_titles"] == ["Family assessment or tracing"]  # offered
    assert sorted(notices[iom_it]["item_titles"]) == [
        "Needs, health and skills assessment",
        "Return risk and security assessment",
        "Status of any criminal case and court dates",  # no police in the case: the owner's
    ]


def test_a_handoff_through_the_cli_queues_its_notice_and_a_refused_one_changes_nothing(
    db_url, clock, capsys, monkeypatch
):
    f.seed()
    ref = f.open_case(clock)
    item_id = family_item(ref, clock)
    before = f.db_snapshot()
    refused = run_cli(
        capsys, monkeypatch, "--as", f.COORD, "items", "handoff", str(item_id), "--to", "iom-ro"
    )
    assert refused.code == 4 and refused.err.count("\n") == 1
    assert f.db_snapshot() == before
    done = run_cli(
        capsys, monkeypatch, "--as", f.COORD, "items", "handoff", str(item_id), "--to", "adpare"
    )
    assert done.code == 0, done.err
    (notice,) = outbox("handoff_proposed")
    assert notice.to_addrs == [ADPARE] and notice.context["item_number"] == item_id


def test_a_handoff_notice_names_the_organisation_that_handed_it_over(db_url, clock):
    """The measured bug: the case owner's coordinator (IOM Italy) handed on IOM Romania's item,
    and the notice said IOM Romania handed it. It names IOM Italy, and IOM Romania as holding it
    until the answer; an organisation handing its own item is named once, as holding it."""
    f.seed()
    ref = f.open_case(clock)
    item_id = family_item(ref, clock)
    propose(item_id, clock, to="fmb")
    with write_session() as s:
        handoffs.reject(
            s, item_id=item_id, actor=f.actor(s, "cw@fmb.example.org"), now=clock.now(),
            reason="outside our county",
        )  # fmt: skip
    with write_session() as s:  # now IOM Romania hands its own item
        handoffs.propose(
            s, item_id=item_id, to_org_slug="adpare", actor=f.actor(s, IOM_RO), now=clock.now()
        )
    first, second = outbox("handoff_proposed")
    assert (first.context["from_org"], first.context["owner_org"]) == ("IOM Italy", "IOM Romania")
    (rejected,) = outbox("handoff_rejected")
    assert rejected.to_addrs == [f.COORD] and rejected.context["from_org"] == "IOM Italy"
    assert (second.context["from_org"], second.context["owner_org"]) == ("IOM Romania", None)
    for language in ("en", "ro"):
        text = render("handoff_proposed", language, first.context, stamp=clock.now()).text
        said = {
            "en": "IOM Italy hands a checklist item of IOM Romania to Micu Bogdan Foundation. "
            "It stays with IOM Romania until",
            "ro": "IOM Italy predă un punct din lista de verificare a organizației IOM Romania "
            "către Micu Bogdan Foundation. Rămâne la IOM Romania până când",
        }[language]
        assert said in text, text
        text = render("handoff_rejected", language, rejected.context, stamp=clock.now()).text
        assert {"en": "It stays with IOM Romania.", "ro": "Rămâne la IOM Romania."}[
            language
        ] in text
