"""The encrypted store: the only code that reads or writes personal data.

Every write and every read of a personal field writes an audit entry (field names, never
values) in the same transaction. Which fields an organisation may read depends on the part it
plays in the case and on the person's sharing consent (see ``FIELDS_BY_PART``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from homeward.base import models
from homeward.base.db import system_scope
from homeward.base.errors import NotFound, Refused
from homeward.base.models import (
    Case,
    CaseParticipant,
    CasePerson,
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

if TYPE_CHECKING:
    from homeward.base.models import Beneficiary, CaseKey

# The person's tables are named where they are used (``models.Beneficiary``, ``models.CaseKey``):
# a command that reads no personal data (``homeward case show``) never defines them (issue 19).

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

    # its validator is built when first used (issue 19): a read builds none
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

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
    row = session.get(models.CaseKey, case.id)
    if row is not None:
        return _unwrap(case, row)
    data_key = crypto.new_key()
    wrapped = crypto.wrap_key(keyring.active_master, data_key, case_id=case.id)
    session.add(
        models.CaseKey(
            case_id=case.id, master_key_id=keyring.active, created_at=now, wrapped=wrapped
        )
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
    row = session.get(models.CaseKey, case.id)
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
    row = session.exec(
        select(models.Beneficiary).where(models.Beneficiary.case_id == case.id)
    ).first()
    if row is None:
        row = models.Beneficiary(case_id=case.id)
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
    row.name_index = name_token(f"{person.given_name} {person.family_name}")
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
    row = session.exec(
        select(models.Beneficiary).where(models.Beneficiary.case_id == case.id)
    ).first()
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
        select(models.Beneficiary, models.CaseKey)
        .join(models.CaseKey, col(models.CaseKey.case_id) == col(models.Beneficiary.case_id))
        .where(
            col(models.Beneficiary.case_id).in_(case_ids), col(models.CaseKey.wrapped).is_not(None)
        )
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
        .join(models.Beneficiary, col(models.Beneficiary.case_id) == col(Case.id))
        .where(models.Beneficiary.match_index == token, Case.owner_org_id == owner_org_id)
        .order_by(col(Case.id))
    )
    return list(session.exec(query))


# --- the other people of a family case (issue 16) ------------------------------------------
# A dependant's identity fields: read by the same parts as the primary person's same fields.
DEPENDANT_FIELDS = ("given_name", "family_name", "birth_date", "sex")
RELATIONS = ("child", "partner", "parent", "sibling", "other")


class DependantIn(BaseModel):
    """Another person of the case (a child, a partner): stored only encrypted in ``CasePerson``."""

    # its validator is built when first used (issue 19): a read builds none
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    relation: str = Field(pattern=rf"^({'|'.join(RELATIONS)})$")
    given_name: str = Field(min_length=1, max_length=200)
    family_name: str = Field(min_length=1, max_length=200)
    birth_date: date | None = None
    sex: str | None = Field(default=None, pattern=rf"^({'|'.join(SEXES)})$")


def name_token(full_name: str) -> str:
    """The keyed name-only blind index of a full name ("Given Family"): case-, accent- and
    space-insensitive, never reversible without the keyring's index key."""
    return crypto.blind_index(load_keyring().index, "name", full_name)


def store_dependant(
    session: Session,
    *,
    case: Case,
    person: DependantIn,
    is_minor: bool,
    actor: StaffMember | None,
    now: datetime,
) -> CasePerson:
    """Encrypt and store a new dependant of ``case`` (the owner's staff, as the primary person)."""
    assert case.id is not None  # noqa: S101
    if actor is not None:
        ensure(session, actor, Action.ENTER_PERSON, case)
    key = ensure_case_key(session, case, now)
    row = CasePerson(case_id=case.id, relation=person.relation, is_minor=is_minor, created_at=now)
    session.add(row)
    session.flush()
    assert row.id is not None  # noqa: S101
    values = person.model_dump(mode="json")
    for field in DEPENDANT_FIELDS:
        value = values[field]
        encrypted = (
            None
            if value is None
            else crypto.encrypt_field(
                key, str(value), table="case_person", column=field, row_id=row.id
            )
        )
        setattr(row, field, encrypted)
    row.match_index = crypto.blind_index(
        load_keyring().index, person.given_name, person.family_name, values["birth_date"]
    )
    row.name_index = name_token(f"{person.given_name} {person.family_name}")
    session.add(row)
    session.flush()
    audit(
        session,
        actor=actor,
        action="personal_write",
        case_ref=case.case_ref,
        at=now,
        fields=[f"case_person.{f}" for f in DEPENDANT_FIELDS if values[f] is not None],
    )
    return row


def wipe_dependant(session: Session, *, row: CasePerson, now: datetime) -> None:
    """Remove a dependant softly: the row stays (relation, minor flag, when), names go."""
    for field in DEPENDANT_FIELDS:
        setattr(row, field, None)
    row.match_index = row.name_index = None
    row.removed_at = now
    session.add(row)
    session.flush()


