"""The encrypted store: the only code that reads or writes personal data.

Every write and every read of a personal field writes an audit entry (field names, never
values) in the same transaction. Which fields an organisation may read depends on the part it
plays in the case and on the person's sharing consent (see ``FIELDS_BY_PART``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from homeward.base.db import system_scope
from homeward.base.errors import NotFound, Refused
from homeward.base.models import (
    Beneficiary,
    Case,
    CaseKey,
    CaseParticipant,
    Organisation,
    ParticipantStatus,
    StaffMember,
)
from homeward.crypt import crypto
from homeward.crypt.keys import load_keyring
from homeward.protection.consent import has_sharing_consent
from homeward.protection.permissions import Action, allowed, ensure, owner_staff
from homeward.records import seals
from homeward.records.auditlog import audit

PERSON_FIELDS = (
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "phone",
    "home_address",
    "notes",
    "exploitation_form",
)
SEXES = ("female", "male", "other", "unknown")
# Forms of exploitation, after the HTCDS / CTDC type-of-exploitation flags.
EXPLOITATION_FORMS = (
    "sexual",
    "labour",
    "domestic_servitude",
    "begging",
    "forced_criminality",
    "forced_marriage",
    "organ_removal",
    "other",
)
# What aggregate reports may decrypt (server-side, then only counted and suppressed).
STATISTICAL_FIELDS = ("birth_date", "sex", "exploitation_form")
ALL = frozenset(PERSON_FIELDS)
# What each part in a case may read, with the person's consent to share with that organisation.
FIELDS_BY_PART: dict[str, frozenset[str]] = {
    "owner": ALL,
    "cons": frozenset({"given_name", "family_name", "birth_date", "sex"}),  # travel documents
    "r_iom": frozenset({"given_name", "family_name", "sex", "phone", "home_address"}),
    "ngo": frozenset({"given_name", "family_name", "sex", "phone", "home_address"}),
    "dgaspc": frozenset(
        {"given_name", "family_name", "birth_date", "sex", "phone", "home_address"}
    ),
    "s_iom": ALL,
}


class PersonIn(BaseModel):
    """Personal data of the beneficiary: entered once, stored only encrypted in ``Beneficiary``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    given_name: str = Field(min_length=1, max_length=200)
    family_name: str = Field(min_length=1, max_length=200)
    birth_date: date | None = None
    sex: str | None = Field(default=None, pattern=rf"^({'|'.join(SEXES)})$")
    phone: str | None = Field(default=None, max_length=64)
    home_address: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=5000)
    exploitation_form: str | None = Field(
        default=None, pattern=rf"^({'|'.join(EXPLOITATION_FORMS)})$"
    )


def ensure_case_key(session: Session, case: Case, now: datetime) -> bytes:
    """The case's data key, created (and stored wrapped) on first use.

    On PostgreSQL the key row shows to every party that may write to the case (its policy is
    ``homeward_case_touched``), so none mints a second key; the key's primary key refuses one
    anyway.
    """
    assert case.id is not None  # noqa: S101
    keyring = load_keyring()
    row = session.get(CaseKey, case.id)
    if row is not None:
        return _unwrap(case, row)
    data_key = crypto.new_key()
    wrapped = crypto.wrap_key(keyring.active_master, data_key, case_id=case.id)
    session.add(
        CaseKey(case_id=case.id, master_key_id=keyring.active, created_at=now, wrapped=wrapped)
    )
    session.flush()
    return data_key


def case_key(session: Session, case: Case) -> bytes:
    """Unwrap the case's data key; refuses once the case's data was purged, and (exit 8) when
    the case row or its key does not match its seal: a case_ref moved to another case, a key
    deleted or put back outside a purge."""
    assert case.id is not None  # noqa: S101
    seals.check_row(session, "return_case", case.id)
    seals.check_row(session, "case_key", case.id)
    row = session.get(CaseKey, case.id)
    if row is None:
        raise NotFound(f"case {case.case_ref} holds no personal data (purged or never entered)")
    return _unwrap(case, row)


