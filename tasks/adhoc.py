"""Ad-hoc items and appointments: work outside the catalog (a court hearing, a medical
appointment, a rebooked flight), moving an appointment and cancelling such an item.

An ad-hoc item is an ordinary ``ChecklistItem`` with code ``adhoc_<kind>`` (``ADHOC_KINDS``):
its title key renders a generic title per kind ("Court hearing") in emails, digests and lists;
an optional free title is encrypted under the case key (``checklist_item.title``) and read back
only through ``read_title`` (audited by the vault). It is never blocking, so it holds no stage
back, and gets the reminders, digests, escalation and handoffs of every item.

An appointment has a start (``starts_at``, UTC): a local day and time in the home zone
(``HOMEWARD_TIMEZONE``, Europe/Bucharest) or the case's host country's zone; it is due on
that day at that time. Rescheduling moves the start (and so the due date) with a reason; each
move, and a cancellation, is an ``ItemChange`` (kind ``rescheduled`` or ``cancelled``, reason
encrypted), so the history of an appointment counts its calendar sequence.

Who may:
- add: the case owner's steering staff (``Action.WORK_ANY_ITEM``: coordinators, supervisors)
  for the owner or any live participant; a live participant's staff who record its own items
  (``Action.RECORD_OWN_ITEM``) for their own organisation only;
- reschedule or cancel: as recording the item (the item's organisation, or the owner's
  steering staff), the same as moving a due date (``tasks.checklist_changes``).
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from homeward.base.clock import local_date, local_noon, utc
from homeward.base.errors import InvalidInput, Refused
from homeward.base.models import (
    ENDED,
    Case,
    ChecklistItem,
    ItemChange,
    ItemStatus,
    Organisation,
    StaffMember,
)
from homeward.base.settings import get_settings
from homeward.protection import vault
from homeward.protection.permissions import Action, allowed, permits_item
from homeward.records.audit import record_event
from tasks import participation
from tasks.catalog import ADHOC_KINDS, ADHOC_PREFIX, adhoc_spec
from tasks.checklist import lock_case
from tasks.checklist_changes import (
    MAX_DUE_AHEAD,
    checked_reason,
    item_for_change,
    record_change,
)

TITLE_MAX = 200
RESCHEDULED = "rescheduled"
CANCELLED = "cancelled"
ZONES = ("home", "host")
HOST_ZONES = {
    "AT": "Europe/Vienna",
    "BE": "Europe/Brussels",
    "CY": "Asia/Nicosia",
    "CZ": "Europe/Prague",
    "DE": "Europe/Berlin",
    "DK": "Europe/Copenhagen",
    "ES": "Europe/Madrid",
    "FR": "Europe/Paris",
    "GB": "Europe/London",
    "GR": "Europe/Athens",
    "HU": "Europe/Budapest",
    "IE": "Europe/Dublin",
    "IT": "Europe/Rome",
    "MD": "Europe/Chisinau",
    "NL": "Europe/Amsterdam",
    "NO": "Europe/Oslo",
    "PL": "Europe/Warsaw",
    "PT": "Europe/Lisbon",
    "RO": "Europe/Bucharest",
    "SE": "Europe/Stockholm",
    "TR": "Europe/Istanbul",
}
"""The time zone of a host country, for appointments there (an Italian court hearing)."""


def is_adhoc(item: ChecklistItem) -> bool:
    """Whether ``item`` was added outside the catalog."""
    return item.code.startswith(ADHOC_PREFIX)


def kind_of(item: ChecklistItem) -> str:
    """An ad-hoc item's kind (``court_hearing``)."""
    return item.code.removeprefix(ADHOC_PREFIX)


def zone_for(case: Case, zone: str) -> ZoneInfo:
    """The zone a local time is given in: ``home`` or ``host`` (the case's host country)."""
    if zone == "home":
        return get_settings().tz
    if zone == "host":
        name = HOST_ZONES.get(case.host_country)
        if name is None:
            raise InvalidInput(
                f"zone: the time zone of host country {case.host_country} is not known; "
                "give the time in the home zone (--zone home)"
            )
        return ZoneInfo(name)
    raise InvalidInput(f"zone: unknown; use one of {', '.join(ZONES)}")


def _checked_day(on: date, now: datetime) -> date:
    today = local_date(now)
    if on < today:
        raise InvalidInput(f"due: {on} is in the past; give today ({today}) or a later day")
    if on > today + MAX_DUE_AHEAD:
        raise InvalidInput(
            f"due: {on} is more than a year ahead; give a day up to {today + MAX_DUE_AHEAD}"
        )
    return on


