"""The people of a family case and finding a case by name, as commands (issue 16, points 5, 9).

Names, birth dates and the searched name never enter a request key's fingerprint
(``args``) nor the audit lines; they reach the vault only, which stores them encrypted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homeward.commands.case_views import OneCase
from homeward.commands.runner import Command, Context
from homeward.protection.vault import DependantIn
from statemachines.cases import get_case
from tasks import family


@dataclass(frozen=True)
class PersonAdded:
    """A family member just added: number, label ("child 2"), minor or not, how many minors'
    items were made for them, and ``possible_duplicates``: the owner's own other cases of
    possibly the same person (comma-separated case_refs). No names."""

    case_ref: str
    person_id: int
    label: str
    minor: bool
    items: int
    possible_duplicates: str = ""


@dataclass(frozen=True)
class AddPerson(OneCase, Command[PersonAdded]):
    """Add a family member (a child, a partner) to a case: the owner's staff; stored encrypted."""

    ref: str
    person: DependantIn = field(repr=False)
    expected_version: int | None = None
    name = "case add-person"
    view = PersonAdded

    def args(self) -> Mapping[str, Any]:
        return {"case_ref": self.ref, "relation": self.person.relation}  # never names

    def execute(self, ctx: Context) -> PersonAdded:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        added = family.add_person(
            ctx.session,
            case=case,
            person=self.person,
            actor=ctx.staff,
            now=ctx.now,
            expected_version=self.expected_version,
        )
        assert added.person.id is not None  # noqa: S101 (flushed)
        return PersonAdded(
            case.case_ref,
            added.person.id,
            added.label,
            added.person.is_minor,
            added.items,
            ", ".join(added.duplicates),
        )


@dataclass(frozen=True)
class PersonLine:
    """One family member: names only for readers the vault allows (else None)."""

    person_id: int
    label: str
    relation: str
    minor: bool
    removed: bool
    given_name: str | None = None
    family_name: str | None = None
    birth_date: str | None = None
    sex: str | None = None


@dataclass(frozen=True)
class ListPeople(OneCase, Command[list[PersonLine]]):
    """The family members of a case; reading their names is audited, so it writes.
    ``names`` False: relation, number and minor flag only, nothing decrypted."""

    ref: str
    names: bool = True
    name = "case people"

    def execute(self, ctx: Context) -> list[PersonLine]:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        members = family.list_people(
            ctx.session, case=case, actor=ctx.staff, now=ctx.now, names=self.names
        )
        return [
            PersonLine(
                m.person.id or 0,
                m.label,
                m.person.relation,
                m.person.is_minor,
                m.person.removed_at is not None,
                m.shown.get("given_name"),
                m.shown.get("family_name"),
                m.shown.get("birth_date"),
                m.shown.get("sex"),
            )
            for m in members
        ]


@dataclass(frozen=True)
class PersonRemoved:
    case_ref: str
    person_id: int
    label: str


@dataclass(frozen=True)
class RemovePerson(OneCase, Command[PersonRemoved]):
    """Remove a family member from a case (soft: names wiped; the child's open items
    cancelled); ``reason`` is a code (``family.REMOVAL_REASONS``)."""

    ref: str
    person_id: int
    reason: str
    expected_version: int | None = None
    name = "case remove-person"
    view = PersonRemoved

    def execute(self, ctx: Context) -> PersonRemoved:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        labels = family.person_labels(ctx.session, case)
        row = family.remove_person(
            ctx.session,
            case=case,
            person_id=self.person_id,
            reason=self.reason,
            actor=ctx.staff,
            now=ctx.now,
            expected_version=self.expected_version,
        )
        assert row.id is not None  # noqa: S101
        return PersonRemoved(case.case_ref, row.id, labels[row.id])


@dataclass(frozen=True)
class CaseMatch:
    """A case found by a person's name: case_ref, stage, and whose name matched."""

    case_ref: str
    stage: str
    who: str


@dataclass(frozen=True)
class FindCaseByName(Command[list[CaseMatch]]):
    """Find the cases of a person by full name ("Given Family") through the keyed blind index,
    among the cases the searcher may see and whose names they may read. Each search is
    audited (never the name); a hidden match answers as no match."""

    full_name: str = field(repr=False)
    name = "case find"

    def args(self) -> Mapping[str, Any]:
        return {}  # never the name

    def execute(self, ctx: Context) -> list[CaseMatch]:
        found = family.find_by_name(
            ctx.session, full_name=self.full_name, actor=ctx.staff, now=ctx.now
        )
        return [CaseMatch(m.case_ref, m.stage, m.who) for m in found]