def _unwrap(case: Case, row: CaseKey) -> bytes:
    if row.wrapped is None:
        raise NotFound(f"case {case.case_ref} holds no personal data (purged)")
    master = load_keyring().master(row.master_key_id)
    return crypto.unwrap_key(master, row.wrapped, case_id=row.case_id)


def store_person(
    session: Session, *, case: Case, person: PersonIn, actor: StaffMember | None, now: datetime
) -> Beneficiary:
    """Encrypt and store (or replace) the person's data for ``case``."""
    assert case.id is not None  # noqa: S101
    if actor is not None:
        ensure(session, actor, Action.ENTER_PERSON, case)
    key = ensure_case_key(session, case, now)
    row = session.exec(select(Beneficiary).where(Beneficiary.case_id == case.id)).first()
    if row is None:
        row = Beneficiary(case_id=case.id)
        session.add(row)
        session.flush()
    assert row.id is not None  # noqa: S101
    values = person.model_dump(mode="json")
    for field in PERSON_FIELDS:
        value = values[field]
        encrypted = (
            None
            if value is None
            else crypto.encrypt_field(
                key, str(value), table="beneficiary", column=field, row_id=row.id
            )
        )
        setattr(row, field, encrypted)
    index_key = load_keyring().index
    row.match_index = crypto.blind_index(
        index_key, person.given_name, person.family_name, values["birth_date"]
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor=actor,
        action="personal_write",
        case_ref=case.case_ref,
        at=now,
        fields=[f for f in PERSON_FIELDS if values[f] is not None],
    )
    return row


def readable_fields(session: Session, case: Case, actor: StaffMember) -> frozenset[str]:
    """The personal fields ``actor`` may read on ``case`` (empty: none)."""
    org = session.get(Organisation, actor.org_id)
    if org is None or not allowed(org.kind, actor.role, Action.READ_PERSON):
        return frozenset()
    if actor.org_id == case.owner_org_id:
        return FIELDS_BY_PART["owner"]
    query = select(CaseParticipant.role).where(
        CaseParticipant.case_id == case.id,
        CaseParticipant.org_id == actor.org_id,
        CaseParticipant.status == ParticipantStatus.LIVE,
    )
    parts = list(session.exec(query))
    if not parts or not has_sharing_consent(session, case=case, org_id=actor.org_id):
        return frozenset()
    return frozenset().union(*(FIELDS_BY_PART.get(part, frozenset()) for part in parts))


def read_person(
    session: Session, *, case: Case, actor: StaffMember, now: datetime
) -> dict[str, str | None]:
    """Decrypt the fields ``actor`` may read; the read itself is audited."""
    fields = readable_fields(session, case, actor)
    if not fields:
        raise NotFound(
            f"case {case.case_ref} has no personal data you may see; "
            f"ask {owner_staff(session, case, Action.READ_PERSON)}"
        )
    row = session.exec(select(Beneficiary).where(Beneficiary.case_id == case.id)).first()
    if row is None or row.id is None:
        raise NotFound(f"case {case.case_ref} has no personal data entered yet")
    key = case_key(session, case)
    seals.check_row(session, "beneficiary", row.id)  # a swapped, replayed or nulled value
    shown: dict[str, str | None] = {}
    for field in PERSON_FIELDS:
        stored = getattr(row, field)
        if field in fields and stored is not None:
            shown[field] = crypto.decrypt_field(
                key, stored, table="beneficiary", column=field, row_id=row.id
            )
    audit(
        session,
        actor=actor,
        action="personal_read",
        case_ref=case.case_ref,
        at=now,
        fields=sorted(shown),
    )
    return shown


def protect_text(
    session: Session, *, case: Case, table: str, column: str, row_id: int, text: str, now: datetime
) -> str:
    """Encrypt a free-text value (a note, a reason) of ``case`` for ``table.column``."""
    key = ensure_case_key(session, case, now)
    return crypto.encrypt_field(key, text, table=table, column=column, row_id=row_id)


