"""Directory commands: add organisations and staff, change or deactivate staff, set an
organisation's mailbox or the genitive of its name; each the act of a signed-in administrator
(``homeward.protection.administrators`` says which), audited with them as its actor.

``first_admin`` is the one directory change made without a credential: the operator's
bootstrap of the first platform administrator, refused once the directory has one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from homeward.base.clock import SYSTEM_CLOCK, Clock
from homeward.base.db import system_scope
from homeward.commands.runner import Command, Context, transaction
from homeward.protection import administrators as admins
from homeward.records.directory import (
    GenitiveIn,
    MailboxIn,
    OrganisationIn,
    StaffChangeIn,
    StaffIn,
)


@dataclass(frozen=True)
class OrgAdded:
    slug: str
    kind: str
    country: str


@dataclass(frozen=True)
class AddOrganisation(Command[OrgAdded]):
    """Register an organisation (a platform administrator's)."""

    org: OrganisationIn
    name = "org add"

    def execute(self, ctx: Context) -> OrgAdded:
        with system_scope(ctx.session):  # the directory: the system login's (0031)
            org = admins.add_organisation(ctx.session, actor=ctx.staff, org_in=self.org)
        return OrgAdded(org.slug, org.kind, org.country)


@dataclass(frozen=True)
class MailboxSet:
    slug: str
    email: str


@dataclass(frozen=True)
class SetMailbox(Command[MailboxSet]):
    """Set an organisation's functional mailbox (its admin's, or a platform administrator's)."""

    slug: str
    mailbox: MailboxIn
    name = "org mailbox"

    def execute(self, ctx: Context) -> MailboxSet:
        with system_scope(ctx.session):  # the directory: the system login's (0031)
            org = admins.set_mailbox(
                ctx.session, actor=ctx.staff, slug=self.slug, mailbox=self.mailbox, now=ctx.now
            )
        return MailboxSet(org.slug, org.email or "")


@dataclass(frozen=True)
class GenitiveSet:
    slug: str
    name: str
    name_genitive: str | None


@dataclass(frozen=True)
class SetGenitive(Command[GenitiveSet]):
    """Set or clear the Romanian genitive of an organisation's name (as for ``SetMailbox``)."""

    slug: str
    genitive: GenitiveIn
    name = "org genitive"

    def execute(self, ctx: Context) -> GenitiveSet:
        with system_scope(ctx.session):  # the directory: the system login's (0031)
            org = admins.set_genitive(
                ctx.session, actor=ctx.staff, slug=self.slug, genitive=self.genitive, now=ctx.now
            )
        return GenitiveSet(org.slug, org.name, org.name_genitive)


@dataclass(frozen=True)
class StaffAdded:
    email: str
    org: str
    role: str


@dataclass(frozen=True)
class AddStaff(Command[StaffAdded]):
    """Register a staff member (their organisation's admin's, or a platform administrator's)."""

    staff: StaffIn
    name = "staff add"

    def execute(self, ctx: Context) -> StaffAdded:
        with system_scope(ctx.session):  # the directory: the system login's (0031)
            added = admins.add_member(ctx.session, actor=ctx.staff, staff_in=self.staff)
        return StaffAdded(added.email, self.staff.org, added.role)


@dataclass(frozen=True)
class StaffChanged:
    email: str
    role: str
    language: str
    changed: tuple[str, ...]


@dataclass(frozen=True)
class ChangeStaff(Command[StaffChanged]):
    """Change a staff member's role or reminder language (as for ``AddStaff``)."""

    email: str
    change: StaffChangeIn
    name = "staff change"

    def execute(self, ctx: Context) -> StaffChanged:
        with system_scope(ctx.session):  # the directory: the system login's (0031)
            staff, changed = admins.change_member(
                ctx.session, actor=ctx.staff, email=self.email, change=self.change, now=ctx.now
            )
        return StaffChanged(staff.email, staff.role, staff.language, tuple(changed))


@dataclass(frozen=True)
class StaffDeactivated:
    email: str
    sessions_ended: int


@dataclass(frozen=True)
class DeactivateStaff(Command[StaffDeactivated]):
    """Cut a staff member off, their sessions with them (as for ``AddStaff``)."""

    email: str
    name = "staff deactivate"

    def execute(self, ctx: Context) -> StaffDeactivated:
        with system_scope(ctx.session):  # the directory: the system login's (0031)
            staff, ended = admins.deactivate_member(
                ctx.session, actor=ctx.staff, email=self.email, now=ctx.now
            )
        return StaffDeactivated(staff.email, ended)


def first_admin(
    staff_in: StaffIn,
    org_in: OrganisationIn | None,
    *,
    proof: str,
    clock: Clock = SYSTEM_CLOCK,
    engine: Engine | None = None,
) -> StaffAdded:
    """Make the first platform administrator (in the new organisation ``org_in``, if given);
    ``proof`` records who did it (the operator's account). Refused once there is one.
    ``engine``: another database than the configured one (the demo's)."""
    with transaction(writes=True, engine=engine) as session:
        session.info["proof"] = proof
        with system_scope(session):
            staff = admins.first_admin(session, org_in=org_in, staff_in=staff_in, now=clock.now())
        return StaffAdded(staff.email, staff_in.org, staff.role)
