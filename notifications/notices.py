"""Notices of changes, queued in the transaction of the change: an item or a case handed to an
organisation (to its staff, naming the organisation that handed it over, and the one holding
it when that is another), the answer (to whoever proposed it), a withdrawal of consent (to
every organisation whose open items on the case were cancelled by it), a partner's part in a
case ended by a withdrawn sharing consent (its queued mail about the case dropped first), and a
partner taking part once the person consents to sharing with it (to its staff).

``on_case_event`` listens to the case history (``homeward.base.hooks``); the table ``NOTICES`` says
which event queues what. Keys are the event id and the recipient group, so a notice is queued
once per event however often the listener runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from sqlmodel import Session, col, select

from homeward.base.hooks import subscribe
from homeward.base.models import (
    Case,
    CaseEvent,
    ChecklistItem,
    Handoff,
    HandoffStatus,
    ItemStatus,
    Organisation,
    StaffMember,
)
from notifications.contexts import (
    ConsentWithdrawnContext,
    Context,
    HandoffContext,
    PartnerContext,
    case_link,
    item_link,
)
from notifications.dropping import WITHDRAWN, drop_case_mail, withdrawn_reason
from notifications.i18n import item_title, stage_label
from notifications.outbox import enqueue
from notifications.recipients import Directory, Recipient, by_language


def _notify(
    session: Session,
    event: CaseEvent,
    template: str,
    recipients: list[Recipient],
    context_for: Callable[[str], Context],
) -> None:
    for language, group in by_language(recipients).items():
        org_ids = sorted({r.org_id for r in group})
        orgs = "+".join(sorted(f"org-{org_id}" for org_id in org_ids))
        enqueue(
            session,
            key=f"{template}:event-{event.id}:{orgs}:{language}",
            template=template,
            to=[r.address for r in group],
            language=language,
            context=context_for(language),
            now=event.at,
            org_id=org_ids[0] if len(org_ids) == 1 else None,  # whose working hours it awaits
        )


def handing_org(session: Session, handoff: Handoff) -> int:
    """The organisation that handed it over: the proposer's, who may be the case owner's staff
    handing on a partner's item (``from_org_id`` is then the partner, which held it)."""
    proposer = session.get(StaffMember, handoff.proposed_by_id)
    return proposer.org_id if proposer else handoff.from_org_id


def _handoff_context(
    session: Session,
    directory: Directory,
    case: Case,
    handoff: Handoff,
    item: ChecklistItem | None,
) -> Callable[[str], Context]:
    by_org_id = handing_org(session, handoff)
    held_by = handoff.from_org_id if handoff.from_org_id != by_org_id else None

    def build(language: str) -> Context:
        title = (
            item_title(item.code, language, process_version=case.process_version) if item else None
        )
        return HandoffContext(
            case_ref=case.case_ref,
            stage=stage_label(handoff.stage, language),
            item_number=item.id if item else None,
            item_title=title,
            from_org=directory.org_name(by_org_id),
            to_org=directory.org_name(handoff.to_org_id),
            owner_org=directory.org_name(held_by) if held_by else None,
            link=item_link(item.id) if item and item.id else case_link(case.case_ref),
            genitives=directory.genitives(by_org_id, handoff.to_org_id, held_by),
        )

    return build


def _latest_handoff(session: Session, event: CaseEvent, statuses: list[str]) -> Handoff | None:
    item_id = event.data.get("item_id")
    query = select(Handoff).where(
        Handoff.case_id == event.case_id, col(Handoff.status).in_(statuses)
    )
    query = query.where(
        Handoff.item_id == item_id if item_id is not None else col(Handoff.item_id).is_(None)
    )
    return session.exec(query.order_by(col(Handoff.id).desc())).first()


def handed_over(session: Session, case: Case, event: CaseEvent) -> None:
    """An item or the case was handed to an organisation: tell its staff."""
    handoff = _latest_handoff(session, event, [HandoffStatus.PROPOSED])
    if handoff is None:
        return
    directory = Directory(session)
    item = session.get(ChecklistItem, handoff.item_id) if handoff.item_id else None
    context = _handoff_context(session, directory, case, handoff, item)
    recipients = directory.audience(handoff.to_org_id)
    _notify(session, event, "handoff_proposed", recipients, context)


def answered(session: Session, case: Case, event: CaseEvent) -> None:
    """A handoff was accepted or rejected: tell whoever proposed it (else their organisation)."""
    accepted = event.trigger.endswith("_accepted")
    status = HandoffStatus.ACCEPTED if accepted else HandoffStatus.REJECTED
    handoff = _latest_handoff(session, event, [status])
    if handoff is None:
        return
    directory = Directory(session)
    item = session.get(ChecklistItem, handoff.item_id) if handoff.item_id else None
    proposer = directory.member(handoff.proposed_by_id)
    recipients = [proposer] if proposer else directory.audience(handing_org(session, handoff))
    template = "handoff_accepted" if accepted else "handoff_rejected"
    context = _handoff_context(session, directory, case, handoff, item)
    _notify(session, event, template, recipients, context)