def may_read_text(
    session: Session, *, case: Case, actor: StaffMember, parties: Collection[int] = ()
) -> bool:
    """Whether ``actor`` may read a free-text value (a note, a reason) of ``case``.

    The owner organisation's staff may (not its managers: they report, they do not read case
    files); so may an organisation the text concerns (``parties``: the item's owner, a
    handoff's two sides), once the person consented to sharing with it. Nobody else.
    """
    org = session.get(Organisation, actor.org_id)
    if org is None or not allowed(org.kind, actor.role, Action.READ_NOTES):
        return False  # the kind counts too: the police and ANITP never read case texts
    if actor.org_id == case.owner_org_id:
        return True
    return actor.org_id in parties and has_sharing_consent(session, case=case, org_id=actor.org_id)


def reveal_text(
    session: Session,
    *,
    case: Case,
    table: str,
    column: str,
    row_id: int,
    stored: str,
    actor: StaffMember,
    now: datetime,
    parties: Collection[int] = (),
) -> str:
    """Decrypt a free-text value for someone who may read it (``may_read_text``); audited."""
    ensure(session, actor, Action.READ_NOTES, case)  # kind and role, by the permission table
    if not may_read_text(session, case=case, actor=actor, parties=parties):
        raise Refused(
            "only the case owner's staff, and with the person's sharing consent the "
            "organisations a note concerns, can read it"
        )
    key = case_key(session, case)
    seals.check_row(session, table, row_id)
    text = crypto.decrypt_field(key, stored, table=table, column=column, row_id=row_id)
    audit(
        session,
        actor=actor,
        action="note_read",
        case_ref=case.case_ref,
        at=now,
        fields=[f"{table}.{column}"],
    )
    return text


def statistical_attributes(
    session: Session, *, case_ids: list[int], actor: StaffMember, purpose: str, now: datetime
) -> dict[int, dict[str, str | None]]:
    """Decrypt birth date, sex and form of exploitation of many cases, for counting only.

    Runs as the system (across organisations) so a report can count every case in its scope;
    the caller must aggregate and suppress before anything leaves the process. One audit entry
    names the purpose and the fields (never values, never case_refs).
    """
    found: dict[int, dict[str, str | None]] = {}
    with system_scope(session):
        for start in range(0, len(case_ids), 500):
            found.update(_decrypt_batch(session, case_ids[start : start + 500]))
    audit(
        session,
        actor=actor,
        action=f"report_read:{purpose}"[:48],
        at=now,
        fields=STATISTICAL_FIELDS,
    )
    return found


def _decrypt_batch(session: Session, case_ids: list[int]) -> dict[int, dict[str, str | None]]:
    query = (
        select(Beneficiary, CaseKey)
        .join(CaseKey, col(CaseKey.case_id) == col(Beneficiary.case_id))
        .where(col(Beneficiary.case_id).in_(case_ids), col(CaseKey.wrapped).is_not(None))
    )
    keyring, found = load_keyring(), {}
    for row, key_row in session.exec(query):
        assert row.id is not None and key_row.wrapped is not None  # noqa: S101
        master = keyring.master(key_row.master_key_id)
        key = crypto.unwrap_key(master, key_row.wrapped, case_id=key_row.case_id)
        found[row.case_id] = {
            field: crypto.decrypt_field(
                key, stored, table="beneficiary", column=field, row_id=row.id
            )
            if (stored := getattr(row, field)) is not None
            else None
            for field in STATISTICAL_FIELDS
        }
    return found


def find_possible_duplicates(session: Session, person: PersonIn, *, owner_org_id: int) -> list[str]:
    """The case_refs of ``owner_org_id``'s own cases whose person has the same normalised name
    and birth date (no decryption), oldest first.

    Only the owner's own cases, in the query itself: whether another organisation holds a
    case for this name and birth date is that organisation's to tell (through a reviewed
    request, not yet built), never a side effect of opening one, in words, counts or time."""
    token = crypto.blind_index(
        load_keyring().index,
        person.given_name,
        person.family_name,
        person.birth_date.isoformat() if person.birth_date else None,
    )
    query = (
        select(Case.case_ref)
        .join(Beneficiary, col(Beneficiary.case_id) == col(Case.id))
        .where(Beneficiary.match_index == token, Case.owner_org_id == owner_org_id)
        .order_by(col(Case.id))
    )
    return list(session.exec(query))
