"""``cases_seen_by`` (one organisation, many cases at once) answers exactly as ``case_org_ids``
(one case) does, over cases in every situation the rule distinguishes: owned, a live partner, a
partner waiting for consent, an item's owner, a handoff's receiver (proposed, accepted,
rejected), sharing withdrawn, and a minor's case."""

from __future__ import annotations

from sqlmodel import select

from homeward.base.clock import SimulatedClock
from homeward.base.db import write_session
from homeward.base.models import Case, Handoff, Organisation
from homeward.commands.handoffs import AcceptHandoff, ProposeHandoff, RejectHandoff
from homeward.commands.runner import run
from homeward.protection.access import case_org_ids, cases_seen_by
from homeward.records.directory import get_org
from statemachines.cases import get_case
from tasks.consents import withdraw_consent
from tests import factories as f
from tests.signin import credential_for

FMB, DGASPC = "cw@fmb.example.org", "cw@dgaspc-bv.example.org"


def _hand(ref: str, code: str, to: str, clock: SimulatedClock) -> int:
    item = next(i for i in f.items(ref) if i.code == code)
    run(ProposeHandoff(item.id or 0, to), credential_for(f.COORD, clock.now()), clock=clock)
    return item.id or 0


def test_many_cases_at_once_as_one_case_at_a_time(db_url: str, clock: SimulatedClock) -> None:
    f.seed()
    plain = f.open_case(clock)
    unshared = f.open_case(clock, share=False)
    minor = f.open_case(clock, minor=True)
    handed = f.open_case(clock)
    accepted = _hand(handed, "rights_informed", "fmb", clock)
    run(AcceptHandoff(accepted), credential_for(FMB, clock.now()), clock=clock)
    proposed = f.open_case(clock)
    _hand(proposed, "rights_informed", "fmb", clock)
    rejected = f.open_case(clock)
    refused = _hand(rejected, "basic_needs_met", "dgaspc-bv", clock)
    run(RejectHandoff(refused, "not_ours"), credential_for(DGASPC, clock.now()), clock=clock)
    withdrawn = f.open_case(clock)
    with write_session() as s:
        me = f.actor(s)
        case = get_case(s, case_ref=withdrawn, actor=me)
        for slug in ("adpare", "cons-rome"):  # a partner; the owner of one of its items
            org_id = get_org(session=s, slug=slug).id
            withdraw_consent(
                s, case=case, purpose="sharing", org_id=org_id, actor=me, now=clock.now()
            )
    with write_session() as s:  # a row the engine would not leave: a withdrawn org's handoff
        case = get_case(s, case_ref=withdrawn, actor=f.actor(s))
        item = f.items(withdrawn)[0]
        s.add(
            Handoff(
                case_id=case.id or 0,
                item_id=item.id,
                stage=item.stage,
                from_org_id=case.owner_org_id,
                to_org_id=get_org(session=s, slug="adpare").id or 0,
                proposed_by_id=f.actor(s).id or 0,
                proposed_at=clock.now(),
            )
        )
    refs = {plain, unshared, minor, handed, proposed, rejected, withdrawn}

    with f.admin_read() as s:
        cases = [c for c in s.exec(select(Case)) if c.case_ref in refs]
        orgs = list(s.exec(select(Organisation)))
        one_by_one = {org.id: {c.id for c in cases if org.id in case_org_ids(s, c)} for org in orgs}
        at_once = {org.id: cases_seen_by(s, org.id or 0, cases) for org in orgs}

    assert at_once == one_by_one
    assert len(cases) == 7 and len({frozenset(v) for v in at_once.values()}) >= 4  # varied
