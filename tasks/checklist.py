"""Checklist items on a case: created on entering a stage, recorded done or skipped, listed.

Leaving a stage needs its blocking items done or skipped with a reason; that check lives here
(``open_blocking_items``) and the state machine calls it as a guard.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, insert, or_
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from homeward.base import models
from homeward.base.bulk import complete
from homeward.base.clock import local_noon
from homeward.base.errors import InvalidInput, Refused
from homeward.base.models import (
    Case,
    CasePerson,
    ChecklistItem,
    HandoffStatus,
    ItemStatus,
    StaffMember,
)
from homeward.protection import vault
from homeward.protection.access import can_see, item_not_found
from homeward.protection.permissions import Action, ensure_item
from homeward.records import seals
from homeward.records.audit import record_event
from homeward.records.locking import bump
from tasks import participation
from tasks.catalog import CASE_OWNER, DueAnchor, ItemSpec, load_catalog

REPEATING_STAGES = frozenset({"suspended"})  # each suspension needs its own reassessment
SKIP_REASON_MIN = 5


def anchor_time(case: Case, anchor: DueAnchor, now: datetime) -> datetime:
    """The moment an item's due offset counts from (dates anchor at local noon)."""
    if anchor is DueAnchor.ARRIVAL and case.arrival_on:
        return local_noon(case.arrival_on)
    if anchor is DueAnchor.DEPARTURE and case.departure_on:
        return local_noon(case.departure_on)
    return now


def owner_for(
    spec: ItemSpec, case: Case, roles: dict[str, int], *, is_minor: bool | None = None
) -> tuple[int, str | None]:
    """Who gets a new item: the live participant in its role; else the case owner, noting the
    role when the item waits for a partner the person has not (or no longer) consented to.
    ``is_minor``: whom the item is about (default: the case's primary person)."""
    minor = case.is_minor if is_minor is None else is_minor
    role = spec.owner_role(is_minor=minor, route=case.route)
    if role == CASE_OWNER:
        return case.owner_org_id, None
    if role in roles:
        return roles[role], None
    # Whether the partner waits for consent is the case's (its person consents to sharing,
    # for a child of theirs too); whom the item is about decides only its owner's role.
    if participation.needs_consent(role, is_minor=case.is_minor):
        return case.owner_org_id, role  # partner needed
    return case.owner_org_id, None  # unfilled role: the case owner hands it on


class _Known(NamedTuple):
    """What a stage's items need to know of one existing item of the case."""

    code: str
    stage: str
    status: str
    person_id: int | None
    partner_needed: str | None


# Built once (a stage move asks it each time): the case's items of the stage being entered
# (which it has already?) and its open items waiting for a partner (whom to find?), together.
_STAGE_AND_WAITING = sql_select(
    col(ChecklistItem.code),
    col(ChecklistItem.stage),
    col(ChecklistItem.status),
    col(ChecklistItem.person_id),
    col(ChecklistItem.partner_needed),
).where(
    col(ChecklistItem.case_id) == bindparam("case_id"),
    or_(
        col(ChecklistItem.stage) == bindparam("stage"),
        (col(ChecklistItem.status) == ItemStatus.OPEN)
        & col(ChecklistItem.partner_needed).is_not(None),
    ),
)


def _known_items(session: Session, case: Case, stage: str) -> list[_Known]:
    """The case's items of ``stage`` and its open items waiting for a partner, as columns."""
    found = session.execute(_STAGE_AND_WAITING, {"case_id": case.id, "stage": stage})
    return [_Known(*row) for row in found]


def _existing_codes(known: list[_Known], stage: str, person_id: int | None) -> set[str]:
    """The codes of ``stage`` the case (or child) has already: open, done or skipped; in a
    repeating stage, open only (each suspension needs its own reassessment)."""
    statuses = (
        {ItemStatus.OPEN}
        if stage in REPEATING_STAGES
        else {ItemStatus.OPEN, ItemStatus.DONE, ItemStatus.SKIPPED}
    )
    return {
        item.code
        for item in known
        if item.stage == stage and item.person_id == person_id and item.status in statuses
    }


def _about(person_id: int | None) -> Any:
    """Items about the primary person (``None``) or about one family member."""
    if person_id is None:
        return col(ChecklistItem.person_id).is_(None)
    return ChecklistItem.person_id == person_id