def read_dependants(
    session: Session, *, case: Case, rows: list[CasePerson], actor: StaffMember, now: datetime
) -> dict[int, dict[str, str | None]]:
    """Decrypt the dependants' fields ``actor`` may read (the primary person's rules); the read
    is audited once. Nobody allowed: an empty answer, no audit line, nothing decrypted."""
    fields = readable_fields(session, case, actor) & frozenset(DEPENDANT_FIELDS)
    live = [r for r in rows if r.removed_at is None and r.id is not None]
    if not fields or not live:
        return {}
    key = case_key(session, case)
    shown: dict[int, dict[str, str | None]] = {}
    for row in live:
        assert row.id is not None  # noqa: S101
        seals.check_row(session, "case_person", row.id)
        shown[row.id] = {
            field: crypto.decrypt_field(
                key, stored, table="case_person", column=field, row_id=row.id
            )
            for field in DEPENDANT_FIELDS
            if field in fields and (stored := getattr(row, field)) is not None
        }
    audit(
        session,
        actor=actor,
        action="personal_read",
        case_ref=case.case_ref,
        at=now,
        fields=sorted(f"case_person.{f}" for f in fields),
    )
    return shown


def dependant_duplicates(
    session: Session, *, given_name: str, family_name: str, birth: str | None, owner_org_id: int
) -> list[str]:
    """The owner's own cases whose primary person or a live dependant has the same name and
    birth date (``find_possible_duplicates``' rule: only the owner's own cases)."""
    token = crypto.blind_index(load_keyring().index, given_name, family_name, birth)
    primary = select(Case.case_ref, Case.id).join(
        models.Beneficiary, col(models.Beneficiary.case_id) == col(Case.id)
    )
    primary = primary.where(
        models.Beneficiary.match_index == token, Case.owner_org_id == owner_org_id
    )
    others = select(Case.case_ref, Case.id).join(
        CasePerson, col(CasePerson.case_id) == col(Case.id)
    )
    others = others.where(
        CasePerson.match_index == token,
        col(CasePerson.removed_at).is_(None),
        Case.owner_org_id == owner_org_id,
    )
    found = {case_id: ref for ref, case_id in [*session.exec(primary), *session.exec(others)]}
    return [found[case_id] for case_id in sorted(found)]


def cases_named(session: Session, full_name: str) -> list[tuple[int, str, int | None]]:
    """Rows whose person's full name has the token of ``full_name``: (case id, "primary" or the
    dependant's relation, the dependant's id). No decryption; row security (PostgreSQL) already
    narrows it; the caller keeps only what the searcher may see and read."""
    token = name_token(full_name)
    primary = select(models.Beneficiary.case_id).where(models.Beneficiary.name_index == token)
    others = select(CasePerson.case_id, CasePerson.relation, CasePerson.id).where(
        CasePerson.name_index == token, col(CasePerson.removed_at).is_(None)
    )
    found: list[tuple[int, str, int | None]] = [
        (cid, "primary", None) for cid in session.exec(primary)
    ]
    found += [(cid, rel, pid) for cid, rel, pid in session.exec(others)]
    return found


def reindex_names(session: Session, *, now: datetime) -> int:
    """Write the name index of every stored person that lacks it (rows stored before it
    existed): decrypt the names, as the system, in this transaction. Audited (counts only)."""
    done = 0
    with system_scope(session):
        primary = select(models.Beneficiary, models.CaseKey).join(
            models.CaseKey, col(models.CaseKey.case_id) == col(models.Beneficiary.case_id)
        )
        primary = primary.where(
            col(models.Beneficiary.name_index).is_(None),
            col(models.Beneficiary.given_name).is_not(None),
            col(models.CaseKey.wrapped).is_not(None),
        )
        for row, key_row in session.exec(primary):
            _reindex(session, "beneficiary", row, key_row)
            done += 1
        others = select(CasePerson, models.CaseKey).join(
            models.CaseKey, col(models.CaseKey.case_id) == col(CasePerson.case_id)
        )
        others = others.where(
            col(CasePerson.name_index).is_(None),
            col(CasePerson.given_name).is_not(None),
            col(models.CaseKey.wrapped).is_not(None),
        )
        for person, key_row in session.exec(others):
            _reindex(session, "case_person", person, key_row)
            done += 1
        session.flush()
    audit(session, actor=None, action="reindex_names", at=now, fields=["name_index"])
    return done


def _reindex(session: Session, table: str, row: Beneficiary | CasePerson, key_row: CaseKey) -> None:
    assert row.id is not None and key_row.wrapped is not None  # noqa: S101
    master = load_keyring().master(key_row.master_key_id)
    key = crypto.unwrap_key(master, key_row.wrapped, case_id=key_row.case_id)
    names = [
        crypto.decrypt_field(key, stored, table=table, column=field, row_id=row.id)
        for field in ("given_name", "family_name")
        if (stored := getattr(row, field)) is not None
    ]
    row.name_index = name_token(" ".join(names))
    session.add(row)
