"""``visible_working`` (My work's "which of the cases my organisation owns items on may it
see", asked once for the organisation) gives exactly ``case_org_ids``' answer, case by case,
for every organisation: owners, live and waiting participants, a partner whose sharing consent
was withdrawn but still holds an item, and the receiver of a handoff."""

from __future__ import annotations

from sqlmodel import select

from homeward.base.clock import SimulatedClock
from homeward.base.db import system_scope, write_session
from homeward.base.models import Case, ChecklistItem, Handoff, HandoffStatus, Organisation
from homeward.protection.access import case_org_ids, visible_working
from tasks.consents import withdraw_consent
from tests import factories as f


def test_the_organisation_wide_answer_is_the_one_case_by_case(
    db_url: str, clock: SimulatedClock
) -> None:
    f.seed()
    shared = f.open_case(clock)  # shared with every organisation
    private = f.open_case(clock, share=False)  # the NGO waits for the person's consent
    minor = f.open_case(clock, minor=True, share=False)
    withdrawn = f.open_case(clock)
    handed = f.open_case(clock, share=False)
    with write_session() as s, system_scope(s):
        orgs = {o.slug: o.id for o in s.exec(select(Organisation))}
        case = s.exec(select(Case).where(Case.case_ref == withdrawn)).one()
        withdraw_consent(
            s,
            case=case,
            purpose="sharing",
            org_id=orgs["adpare"],
            actor=f.actor(s),
            now=clock.now(),
        )
        other = s.exec(select(Case).where(Case.case_ref == handed)).one()
        item = s.exec(select(ChecklistItem).where(ChecklistItem.case_id == other.id)).first()
        assert item is not None and item.id is not None and other.id is not None
        s.add(  # a live handoff to an organisation otherwise outside the case
            Handoff(
                case_id=other.id,
                item_id=item.id,
                stage=item.stage,
                from_org_id=other.owner_org_id,
                to_org_id=orgs["fmb"],
                status=HandoffStatus.PROPOSED,
                proposed_by_id=f.actor(s).id,
                proposed_at=clock.now(),
            )
        )
    with write_session() as s, system_scope(s):
        # adpare still holds an item on the case whose sharing with it was withdrawn
        gone = s.exec(select(Case).where(Case.case_ref == withdrawn)).one()
        held = s.exec(select(ChecklistItem).where(ChecklistItem.case_id == gone.id)).first()
        assert held is not None
        held.owner_org_id = orgs["adpare"]
        s.add(held)
    with write_session() as s, system_scope(s):
        cases = list(s.exec(select(Case)))
        assert {c.case_ref for c in cases} == {shared, private, minor, withdrawn, handed}
        for org_id in orgs.values():
            working = {
                i.case_id
                for i in s.exec(select(ChecklistItem).where(ChecklistItem.owner_org_id == org_id))
                if i.status != "cancelled"
            }
            expected = {c.id for c in cases if c.id in working and org_id in case_org_ids(s, c)}
            assert visible_working(s, org_id, working) == expected, org_id
        adpare_cases = {
            i.case_id
            for i in s.exec(
                select(ChecklistItem).where(ChecklistItem.owner_org_id == orgs["adpare"])
            )
        }
        assert gone.id in adpare_cases  # the barred corner is in the comparison
        assert gone.id not in visible_working(s, orgs["adpare"], adpare_cases)