def create_stage_items(session: Session, *, case: Case, stage: str, now: datetime) -> list[str]:
    """Create the catalog's items for ``stage`` that the case does not already have; the codes
    of those created (a child's items too)."""
    assert case.id is not None  # noqa: S101
    catalog = load_catalog(case.process_version)
    specs = catalog.items_for(stage, is_minor=case.is_minor, route=case.route)
    if not specs:
        return []  # e.g. lost contact: nothing to look up
    parts = participation.current(session, case)
    roles = participation.live_roles(session, case, parts)
    known = _known_items(session, case, stage)  # one read for the items, the children's too
    created = _insert_items(session, case, stage, specs, roles, now, known)
    children = _minor_dependant_ids(session, case)
    child_specs = _child_specs(case, stage) if children else []
    for child_id in children:
        created += _insert_items(session, case, stage, child_specs, roles, now, known, child_id)
    waiting_for = {i.partner_needed for i in known if i.status == ItemStatus.OPEN}
    participation.fill_waiting_roles(
        session, case=case, actor=None, now=now, parts=parts, waiting_for=waiting_for
    )
    return created


def _insert_items(
    session: Session,
    case: Case,
    stage: str,
    specs: list[ItemSpec],
    roles: dict[str, int],
    now: datetime,
    known: list[_Known],
    person_id: int | None = None,
) -> list[str]:
    """Insert the items of ``specs`` the case (or child) does not have yet (``known``: its
    items of the stage, to which those inserted are added), in one statement rather than one
    ORM object each (a stage move's cost is mostly the ORM's): the codes inserted. The rows
    are sealed at commit like those the ORM flushed."""
    if not specs:
        return []
    existing = _existing_codes(known, stage, person_id)
    rows: list[dict[str, Any]] = []
    for spec in specs:
        if spec.code in existing:
            continue
        minor = True if person_id is not None else None  # a child's items are a minor's
        owner, waits_for = owner_for(spec, case, roles, is_minor=minor)
        rows.append(
            {
                "case_id": case.id,
                "stage": stage,
                "code": spec.code,
                "title_key": spec.title_key,
                "owner_org_id": owner,
                "partner_needed": waits_for,
                "due_at": spec.due.apply(anchor_time(case, spec.due.anchor, now)),
                "blocking": spec.blocking,
                "status": ItemStatus.OPEN,
                "created_at": now,
                "person_id": person_id,
            }
        )
    if rows:
        session.flush()  # what the ORM holds goes first, as it would have
        made = dict(session.connection().execute(_INSERT, rows).tuples().all())  # code -> id
        # Sealed at commit from the values written (every column: ``complete``), not read back.
        full = complete(_ITEMS, rows)
        for row in full:
            row["id"] = made[str(row["code"])]
        seals.written(session, "checklist_item", full)
        known += [
            _Known(r["code"], stage, ItemStatus.OPEN, person_id, r["partner_needed"]) for r in rows
        ]
    return [str(row["code"]) for row in rows]


_ITEMS: Table = ChecklistItem.__table__  # type: ignore[attr-defined]
_INSERT = insert(_ITEMS).returning(_ITEMS.c.code, _ITEMS.c.id)  # one row a code


# A family case's children still on it (built once: a stage move asks for them each time).
_MINORS_ON_CASE = (
    col(CasePerson.case_id) == bindparam("case_id"),
    col(CasePerson.is_minor) == True,  # noqa: E712 (SQL expression)
    col(CasePerson.removed_at).is_(None),
)
_MINOR_DEPENDANTS = select(CasePerson).where(*_MINORS_ON_CASE).order_by(col(CasePerson.id))
_MINOR_DEPENDANT_IDS = (
    sql_select(col(CasePerson.id)).where(*_MINORS_ON_CASE).order_by(col(CasePerson.id))
)


def minor_dependants(session: Session, case: Case) -> list[CasePerson]:
    """The case's family members who are minors and not removed, in the order they were added."""
    return list(session.exec(_MINOR_DEPENDANTS, params={"case_id": case.id}))


def _minor_dependant_ids(session: Session, case: Case) -> list[int]:
    """``minor_dependants``' ids alone: no person's (encrypted) names loaded."""
    return list(session.execute(_MINOR_DEPENDANT_IDS, {"case_id": case.id}).scalars())


def _child_specs(case: Case, stage: str) -> list[ItemSpec]:
    """The minors-only items of ``stage``, which each child of a family case gets."""
    return [
        spec
        for spec in load_catalog(case.process_version).items_for(stage, is_minor=True)
        if spec.applies == "minors"
    ]


