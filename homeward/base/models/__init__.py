"""The tables, their enums and column types; each table class is defined when first named.

Personal data lives only in ``Beneficiary``; every other table identifies a person's case by its
random ``case_ref`` and holds codes, dates and organisation ids, never a name or a story.
States and kinds are plain strings (``String(32)``), checked against the enums below in code.

The table classes live in this package's modules by subject (``cases``, ``items``, ``signin``...)
and are imported from here as before (``from homeward.base.models import Case``): naming one
defines the classes of its module, and only those. Defining all 39 (pydantic fields, SQLAlchemy
table and mapper, and configuring each mapper at the first query) was a fifth of ``homeward case
show``'s start-up, which uses a handful (issue 19; tests/cli/test_imports.py holds it).

``SQLModel.metadata`` therefore holds only the tables named so far. What needs every table asks
``metadata()``, which defines them all (migrations, so the backup's restore too; the tests that
walk every table), or ``table(name)`` (the row seals), or calls ``load_all_tables()`` (the fork
server); tests/cli/test_imports.py checks that no other module reads ``SQLModel.metadata``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, MetaData, Table, TypeDecorator, text
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig  # SQLModel's own config type

if TYPE_CHECKING:  # what ``__getattr__`` gives, spelled out for mypy
    from homeward.base.models.assessments import Assessment as Assessment
    from homeward.base.models.audit import AuditEntry as AuditEntry
    from homeward.base.models.audit import AuditHead as AuditHead
    from homeward.base.models.audit import RowSeal as RowSeal
    from homeward.base.models.cases import Case as Case
    from homeward.base.models.cases import CaseParticipant as CaseParticipant
    from homeward.base.models.cases import phase_column as phase_column
    from homeward.base.models.consents import Consent as Consent
    from homeward.base.models.directory import Organisation as Organisation
    from homeward.base.models.directory import StaffMember as StaffMember
    from homeward.base.models.events import CaseEvent as CaseEvent
    from homeward.base.models.family import CasePerson as CasePerson
    from homeward.base.models.grants import RunGrant as RunGrant
    from homeward.base.models.handoffs import Handoff as Handoff
    from homeward.base.models.handoffs import ItemChange as ItemChange
    from homeward.base.models.items import ChecklistItem as ChecklistItem
    from homeward.base.models.keyring import KeyringBinding as KeyringBinding
    from homeward.base.models.mail import CalendarEntry as CalendarEntry
    from homeward.base.models.mail import OutboxMessage as OutboxMessage
    from homeward.base.models.mail import OutboxRecipient as OutboxRecipient
    from homeward.base.models.mail import Reminder as Reminder
    from homeward.base.models.mail import ReminderRun as ReminderRun
    from homeward.base.models.notes import CaseDocument as CaseDocument
    from homeward.base.models.notes import CaseNote as CaseNote
    from homeward.base.models.personal import Beneficiary as Beneficiary
    from homeward.base.models.personal import CaseKey as CaseKey
    from homeward.base.models.plans import PlanGoal as PlanGoal
    from homeward.base.models.plans import PlanService as PlanService
    from homeward.base.models.plans import ReintegrationPlan as ReintegrationPlan
    from homeward.base.models.programmes import Enrolment as Enrolment
    from homeward.base.models.programmes import ImportedCase as ImportedCase
    from homeward.base.models.programmes import Programme as Programme
    from homeward.base.models.programmes import ProgrammeTarget as ProgrammeTarget
    from homeward.base.models.providers import ProviderService as ProviderService
    from homeward.base.models.referrals import NrmReferral as NrmReferral
    from homeward.base.models.requests import RequestKey as RequestKey
    from homeward.base.models.sessions import StaffSession as StaffSession
    from homeward.base.models.signin import LoginChallenge as LoginChallenge
    from homeward.base.models.signin import LoginRequest as LoginRequest
    from homeward.base.models.visits import Visit as Visit


# An id the app's logins draw from a sequence, and every column holding one (migration 0047):
# 64-bit, so that no login runs the sequence out. SQLite's INTEGER PRIMARY KEY is 64-bit
# already, and only a column typed INTEGER is the table's rowid there (given an id when none).
ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


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


_NOT_ENDED = text("status != 'ended'")
# One current organisation per role. Its PostgreSQL form (``postgresql_where``) is added by
# ``with_postgresql_options`` when a PostgreSQL engine is made: naming it here would import
# SQLAlchemy's PostgreSQL dialect into every command run on SQLite (issue 19).
_CURRENT_ROLE = Index(
    "uq_case_participant_current_role", "case_id", "role", unique=True, sqlite_where=_NOT_ENDED
)
_PROPOSED = text("status = 'proposed'")
# At most one handoff of an item awaits an answer (``tasks.handoffs``; migration 0038): a
# partner offering its item twice by SQL is refused. A transfer has no item (NULL: not unique).
_PENDING_HANDOFF = Index("uq_handoff_pending_item", "item_id", unique=True, sqlite_where=_PROPOSED)


def with_postgresql_options() -> None:
    """Give the models their PostgreSQL-only index options (idempotent)."""
    _CURRENT_ROLE.dialect_kwargs["postgresql_where"] = _NOT_ENDED
    _PENDING_HANDOFF.dialect_kwargs["postgresql_where"] = _PROPOSED


class ConsentPurpose(StrEnum):
    RETURN = "return"
    DATA_PROCESSING = "data_processing"
    SHARING = "sharing"  # sharing with one named organisation


class OutboxStatus(StrEnum):
    """Where an email is in the outbox. ``sending`` is a lease: a crashed sender's rows return."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    DROPPED = "dropped"  # not sent on purpose: ``last_error`` says why (e.g. consent withdrawn)


