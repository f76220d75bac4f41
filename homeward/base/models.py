"""All tables, in one module (as in fastapi's full-stack template).

Personal data lives only in ``Beneficiary``; every other table identifies a person's case by its
random ``case_ref`` and holds codes, dates and organisation ids, never a name or a story.
States and kinds are plain strings (``String(32)``), checked against the enums below in code.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy import case as sql_case
from sqlalchemy.engine import Dialect
from sqlmodel import Column, Field, SQLModel
from sqlmodel._compat import SQLModelConfig  # SQLModel's own config type


class AwareDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which stores naive text) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Homeward stores aware UTC datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Default for created-at columns."""
    return datetime.now(UTC)


def _when(nullable: bool = False) -> Any:
    return Field(default=None, sa_type=AwareDateTime, nullable=nullable)


class OrgKind(StrEnum):
    IOM_MISSION = "iom_mission"
    CONSULATE = "consulate"
    NGO = "ngo"
    DGASPC = "dgaspc"
    ANITP = "anitp"
    POLICE = "police"


class StaffRole(StrEnum):
    """A staff member's one role. The administrators keep the directory and do no casework:
    ``admin`` its own organisation's staff and mailbox, ``platform_admin`` every organisation's
    (``homeward.protection.administrators``)."""

    COORDINATOR = "coordinator"
    CASEWORKER = "caseworker"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"
    ADMIN = "admin"
    PLATFORM_ADMIN = "platform_admin"


class ItemStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class CaseStatus(StrEnum):
    """Whether a case is being worked, kept apart from its stage (issue 16 point 0).

    A suspended case, or one that lost contact, keeps the stage it was in and takes it up again
    when it resumes; one whose consent was withdrawn or that closed keeps the stage it ended in.
    """

    ACTIVE = "active"
    SUSPENDED = "suspended"  # for the person's safety, until a new risk assessment
    LOST_CONTACT = "lost_contact"
    CONSENT_WITHDRAWN = "consent_withdrawn"  # processing stopped; only closure follows
    CLOSED = "closed"


PAUSED = frozenset({CaseStatus.SUSPENDED, CaseStatus.LOST_CONTACT})
"""Statuses a case comes back from to the stage it kept."""
ENDED = frozenset({CaseStatus.CONSENT_WITHDRAWN, CaseStatus.CLOSED})
"""Statuses in which no work is done on the case any more."""
OPEN_STATUSES = (CaseStatus.ACTIVE, *sorted(PAUSED))
"""A case is open (counted in caseloads, owed reminders once active) in these statuses."""


class ItemChangeKind(StrEnum):
    REOPENED = "reopened"
    DUE_CHANGED = "due_changed"


class HandoffStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    REVOKED = "revoked"


class ParticipantRole(StrEnum):
    """The part an organisation plays in one case; one organisation per part.

    s_iom: the IOM mission in the country where the person was identified; cons: the Romanian
    embassy or consulate there; r_iom: IOM Romania, receiving; ngo: the partner NGO at home;
    dgaspc: the county child-protection directorate (minors); anitp: the national
    anti-trafficking agency; le: police or prosecutors.
    """

    S_IOM = "s_iom"  # IOM mission in the destination (host) country
    CONS = "cons"  # Romanian embassy / consulate
    R_IOM = "r_iom"  # IOM Romania, the receiving mission
    NGO = "ngo"  # partner NGO at home
    DGASPC = "dgaspc"  # county child-protection directorate (minors)
    ANITP = "anitp"  # national anti-trafficking agency
    LE = "le"  # police / prosecutors


class ParticipantStatus(StrEnum):
    """Where an organisation's part in one case stands (``tasks.participation``)."""

    LIVE = "live"  # takes part: gets its items, sees the case
    PENDING_CONSENT = "pending_consent"  # named, but the person has not consented to sharing
    ENDED = "ended"  # sharing consent withdrawn: kept for history, sees nothing


PARTICIPANT_KINDS: dict[ParticipantRole, OrgKind] = {
    ParticipantRole.S_IOM: OrgKind.IOM_MISSION,
    ParticipantRole.CONS: OrgKind.CONSULATE,
    ParticipantRole.R_IOM: OrgKind.IOM_MISSION,
    ParticipantRole.NGO: OrgKind.NGO,
    ParticipantRole.DGASPC: OrgKind.DGASPC,
    ParticipantRole.ANITP: OrgKind.ANITP,
    ParticipantRole.LE: OrgKind.POLICE,
}


