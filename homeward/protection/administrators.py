"""Who keeps the directory: organisation administrators, platform administrators, the first one.

An organisation's administrators (role ``admin``) add its staff, change their role and reminder
language, deactivate them, set its mailbox and the genitive of its name; platform administrators
(``platform_admin``) do so for every organisation, add organisations, and alone appoint, change
or remove a platform administrator, so an organisation's admin can neither make themselves one
nor cut one off. The last active platform administrator stays (appoint another first): without
one, nobody could add an organisation. Administrators do no casework (``permissions.RULES``:
their two rows).

The operator (the key file, no session) makes the first platform administrator, once: while
the directory has no active one (a new database, or one from before administrators). From then
on every directory change is a signed-in administrator's, audited with them as its actor.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, func, select

from homeward.base.errors import Conflict, InvalidInput, Refused
from homeward.base.models import Organisation, StaffMember, StaffRole
from homeward.protection.identity import revoke_all
from homeward.protection.permissions import Action, org_text, permits, who_text
from homeward.records.auditlog import audit
from homeward.records.directory import (
    GenitiveIn,
    MailboxIn,
    OrganisationIn,
    StaffChangeIn,
    StaffIn,
    add_org,
    add_staff,
    get_org,
    get_staff,
)

PLATFORM = StaffRole.PLATFORM_ADMIN
ASK_PLATFORM = "ask a platform_admin (`homeward staff list` shows them)"


def _ensure_platform(session: Session, actor: StaffMember, does: str) -> None:
    """Refuse unless ``actor`` is a platform administrator."""
    if not permits(session, actor, Action.MANAGE_DIRECTORY):
        raise Refused(f"{who_text(session, actor)} cannot {does}; {ASK_PLATFORM}")


def _ensure_manages(session: Session, actor: StaffMember, org: Organisation, does: str) -> None:
    """Refuse unless ``actor`` is an admin of ``org`` or a platform administrator."""
    if permits(session, actor, Action.MANAGE_DIRECTORY):
        return
    if actor.org_id == org.id and permits(session, actor, Action.MANAGE_STAFF):
        return
    raise Refused(
        f"{who_text(session, actor)} cannot {does} of {org_text(org)}; ask an admin of "
        f"{org_text(org)} or a platform_admin"
    )


def _org_of(session: Session, staff: StaffMember) -> Organisation:
    org = session.get(Organisation, staff.org_id)
    assert org is not None  # noqa: S101 (a foreign key)
    return org


def platform_admins(session: Session) -> int:
    """How many active platform administrators the directory has."""
    query = select(func.count()).where(
        col(StaffMember.role) == PLATFORM, col(StaffMember.active).is_(True)
    )
    return int(session.exec(query).one())


def _keep_last(session: Session, staff: StaffMember) -> None:
    """Refuse to remove the last active platform administrator."""
    if staff.role == PLATFORM and staff.active and platform_admins(session) <= 1:
        raise Refused(
            f"email: {staff.email} is the last active platform_admin; appoint another first "
            "(`homeward staff add --role platform_admin`)"
        )


def add_organisation(
    session: Session, *, actor: StaffMember, org_in: OrganisationIn
) -> Organisation:
    """Register an organisation, as a platform administrator."""
    _ensure_platform(session, actor, "add organisations")
    return add_org(session=session, org_in=org_in, actor=actor)


def set_mailbox(
    session: Session, *, actor: StaffMember, slug: str, mailbox: MailboxIn, now: datetime
) -> Organisation:
    """Set an organisation's functional mailbox, as its admin or a platform administrator."""
    org = get_org(session=session, slug=slug)
    _ensure_manages(session, actor, org, "set the mailbox")
    email = str(mailbox.email).lower()
    _ensure_address_free(session, org, email)
    org.email = email
    session.add(org)
    audit(session, actor=actor, action=f"org_mailbox:{org.slug}", at=now, fields=["email"])
    return org


def _ensure_address_free(session: Session, org: Organisation, email: str) -> None:
    """An organisation's mailbox is no other organisation's mailbox or staff address: mail
    refused there is fixed by whoever the address belongs to (``notifications.redelivery``)."""
    other_box = session.exec(
        select(Organisation).where(
            func.lower(col(Organisation.email)) == email, Organisation.id != org.id
        )
    ).first()
    other_staff = session.exec(
        select(StaffMember).where(
            func.lower(StaffMember.email) == email, StaffMember.org_id != org.id
        )
    ).first()
    if other_box is not None or other_staff is not None:
        raise Conflict(
            f"email: {email} belongs to another organisation; give this one's own mailbox"
        )


