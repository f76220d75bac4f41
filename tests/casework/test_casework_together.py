"""Where the casework parts meet the procedure: an appointment and a plan's service outlive the
stage they were added in; a child's items wait, like the case's own, for the consent to share
with the child-protection directorate, then go to it."""

from __future__ import annotations

from datetime import date, timedelta

from homeward.base.clock import local_date
from homeward.base.models import ItemStatus
from homeward.commands.adhoc import AddAdhocItem
from homeward.commands.family import AddPerson
from homeward.commands.runner import run
from homeward.protection.vault import DependantIn
from homeward.records.directory import orgs_by_id
from tests import factories as f
from tests.signin import credential_for


def test_an_appointment_added_at_reception_outlives_the_move_to_reintegration(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    f.drive_to(ref, "received", clock)
    f.complete_stage(ref, clock)  # the stage's own work
    owner = credential_for(f.COORD, clock.now())
    on = local_date(clock.now()) + timedelta(days=20)
    added = run(AddAdhocItem(ref, "court_hearing", "adpare", on, at="10:30"), owner, clock=clock)
    f.advance(ref, "start_reintegration", clock)
    (hearing,) = [i for i in f.items(ref) if i.id == added.item_id]
    assert hearing.status == ItemStatus.OPEN  # not "cancelled (stage_left)": it is no stage's


def test_a_child_s_items_wait_for_the_consent_to_share_with_dgaspc(db_url, clock):
    f.seed()
    ref = f.open_case(clock, share=False, dgaspc="dgaspc-bv")
    f.drive_to(ref, "consent_obtained", clock)  # the stage of the child's assessments
    child = DependantIn(
        relation="child", given_name="Mica", family_name="Fiica", birth_date=date(2019, 3, 1)
    )
    run(AddPerson(ref, child), credential_for(f.COORD, clock.now()), clock=clock)
    waiting = {
        i.id for i in f.items(ref) if i.person_id is not None and i.partner_needed == "dgaspc"
    }
    assert waiting  # the child's assessments wait for the directorate the person may share with
    f.give_sharing(ref, clock, "dgaspc-bv")
    with f.admin_read() as s:
        slugs = {org_id: org.slug for org_id, org in orgs_by_id(s).items()}
    now = {i.id: (slugs[i.owner_org_id], i.partner_needed) for i in f.items(ref) if i.id in waiting}
    assert set(now.values()) == {("dgaspc-bv", None)}