class TableModel(SQLModel):
    """The base of every table class. Its pydantic validator and serializer are built when first
    used, not when the class is defined: rows read from the database are never validated, and
    building them for every table at import was about a tenth of a command's start-up (issue 19;
    tests/cli/test_imports.py checks none is built by a read)."""

    model_config = SQLModelConfig(defer_build=True)


class Organisation(TableModel, table=True):
    """An organisation taking part in returns: IOM missions, consulates, NGOs, agencies."""

    __tablename__ = "organisation"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_type=String(40), unique=True, index=True)
    name: str = Field(sa_type=String(200))
    # The name's Romanian genitive-dative form ("Asociației ADPARE"), for emails that say whose
    # items they list; None: they name it after a declined noun ("organizației ADPARE").
    name_genitive: str | None = Field(default=None, sa_type=String(200))
    kind: str = Field(sa_type=String(32))
    country: str = Field(sa_type=String(2))
    email: str | None = Field(default=None, sa_type=String(254))
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class StaffMember(TableModel, table=True):
    """A person working for an organisation, who acts on cases and receives reminders."""

    __tablename__ = "staff_member"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(sa_type=String(200))
    email: str = Field(sa_type=String(254), unique=True, index=True)
    role: str = Field(sa_type=String(32))
    language: str = Field(default="en", sa_type=String(8))
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


_case_version = Column("version", Integer, nullable=False, default=1)


class Case(TableModel, table=True):
    """One assisted return. ``state`` is its stage, ``status`` whether it is being worked
    (``CaseStatus``); ``phase`` says both in one word, as the history and reports do. The row
    is wrapped, never the machine model.

    ``version`` is SQLAlchemy's optimistic lock: a write based on a stale read fails whole.
    """

    __tablename__ = "return_case"
    __mapper_args__ = {"version_id_col": _case_version}  # noqa: RUF012

    id: int | None = Field(default=None, primary_key=True)
    case_ref: str = Field(sa_type=String(16), unique=True, index=True)
    state: str = Field(sa_type=String(32), index=True)
    status: str = Field(
        default=CaseStatus.ACTIVE,
        sa_type=String(20),
        index=True,
        sa_column_kwargs={"server_default": CaseStatus.ACTIVE.value},
    )
    # when the case last changed phase: entered its stage, or its status if not active
    stage_entered_at: datetime = Field(sa_type=AwareDateTime)
    process_version: str = Field(sa_type=String(16))
    is_minor: bool = False
    owner_org_id: int = Field(foreign_key="organisation.id", index=True)
    host_country: str = Field(sa_type=String(2))
    destination_country: str = Field(default="RO", sa_type=String(2))
    # ``return`` (identified abroad, travels home) or ``internal`` (identified in Romania: no
    # travel stages); ``destination_county`` an ISO 3166-2 code (RO-CJ), for service providers.
    route: str = Field(
        default="return", sa_type=String(16), sa_column_kwargs={"server_default": "return"}
    )
    destination_county: str | None = Field(default=None, sa_type=String(6))
    opened_at: datetime = Field(sa_type=AwareDateTime)
    closed_at: datetime | None = _when(nullable=True)
    consent_method: str | None = Field(default=None, sa_type=String(16))
    consent_language: str | None = Field(default=None, sa_type=String(8))
    interpreter_used: bool = False
    travel_doc_kind: str | None = Field(default=None, sa_type=String(32))
    travel_doc_issued_on: date | None = None
    travel_doc_expires_on: date | None = None
    departure_on: date | None = None
    arrival_on: date | None = None
    closure_reason: str | None = Field(default=None, sa_type=String(32))
    closure_approved_by_id: int | None = Field(default=None, foreign_key="staff_member.id")
    legal_hold: bool = False
    purged_at: datetime | None = _when(nullable=True)
    version: int = Field(default=1, sa_column=_case_version)

    @property
    def phase(self) -> str:
        """The stage while the case is active, otherwise its status: what the case's history
        (``from_state``/``to_state``), its timeline and the caseload report call its state."""
        return self.state if self.status == CaseStatus.ACTIVE else self.status


def phase_column() -> Any:
    """``Case.phase`` as an SQL expression, to group or filter cases by it."""
    return sql_case((Case.status == CaseStatus.ACTIVE, Case.state), else_=Case.status)  # type: ignore[arg-type]


_NOT_ENDED = text("status != 'ended'")
# One current organisation per role. Its PostgreSQL form (``postgresql_where``) is added by
# ``with_postgresql_options`` when a PostgreSQL engine is made: naming it here would import
# SQLAlchemy's PostgreSQL dialect into every command run on SQLite (issue 19).
_CURRENT_ROLE = Index(
    "uq_case_participant_current_role", "case_id", "role", unique=True, sqlite_where=_NOT_ENDED
)


