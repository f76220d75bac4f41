"""The NRM referral as commands: record (or correct) it, and show it.

The engine (``tasks.referrals``) checks who may, the record number's format and the dates, and
records the matching checklist item done. ANITP's record number is free-ish text: it stays out
of the request fingerprint and is shown only to the owner's staff (audited by the vault).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from homeward.base.models import StaffMember
from homeward.commands.runner import Command, Context
from statemachines.cases import get_case
from tasks import referrals


@dataclass(frozen=True)
class ReferralRecorded:
    """A referral just recorded: codes and dates only, no record number."""

    case_ref: str
    referred_on: str
    referring_body: str
    item_code: str
    corrected: bool


@dataclass(frozen=True)
class ReferralShown:
    """A case's referral; ``record_no`` None when not recorded or not the viewer's to read."""

    case_ref: str
    route: str
    recorded: bool
    referred_on: date | None = None
    referring_body: str | None = None
    record_no: str | None = None
    recorded_by: str | None = None
    recorded_at: datetime | None = None
    item_code: str = ""
    item_status: str | None = None


@dataclass(frozen=True)
class RecordReferral(Command[ReferralRecorded]):
    """Record the case's NRM referral (ANITP record number, date, referring body)."""

    ref: str
    record_no: str
    referred_on: date
    referring_body: str
    expected_version: int | None = None
    name = "referral record"
    view = ReferralRecorded

    def args(self) -> Mapping[str, Any]:
        return {
            "ref": self.ref,
            "referred_on": self.referred_on.isoformat(),
            "referring_body": self.referring_body,
        }

    def execute(self, ctx: Context) -> ReferralRecorded:
        session, who = ctx.session, ctx.staff
        case = get_case(session, case_ref=self.ref, actor=who, for_update=True)
        had = referrals.current(session, case) is not None
        row = referrals.record(
            session,
            case=case,
            given=referrals.ReferralIn(self.record_no, self.referred_on, self.referring_body),
            actor=who,
            now=ctx.now,
            expected_version=self.expected_version,
        )
        return ReferralRecorded(
            case.case_ref,
            row.referred_on.isoformat(),
            row.referring_body,
            referrals.ITEM_BY_ROUTE.get(case.route, "anitp_notified"),
            had,
        )


@dataclass(frozen=True)
class ShowReferral(Command[ReferralShown]):
    """A case's NRM referral (a write: reading the record number is audited); with ``reveal``
    False the record number is not read at all (the workspace's plain page view)."""

    ref: str
    reveal: bool = True
    name = "referral show"

    def execute(self, ctx: Context) -> ReferralShown:
        session, who = ctx.session, ctx.staff
        case = get_case(session, case_ref=self.ref, actor=who)
        item = referrals.matching_item(session, case)
        code = referrals.ITEM_BY_ROUTE.get(case.route, "anitp_notified")
        row = referrals.current(session, case)
        status = str(item.status) if item is not None else None
        if row is None:
            return ReferralShown(
                case.case_ref, case.route, False, item_code=code, item_status=status
            )
        by = session.get(StaffMember, row.recorded_by_id)
        return ReferralShown(
            case.case_ref,
            case.route,
            True,
            row.referred_on,
            row.referring_body,
            (
                referrals.reveal_record_no(session, case=case, row=row, actor=who, now=ctx.now)
                if self.reveal
                else None
            ),
            by.email if by is not None else None,
            row.recorded_at,
            code,
            status,
        )
