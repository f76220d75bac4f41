"""What consent changes do to work in progress.

Giving a sharing consent lets work (and so data) go to that organisation: a partner waiting for
it takes part and gets the items held for it (``tasks.participation``). Withdrawing it ends that
organisation's part: its participation is marked ended, its open items on the case are cancelled
and issued again to the case owner marked "partner needed" (or to a stand-in the person consents
to share with), its handoffs revoked, and a ``sharing_consent_withdrawn`` event tells it (the
notifications package drops its queued mail about the case and sends it a notice without
personal data). Withdrawing all consent is the ``withdraw_consent`` trigger.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from homeward.base.clock import local_date
from homeward.base.dates import check_consent_day
from homeward.base.errors import InvalidInput
from homeward.base.models import (
    Case,
    ChecklistItem,
    ConsentPurpose,
    Handoff,
    HandoffStatus,
    ItemStatus,
    Organisation,
    StaffMember,
)
from homeward.protection import consent as ledger
from homeward.protection.access import ensure_can_see
from homeward.protection.permissions import Action, ensure
from homeward.records.audit import record_event
from homeward.records.directory import get_org
from homeward.records.locking import bump
from tasks import checklist, participation
from tasks.catalog import load_catalog
from tasks.transfers import decide


def give_consent(
    session: Session, *, case: Case, given: ledger.ConsentIn, actor: StaffMember, now: datetime
) -> None:
    """Record a consent on ``case`` (sharing needs the organisation)."""
    ensure_can_see(session, actor, case)
    ensure(session, actor, Action.CHANGE_CONSENT, case)
    bump(session, case)
    org = _sharing_org(session, given.purpose, given.org)
    ledger.give(
        session,
        case=case,
        purpose=given.purpose,
        org_id=org.id if org else None,
        method=given.method,
        language=given.language,
        interpreter=given.interpreter,
        given_on=check_consent_day(case, given.given_on or local_date(now), now),
        actor=actor,
        now=now,
        representative=given.representative,
    )
    record_event(
        session,
        case=case,
        trigger="consent_given",
        at=now,
        actor=actor,
        data={"purpose": given.purpose, "org": org.slug if org else None},
    )
    if org is not None:
        participation.join(session, case=case, org=org, actor=actor, now=now)


def _sharing_org(session: Session, purpose: str, slug: str | None) -> Organisation | None:
    if purpose == ConsentPurpose.SHARING and not slug:
        raise InvalidInput("--org: sharing consent names the organisation, e.g. --org adpare")
    if purpose != ConsentPurpose.SHARING and slug:
        raise InvalidInput(f"--org: only sharing consent names an organisation, not {purpose}")
    return get_org(session=session, slug=slug) if slug else None


def withdraw_consent(
    session: Session,
    *,
    case: Case,
    purpose: str,
    org_id: int | None,
    actor: StaffMember,
    now: datetime,
) -> None:
    """Withdraw one consent; for sharing, end the organisation's part in the case."""
    ensure_can_see(session, actor, case)
    ensure(session, actor, Action.CHANGE_CONSENT, case)
    if purpose == ConsentPurpose.RETURN:
        raise InvalidInput(
            "purpose: withdrawing consent to the return is the case's "
            "withdraw_consent step: `homeward case advance REF withdraw_consent`"
        )
    if purpose not in set(ConsentPurpose):
        raise InvalidInput(f"purpose: use one of {', '.join(ConsentPurpose)}")
    if purpose == ConsentPurpose.SHARING and org_id == case.owner_org_id:
        raise InvalidInput(
            "--org: that organisation owns the case; sharing consent concerns its partners "
            "(to stop everything: `homeward case advance REF withdraw_consent`)"
        )
    bump(session, case)
    ledger.withdraw(
        session, case=case, purpose=purpose, org_id=org_id, on=local_date(now), actor=actor, now=now
    )
    if purpose == ConsentPurpose.SHARING and org_id is not None:
        _end_org_part(session, case=case, org_id=org_id, actor=actor, now=now)


def _end_org_part(
    session: Session, *, case: Case, org_id: int, actor: StaffMember, now: datetime
) -> None:
    roles = participation.end(session, case=case, org_id=org_id)
    items = session.exec(
        select(ChecklistItem).where(
            ChecklistItem.case_id == case.id,
            ChecklistItem.owner_org_id == org_id,
            ChecklistItem.status == ItemStatus.OPEN,
        )
    ).all()
    for item in items:
        item.status, item.completed_at = ItemStatus.CANCELLED, now
    handoffs = session.exec(
        select(Handoff).where(
            Handoff.case_id == case.id,
            Handoff.to_org_id == org_id,
            col(Handoff.status).in_([HandoffStatus.PROPOSED, HandoffStatus.ACCEPTED]),
        )
    ).all()
    for handoff in handoffs:
        decide(handoff, HandoffStatus.REVOKED, actor, now)
    _issue_again(session, case, items, now)
    org = session.get(Organisation, org_id)
    record_event(
        session,
        case=case,
        trigger="sharing_consent_withdrawn",
        at=now,
        actor=actor,
        data={
            "org": org.slug if org else None,
            "roles_ended": roles,
            "items_cancelled": len(items),
            "item_ids": [i.id for i in items],
            "handoffs_revoked": len(handoffs),
        },
    )
    participation.fill_waiting_roles(session, case=case, actor=actor, now=now)


def _issue_again(
    session: Session, case: Case, items: Sequence[ChecklistItem], now: datetime
) -> None:
    """The cancelled work still has to be done: issue it as a new stage item would be (to the
    live participant in its role, else held by the case owner, partner needed)."""
    catalog, roles = load_catalog(case.process_version), participation.live_roles(session, case)
    for old in items:
        owner, waits_for = checklist.owner_for(catalog.spec(old.code), case, roles)
        session.add(
            ChecklistItem(
                case_id=old.case_id,
                stage=old.stage,
                code=old.code,
                title_key=old.title_key,
                owner_org_id=owner,
                partner_needed=waits_for,
                due_at=old.due_at,
                blocking=old.blocking,
                created_at=now,
            )
        )
    session.flush()