def with_postgresql_options() -> None:
    """Give the models their PostgreSQL-only index options (idempotent)."""
    _CURRENT_ROLE.dialect_kwargs["postgresql_where"] = _NOT_ENDED


class CaseParticipant(TableModel, table=True):
    """Which organisation plays which part (``ParticipantRole``) in a case, and whether it
    takes part yet (``ParticipantStatus``): one current (not ended) organisation per role."""

    __tablename__ = "case_participant"
    __table_args__ = (_CURRENT_ROLE,)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    role: str = Field(sa_type=String(16))
    org_id: int = Field(foreign_key="organisation.id", index=True)
    status: str = Field(
        default=ParticipantStatus.LIVE,
        sa_type=String(16),
        sa_column_kwargs={"server_default": ParticipantStatus.LIVE.value},
    )


class Beneficiary(TableModel, table=True):
    """The person's identity and story: every field AES-GCM encrypted under the case's data key.

    Read and written only through ``homeward.protection.vault``; ``match_index`` is a keyed HMAC of
    the
    normalised name and birth date, to spot a possible duplicate without decrypting.
    """

    __tablename__ = "beneficiary"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", unique=True)
    given_name: str | None = Field(default=None, sa_type=Text)
    family_name: str | None = Field(default=None, sa_type=Text)
    birth_date: str | None = Field(default=None, sa_type=Text)
    sex: str | None = Field(default=None, sa_type=Text)
    phone: str | None = Field(default=None, sa_type=Text)
    home_address: str | None = Field(default=None, sa_type=Text)
    notes: str | None = Field(default=None, sa_type=Text)
    exploitation_form: str | None = Field(default=None, sa_type=Text)
    match_index: str | None = Field(default=None, sa_type=String(64), index=True)
    # A keyed blind index of the normalised full name alone, for finding a case by name.
    name_index: str | None = Field(default=None, sa_type=String(64), index=True)