def _moment(
    case: Case, on: date, at: time | None, zone: str, now: datetime
) -> tuple[datetime, datetime | None]:
    """(due_at, starts_at) for a day and an optional local time."""
    day = _checked_day(on, now)
    if at is None:
        return local_noon(day), None
    start = utc(datetime.combine(day, at, tzinfo=zone_for(case, zone)))
    if start <= now:
        raise InvalidInput(f"at: {day} {at:%H:%M} has passed; give a later time")
    return start, start


def _checked_title(title: str | None) -> str | None:
    if title is None or not title.strip():
        return None
    text = " ".join(title.split())
    if len(text) > TITLE_MAX:
        raise InvalidInput(f"title: at most {TITLE_MAX} characters (it has {len(text)})")
    return text


def _checked_kind(kind: str) -> str:
    if kind not in ADHOC_KINDS:
        raise InvalidInput(f"kind: unknown; use one of {', '.join(ADHOC_KINDS)}")
    return kind


def _may_add_for(session: Session, case: Case, actor: StaffMember, org_id: int) -> bool:
    org = session.get(Organisation, actor.org_id)
    assert org is not None  # noqa: S101
    if actor.org_id == case.owner_org_id and allowed(org.kind, actor.role, Action.WORK_ANY_ITEM):
        return True
    return actor.org_id == org_id and allowed(org.kind, actor.role, Action.RECORD_OWN_ITEM)


def owner_choices(session: Session, case: Case, actor: StaffMember) -> list[int]:
    """The organisations ``actor`` may add an item for on ``case`` (see the module)."""
    if case.status in ENDED:
        return []
    live = [case.owner_org_id]
    live += [o for o in participation.live_roles(session, case).values() if o not in live]
    return [org_id for org_id in live if _may_add_for(session, case, actor, org_id)]


def _owner_org(session: Session, case: Case, actor: StaffMember, owner: Organisation) -> None:
    """Refuse unless ``actor`` may add an item for ``owner`` on ``case`` (see the module)."""
    assert owner.id is not None  # noqa: S101
    live = set(participation.live_roles(session, case).values()) | {case.owner_org_id}
    if owner.id not in live:
        raise Refused(
            f"{owner.slug} takes no part in case {case.case_ref}; give the case owner or a "
            "live participant as --owner"
        )
    if _may_add_for(session, case, actor, owner.id):
        return
    raise Refused(
        f"{actor.email} cannot add items to case {case.case_ref} for {owner.slug}; ask a "
        "coordinator or supervisor of the case's owner, or staff of that organisation"
    )


def add_item(
    session: Session,
    *,
    case: Case,
    actor: StaffMember,
    kind: str,
    owner: Organisation,
    on: date,
    now: datetime,
    at: time | None = None,
    zone: str = "home",
    title: str | None = None,
    assignee: StaffMember | None = None,
    expected_version: int | None = None,
) -> ChecklistItem:
    """Add an ad-hoc item of ``kind`` to ``case`` (at its current stage), owned by ``owner``."""
    spec = adhoc_spec(_checked_kind(kind))
    text = _checked_title(title)
    if case.status in ENDED:
        raise Refused(f"case {case.case_ref} is {case.status}; it takes no new items")
    due_at, starts_at = _moment(case, on, at, zone, now)
    _owner_org(session, case, actor, owner)
    if assignee is not None and (assignee.org_id != owner.id or not assignee.active):
        raise InvalidInput(f"assignee: {assignee.email} is not active staff of {owner.slug}")
    lock_case(session, case, expected_version)
    assert case.id is not None and owner.id is not None  # noqa: S101
    item = ChecklistItem(
        case_id=case.id,
        stage=case.state,  # paused, the stage it kept: the item belongs to that work
        code=spec.code,
        title_key=spec.title_key,
        owner_org_id=owner.id,
        assignee_id=assignee.id if assignee else None,
        due_at=due_at,
        starts_at=starts_at,
        blocking=False,
        created_at=now,
    )
    session.add(item)
    session.flush()
    assert item.id is not None  # noqa: S101
    if text is not None:
        item.title = vault.protect_text(
            session,
            case=case,
            table="checklist_item",
            column="title",
            row_id=item.id,
            text=text,
            now=now,
        )
        session.add(item)
    record_event(
        session,
        case=case,
        trigger="item_added",
        at=now,
        actor=actor,
        data={
            "item_id": item.id,
            "code": item.code,
            "owner_org_id": owner.id,
            "due_on": local_date(due_at),
            "appointment": starts_at is not None,
        },
    )
    return item


