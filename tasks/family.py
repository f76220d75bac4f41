"""The people of a family case (issue 16, points 5 and 9): dependants, their minors' rules, and
finding a case by a person's name.

A dependant is stored only encrypted (``vault.store_dependant``); what is kept in the clear is
the relation, whether the person is a minor and when they were added or removed. A minor
dependant gets the catalog's minors-only items (``"applies": "minors"``) with ``person_id`` set,
for the stages the case has reached before travel, and for each later stage it enters
(``checklist.create_stage_items``); the travel guard checks each child's items.

Searching by name uses the keyed name-only blind index (``vault.name_token``): no plaintext
search, no LIKE on names. A match the searcher may not see, or whose names they may not read,
is left out: the answer is the same as no match, and no count says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from homeward.base.clock import local_date
from homeward.base.errors import InvalidInput, NotFound
from homeward.base.models import ENDED, Case, CasePerson, StaffMember
from homeward.protection import vault
from homeward.protection.access import cases_seen_by
from homeward.protection.permissions import Action, ensure
from homeward.records.audit import record_event
from homeward.records.auditlog import audit
from homeward.records.locking import bump
from tasks import checklist

ADULT_AGE = 18
# The stages before travel, in order: a child added in one of them gets the minors' items of
# it and of the stages before it (the travel guard needs them all).
BEFORE_TRAVEL = ("identified_abroad", "consent_obtained", "assessed", "travel_arranged")
# Why a family member leaves the case (codes only: the history keeps no free text).
REMOVAL_REASONS = ("not_travelling", "entered_in_error", "own_case", "other")


def age_on(birth: date, day: date) -> int:
    """Full years between ``birth`` and ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def is_minor_on(birth: date | None, day: date) -> bool:
    """Whether someone born on ``birth`` is under 18 on ``day`` (no birth date: not known to be)."""
    return birth is not None and age_on(birth, day) < ADULT_AGE


def person_labels(session: Session, case: Case) -> dict[int, str]:
    """Each family member's label by relation and number ("child 2"), stable for the case's
    life (removed members keep their number). Never a name."""
    query = select(CasePerson.id, CasePerson.relation).where(CasePerson.case_id == case.id)
    counts: dict[str, int] = {}
    labels: dict[int, str] = {}
    for person_id, relation in session.exec(query.order_by(col(CasePerson.id))):
        counts[relation] = counts.get(relation, 0) + 1
        assert person_id is not None  # noqa: S101
        labels[person_id] = f"{relation} {counts[relation]}"
    return labels


def _check_birth(person: vault.DependantIn, today: date) -> None:
    if person.birth_date is not None and person.birth_date > today:
        raise InvalidInput("birth_date: the birth date is in the future; give the birth date")
    if person.relation == "child" and person.birth_date is None:
        raise InvalidInput(
            "birth_date: a child's birth date decides whether the minors' rules apply; "
            "give it as YYYY-MM-DD"
        )


@dataclass(frozen=True)
class Added:
    """A family member just added: its row, its label, the items made for it, and the owner's
    own cases of possibly the same person."""

    person: CasePerson
    label: str
    items: int
    duplicates: list[str]


def add_person(
    session: Session,
    *,
    case: Case,
    person: vault.DependantIn,
    actor: StaffMember,
    now: datetime,
    expected_version: int | None = None,
) -> Added:
    """Add a family member to ``case`` (the owner's staff); a minor gets the minors' items."""
    ensure(session, actor, Action.ENTER_PERSON, case)
    today = local_date(now)
    _check_birth(person, today)
    if case.status in ENDED:
        raise InvalidInput(
            f"case {case.case_ref} is {case.status}: family members join an open case"
        )
    bump(session, case, expected_version)
    duplicates = vault.dependant_duplicates(
        session,
        given_name=person.given_name,
        family_name=person.family_name,
        birth=person.birth_date.isoformat() if person.birth_date else None,
        owner_org_id=case.owner_org_id,
    )
    minor = is_minor_on(person.birth_date, today)
    row = vault.store_dependant(
        session, case=case, person=person, is_minor=minor, actor=actor, now=now
    )
    assert row.id is not None  # noqa: S101
    made: list[object] = []
    if minor and case.state in BEFORE_TRAVEL:
        for stage in BEFORE_TRAVEL[: BEFORE_TRAVEL.index(case.state) + 1]:
            made += checklist.create_person_items(
                session, case=case, person_id=row.id, stage=stage, now=now
            )
    label = person_labels(session, case)[row.id]
    record_event(
        session,
        case=case,
        trigger="add_person",
        at=now,
        actor=actor,
        data={"person_id": row.id, "relation": row.relation, "minor": minor, "items": len(made)},
    )
    return Added(row, label, len(made), [ref for ref in duplicates if ref != case.case_ref])


