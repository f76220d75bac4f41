"""Sharing consent gates participation: a named partner waits for it, gets its items when it
comes, and loses its part (items, visibility, mail) when it is withdrawn."""

from __future__ import annotations

import pytest
from sqlmodel import select

from homeward.base.db import read_session, write_session
from homeward.base.errors import NotFound
from homeward.base.models import CaseEvent, CaseParticipant, Organisation, OutboxMessage
from statemachines.cases import get_case, list_cases
from tasks import checklist
from tasks.participation import SHARING_CONSENT, needs_consent
from tests import factories as f
from tests.cli.runner import run_cli

ADPARE, IOM_RO, FMB = "cw@adpare.example.org", "coord@iom-ro.example.org", "cw@fmb.example.org"


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    from homeward.edges.cli.common import state

    f.seed()
    monkeypatch.setattr(state, "clock", clock)

    def run(*args: str, as_email: str = f.COORD):
        return run_cli(capsys, monkeypatch, "--as", as_email, *args)

    return run


def sees(ref: str, email: str) -> bool:
    with read_session() as s:
        who = f.actor(s, email)
        try:
            get_case(s, case_ref=ref, actor=who)
        except NotFound:
            return False
        return ref in {c.case_ref for c in list_cases(s, actor=who)}


def parts(ref: str) -> dict[tuple[str, str], str]:
    """(role, org slug) -> status, ended rows included."""
    with f.admin_read() as s:
        case = get_case(s, case_ref=ref, actor=f.actor(s))
        rows = s.exec(select(CaseParticipant).where(CaseParticipant.case_id == case.id))
        slugs = {o.id: o.slug for o in s.exec(select(Organisation))}
        return {(p.role, slugs[p.org_id]): p.status for p in rows}


def owned(ref: str, code: str) -> list[tuple[str, str, str | None]]:
    """(owner slug, status, partner_needed) of every item ``code`` of the case, oldest first."""
    with f.admin_read() as s:
        slugs = {o.id: o.slug for o in s.exec(select(Organisation))}
        return [
            (slugs[i.owner_org_id], i.status, i.partner_needed)
            for i in f.items(ref)
            if i.code == code
        ]


def events(ref: str, trigger: str) -> list[CaseEvent]:
    with f.admin_read() as s:
        case = get_case(s, case_ref=ref, actor=f.actor(s))
        query = select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.trigger == trigger)
        return list(s.exec(query))


def test_the_rule_table_names_a_reason_for_every_role_and_spares_a_minors_dgaspc():
    assert all(rule.why for rule in SHARING_CONSENT.values())
    gated = {role for role in SHARING_CONSENT if needs_consent(role, is_minor=False)}
    assert gated == {"r_iom", "ngo", "dgaspc"}
    assert not needs_consent("dgaspc", is_minor=True) and needs_consent("ngo", is_minor=True)


def test_a_named_partner_waits_for_sharing_consent_then_gets_its_items(cli, clock):
    ref = f.open_case(clock, share=False)
    assert parts(ref)[("r_iom", "iom-ro")] == parts(ref)[("ngo", "adpare")] == "pending_consent"
    f.drive_to(ref, "consent_obtained", clock)
    assert owned(ref, "family_assessment") == [("iom-it", "open", "r_iom")]
    assert not sees(ref, IOM_RO) and not sees(ref, ADPARE)
    shown = cli("case", "show", ref).out
    assert "waiting for consent" in shown and "r_iom=iom-ro" in shown and "ngo=adpare" in shown
    assert "partner needed: r_iom" in shown
    assert "partner needed: r_iom" in cli("items", "list", "--case", ref).out
    gave = cli(
        "consent", "give", ref, "--purpose", "sharing", "--org", "iom-ro",
        "--method", "signed", "--language", "ro",
    )  # fmt: skip
    assert gave.code == 0, gave.err
    assert owned(ref, "family_assessment") == [("iom-ro", "open", None)]
    assert parts(ref)[("r_iom", "iom-ro")] == "live" and sees(ref, IOM_RO)
    (joined,) = events(ref, "partner_joined")
    assert joined.data["org"] == "iom-ro" and len(joined.data["item_ids"]) == 1
    with read_session() as s:
        notices = s.exec(select(OutboxMessage).where(OutboxMessage.template == "partner_joined"))
        assert [m.to_addrs for m in notices] == [[IOM_RO]]
    shown = cli("case", "show", ref).out
    assert "r_iom=iom-ro" not in shown.split("waiting for consent")[-1]
    assert not sees(ref, ADPARE)  # still waiting