def _adhoc_for_change(
    session: Session, item_id: int, actor: StaffMember, expected_version: int | None, what: str
) -> tuple[ChecklistItem, Case]:
    item, case = item_for_change(session, item_id, actor, expected_version)
    if not is_adhoc(item):
        raise Refused(
            f"cannot {what} item #{item_id} ({item.code}): only items added outside the "
            "catalog can; move a catalog item's due date with `homeward items due`"
        )
    if case.status in ENDED or item.status != ItemStatus.OPEN:
        raise Refused(
            f"cannot {what} item #{item_id} ({item.code}): it is {item.status}; only open "
            "items of an open case can"
        )
    return item, case


def reschedule(
    session: Session,
    *,
    item_id: int,
    actor: StaffMember,
    on: date,
    reason: str,
    now: datetime,
    at: time | None = None,
    zone: str = "home",
    expected_version: int | None = None,
) -> ChecklistItem:
    """Move an open ad-hoc item to the day ``on`` (and, for an appointment, the local time
    ``at``; an appointment keeps its time of day when ``at`` is left out), with a reason."""
    text = checked_reason(reason, "item is rescheduled")
    item, case = _adhoc_for_change(session, item_id, actor, expected_version, "reschedule")
    if at is None and item.starts_at is not None:
        tz = zone_for(case, zone)
        at = utc(item.starts_at).astimezone(tz).time().replace(tzinfo=None)
    due_at, starts_at = _moment(case, on, at, zone, now)
    if due_at == item.due_at and starts_at == (utc(item.starts_at) if item.starts_at else None):
        raise InvalidInput("due: the item is already due then; give another day or time")
    due_before = item.due_at
    item.due_at, item.starts_at, item.escalated_at = due_at, starts_at, None
    session.add(item)
    record_change(
        session,
        case=case,
        item=item,
        kind=RESCHEDULED,
        actor=actor,
        reason=text,
        due_before=due_before,
        status_before=ItemStatus.OPEN,
        now=now,
    )
    return item


def cancel(
    session: Session,
    *,
    item_id: int,
    actor: StaffMember,
    reason: str,
    now: datetime,
    expected_version: int | None = None,
) -> ChecklistItem:
    """Cancel an open ad-hoc item (the hearing was called off), with a reason."""
    text = checked_reason(reason, "item is cancelled")
    item, case = _adhoc_for_change(session, item_id, actor, expected_version, "cancel")
    item.status, item.escalated_at = ItemStatus.CANCELLED, None
    item.completed_by_id, item.completed_at = actor.id, now
    session.add(item)
    record_change(
        session,
        case=case,
        item=item,
        kind=CANCELLED,
        actor=actor,
        reason=text,
        due_before=item.due_at,
        status_before=ItemStatus.OPEN,
        now=now,
    )
    return item


def sequence(session: Session, item: ChecklistItem) -> int:
    """How many times an appointment changed (reschedules and its cancellation): the
    iCalendar ``SEQUENCE`` of its invitation."""
    query = select(func.count()).where(
        ItemChange.item_id == item.id, col(ItemChange.kind).in_([RESCHEDULED, CANCELLED])
    )
    return int(session.exec(query).one())


def adhoc_items(session: Session, case: Case) -> list[ChecklistItem]:
    """A case's ad-hoc items, soonest first (the caller checked the case is visible)."""
    query = select(ChecklistItem).where(
        ChecklistItem.case_id == case.id, col(ChecklistItem.code).startswith(ADHOC_PREFIX)
    )
    return list(session.exec(query.order_by(col(ChecklistItem.due_at), col(ChecklistItem.id))))


def may_read_title(session: Session, case: Case, item: ChecklistItem, actor: StaffMember) -> bool:
    """Whether ``actor`` may read the item's free title (as a note of the item)."""
    return vault.may_read_text(session, case=case, actor=actor, parties=(item.owner_org_id,))


def read_title(
    session: Session, case: Case, item: ChecklistItem, actor: StaffMember, now: datetime
) -> str | None:
    """The item's free title for someone who may read it (audited), else None."""
    if item.title is None or item.id is None or not may_read_title(session, case, item, actor):
        return None
    return vault.reveal_text(
        session,
        case=case,
        table="checklist_item",
        column="title",
        row_id=item.id,
        stored=item.title,
        actor=actor,
        now=now,
        parties=(item.owner_org_id,),
    )


def may_change(session: Session, actor: StaffMember, case: Case, item: ChecklistItem) -> bool:
    """Whether ``actor`` may reschedule or cancel ``item`` (a page offers only what it may)."""
    return permits_item(session, actor, Action.RECORD_OWN_ITEM, case, item)
