"""Organisations and staff members: creating, validating and finding them."""

from __future__ import annotations

import re
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, func, select

from homeward.base.countries import check_country
from homeward.base.db import system_scope
from homeward.base.errors import Conflict, InvalidInput, NotFound
from homeward.base.models import Organisation, OrgKind, StaffMember, StaffRole
from homeward.base.settings import SUPPORTED_LANGUAGES
from homeward.records.auditlog import audit

M = TypeVar("M", bound=BaseModel)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")


def first_error(exc: ValidationError) -> InvalidInput:
    """Turn pydantic's report into one line naming the field and what it needs."""
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "value"
    message = str(error["msg"]).removeprefix("Value error, ")
    return InvalidInput(f"{field}: {message}")


# A model with an ``EmailStr`` builds its validator when first used: building it imports
# ``email_validator``, which a command that checks no address (``case show``) need not load.
_EMAIL_CONFIG = ConfigDict(str_strip_whitespace=True, defer_build=True)


class OrganisationIn(BaseModel):
    """What it takes to register an organisation."""

    model_config = _EMAIL_CONFIG

    slug: str = Field(description="short code, e.g. iom-ro")
    name: str = Field(min_length=2, max_length=200)
    kind: OrgKind
    country: str = Field(description="ISO 3166-1 alpha-2 code, e.g. RO")
    email: EmailStr | None = None
    name_genitive: str | None = Field(
        default=None,
        min_length=2,
        max_length=200,
        description="the name in the Romanian genitive, e.g. Asociației ADPARE",
    )

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("use 3-40 lower-case letters, digits and dashes, e.g. iom-ro")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return check_country(value)


class StaffIn(BaseModel):
    """What it takes to register a staff member."""

    model_config = _EMAIL_CONFIG

    org: str = Field(description="the organisation's slug")
    name: str = Field(min_length=2, max_length=200)
    email: EmailStr
    role: StaffRole
    language: str = "en"

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in SUPPORTED_LANGUAGES:
            raise ValueError(f"use one of {', '.join(SUPPORTED_LANGUAGES)}")
        return value


class StaffChangeIn(BaseModel):
    """A change to a staff member: a new role, a new reminder language, or both."""

    # its validator is built when first used (issue 19): a read builds none
    model_config = ConfigDict(str_strip_whitespace=True, defer_build=True)

    role: StaffRole | None = None
    language: str | None = None

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and value not in SUPPORTED_LANGUAGES:
            raise ValueError(f"use one of {', '.join(SUPPORTED_LANGUAGES)}")
        return value


class GenitiveIn(BaseModel):
    """The Romanian genitive-dative form of an organisation's name ("Asociației ADPARE"), which
    Romanian emails use to say whose items they list; ``None`` clears it."""

    # its validator is built when first used (issue 19): a read builds none
    model_config = ConfigDict(str_strip_whitespace=True, defer_build=True)

    name_genitive: str | None = Field(default=None, min_length=2, max_length=200)


class MailboxIn(BaseModel):
    """An organisation's functional mailbox (its reminders when no supervisor can be reached)."""

    model_config = _EMAIL_CONFIG

    email: EmailStr


def validate(model: type[M], **values: object) -> M:
    """Build ``model`` from user values, raising ``InvalidInput`` naming the first bad field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise first_error(exc) from None


def add_org(
    *, session: Session, org_in: OrganisationIn, actor: StaffMember | None = None
) -> Organisation:
    """Register an organisation; its slug must be new. ``actor``: the administrator doing it
    (None: set up below the commands layer, by the first administrator's bootstrap or a test)."""
    if session.exec(select(Organisation).where(Organisation.slug == org_in.slug)).first():
        raise Conflict(f"organisation {org_in.slug!r} already exists; pick another --slug")
    org = Organisation(**org_in.model_dump())
    with system_scope(session):  # PostgreSQL: the directory is the system login's (0031)
        session.add(org)
        session.flush()
    audit(session, actor=actor, action=f"org_add:{org.slug}", at=org.created_at)
    return org


def add_staff(
    *, session: Session, staff_in: StaffIn, actor: StaffMember | None = None
) -> StaffMember:
    """Register a staff member of an existing organisation; the email must be new.
    ``actor``: as for ``add_org``."""
    org = get_org(session=session, slug=staff_in.org)
    email = str(staff_in.email).lower()
    if session.exec(select(StaffMember).where(StaffMember.email == email)).first():
        raise Conflict(f"a staff member with email {email} already exists")
    mailbox_of = session.exec(
        select(Organisation).where(func.lower(col(Organisation.email)) == email)
    ).first()
    if mailbox_of is not None and mailbox_of.slug != org.slug:
        raise Conflict(
            f"email: {email} is the mailbox of {mailbox_of.slug}; give the person's own address"
        )
    assert org.id is not None  # noqa: S101
    staff = StaffMember(
        org_id=org.id,
        name=staff_in.name,
        email=email,
        role=staff_in.role,
        language=staff_in.language,
    )
    with system_scope(session):  # PostgreSQL: the directory is the system login's (0031)
        session.add(staff)
        session.flush()
    audit(session, actor=actor, action=f"staff_add:{staff.id}", at=staff.created_at)
    return staff


def get_org(*, session: Session, slug: str) -> Organisation:
    """The organisation with this slug."""
    org = session.exec(select(Organisation).where(Organisation.slug == slug)).first()
    if org is None:
        raise NotFound(f"organisation {slug!r} not found; see `homeward org list`")
    return org


def get_staff(*, session: Session, email: str) -> StaffMember:
    """The active staff member with this email."""
    query = select(StaffMember).where(StaffMember.email == email.strip().lower())
    staff = session.exec(query).first()
    if staff is None or not staff.active:
        raise NotFound(f"no active staff member {email!r}; see `homeward staff list`")
    return staff


def list_orgs(*, session: Session, kind: str | None = None) -> list[Organisation]:
    """Organisations, optionally of one kind, by slug."""
    query = select(Organisation).order_by(col(Organisation.slug))
    if kind:
        query = query.where(Organisation.kind == kind)
    return list(session.exec(query))


def list_staff(*, session: Session, org_slug: str | None = None) -> list[StaffMember]:
    """Staff members, optionally of one organisation, by email."""
    query = select(StaffMember).order_by(col(StaffMember.email))
    if org_slug:
        query = query.where(StaffMember.org_id == get_org(session=session, slug=org_slug).id)
    return list(session.exec(query))


_ORGS = "homeward_orgs_by_id"


def orgs_by_id(session: Session) -> dict[int, Organisation]:
    """Every organisation by id (for display). Read once per transaction: a page asks from
    several places (items, facts, consents) and the directory has hundreds of rows; any flush,
    commit or rollback forgets it, so a write in the transaction is seen."""
    found: dict[int, Organisation] | None = session.info.get(_ORGS)
    if found is None:
        found = {org.id: org for org in session.exec(select(Organisation)) if org.id is not None}
        session.info[_ORGS] = found
    return dict(found)


@event.listens_for(OrmSession, "after_flush")
@event.listens_for(OrmSession, "after_commit")
@event.listens_for(OrmSession, "after_soft_rollback")
def _forget_orgs(session: OrmSession, *_args: object) -> None:
    session.info.pop(_ORGS, None)