def create_person_items(
    session: Session, *, case: Case, person_id: int, stage: str, now: datetime
) -> list[str]:
    """Create the minors-only items of ``stage`` for a child of a family case (``person_id``),
    owned as the catalog says for minors, unless that child already has them; their codes."""
    assert case.id is not None  # noqa: S101
    specs = _child_specs(case, stage)
    if not specs:
        return []
    roles = participation.live_roles(session, case)
    known = _known_items(session, case, stage)
    return _insert_items(session, case, stage, specs, roles, now, known, person_id)


def cancel_person_items(session: Session, *, case: Case, person_id: int, now: datetime) -> int:
    """Cancel the open items about a family member who left the case; how many."""
    query = select(ChecklistItem).where(
        ChecklistItem.case_id == case.id,
        ChecklistItem.person_id == person_id,
        ChecklistItem.status == ItemStatus.OPEN,
    )
    items = list(session.exec(query))
    for item in items:
        item.status, item.completed_at = ItemStatus.CANCELLED, now
        _revoke_pending_handoffs(session, item, None, now)
    session.flush()
    return len(items)


# Built once (a stage move asks it each time): only the values change.
_OPEN_IN_STAGE = (
    select(ChecklistItem)
    .where(
        ChecklistItem.case_id == bindparam("case_id"),
        ChecklistItem.stage == bindparam("stage"),
        ChecklistItem.status == ItemStatus.OPEN,
    )
    .order_by(col(ChecklistItem.id))
)


def open_stage_items(session: Session, case: Case, stage: str) -> list[ChecklistItem]:
    """Every item of ``stage`` still open on ``case``, in the order they were made: a stage
    move reads them once, for its guard (the blocking ones) and for what it then cancels
    (``tasks.moves.cancel_left_behind``: the others)."""
    return list(session.exec(_OPEN_IN_STAGE, params={"case_id": case.id, "stage": stage}))


def open_blocking_items(session: Session, case: Case, stage: str) -> list[ChecklistItem]:
    """Blocking items of ``stage`` still open on ``case``."""
    return [item for item in open_stage_items(session, case, stage) if item.blocking]


def latest_item(
    session: Session, case: Case, code: str, person_id: int | None = None
) -> ChecklistItem | None:
    """The most recent item with ``code`` on ``case`` that was not cancelled, about the
    primary person (or, with ``person_id``, about that family member)."""
    query = select(ChecklistItem).where(
        ChecklistItem.case_id == case.id,
        ChecklistItem.code == code,
        ChecklistItem.status != ItemStatus.CANCELLED,
        _about(person_id),
    )
    return session.exec(query.order_by(col(ChecklistItem.id).desc())).first()


def item_is_done(
    session: Session,
    case: Case,
    code: str,
    outcome: str | None = None,
    person_id: int | None = None,
) -> bool:
    """Whether the latest ``code`` item is done (with ``outcome``, when given)."""
    item = latest_item(session, case, code, person_id)
    if item is None or item.status != ItemStatus.DONE:
        return False
    return outcome is None or item.outcome == outcome


def get_item(
    session: Session, item_id: int, *, for_update: bool = False
) -> tuple[ChecklistItem, Case]:
    """An item and its case; ``for_update`` locks the item's row until the transaction ends, as
    its update would (``FOR NO KEY UPDATE``: rows referencing it may still be inserted) on
    PostgreSQL; SQLite's write transactions are serialised already."""
    lock = {"key_share": True} if for_update else None
    item = session.get(ChecklistItem, item_id, with_for_update=lock)
    case = session.get(Case, item.case_id) if item else None
    if item is None or case is None:
        raise item_not_found(item_id)
    return item, case


def visible_item(
    session: Session, item_id: int, actor: StaffMember, *, for_update: bool = False
) -> tuple[ChecklistItem, Case]:
    """An item and its case, if the actor's organisation sees the case: otherwise the same
    "not found" as for an item that does not exist, naming neither the case nor its owner
    (row security hides both on PostgreSQL; on SQLite the row is read, then denied)."""
    item, case = get_item(session, item_id, for_update=for_update)
    if not can_see(session, actor, case):
        raise item_not_found(item_id)
    return item, case


def _open_item_for(
    session: Session,
    item_id: int,
    actor: StaffMember,
    expected_version: int | None = None,
    action: Action = Action.RECORD_OWN_ITEM,
) -> tuple[ChecklistItem, Case]:
    # locked: of two racing completions, one wins
    item, case = visible_item(session, item_id, actor, for_update=True)
    lock_case(session, case, expected_version, item)
    if item.status != ItemStatus.OPEN:
        raise Refused(f"item #{item_id} is already {item.status}")
    ensure_item(session, actor, action, case, item)
    return item, case