def get_person(session: Session, case: Case, person_id: int) -> CasePerson:
    """A live family member of ``case`` by its number (one answer for none and another case's)."""
    row = session.get(CasePerson, person_id)
    if row is None or row.case_id != case.id or row.removed_at is not None:
        raise NotFound(
            f"family member #{person_id} not found on case {case.case_ref}; "
            f"see `homeward case people {case.case_ref}`"
        )
    return row


def remove_person(
    session: Session,
    *,
    case: Case,
    person_id: int,
    reason: str,
    actor: StaffMember,
    now: datetime,
    expected_version: int | None = None,
) -> CasePerson:
    """Remove a family member softly (names wiped, the row and its items' history kept); the
    child's open items are cancelled."""
    ensure(session, actor, Action.ENTER_PERSON, case)
    if reason not in REMOVAL_REASONS:
        raise InvalidInput(f"--reason: use one of {', '.join(REMOVAL_REASONS)}")
    row = get_person(session, case, person_id)
    bump(session, case, expected_version)
    cancelled = checklist.cancel_person_items(session, case=case, person_id=person_id, now=now)
    vault.wipe_dependant(session, row=row, now=now)
    record_event(
        session,
        case=case,
        trigger="remove_person",
        at=now,
        actor=actor,
        reason=reason,
        data={"person_id": person_id, "relation": row.relation, "items_cancelled": cancelled},
    )
    return row


@dataclass(frozen=True)
class Member:
    """One family member as a reader sees it: names only for those allowed to read them."""

    person: CasePerson
    label: str
    shown: dict[str, str | None]


def list_people(
    session: Session, *, case: Case, actor: StaffMember, now: datetime, names: bool = True
) -> list[Member]:
    """The case's family members (removed ones too, marked); names only to readers allowed by
    the vault's rules (each read audited), relation and minor flag to the others."""
    rows = list(
        session.exec(
            select(CasePerson).where(CasePerson.case_id == case.id).order_by(col(CasePerson.id))
        )
    )
    labels = person_labels(session, case)
    shown = (
        vault.read_dependants(session, case=case, rows=rows, actor=actor, now=now) if names else {}
    )
    return [
        Member(row, labels[row.id], shown.get(row.id, {})) for row in rows if row.id is not None
    ]


@dataclass(frozen=True)
class Match:
    """A case found by name: its case_ref, stage and whose name matched ("primary", "child 2")."""

    case_ref: str
    stage: str
    who: str


def find_by_name(
    session: Session, *, full_name: str, actor: StaffMember, now: datetime
) -> list[Match]:
    """Cases whose primary person or a family member has this name, among the cases ``actor``
    may see and whose names they may read. Audited (the fields searched, never the name)."""
    name = " ".join(full_name.split())
    if len(name) < 3 or len(name) > 401:
        raise InvalidInput("name: give the person's given and family name")
    hits = vault.cases_named(session, name)
    cases = {
        c.id: c for c in session.exec(select(Case).where(col(Case.id).in_({h[0] for h in hits})))
    }
    seen = cases_seen_by(session, actor.org_id, cases.values())
    found: list[Match] = []
    for case_id, _who, person_id in hits:
        case = cases.get(case_id)
        if case is None or case_id not in seen:
            continue
        readable = vault.readable_fields(session, case, actor)
        if not {"given_name", "family_name"} <= readable:
            continue
        label = "primary" if person_id is None else person_labels(session, case)[person_id]
        found.append(Match(case.case_ref, case.phase, label))
    audit(session, actor=actor, action="name_search", at=now, fields=["name_index"])
    for ref in sorted({m.case_ref for m in found}):  # each hit ties the search to its case
        audit(
            session,
            actor=actor,
            action="name_search_hit",
            case_ref=ref,
            at=now,
            fields=["name_index"],
        )
    found.sort(key=lambda m: (m.case_ref, m.who))
    return found


def possible_duplicates(session: Session, *, case: Case, person: vault.DependantIn) -> list[str]:
    """The owner's own other cases of possibly the same person (for an edit's warning)."""
    refs = vault.dependant_duplicates(
        session,
        given_name=person.given_name,
        family_name=person.family_name,
        birth=person.birth_date.isoformat() if person.birth_date else None,
        owner_org_id=case.owner_org_id,
    )
    return [ref for ref in refs if ref != case.case_ref]


def reindex(session: Session, *, now: datetime) -> int:
    """Write the missing name indexes (the operator's ``homeward keys reindex-names``)."""
    return vault.reindex_names(session, now=now)
