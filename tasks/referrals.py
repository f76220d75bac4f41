"""The National Referral Mechanism (NRM) referral of a case as a record, not a checkbox.

One record per case: ANITP's record number (stored encrypted under the case key), the day the
person was referred and the body that referred them (a code). Recording it records the stage's
matching checklist item done by the same actor: ``anitp_notified`` on the return route (the
consulate's, as before), ``nrm_referral`` on the internal route. A new record replaces the
old one (a correction); the history events keep who recorded which version and when.

Who may: the case owner's steering staff (coordinator, supervisor), or the staff of the
organisation that owns the matching item (``Action.RECORD_OWN_ITEM``), as for the item itself.
The record number is read back only by the owner's staff, through the vault (audited).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Session, select

from homeward.base import dates
from homeward.base.clock import local_date
from homeward.base.errors import InvalidInput, Refused
from homeward.base.models import (
    Case,
    ChecklistItem,
    ItemStatus,
    NrmReferral,
    Organisation,
    StaffMember,
)
from homeward.protection import vault
from homeward.protection.permissions import (
    Action,
    org_text,
    owner_staff,
    permits,
    permits_item,
    who_text,
)
from homeward.records.audit import record_event
from homeward.records.locking import bump
from tasks import checklist

RECORD_NO = re.compile(r"[A-Za-z0-9][A-Za-z0-9/-]{0,31}")
ITEM_BY_ROUTE = {"return": "anitp_notified", "internal": "nrm_referral"}
TABLE, COLUMN = "nrm_referral", "record_no"


class ReferringBody(StrEnum):
    """Who referred the person to the NRM (codes only)."""

    POLICE = "police"
    PROSECUTOR = "prosecutor"
    NGO = "ngo"
    IOM = "iom"
    DGASPC = "dgaspc"
    LABOUR_INSPECTORATE = "labour_inspectorate"
    CONSULATE = "consulate"
    SELF = "self"
    OTHER = "other"


@dataclass(frozen=True)
class ReferralIn:
    """A referral as entered: checked by ``check`` before anything is written."""

    record_no: str
    referred_on: date
    referring_body: str


def check(case: Case, given: ReferralIn, now: datetime) -> tuple[str, ReferringBody]:
    """The cleaned record number and body, or ``InvalidInput`` naming the field and the fix."""
    record_no = given.record_no.strip()
    if not RECORD_NO.fullmatch(record_no):
        raise InvalidInput(
            "record_no: use ANITP's record number: letters, digits, - and /, at most 32 "
            "characters (e.g. RO-2026/00123)"
        )
    try:
        body = ReferringBody(given.referring_body.strip().lower())
    except ValueError:
        raise InvalidInput(f"by: the referring body is one of {', '.join(ReferringBody)}") from None
    dates.check_not_future("referred_on", given.referred_on, now, "the person was referred")
    opened = local_date(case.opened_at)
    if given.referred_on < opened:
        raise InvalidInput(
            f"referred_on: {given.referred_on} is before the case was opened ({opened}); "
            "give the day the referral was made for this case"
        )
    return record_no, body


def matching_item(session: Session, case: Case) -> ChecklistItem | None:
    """The checklist item a referral records done on this case's route (latest, not cancelled)."""
    return checklist.latest_item(session, case, ITEM_BY_ROUTE.get(case.route, "anitp_notified"))


def may_record(
    session: Session, actor: StaffMember, case: Case, item: ChecklistItem | None
) -> bool:
    """The owner's steering staff, or the staff of the other organisation owning the matching
    item (the consulate's ``anitp_notified`` on a return case)."""
    if actor.org_id == case.owner_org_id:
        return permits(session, actor, Action.WORK_ANY_ITEM, case)
    return (
        item is not None
        and item.owner_org_id == actor.org_id
        and permits_item(session, actor, Action.RECORD_OWN_ITEM, case, item)
    )


def _refusal(session: Session, actor: StaffMember, case: Case, item: ChecklistItem | None) -> str:
    whom = owner_staff(session, case, Action.WORK_ANY_ITEM)
    if item is not None and item.owner_org_id != case.owner_org_id:
        org = session.get(Organisation, item.owner_org_id)
        if org is not None:
            whom += f", or staff of {org_text(org)}, which owns item {item.code}"
    return (
        f"{who_text(session, actor)} cannot record the NRM referral of case {case.case_ref}; "
        f"ask {whom}"
    )


def current(session: Session, case: Case) -> NrmReferral | None:
    """The case's referral record, if one was recorded."""
    return session.exec(select(NrmReferral).where(NrmReferral.case_id == case.id)).first()


def record(
    session: Session,
    *,
    case: Case,
    given: ReferralIn,
    actor: StaffMember,
    now: datetime,
    expected_version: int | None = None,
) -> NrmReferral:
    """Record (or correct) the case's NRM referral and record the matching item done."""
    item = matching_item(session, case)
    if not may_record(session, actor, case, item):
        raise Refused(_refusal(session, actor, case, item))
    if case.closed_at is not None:
        raise Refused(
            f"case {case.case_ref} is closed; reopen it before recording its NRM referral"
        )
    record_no, body = check(case, given, now)
    if item is not None and item.status == ItemStatus.OPEN:
        assert item.id is not None  # noqa: S101
        checklist.mark_done(
            session, item_id=item.id, actor=actor, now=now, expected_version=expected_version
        )  # bumps the case's version under the lock, and writes its own event
    else:
        bump(session, case, expected_version)
    row = current(session, case)
    corrected = row is not None
    if row is None:
        assert case.id is not None and actor.id is not None  # noqa: S101
        row = NrmReferral(
            case_id=case.id,
            referred_on=given.referred_on,
            referring_body=body,
            recorded_by_id=actor.id,
            recorded_at=now,
        )
        session.add(row)
        session.flush()
    assert row.id is not None and actor.id is not None  # noqa: S101
    row.record_no = vault.protect_text(
        session, case=case, table=TABLE, column=COLUMN, row_id=row.id, text=record_no, now=now
    )
    row.referred_on, row.referring_body = given.referred_on, body
    row.recorded_by_id, row.recorded_at = actor.id, now
    session.add(row)
    session.flush()
    record_event(
        session,
        case=case,
        trigger="nrm_referral_corrected" if corrected else "nrm_referral_recorded",
        at=now,
        actor=actor,
        data={"referred_on": given.referred_on.isoformat(), "referring_body": str(body)},
    )
    return row


def reveal_record_no(
    session: Session, *, case: Case, row: NrmReferral, actor: StaffMember, now: datetime
) -> str | None:
    """ANITP's record number for the owner's staff (audited by the vault); None for others."""
    if row.record_no is None or row.id is None:
        return None
    if not vault.may_read_text(session, case=case, actor=actor):
        return None
    return vault.reveal_text(
        session,
        case=case,
        table=TABLE,
        column=COLUMN,
        row_id=row.id,
        stored=row.record_no,
        actor=actor,
        now=now,
    )
