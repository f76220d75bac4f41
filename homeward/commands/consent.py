"""The person's consents: record one, withdraw one, read the case's ledger.

The rules (who may, a minor's representative, what a withdrawal of sharing ends) are the
engine's: ``homeward.protection.consent`` and ``tasks.consents``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from homeward.base.models import Case
from homeward.commands.case_views import OneCase
from homeward.commands.runner import Command, Context
from homeward.protection import consent
from homeward.records.directory import get_org, orgs_by_id
from statemachines.cases import get_case
from tasks.consents import give_consent, withdraw_consent


@dataclass(frozen=True)
class ConsentChanged:
    case_ref: str
    purpose: str


@dataclass(frozen=True)
class GiveConsent(OneCase, Command[ConsentChanged]):
    """Record one consent of the person (the owner's coordinators and supervisors)."""

    ref: str
    given: consent.ConsentIn
    name = "consent give"

    def execute(self, ctx: Context) -> ConsentChanged:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        give_consent(ctx.session, case=case, given=self.given, actor=ctx.staff, now=ctx.now)
        return ConsentChanged(case.case_ref, self.given.purpose)


@dataclass(frozen=True)
class WithdrawConsent(OneCase, Command[ConsentChanged]):
    """Withdraw a consent (sharing: ``org``'s part in the case ends, and it is told)."""

    ref: str
    purpose: str
    org: str | None = None
    name = "consent withdraw"

    def execute(self, ctx: Context) -> ConsentChanged:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        org_id = get_org(session=ctx.session, slug=self.org).id if self.org else None
        withdraw_consent(
            ctx.session,
            case=case,
            purpose=self.purpose,
            org_id=org_id,
            actor=ctx.staff,
            now=ctx.now,
        )
        return ConsentChanged(case.case_ref, self.purpose)


@dataclass(frozen=True)
class ConsentLine:
    """One consent of the ledger (``representative``: a capacity, never a name)."""

    purpose: str
    org: str | None
    method: str
    representative: str | None
    language: str
    interpreter: bool
    given_on: date
    withdrawn_on: date | None


@dataclass(frozen=True)
class ListConsents(OneCase, Command[list[ConsentLine]]):
    """The case's consent ledger."""

    ref: str
    name = "consent list"
    writes = False

    def execute(self, ctx: Context) -> list[ConsentLine]:
        return consent_lines(ctx.session, get_case(ctx.session, case_ref=self.ref, actor=ctx.staff))


def consent_lines(session: Session, case: Case) -> list[ConsentLine]:
    """The case's consent ledger, oldest first."""
    orgs = orgs_by_id(session)
    return [
        ConsentLine(
            row.purpose,
            orgs[row.org_id].slug if row.org_id else None,
            row.method,
            row.representative,
            row.language,
            row.interpreter,
            row.given_on,
            row.withdrawn_on,
        )
        for row in consent.ledger(session, case)
    ]