def consent_withdrawn(session: Session, case: Case, event: CaseEvent) -> None:
    """Consent withdrawn: tell each organisation whose open items (or pending handoffs) on the
    case the withdrawal cancelled, listing those items."""
    cancelled = session.exec(
        select(ChecklistItem).where(
            ChecklistItem.case_id == case.id, ChecklistItem.status == ItemStatus.CANCELLED
        )
    )
    holders: dict[int, list[ChecklistItem]] = defaultdict(list)
    for item in cancelled:
        if item.completed_at == event.at:
            holders[item.owner_org_id].append(item)
    revoked = session.exec(
        select(Handoff).where(Handoff.case_id == case.id, Handoff.status == HandoffStatus.REVOKED)
    )
    for handoff in revoked:
        if handoff.decided_at == event.at and handoff.item_id is not None:
            offered = session.get(ChecklistItem, handoff.item_id)
            holders[handoff.to_org_id].extend([offered] if offered else [])
    directory = Directory(session)
    for org_id, items in sorted(holders.items()):
        _notify(
            session,
            event,
            "consent_withdrawn",
            directory.audience(org_id),
            _withdrawal_context(directory, case, org_id, items),
        )


def _withdrawal_context(
    directory: Directory, case: Case, org_id: int, items: list[ChecklistItem]
) -> Callable[[str], Context]:
    def build(language: str) -> Context:
        titles = [
            item_title(i.code, language, process_version=case.process_version)
            for i in sorted(items, key=lambda i: i.id or 0)
        ]
        return ConsentWithdrawnContext(
            case_ref=case.case_ref,
            org_name=directory.org_name(org_id),
            item_titles=tuple(dict.fromkeys(titles)),
            link=case_link(case.case_ref),
            genitives=directory.genitives(org_id),
        )

    return build


def sharing_withdrawn(session: Session, case: Case, event: CaseEvent) -> None:
    """Sharing with an organisation withdrawn: drop its queued mail about the case, then tell
    its staff (case_ref and the cancelled items' titles only; no link, it may not look)."""
    org = _org_of(session, event)
    if org is None or org.id is None:
        return
    reason = withdrawn_reason(org.slug, case.case_ref)
    drop_case_mail(session, case_ref=case.case_ref, org_id=org.id, reason=reason, now=event.at)
    directory = Directory(session)
    items = _items(session, event)
    context = _partner_context(directory, case, org.id, items, link=False)
    _notify(session, event, "sharing_withdrawn", directory.audience(org.id), context)


def partner_joined(session: Session, case: Case, event: CaseEvent) -> None:
    """A partner takes part once the person consents to sharing: tell its staff which items,
    held for it until now, are its own, as a handoff would (no items moved: nothing to say;
    its items reach it through the digest)."""
    org, items = _org_of(session, event), _items(session, event)
    if org is None or org.id is None or not items:
        return
    directory = Directory(session)
    context = _partner_context(directory, case, org.id, items, link=True)
    _notify(session, event, "partner_joined", directory.audience(org.id), context)


def _org_of(session: Session, event: CaseEvent) -> Organisation | None:
    slug = event.data.get("org")
    return session.exec(select(Organisation).where(Organisation.slug == slug)).first()


def _items(session: Session, event: CaseEvent) -> list[ChecklistItem]:
    ids = [i for i in event.data.get("item_ids", []) if isinstance(i, int)]
    query = select(ChecklistItem).where(col(ChecklistItem.id).in_(ids))
    return list(session.exec(query.order_by(col(ChecklistItem.id))))


def _partner_context(
    directory: Directory, case: Case, org_id: int, items: list[ChecklistItem], *, link: bool
) -> Callable[[str], Context]:
    def build(language: str) -> Context:
        titles = [item_title(i.code, language, process_version=case.process_version) for i in items]
        return PartnerContext(
            case_ref=case.case_ref,
            org_name=directory.org_name(org_id),
            item_titles=tuple(dict.fromkeys(titles)),
            link=case_link(case.case_ref) if link else None,
            genitives=directory.genitives(org_id),
        )

    return build


NOTICES: dict[str, Callable[[Session, Case, CaseEvent], None]] = {
    "handoff_proposed": handed_over,
    "transfer_proposed": handed_over,
    "handoff_accepted": answered,
    "handoff_rejected": answered,
    "transfer_accepted": answered,
    "transfer_rejected": answered,
    "withdraw_consent": consent_withdrawn,
    WITHDRAWN: sharing_withdrawn,
    "partner_joined": partner_joined,
}


@subscribe
def on_case_event(session: Session, case: Case, event: CaseEvent) -> None:
    """Queue the notices ``NOTICES`` lists for this kind of event."""
    notice = NOTICES.get(event.trigger)
    if notice is not None:
        notice(session, case, event)