def test_a_minors_dgaspc_takes_part_without_sharing_consent_but_the_ngo_waits(db_url, clock):
    f.seed()
    ref = f.open_case(clock, minor=True, share=False, ngo="fmb")
    assert parts(ref)[("dgaspc", "dgaspc-bv")] == "live"
    assert parts(ref)[("ngo", "fmb")] == "pending_consent"
    assert sees(ref, "cw@dgaspc-bv.example.org") and not sees(ref, FMB)


def test_withdrawing_sharing_ends_the_partners_part_and_its_later_items_wait(cli, clock):
    ref = f.open_case(clock, share=False)
    f.give_sharing(ref, clock, "iom-ro", "adpare", "cons-rome")
    f.drive_to(ref, "received", clock)
    (shelter,) = [i for i in f.items(ref, status="open") if i.code == "shelter_arranged"]
    withdrawn = cli("consent", "withdraw", ref, "--purpose", "sharing", "--org", "adpare")
    assert withdrawn.code == 0, withdrawn.err
    assert parts(ref)[("ngo", "adpare")] == "ended"
    assert owned(ref, "shelter_arranged") == [
        ("adpare", "cancelled", None),
        ("iom-it", "open", "ngo"),
    ]
    assert not sees(ref, ADPARE)
    with write_session() as s, pytest.raises(NotFound):
        checklist.mark_done(s, item_id=shelter.id or 0, actor=f.actor(s, ADPARE), now=clock.now())
    refused = cli("case", "show", ref, as_email=ADPARE)
    assert refused.code != 0 and f"case {ref} not found" in refused.err
    f.complete_stage(ref, clock)
    f.advance(ref, "start_reintegration", clock)
    later = list(f.items(ref, stage="reintegration"))
    assert later and all(owned(ref, i.code) == [("iom-it", "open", "ngo")] for i in later)
    (event,) = events(ref, "sharing_consent_withdrawn")
    assert event.data["org"] == "adpare" and event.data["roles_ended"] == ["ngo"]
    assert "partner needed: ngo" in cli("items", "list", "--case", ref).out


def test_a_stand_in_with_sharing_consent_takes_over_the_withdrawn_partners_work(db_url, clock):
    f.seed()
    ref = f.open_case(clock)  # the person consents to sharing with every organisation
    f.drive_to(ref, "received", clock)
    with write_session() as s:
        case = get_case(s, case_ref=ref, actor=f.actor(s))
        from tasks.consents import withdraw_consent

        adpare = s.exec(select(Organisation).where(Organisation.slug == "adpare")).one()
        withdraw_consent(
            s, case=case, purpose="sharing", org_id=adpare.id, actor=f.actor(s), now=clock.now()
        )
    assert parts(ref)[("ngo", "fmb")] == "live" and parts(ref)[("ngo", "adpare")] == "ended"
    assert owned(ref, "first_counselling") == [("adpare", "cancelled", None), ("fmb", "open", None)]
    assert sees(ref, FMB) and not sees(ref, ADPARE)
    assert ("dgaspc", "dgaspc-bv") not in parts(ref)  # consent alone makes no one a partner
    assert not sees(ref, "cw@dgaspc-bv.example.org")


def test_withdrawing_sharing_with_an_organisation_that_only_took_a_handoff(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    f.drive_to(ref, "consent_obtained", clock)
    from tasks import handoffs

    (item,) = [i for i in f.items(ref) if i.code == "family_assessment"]
    with write_session() as s:
        handoffs.propose(
            s, item_id=item.id or 0, to_org_slug="fmb", actor=f.actor(s, IOM_RO), now=clock.now()
        )
    with write_session() as s:
        handoffs.accept(s, item_id=item.id or 0, actor=f.actor(s, FMB), now=clock.now())
    with write_session() as s:
        checklist.mark_done(s, item_id=item.id or 0, actor=f.actor(s, FMB), now=clock.now())
    assert sees(ref, FMB)  # a done item of its own shows it the case
    with write_session() as s:
        case = get_case(s, case_ref=ref, actor=f.actor(s))
        from tasks.consents import withdraw_consent

        fmb = s.exec(select(Organisation).where(Organisation.slug == "fmb")).one()
        withdraw_consent(
            s, case=case, purpose="sharing", org_id=fmb.id, actor=f.actor(s), now=clock.now()
        )
    assert not sees(ref, FMB)
    assert not any(i.status == "open" and i.owner_org_id == fmb.id for i in f.items(ref))
