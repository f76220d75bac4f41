"""The consent ledger: the person's consents per purpose, with method, language and date.

Purposes: ``return`` (the return itself), ``data_processing``, and ``sharing`` with one named
organisation. Withdrawal is possible at any time; its effects on work in progress (cancelling
that organisation's items, revoking its handoffs, telling it) live in ``tasks.consents``.

Only the case owner's steering staff (the permission table's ``change_consent`` row) record or
withdraw a consent, here in the ledger itself, whoever calls it: a partner never records the
person's consent to share with itself, nor gives it back after a withdrawal. A consent's day, and
a withdrawal's, is a local day between the case's opening and today.

A minor does not consent alone: a guardian or legal representative gives it (method ``proxy``),
and the ledger records in which capacity (``RepresentativeCapacity``), never their name. An
adult consents in person: neither ``proxy`` nor a representative is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Table, bindparam
from sqlmodel import Session, col, select

from homeward.base.bulk import complete
from homeward.base.clock import local_date
from homeward.base.dates import check_consent_day
from homeward.base.errors import Conflict, InvalidInput, NotFound
from homeward.base.models import Case, Consent, ConsentPurpose, StaffMember
from homeward.protection.permissions import Action, ensure
from homeward.records import seals
from homeward.records.auditlog import audit, audit_each


class RepresentativeCapacity(StrEnum):
    """In what capacity a minor's guardian or legal representative consents for them."""

    PARENT = "parent"
    LEGAL_GUARDIAN = "legal_guardian"  # appointed by a court
    DGASPC_GUARDIAN = "dgaspc_guardian"  # the child-protection directorate, by placement
    SPECIAL_REPRESENTATIVE = "special_representative"  # appointed for the proceedings


PROXY = "proxy"


def check_representative(case: Case, method: str, representative: str | None) -> None:
    """A minor's consent is given by a representative (``proxy``, with their capacity); an
    adult's by the person (no ``proxy``, no representative). Raises ``InvalidInput``."""
    capacities = ", ".join(RepresentativeCapacity)
    if case.is_minor and (method != PROXY or not representative):
        raise InvalidInput(
            f"representative: case {case.case_ref} is a minor's; their guardian or legal "
            f"representative consents: give method proxy and representative ({capacities})"
        )
    if not case.is_minor and (method == PROXY or representative):
        raise InvalidInput(
            f"representative: case {case.case_ref} is an adult's; the person consents "
            "themselves: use method signed or oral, with no representative"
        )


class ConsentIn(BaseModel):
    """One consent as a coordinator records it."""

    # its validator is built when first used (issue 19): a read builds none
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    purpose: ConsentPurpose
    org: str | None = Field(default=None, description="slug, for sharing with an organisation")
    method: str = Field(pattern=r"^(signed|oral|proxy)$", description="signed, oral or proxy")
    language: str = Field(pattern=r"^[a-zA-Z]{2,3}$", description="ISO 639 code, e.g. ro")
    interpreter: bool = False
    given_on: date | None = None
    representative: RepresentativeCapacity | None = Field(
        default=None, description="a minor's consent: the capacity of who gave it"
    )

    @field_validator("language")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


def _active(session: Session, case: Case, purpose: str, org_id: int | None) -> Consent | None:
    query = select(Consent).where(
        Consent.case_id == case.id,
        Consent.purpose == purpose,
        Consent.org_id == org_id,
        col(Consent.withdrawn_on).is_(None),
    )
    return session.exec(query).first()


def _active_purposes(for_no_org: bool) -> Any:
    return select(Consent.purpose).where(
        Consent.case_id == bindparam("case_id"),
        col(Consent.purpose).in_(bindparam("purposes", expanding=True)),
        col(Consent.org_id).is_(None) if for_no_org else Consent.org_id == bindparam("org_id"),
        col(Consent.withdrawn_on).is_(None),
    )


# Built once each (a stage move asks it): for no organisation (IS NULL), or for one.
_ACTIVE_PURPOSES = {n: _active_purposes(n) for n in (False, True)}


def _any_active(
    session: Session, case: Case, purposes: Sequence[str], org_id: int | None
) -> str | None:
    """The first of ``purposes`` with an active consent (for ``org_id``), or None."""
    query = _ACTIVE_PURPOSES[org_id is None]
    params: dict[str, Any] = {"case_id": case.id, "purposes": list(purposes)}
    if org_id is not None:
        params["org_id"] = org_id
    found = set(session.exec(query, params=params))
    return next((purpose for purpose in purposes if purpose in found), None)


def give(
    session: Session,
    *,
    case: Case,
    purpose: str,
    org_id: int | None,
    method: str,
    language: str,
    interpreter: bool,
    given_on: date,
    actor: StaffMember,
    now: datetime,
    representative: str | None = None,
) -> int:
    """Record a consent; one active consent per purpose (and organisation). Only the owner's
    steering staff record one (``Refused``), on a day between the case's opening and today; a
    minor's is given by a representative (see ``check_representative``). Returns its id."""
    (consent_id,) = give_all(
        session,
        case=case,
        purposes=[purpose],
        org_id=org_id,
        method=method,
        language=language,
        interpreter=interpreter,
        given_on=given_on,
        actor=actor,
        now=now,
        representative=representative,
    )
    return consent_id