class ChecklistItem(TableModel, table=True):
    """A dated piece of work in a stage, owned by one organisation."""

    __tablename__ = "checklist_item"
    __table_args__ = (
        Index("ix_checklist_item_open_due", "status", "due_at"),
        # My work: an organisation's and a person's open items, soonest due first (0016).
        Index("ix_checklist_item_owner_open", "owner_org_id", "status", "due_at"),
        Index("ix_checklist_item_assignee_open", "assignee_id", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    stage: str = Field(sa_type=String(32))
    code: str = Field(sa_type=String(64))
    title_key: str = Field(sa_type=String(96))
    owner_org_id: int = Field(foreign_key="organisation.id", index=True)
    assignee_id: int | None = Field(default=None, foreign_key="staff_member.id")
    due_at: datetime = Field(sa_type=AwareDateTime)
    blocking: bool = True
    status: str = Field(default=ItemStatus.OPEN, sa_type=String(16))
    outcome: str | None = Field(default=None, sa_type=String(64))
    completed_by_id: int | None = Field(default=None, foreign_key="staff_member.id")
    completed_at: datetime | None = _when(nullable=True)
    note: str | None = Field(default=None, sa_type=Text)  # encrypted (homeward.protection.vault)
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    escalated_at: datetime | None = _when(nullable=True)
    # The participant role this item waits for while the case owner holds it (no partner
    # with sharing consent yet, or the partner's consent was withdrawn).
    partner_needed: str | None = Field(default=None, sa_type=String(16))
    # An ad-hoc item (a court hearing, a medical appointment): its own title, encrypted, and
    # the appointment's start; catalog items leave both empty.
    title: str | None = Field(default=None, sa_type=Text)  # encrypted (homeward.protection.vault)
    starts_at: datetime | None = _when(nullable=True)
    # The family member (``case_person.id``) an item is about (a child's best-interests
    # assessment), if not the case's primary person. No foreign key (migration 0017).
    person_id: int | None = None


class Handoff(TableModel, table=True):
    """A checklist item (or a whole case at a stage) handed from one organisation to another."""

    __tablename__ = "handoff"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    item_id: int | None = Field(default=None, foreign_key="checklist_item.id", index=True)
    stage: str = Field(sa_type=String(32))
    from_org_id: int = Field(foreign_key="organisation.id")
    to_org_id: int = Field(foreign_key="organisation.id", index=True)
    status: str = Field(default=HandoffStatus.PROPOSED, sa_type=String(16))
    reason: str | None = Field(default=None, sa_type=Text)  # encrypted (homeward.protection.vault)
    proposed_by_id: int = Field(foreign_key="staff_member.id")
    proposed_at: datetime = Field(sa_type=AwareDateTime)
    decided_by_id: int | None = Field(default=None, foreign_key="staff_member.id")
    decided_at: datetime | None = _when(nullable=True)


class ItemChange(TableModel, table=True):
    """A checklist item reopened or its due date moved: who, when, and why (the reason is free
    text, so it is stored encrypted; events name only the change's id)."""

    __tablename__ = "item_change"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    item_id: int = Field(foreign_key="checklist_item.id", index=True)
    kind: str = Field(sa_type=String(16))  # ItemChangeKind
    actor_id: int = Field(foreign_key="staff_member.id")
    at: datetime = Field(sa_type=AwareDateTime)
    status_before: str = Field(sa_type=String(16))
    due_before: datetime = Field(sa_type=AwareDateTime)
    due_after: datetime = Field(sa_type=AwareDateTime)
    reason: str | None = Field(default=None, sa_type=Text)  # encrypted (homeward.protection.vault)


class CaseEvent(TableModel, table=True):
    """Append-only history of a case: every transition, item change and handoff decision."""

    __tablename__ = "case_event"
    # My work: the cases with a closure request, without reading every event (0016).
    __table_args__ = (Index("ix_case_event_trigger", "trigger", "case_id"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    actor_id: int | None = Field(default=None, foreign_key="staff_member.id")
    at: datetime = Field(sa_type=AwareDateTime)
    trigger: str = Field(sa_type=String(64))
    from_state: str | None = Field(default=None, sa_type=String(32))
    to_state: str | None = Field(default=None, sa_type=String(32))
    reason: str | None = Field(default=None, sa_type=String(500))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # How the actor proved who they were (``homeward.protection.identity``): "session 3f9c2a1b",
    # "run 1c7e... for session 3f9c2a1b", "service scheduler". Never an email or a name.
    proof: str | None = Field(default=None, sa_type=String(120))


class CaseKey(TableModel, table=True):
    """A case's data key, wrapped by a master key; deleting ``wrapped`` crypto-shreds the case."""

    __tablename__ = "case_key"

    case_id: int = Field(foreign_key="return_case.id", primary_key=True)
    master_key_id: str = Field(sa_type=String(32), index=True)
    wrapped: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: datetime = Field(sa_type=AwareDateTime)
    destroyed_at: datetime | None = _when(nullable=True)


class ConsentPurpose(StrEnum):
    RETURN = "return"
    DATA_PROCESSING = "data_processing"
    SHARING = "sharing"  # sharing with one named organisation


class Consent(TableModel, table=True):
    """One consent of the person, per purpose (and per organisation for sharing)."""

    __tablename__ = "consent"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    purpose: str = Field(sa_type=String(32))
    org_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    method: str = Field(sa_type=String(16))
    language: str = Field(sa_type=String(8))
    interpreter: bool = False
    given_on: date
    recorded_by_id: int = Field(foreign_key="staff_member.id")
    recorded_at: datetime = Field(sa_type=AwareDateTime)
    withdrawn_on: date | None = None
    withdrawn_by_id: int | None = Field(default=None, foreign_key="staff_member.id")
    # A minor's consent: the capacity of the guardian or legal representative who gave it
    # (``homeward.protection.consent.RepresentativeCapacity``), a code; never their name.
    representative: str | None = Field(default=None, sa_type=String(32))


class AuditEntry(TableModel, table=True):
    """Who did or read what, when: field names only, never values; HMAC-chained row to row."""

    __tablename__ = "audit_entry"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(sa_type=AwareDateTime)
    actor_id: int | None = Field(default=None, foreign_key="staff_member.id")
    action: str = Field(sa_type=String(48))
    case_ref: str | None = Field(default=None, sa_type=String(16), index=True)
    fields: str = Field(default="", sa_type=String(500))
    prev_mac: str = Field(sa_type=String(64))
    mac: str = Field(sa_type=String(64))


class AuditHead(TableModel, table=True):
    """The chain's last link (one row): catches deletion of the newest entries.

    It also sums up the row seals (``RowSeal``): their count and the XOR of their MACs, so a
    row deleted with its seal, or an older row put back with its older seal, shows. ``mac``
    (keyed, ``homeward.records.seals``) covers all four, so none can be edited to match."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_id: int = 0
    last_mac: str = Field(default="0" * 64, sa_type=String(64))
    seal_count: int = 0
    seal_state: str = Field(default="0" * 64, sa_type=String(64))
    mac: str | None = Field(default=None, sa_type=String(64))


class RowSeal(TableModel, table=True):
    """A keyed MAC of one case-data row as Homeward last wrote it (``homeward.records.seals``).

    It binds the row's every column (ciphertexts included) to its table, row id, case id and
    ``version`` (bumped at each change), so an edit, a swap between rows or cases, a nulled
    field or a replayed older value shows; a row without a seal was inserted behind
    Homeward's back, a seal without a row marks a deletion."""

    __tablename__ = "row_seal"

    tbl: str = Field(primary_key=True, sa_type=String(32))
    row_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    case_id: int = Field(index=True)
    version: int = 1
    mac: str = Field(sa_type=String(64))


class OutboxStatus(StrEnum):
    """Where an email is in the outbox. ``sending`` is a lease: a crashed sender's rows return."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    DROPPED = "dropped"  # not sent on purpose: ``last_error`` says why (e.g. consent withdrawn)


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class OutboxMessage(TableModel, table=True):
    """An email, first written as a row in the transaction of the change that caused it.

    ``key`` makes queuing idempotent (rule + item + due date, or recipient + digest day).
    ``context`` holds only the template's allow-listed fields (case_ref, stage, item title,
    organisation names, dates, a link): never personal data. The sender drains the rows.
    ``org_id``: the recipients' organisation, whose working days, hours and time zone decide
    when mail that can wait goes (``notifications.urgency``); none: the home country's.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_type=String(200), unique=True, index=True)
    template: str = Field(sa_type=String(64))
    language: str = Field(sa_type=String(8))
    to_addrs: list[str] = _json_list()
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    message_id: str = Field(sa_type=String(255))
    status: str = Field(default=OutboxStatus.QUEUED, sa_type=String(32))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=AwareDateTime)
    created_at: datetime = Field(sa_type=AwareDateTime)
    sent_at: datetime | None = _when(nullable=True)
    last_error: str | None = Field(default=None, sa_type=String(500))
    org_id: int | None = Field(default=None, foreign_key="organisation.id")


class RecipientStatus(StrEnum):
    """Where one recipient of an email is: each is delivered, refused or retried on its own."""

    PENDING = "pending"  # not tried yet (or queued again by ``homeward mail retry``)
    DEFERRED = "deferred"  # a temporary (4xx) answer: tried again at ``next_attempt_at``
    DELIVERED = "delivered"  # the server accepted the message for this address
    DEAD = "dead"  # refused for good (5xx), or given up after the last attempt
    DROPPED = "dropped"  # not sent on purpose (e.g. sharing consent withdrawn): ``reply`` says why
    REDIRECTED = "redirected"  # was dead; sent to ``redirected_to`` instead


class OutboxRecipient(TableModel, table=True):
    """One recipient of one outbox message: the server's last answer for that address (code
    and text) and its own attempts and next attempt, so a refusal of one recipient neither
    hides behind the others' delivery nor resends to them. Staff addresses only."""

    __tablename__ = "outbox_recipient"
    __table_args__ = (
        UniqueConstraint("message_id", "address"),
        Index("ix_outbox_recipient_status", "status", "message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="outbox_message.id", ondelete="CASCADE")
    address: str = Field(sa_type=String(254))
    status: str = Field(default=RecipientStatus.PENDING, sa_type=String(32))
    code: int | None = None  # the server's reply code (250, 451, 550), None before any answer
    reply: str | None = Field(default=None, sa_type=String(500))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=AwareDateTime)
    updated_at: datetime = Field(sa_type=AwareDateTime)
    redirected_to: str | None = Field(default=None, sa_type=String(254))


class Reminder(TableModel, table=True):
    """One reminder rule fired for one checklist item and due date; the unique key keeps it
    from firing twice (a changed due date is a new obligation and may fire again)."""

    __tablename__ = "reminder"
    __table_args__ = (UniqueConstraint("item_id", "rule", "due_on"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="checklist_item.id", index=True, ondelete="CASCADE")
    rule: str = Field(sa_type=String(32))
    due_on: date
    fired_at: datetime = Field(sa_type=AwareDateTime)


class CalendarEntry(TableModel, table=True):
    """What one attendee's calendar was last sent about one checklist item (a follow-up visit
    or an appointment): its start, its ``SEQUENCE`` and whether that was a cancellation.

    ``notifications.invitations`` compares it with what the item says now and sends the
    difference (an update with a higher sequence, or a cancellation), so an item keeps one
    ``uid`` for its whole life. Mail bookkeeping: a staff or organisation address, never a
    person's details."""

    __tablename__ = "calendar_entry"
    __table_args__ = (UniqueConstraint("item_id", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="checklist_item.id", index=True, ondelete="CASCADE")
    address: str = Field(sa_type=String(254))
    language: str = Field(sa_type=String(8))
    tzid: str = Field(sa_type=String(64))
    uid: str = Field(sa_type=String(120))
    sequence: int = 0
    starts_at: datetime = Field(sa_type=AwareDateTime)
    cancelled: bool = False
    sent_at: datetime = Field(sa_type=AwareDateTime)


class ReminderRun(TableModel, table=True):
    """The daily reminder run for one local day: digests go out once a day, at the digest hour.

    Claimed at ``ran_at``, committed in batches (``heartbeat_at``: when the last one was), and
    done at ``finished_at``; a run silent too long is taken over (``notifications.reminders``).
    """

    __tablename__ = "reminder_run"

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(unique=True)
    ran_at: datetime = Field(sa_type=AwareDateTime)
    heartbeat_at: datetime | None = Field(default=None, sa_type=AwareDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=AwareDateTime)
    coming_due: int = 0
    due_today: int = 0
    overdue: int = 0
    escalated: int = 0
    queued: int = 0


class Programme(TableModel, table=True):
    """A funded programme (a grant): its donor, its period and the organisation running it."""

    __tablename__ = "programme"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_type=String(40), unique=True, index=True)
    name: str = Field(sa_type=String(200))
    donor: str = Field(sa_type=String(200))
    org_id: int = Field(foreign_key="organisation.id", index=True)
    starts_on: date
    ends_on: date
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class ProgrammeTarget(TableModel, table=True):
    """A programme's target for one indicator (``homeward.reporting.indicators.INDICATORS``)."""

    __tablename__ = "programme_target"
    __table_args__ = (UniqueConstraint("programme_id", "indicator"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id", index=True)
    indicator: str = Field(sa_type=String(32))
    target: int


class Enrolment(TableModel, table=True):
    """A case counted towards a programme."""

    __tablename__ = "enrolment"
    __table_args__ = (UniqueConstraint("programme_id", "case_id"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id", index=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    enrolled_on: date
    enrolled_by_id: int | None = Field(default=None, foreign_key="staff_member.id")


class ImportedCase(TableModel, table=True):
    """Which row of an organisation's spreadsheet became which case: makes imports idempotent.

    ``external_id`` is the organisation's own reference for the row (never a name).
    """

    __tablename__ = "imported_case"
    __table_args__ = (UniqueConstraint("org_id", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    external_id: str = Field(sa_type=String(64))
    case_id: int = Field(foreign_key="return_case.id", index=True)
    imported_at: datetime = Field(sa_type=AwareDateTime)


class RequestKey(TableModel, table=True):
    """A request's idempotency key, claimed in the transaction of the change it names
    (``homeward.records.idempotency``): a retry with the key returns ``result`` instead of
    acting again.

    ``fingerprint`` is a hash of the command, the actor and the request's non-personal
    arguments; ``result`` holds codes and ids only (case_ref, stage, item and handoff ids).
    """

    __tablename__ = "request_key"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_type=String(100), unique=True, index=True)
    command: str = Field(sa_type=String(48))
    fingerprint: str = Field(sa_type=String(64))
    actor_id: int | None = Field(default=None, foreign_key="staff_member.id")
    case_id: int | None = Field(default=None, foreign_key="return_case.id", index=True)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=AwareDateTime)


class LoginChallenge(TableModel, table=True):
    """A one-time sign-in code sent to a staff member's email: only its keyed hash is kept.

    Short-lived, single use, a few wrong tries at most (``homeward.protection.identity``)."""

    __tablename__ = "login_challenge"

    id: str = Field(primary_key=True, sa_type=String(32))
    staff_id: int = Field(foreign_key="staff_member.id", index=True)
    code_hash: str = Field(sa_type=String(64))
    created_at: datetime = Field(sa_type=AwareDateTime, index=True)
    expires_at: datetime = Field(sa_type=AwareDateTime)
    attempts: int = 0
    used_at: datetime | None = _when(nullable=True)
    channel: str = Field(default="cli", sa_type=String(16))


class LoginRequest(TableModel, table=True):
    """A sign-in code asked for, to a staff address or not: a keyed hash of the address only.

    The hourly limit counts these, so it treats every address alike and does not tell who is
    staff; rows older than an hour are deleted as new ones come (``homeward.protection.identity``).
    """

    __tablename__ = "login_request"

    id: int | None = Field(default=None, primary_key=True)
    address_tag: str = Field(sa_type=String(64), index=True)
    at: datetime = Field(sa_type=AwareDateTime, index=True)


class StaffSession(TableModel, table=True):
    """A signed-in staff member: the token's hash (never the token), its expiry and revocation."""

    __tablename__ = "staff_session"

    id: str = Field(primary_key=True, sa_type=String(32))
    staff_id: int = Field(foreign_key="staff_member.id", index=True)
    token_hash: str = Field(sa_type=String(64), unique=True, index=True)
    label: str = Field(default="", sa_type=String(80))
    created_at: datetime = Field(sa_type=AwareDateTime)
    expires_at: datetime = Field(sa_type=AwareDateTime)
    revoked_at: datetime | None = _when(nullable=True)


class RunGrant(TableModel, table=True):
    """A signed assertion issued to a signed-in staff member for one Prefect run of one flow.

    The run that first presents it binds it (``flow_run_id``); any other run is refused."""

    __tablename__ = "run_grant"

    id: str = Field(primary_key=True, sa_type=String(32))
    session_id: str = Field(foreign_key="staff_session.id", index=True)
    staff_id: int = Field(foreign_key="staff_member.id")
    flow: str = Field(sa_type=String(64))
    issued_at: datetime = Field(sa_type=AwareDateTime)
    expires_at: datetime = Field(sa_type=AwareDateTime)
    flow_run_id: str | None = Field(default=None, sa_type=String(40))


class KeyringBinding(TableModel, table=True):
    """The one keyring this database is sealed with: its fingerprint (never a key).

    One row, written with the database's first write; the app role may insert it, never
    change it (``homeward.crypt.binding``)."""

    __tablename__ = "keyring_binding"

    id: int = Field(default=1, primary_key=True)
    fingerprint: str = Field(sa_type=String(64))
    bound_at: datetime = Field(sa_type=AwareDateTime)


# --- casework depth (issue 16, migration 0017) ------------------------------------------------
# Every table below but ``provider_service`` is case data: row security shows a row to the
# organisations that see its case, each row is sealed (``homeward.records.seals``) and its
# free text is encrypted under the case's key (``homeward.protection.vault``) and destroyed
# by the purge (``homeward.protection.retention``).


class ReintegrationPlan(TableModel, table=True):
    """One version of a case's reintegration plan: drafted, submitted, approved by a supervisor
    of the owner organisation (not who submitted it), superseded by the next version."""

    __tablename__ = "reintegration_plan"
    __table_args__ = (UniqueConstraint("case_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    version: int
    status: str = Field(sa_type=String(16))  # draft, submitted, approved, rejected, superseded
    summary: str | None = Field(default=None, sa_type=Text)  # encrypted
    created_by_id: int = Field(foreign_key="staff_member.id")
    created_at: datetime = Field(sa_type=AwareDateTime)
    submitted_by_id: int | None = Field(default=None, foreign_key="staff_member.id")
    submitted_at: datetime | None = _when(nullable=True)
    decided_by_id: int | None = Field(default=None, foreign_key="staff_member.id")
    decided_at: datetime | None = _when(nullable=True)
    decision_note: str | None = Field(default=None, sa_type=Text)  # encrypted
    review_due_on: date | None = None


class PlanGoal(TableModel, table=True):
    """A goal of a plan version, on one sustainability dimension."""

    __tablename__ = "plan_goal"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    plan_id: int = Field(foreign_key="reintegration_plan.id", index=True)
    dimension: str = Field(sa_type=String(16))  # economic, social, psychosocial
    text: str | None = Field(default=None, sa_type=Text)  # encrypted; emptied by the purge
    status: str = Field(default="open", sa_type=String(16))  # open, achieved, dropped


class PlanService(TableModel, table=True):
    """A service of a plan version: type, provider, dates, budget and cost (minor units)."""

    __tablename__ = "plan_service"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    plan_id: int = Field(foreign_key="reintegration_plan.id", index=True)
    goal_id: int | None = Field(default=None, foreign_key="plan_goal.id")
    service_type: str = Field(sa_type=String(32))
    provider_org_id: int = Field(foreign_key="organisation.id", index=True)
    status: str = Field(sa_type=String(16))  # planned, approved, in_progress, delivered, cancelled
    planned_start_on: date | None = None
    planned_end_on: date | None = None
    actual_start_on: date | None = None
    actual_end_on: date | None = None
    budget_minor: int | None = None
    cost_minor: int | None = None
    currency: str = Field(default="EUR", sa_type=String(3))
    item_id: int | None = Field(default=None, foreign_key="checklist_item.id")
    note: str | None = Field(default=None, sa_type=Text)  # encrypted


class Visit(TableModel, table=True):
    """A follow-up visit's monitoring form: when, how, who, safety, progress and the
    reintegration sustainability scores (0..1 per dimension; answers encrypted)."""

    __tablename__ = "visit"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    item_id: int | None = Field(default=None, foreign_key="checklist_item.id")
    org_id: int = Field(foreign_key="organisation.id")
    visited_on: date
    mode: str = Field(sa_type=String(16))  # home, office, phone
    attended: str | None = Field(default=None, sa_type=Text)  # encrypted
    safety_concern: bool = False
    safety_note: str | None = Field(default=None, sa_type=Text)  # encrypted
    plan_progress: str | None = Field(default=None, sa_type=String(16))
    progress_note: str | None = Field(default=None, sa_type=Text)  # encrypted
    answers: str | None = Field(default=None, sa_type=Text)  # encrypted JSON
    economic_score: float | None = None
    social_score: float | None = None
    psychosocial_score: float | None = None
    composite_score: float | None = None
    recorded_by_id: int = Field(foreign_key="staff_member.id")
    recorded_at: datetime = Field(sa_type=AwareDateTime)


class CaseNote(TableModel, table=True):
    """An entry of the case journal: who wrote it, when, for whom (owner only or shared)."""

    __tablename__ = "case_note"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    author_id: int = Field(foreign_key="staff_member.id")
    org_id: int = Field(foreign_key="organisation.id")
    at: datetime = Field(sa_type=AwareDateTime)
    visibility: str = Field(sa_type=String(16))  # owner, shared
    body: str | None = Field(default=None, sa_type=Text)  # encrypted; emptied by the purge


class CaseDocument(TableModel, table=True):
    """An attached document, encrypted under the case key (content and file name)."""

    __tablename__ = "case_document"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    kind: str = Field(sa_type=String(32))
    media_type: str = Field(sa_type=String(64))  # sniffed from the content
    size: int
    filename: str | None = Field(default=None, sa_type=Text)  # encrypted
    content: bytes | None = Field(default=None, sa_type=LargeBinary)  # encrypted
    visibility: str = Field(default="owner", sa_type=String(16))  # owner, shared
    uploaded_by_id: int = Field(foreign_key="staff_member.id")
    org_id: int = Field(foreign_key="organisation.id")
    uploaded_at: datetime = Field(sa_type=AwareDateTime)
    removed_at: datetime | None = _when(nullable=True)


class CasePerson(TableModel, table=True):
    """Another person of a family case (a child, a partner): encrypted like ``Beneficiary``."""

    __tablename__ = "case_person"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    relation: str = Field(sa_type=String(16))  # child, partner, parent, sibling, other
    is_minor: bool = False
    given_name: str | None = Field(default=None, sa_type=Text)
    family_name: str | None = Field(default=None, sa_type=Text)
    birth_date: str | None = Field(default=None, sa_type=Text)
    sex: str | None = Field(default=None, sa_type=Text)
    match_index: str | None = Field(default=None, sa_type=String(64), index=True)
    name_index: str | None = Field(default=None, sa_type=String(64), index=True)
    created_at: datetime = Field(sa_type=AwareDateTime)
    removed_at: datetime | None = _when(nullable=True)


class NrmReferral(TableModel, table=True):
    """The National Referral Mechanism referral of a case (ANITP's record number encrypted)."""

    __tablename__ = "nrm_referral"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", unique=True)
    record_no: str | None = Field(default=None, sa_type=Text)  # encrypted
    referred_on: date
    referring_body: str = Field(sa_type=String(32))
    recorded_by_id: int = Field(foreign_key="staff_member.id")
    recorded_at: datetime = Field(sa_type=AwareDateTime)


class Assessment(TableModel, table=True):
    """A structured assessment (risk, needs and skills, family): answers encrypted; the level
    and the needs found as codes, which steer review, suspension and proposed services."""

    __tablename__ = "assessment"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    kind: str = Field(sa_type=String(16))  # risk, needs, family
    level: str | None = Field(default=None, sa_type=String(16))  # low, medium, high
    needs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    answers: str | None = Field(default=None, sa_type=Text)  # encrypted JSON
    assessed_on: date
    assessed_by_id: int = Field(foreign_key="staff_member.id")
    recorded_at: datetime = Field(sa_type=AwareDateTime)
    reviewed_by_id: int | None = Field(default=None, foreign_key="staff_member.id")
    reviewed_at: datetime | None = _when(nullable=True)
    review: str | None = Field(default=None, sa_type=String(16))  # agreed, changed


class ProviderService(TableModel, table=True):
    """The service directory: an organisation offers a service type in a county, with capacity.

    Directory data, not case data: every signed-in organisation may read it."""

    __tablename__ = "provider_service"
    __table_args__ = (UniqueConstraint("org_id", "service_type", "county"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    service_type: str = Field(sa_type=String(32))
    county: str = Field(sa_type=String(6), index=True)
    capacity: int | None = None
    active: bool = True