def lock_case(session: Session, case: Case, expected_version: int | None, *rows: object) -> None:
    """Bump the case's version before changing its items (``homeward.records.locking``), then read
    ``rows`` again: they may have been read before a change that committed just before ours."""
    bump(session, case, expected_version)
    for row in rows:
        session.refresh(row)


def _check_outcome(case: Case, item: ChecklistItem, outcome: str | None) -> str | None:
    spec = load_catalog(case.process_version).spec(item.code)
    if spec.outcomes and outcome not in spec.outcomes:
        raise InvalidInput(f"outcome: item {item.code} needs one of {', '.join(spec.outcomes)}")
    if not spec.outcomes and outcome:
        raise InvalidInput(f"outcome: item {item.code} takes no outcome; leave --outcome out")
    return outcome


def _protect(session: Session, case: Case, item: ChecklistItem, text: str, now: datetime) -> str:
    assert item.id is not None  # noqa: S101
    return vault.protect_text(
        session,
        case=case,
        table="checklist_item",
        column="note",
        row_id=item.id,
        text=text,
        now=now,
    )


def mark_done(
    session: Session,
    *,
    item_id: int,
    actor: StaffMember,
    now: datetime,
    outcome: str | None = None,
    note: str | None = None,
    expected_version: int | None = None,
) -> ChecklistItem:
    """Record an open item as done, by ``actor``, now."""
    item, case = _open_item_for(session, item_id, actor, expected_version)
    item.outcome = _check_outcome(case, item, outcome)
    item.status, item.completed_by_id, item.completed_at = ItemStatus.DONE, actor.id, now
    if note:
        item.note = _protect(session, case, item, note.strip(), now)
    _revoke_pending_handoffs(session, item, actor, now)
    record_event(
        session,
        case=case,
        trigger="item_done",
        at=now,
        actor=actor,
        data={"item_id": item.id, "code": item.code, "outcome": item.outcome},
    )
    return item


def mark_skipped(
    session: Session,
    *,
    item_id: int,
    actor: StaffMember,
    now: datetime,
    reason: str,
    expected_version: int | None = None,
) -> ChecklistItem:
    """Record an open item as skipped; a reason is required."""
    if len(reason.strip()) < SKIP_REASON_MIN:
        raise InvalidInput(f"reason: say why the item is skipped ({SKIP_REASON_MIN}+ characters)")
    item, case = _open_item_for(session, item_id, actor, expected_version)
    item.status, item.completed_by_id, item.completed_at = ItemStatus.SKIPPED, actor.id, now
    item.note = _protect(session, case, item, reason.strip(), now)
    _revoke_pending_handoffs(session, item, actor, now)
    record_event(
        session,
        case=case,
        trigger="item_skipped",
        at=now,
        actor=actor,
        data={"item_id": item.id, "code": item.code},
    )
    return item


def assign(
    session: Session,
    *,
    item_id: int,
    assignee: StaffMember,
    actor: StaffMember,
    now: datetime,
    expected_version: int | None = None,
) -> ChecklistItem:
    """Give an open item to one staff member of its owner organisation (reminders go to them)."""
    item, case = _open_item_for(session, item_id, actor, expected_version, Action.ASSIGN_OWN_ITEM)
    if assignee.org_id != item.owner_org_id or not assignee.active:
        raise Refused(
            f"{assignee.email} is not active staff of the organisation owning item "
            f"#{item_id}; hand the item off first"
        )
    item.assignee_id = assignee.id
    session.add(item)
    record_event(
        session,
        case=case,
        trigger="item_assigned",
        at=now,
        actor=actor,
        data={"item_id": item.id, "code": item.code},
    )
    return item


def cancel_open_items(
    session: Session, *, case: Case, actor: StaffMember | None, now: datetime
) -> list[ChecklistItem]:
    """Cancel every open item of ``case`` and revoke their pending handoffs."""
    query = select(ChecklistItem).where(
        ChecklistItem.case_id == case.id, ChecklistItem.status == ItemStatus.OPEN
    )
    items = list(session.exec(query))
    for item in items:
        item.status, item.completed_at = ItemStatus.CANCELLED, now
        _revoke_pending_handoffs(session, item, actor, now)
    session.flush()
    return items


def _revoke_pending_handoffs(
    session: Session, item: ChecklistItem, actor: StaffMember | None, now: datetime
) -> None:
    query = select(models.Handoff).where(
        models.Handoff.item_id == item.id, models.Handoff.status == HandoffStatus.PROPOSED
    )
    for handoff in session.exec(query):
        handoff.status, handoff.decided_at = HandoffStatus.REVOKED, now
        handoff.decided_by_id = actor.id if actor else None
