"""Who is told: a checklist item's assignee or its organisation's working staff, the owner
organisation's supervisors for escalations, the organisation's own mailbox as a last resort;
a case owner's coordinators for its partners' overdue items.

Only active staff members are told. An address that would not pass ``valid_address`` is left
out (and logged by staff id), so one bad row cannot block the change that queues a notice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import select as columns
from sqlmodel import Session, col

from homeward.base.errors import InvalidInput
from homeward.base.models import Organisation, StaffMember, StaffRole
from homeward.base.settings import get_settings
from notifications.contexts import one_line
from notifications.message import valid_address

log = logging.getLogger("homeward.notifications")
WORKING = (StaffRole.COORDINATOR, StaffRole.CASEWORKER)


@dataclass(frozen=True)
class Recipient:
    """One mailbox: ``key`` names it in idempotency keys (``staff-12``, ``org-3``)."""

    key: str
    address: str
    language: str
    org_id: int


class Org(NamedTuple):
    """What the directory keeps of an organisation."""

    id: int
    name: str
    slug: str
    name_genitive: str | None
    email: str | None
    country: str


class Member(NamedTuple):
    """What the directory keeps of an active staff member."""

    id: int
    org_id: int
    role: StaffRole
    email: str
    language: str


class Directory:
    """Organisations and active staff, loaded once per reminder run or notice (as plain rows:
    a reminder run over a large directory built an ORM object per staff member)."""

    def __init__(self, session: Session) -> None:
        org, staff = Organisation, StaffMember
        orgs = columns(
            col(org.id), col(org.name), col(org.slug), col(org.name_genitive), col(org.email)
        ).add_columns(col(org.country))
        self.orgs = {row[0]: Org(*row) for row in session.execute(orgs)}
        active = columns(
            col(staff.id), col(staff.org_id), col(staff.role), col(staff.email), col(staff.language)
        ).where(col(staff.active) == True)  # noqa: E712
        self.staff = {row[0]: Member(*row) for row in session.execute(active)}
        self._by_org: dict[int, list[Member]] = defaultdict(list)
        for member in self.staff.values():
            self._by_org[member.org_id].append(member)
        # Answers are kept: a reminder run asks about the same few organisations many times,
        # and checking an address is not free.
        self._names: dict[int, str] = {}
        self._members: dict[int | None, Recipient | None] = {}
        self._audiences: dict[int, list[Recipient]] = {}
        self._supervisors: dict[int, list[Recipient]] = {}
        self._coordinators: dict[int, list[Recipient]] = {}

    def org_name(self, org_id: int) -> str:
        """The organisation's name on one line (it is shown in subjects)."""
        if org_id not in self._names:
            self._names[org_id] = one_line(self.orgs[org_id].name) or self.orgs[org_id].slug
        return self._names[org_id]

    def genitives(self, *org_ids: int | None) -> dict[str, str]:
        """The Romanian genitive of each of these organisations' names that has one stored,
        by name (a context's ``genitives``)."""
        found = {}
        for org_id in org_ids:
            org = self.orgs.get(org_id) if org_id is not None else None
            form = one_line(org.name_genitive or "") if org else ""
            if org_id is not None and form:
                found[self.org_name(org_id)] = form
        return found

    def member(self, staff_id: int | None) -> Recipient | None:
        """An active staff member as a recipient."""
        if staff_id not in self._members:
            member = self.staff.get(staff_id) if staff_id is not None else None
            found = next(iter(_as_recipients([member])), None) if member else None
            self._members[staff_id] = found
        return self._members[staff_id]

    def audience(self, org_id: int) -> list[Recipient]:
        """Who works an organisation's items: its coordinators and caseworkers; else its
        supervisors; else its functional mailbox."""
        if org_id not in self._audiences:
            members = self._by_org.get(org_id, [])
            working = [m for m in members if m.role in WORKING]
            self._audiences[org_id] = _as_recipients(working) or self.supervisors(org_id)
        return list(self._audiences[org_id])

    def supervisors(self, org_id: int) -> list[Recipient]:
        """An organisation's supervisors; else its functional mailbox."""
        if org_id not in self._supervisors:
            members = [m for m in self._by_org.get(org_id, []) if m.role == StaffRole.SUPERVISOR]
            self._supervisors[org_id] = _as_recipients(members) or self.mailbox(org_id)
        return list(self._supervisors[org_id])

    def coordinators(self, org_id: int) -> list[Recipient]:
        """An organisation's coordinators (no fallback: they read about partners' items)."""
        if org_id not in self._coordinators:
            members = self._by_org.get(org_id, [])
            found = _as_recipients(m for m in members if m.role == StaffRole.COORDINATOR)
            self._coordinators[org_id] = found
        return list(self._coordinators[org_id])

    def mailbox(self, org_id: int) -> list[Recipient]:
        """The organisation's functional mailbox, if it has one."""
        org = self.orgs.get(org_id)
        if org is None or not org.email:
            return []
        language = get_settings().default_language
        return _checked([(f"org-{org_id}", org.email, language, org_id)])


def _as_recipients(members: Iterable[Member | None]) -> list[Recipient]:
    return _checked(
        (f"staff-{m.id}", m.email, m.language, m.org_id) for m in members if m is not None
    )


def _checked(candidates: Iterable[tuple[str, str, str, int]]) -> list[Recipient]:
    found = []
    for key, address, language, org_id in candidates:
        try:
            found.append(Recipient(key, valid_address(address), language, org_id))
        except InvalidInput:
            log.warning("notifications: %s has an address that cannot be mailed; skipped", key)
    return sorted(found, key=lambda r: r.key)


def by_language(recipients: Iterable[Recipient]) -> dict[str, list[Recipient]]:
    """Recipients grouped by the language they read (one message per language)."""
    groups: dict[str, list[Recipient]] = defaultdict(list)
    for recipient in recipients:
        groups[recipient.language].append(recipient)
    return dict(sorted(groups.items()))