def give_all(
    session: Session,
    *,
    case: Case,
    purposes: Sequence[str],
    org_id: int | None,
    method: str,
    language: str,
    interpreter: bool,
    given_on: date,
    actor: StaffMember,
    now: datetime,
    representative: str | None = None,
) -> list[int]:
    """``give`` for several purposes given together (a stage move records the return's and
    the data processing's), checked once and written in one statement; an audit entry each.
    Any purpose already consented to refuses them all. Returns the new consents' ids."""
    ensure(session, actor, Action.CHANGE_CONSENT, case)
    check_consent_day(case, given_on, now)
    check_representative(case, method, representative)
    if purpose := _any_active(session, case, purposes, org_id):
        raise Conflict(
            f"case {case.case_ref} already has an active {purpose} consent"
            + (" for that organisation" if org_id else "")
        )
    assert case.id is not None and actor.id is not None  # noqa: S101
    rows: list[dict[str, Any]] = [
        {
            "case_id": case.id,
            "purpose": purpose,
            "org_id": org_id,
            "method": method,
            "language": language,
            "interpreter": interpreter,
            "given_on": given_on,
            "representative": representative,
            "recorded_by_id": actor.id,
            "recorded_at": now,
        }
        for purpose in purposes
    ]
    # Written as plain rows, in one statement, and sealed at commit from the values written
    # (every column: ``complete``), not read back; their ids are returned.
    session.flush()  # what the ORM holds goes first, as it would have
    assert len(set(purposes)) == len(rows)  # noqa: S101 (one row a purpose: ids by purpose)
    made = dict(session.connection().execute(_INSERT, rows).tuples().all())  # purpose -> id
    full = complete(_CONSENTS, rows)
    for row in full:
        row["id"] = made[str(row["purpose"])]
    seals.written(session, "consent", full)
    actions = [f"consent_given:{row['purpose']}" for row in full]
    audit_each(session, actor=actor, actions=actions, case_ref=case.case_ref, at=now)
    return [int(row["id"]) for row in full]


_CONSENTS: Table = Consent.__table__  # type: ignore[attr-defined]
_INSERT = _CONSENTS.insert().returning(_CONSENTS.c.purpose, _CONSENTS.c.id)


def withdraw(
    session: Session,
    *,
    case: Case,
    purpose: str,
    org_id: int | None,
    on: date,
    actor: StaffMember,
    now: datetime,
) -> Consent:
    """Mark the active consent withdrawn (the owner's steering staff, on a day between the
    consent's and today)."""
    ensure(session, actor, Action.CHANGE_CONSENT, case)
    consent = _active(session, case, purpose, org_id)
    if consent is None:
        raise NotFound(f"case {case.case_ref} has no active {purpose} consent to withdraw")
    end(consent, on=on, actor=actor, now=now)
    session.add(consent)
    session.flush()
    audit(
        session, actor=actor, action=f"consent_withdrawn:{purpose}", case_ref=case.case_ref, at=now
    )
    return consent


def end(consent: Consent, *, on: date, actor: StaffMember, now: datetime) -> None:
    """Mark ``consent`` withdrawn on day ``on``: not in the future, not before it was given."""
    today = local_date(now)
    if on > today:
        raise InvalidInput(
            f"withdrawn_on: {on} is in the future; give the day the consent was withdrawn "
            f"(today {today} or earlier)"
        )
    if on < consent.given_on:
        raise InvalidInput(
            f"withdrawn_on: {on} is before the consent was given ({consent.given_on}); "
            "give a day on or after it"
        )
    consent.withdrawn_on, consent.withdrawn_by_id = on, actor.id


def sharing_org_ids(session: Session, case: Case) -> set[int]:
    """The organisations the person currently consents to sharing with (``has_sharing_consent``
    for each of them at once: one read, for a page listing where work may go)."""
    query = select(Consent.org_id).where(
        Consent.case_id == case.id,
        Consent.purpose == ConsentPurpose.SHARING,
        col(Consent.withdrawn_on).is_(None),
    )
    return {org_id for org_id in session.exec(query) if org_id is not None}


def has_sharing_consent(session: Session, *, case: Case, org_id: int) -> bool:
    """Whether the person currently consents to sharing with organisation ``org_id``."""
    return _active(session, case, ConsentPurpose.SHARING, org_id) is not None


def ledger(session: Session, case: Case) -> list[Consent]:
    """Every consent of the case, oldest first."""
    query = select(Consent).where(Consent.case_id == case.id).order_by(col(Consent.id))
    return list(session.exec(query))
