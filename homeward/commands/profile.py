"""The signed-in person's own profile: who they are, for which organisation, in which language.

Read by the web workspace on every page (its header) and changed by the person themself (the
language switch). Only the person's own details: nothing about a returnee.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from homeward.base.clock import utc
from homeward.base.errors import InvalidInput
from homeward.base.models import Organisation, StaffMember, StaffSession
from homeward.base.settings import SUPPORTED_LANGUAGES, get_settings
from homeward.commands.runner import Command, Context


@dataclass(frozen=True)
class Profile:
    """Who the session belongs to, as a page header shows it."""

    email: str
    name: str
    org: str  # the organisation's slug
    org_name: str
    role: str
    language: str
    timezone: str  # IANA name dates are shown in
    session_id: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class MyProfile(Command[Profile]):
    """The signed-in person, their organisation and their session."""

    name = "profile"
    writes = False

    def execute(self, ctx: Context) -> Profile:
        staff: StaffMember = ctx.staff
        org = ctx.session.get(Organisation, staff.org_id)
        session_id = ctx.principal.session_id
        row = ctx.session.get(StaffSession, session_id) if session_id else None
        language = staff.language if staff.language in SUPPORTED_LANGUAGES else "en"
        return Profile(
            email=staff.email,
            name=staff.name,
            org=org.slug if org else "",
            org_name=org.name if org else "",
            role=staff.role,
            language=language,
            timezone=get_settings().timezone,
            session_id=session_id,
            expires_at=utc(row.expires_at) if row else None,
        )


@dataclass(frozen=True)
class LanguageSet:
    language: str


@dataclass(frozen=True)
class SetMyLanguage(Command[LanguageSet]):
    """Choose the language one's pages and emails come in."""

    language: str
    name = "profile language"

    def execute(self, ctx: Context) -> LanguageSet:
        if self.language not in SUPPORTED_LANGUAGES:
            raise InvalidInput(f"language: choose one of {', '.join(SUPPORTED_LANGUAGES)}")
        staff = ctx.staff
        staff.language = self.language
        ctx.session.add(staff)
        return LanguageSet(self.language)