class RecipientStatus(StrEnum):
    """Where one recipient of an email is: each is delivered, refused or retried on its own."""

    PENDING = "pending"  # not tried yet (or queued again by ``homeward mail retry``)
    DEFERRED = "deferred"  # a temporary (4xx) answer: tried again at ``next_attempt_at``
    DELIVERED = "delivered"  # the server accepted the message for this address
    DEAD = "dead"  # refused for good (5xx), or given up after the last attempt
    DROPPED = "dropped"  # not sent on purpose (e.g. sharing consent withdrawn): ``reply`` says why
    REDIRECTED = "redirected"  # was dead; sent to ``redirected_to`` instead


# Each name defined in this package's other modules, and its module.
TABLES: dict[str, str] = {
    "Organisation": "directory",
    "StaffMember": "directory",
    "Case": "cases",
    "CaseParticipant": "cases",
    "phase_column": "cases",
    "ChecklistItem": "items",
    "Handoff": "handoffs",
    "ItemChange": "handoffs",
    "CaseEvent": "events",
    "Beneficiary": "personal",
    "CaseKey": "personal",
    "CasePerson": "family",
    "Consent": "consents",
    "AuditEntry": "audit",
    "AuditHead": "audit",
    "RowSeal": "audit",
    "OutboxMessage": "mail",
    "OutboxRecipient": "mail",
    "Reminder": "mail",
    "CalendarEntry": "mail",
    "ReminderRun": "mail",
    "Programme": "programmes",
    "ProgrammeTarget": "programmes",
    "Enrolment": "programmes",
    "ImportedCase": "programmes",
    "RequestKey": "requests",
    "LoginChallenge": "signin",
    "LoginRequest": "signin",
    "StaffSession": "sessions",
    "RunGrant": "grants",
    "KeyringBinding": "keyring",
    "ReintegrationPlan": "plans",
    "PlanGoal": "plans",
    "PlanService": "plans",
    "Visit": "visits",
    "CaseNote": "notes",
    "CaseDocument": "notes",
    "NrmReferral": "referrals",
    "Assessment": "assessments",
    "ProviderService": "providers",
}


def _module(name: str) -> Any:
    # ``__import__``, not ``importlib.import_module``: ``python -X importtime`` lists only the
    # former, and a table module's cost should show under its own name
    __import__(f"{__name__}.{name}")
    return sys.modules[f"{__name__}.{name}"]


if not TYPE_CHECKING:  # mypy reads the imports above; a misspelt name stays an error

    def __getattr__(name: str) -> Any:
        """``Case`` and the other table classes: their module is imported when first named."""
        if name not in TABLES:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(_module(TABLES[name]), name)
        globals()[name] = value  # found directly from now on
        return value


_all_loaded = False


def load_all_tables() -> None:
    """Define every table class (idempotent): ``SQLModel.metadata`` then holds every table."""
    global _all_loaded  # noqa: PLW0603 (once a process)
    if not _all_loaded:
        for module in dict.fromkeys(TABLES.values()):
            _module(module)
        _all_loaded = True


def metadata() -> MetaData:
    """``SQLModel.metadata`` with every table in it: what migrations (and so the backup's
    restore) and the tests that walk every table read (never ``SQLModel.metadata`` itself, which
    holds only the tables named so far)."""
    load_all_tables()
    return SQLModel.metadata


def table(name: str) -> Table:
    """The table ``name``, its class defined first if it was not yet (the row seals find a
    case's tables by name)."""
    found = SQLModel.metadata.tables.get(name)
    if found is None:
        load_all_tables()
        found = SQLModel.metadata.tables[name]
    return found