def set_genitive(
    session: Session, *, actor: StaffMember, slug: str, genitive: GenitiveIn, now: datetime
) -> Organisation:
    """Set (or clear) the Romanian genitive form of an organisation's name, as its admin or a
    platform administrator."""
    org = get_org(session=session, slug=slug)
    _ensure_manages(session, actor, org, "set the genitive name")
    org.name_genitive = genitive.name_genitive
    session.add(org)
    audit(session, actor=actor, action=f"org_genitive:{org.slug}", at=now, fields=["name_genitive"])
    return org


def add_member(session: Session, *, actor: StaffMember, staff_in: StaffIn) -> StaffMember:
    """Register a staff member, as an admin of their organisation or a platform administrator
    (a platform administrator only by another)."""
    org = get_org(session=session, slug=staff_in.org)
    _ensure_manages(session, actor, org, "add staff")
    if staff_in.role == PLATFORM:
        _ensure_platform(session, actor, "appoint a platform_admin")
    return add_staff(session=session, staff_in=staff_in, actor=actor)


def _ensure_may_change(session: Session, actor: StaffMember, staff: StaffMember, verb: str) -> None:
    """Refuse unless ``actor`` may ``verb`` (change, deactivate) ``staff``."""
    _ensure_manages(session, actor, _org_of(session, staff), f"{verb} staff")
    if staff.role == PLATFORM:
        _ensure_platform(session, actor, f"{verb} a platform_admin")


def change_member(
    session: Session, *, actor: StaffMember, email: str, change: StaffChangeIn, now: datetime
) -> tuple[StaffMember, list[str]]:
    """Change a staff member's role or reminder language; returns them and what changed."""
    staff = get_staff(session=session, email=email)
    _ensure_may_change(session, actor, staff, "change")
    if change.role == PLATFORM and staff.role != PLATFORM:
        _ensure_platform(session, actor, "appoint a platform_admin")
    if change.role is not None and change.role != staff.role:
        _keep_last(session, staff)
    changed = [
        name
        for name, value in (("role", change.role), ("language", change.language))
        if value is not None and value != getattr(staff, name)
    ]
    for name in changed:
        setattr(staff, name, getattr(change, name))
    session.add(staff)
    audit(session, actor=actor, action=f"staff_change:{staff.id}", at=now, fields=changed)
    return staff, changed


def deactivate_member(
    session: Session, *, actor: StaffMember, email: str, now: datetime
) -> tuple[StaffMember, int]:
    """Cut a staff member off: no new sign-in, and every session of theirs ends now (with the
    run assertions issued in it). Returns them and how many sessions ended."""
    staff = get_staff(session=session, email=email)
    _ensure_may_change(session, actor, staff, "deactivate")
    _keep_last(session, staff)
    staff.active = False
    session.add(staff)
    assert staff.id is not None  # noqa: S101 (a stored row)
    ended = revoke_all(session, staff_id=staff.id, now=now)
    audit(session, actor=actor, action=f"staff_deactivated:{staff.id}", at=now, fields=["active"])
    return staff, ended


def first_admin(
    session: Session, *, org_in: OrganisationIn | None, staff_in: StaffIn, now: datetime
) -> StaffMember:
    """The operator's one bootstrap: the first platform administrator (in a new organisation
    when ``org_in`` is given), refused once the directory has an active one."""
    # The audit line first: its chain head is locked until commit, so two bootstraps at once
    # run one after the other, and the second sees the first's administrator.
    audit(session, actor=None, action="admin_init", at=now)
    if platform_admins(session):
        raise Refused(
            "admin: the directory already has a platform_admin; directory changes are theirs "
            "now: sign in as one (`homeward login`), or ask one"
        )
    known = session.exec(select(Organisation).where(Organisation.slug == staff_in.org)).first()
    if org_in is not None and known is not None:
        raise Conflict(
            f"--org: {staff_in.org} is already registered; leave out --org-name, --kind and "
            "--country to add its administrator to it"
        )
    if org_in is not None:
        add_org(session=session, org_in=org_in)
    elif known is None:
        raise InvalidInput(
            f"--org: {staff_in.org} is not registered; give --org-name, --kind and --country "
            "to register it with its administrator"
        )
    return add_staff(session=session, staff_in=staff_in.model_copy(update={"role": PLATFORM}))
