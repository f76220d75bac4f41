"""Writing validated rows as cases: one transaction, bulk inserts, idempotent by external_id.

Each new case opens in ``identified_abroad`` (its first stage in Homeward) owned by the
importing organisation, with its participants, its stage's checklist items, an ``import``
event dated on the row's ``opened_on``, and the person encrypted under a fresh case key. One
audit entry records the import (count and field names).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Table
from sqlmodel import Session, select

from homeward.base.bulk import (
    collection_paused,
    complete,
    insert_rows,
    new_ids,
    pipelined,
    widen_sqlite_cache,
)
from homeward.base.caseref import new_case_ref
from homeward.base.clock import local_noon
from homeward.base.errors import InvalidInput, NotFound
from homeward.base.models import (
    Beneficiary,
    Case,
    CaseEvent,
    CaseKey,
    CaseParticipant,
    CaseStatus,
    ChecklistItem,
    ImportedCase,
    Organisation,
    ParticipantRole,
    ParticipantStatus,
    StaffMember,
)
from homeward.crypt import crypto
from homeward.crypt.keys import load_keyring
from homeward.intake.rows import BadRow, GoodRow
from homeward.protection.permissions import Action, ensure
from homeward.protection.vault import PERSON_FIELDS
from homeward.records import seals
from homeward.records.auditlog import audit
from homeward.records.crossorg import refs_taken
from statemachines.cases import CaseIn, resolve_participants
from statemachines.return_case import State
from tasks.catalog import CASE_OWNER, CURRENT_VERSION, load_catalog
from tasks.participation import needs_consent

CHUNK = 1000
Roles = dict[ParticipantRole, Organisation]


@dataclass
class Outcome:
    """What an import did."""

    imported: list[str] = field(default_factory=list)  # new case_refs
    already: int = 0  # rows imported by an earlier run (same external_id)
    skipped: list[BadRow] = field(default_factory=list)


def check_participants(
    session: Session, owner: Organisation, rows: list[GoodRow]
) -> tuple[dict[int, Roles], list[BadRow]]:
    """Each row's participants, resolved as ``start_case`` would; problems as bad rows."""
    cache: dict[tuple[Any, ...], Roles | BadRow] = {}
    roles: dict[int, Roles] = {}
    bad: list[BadRow] = []
    for good in rows:
        case = good.case
        key = (case.is_minor, case.host_country, case.ngo, case.dgaspc)
        if key not in cache:
            cache[key] = _resolve(session, owner, good)
        found = cache[key]
        if isinstance(found, BadRow):
            bad.append(BadRow(good.row, found.column, found.reason))
        else:
            roles[good.row] = found
    return roles, bad


def _resolve(session: Session, owner: Organisation, good: GoodRow) -> Roles | BadRow:
    named = {ParticipantRole.NGO: good.case.ngo, ParticipantRole.DGASPC: good.case.dgaspc}
    try:
        case_in = CaseIn(
            is_minor=good.case.is_minor,
            host_country=good.case.host_country,
            participants={role: slug for role, slug in named.items() if slug},
        )
        return resolve_participants(session, owner=owner, case_in=case_in)
    except (InvalidInput, NotFound) as exc:
        message = str(exc)
        column = message.split(":", 1)[0].removeprefix("participants.") if ":" in message else "ngo"
        if column not in ("ngo", "dgaspc"):
            column = "ngo" if "ngo" in message else "dgaspc"
        return BadRow(good.row, column, message.split(";")[0])
    except ValidationError as exc:
        return BadRow(good.row, "host_country", str(exc.errors()[0]["msg"]))


def already_imported(session: Session, org_id: int) -> set[str]:
    """External ids this organisation imported before."""
    query = select(ImportedCase.external_id).where(ImportedCase.org_id == org_id)
    return set(session.exec(query))


def _fresh_refs(session: Session, count: int) -> list[str]:
    refs: set[str] = set()
    while len(refs) < count:
        wanted = {new_case_ref() for _ in range(count - len(refs))} - refs
        refs |= wanted - refs_taken(session, wanted)
    return sorted(refs)


def _opened_at(good: GoodRow, now: datetime) -> datetime:
    day = good.case.opened_on
    return local_noon(day) if day else now


def load(
    session: Session,
    *,
    rows: list[GoodRow],
    roles: dict[int, Roles],
    actor: StaffMember,
    now: datetime,
    on_chunk: Callable[[int], None] | None = None,
) -> list[str]:
    """Insert ``rows`` as new cases (bulk, in the caller's transaction); returns case_refs.

    Every question to the database comes first (free case_refs, every table's new ids); the
    rows are then written a chunk at a time, without waiting for each statement on PostgreSQL
    (``bulk.pipelined``): the server writes one chunk while the next is built and sealed.
    Python's garbage collector waits meanwhile (``bulk.collection_paused``)."""
    with collection_paused():
        return _load(session, rows, roles, actor, now, on_chunk)


def _load(
    session: Session,
    rows: list[GoodRow],
    roles: dict[int, Roles],
    actor: StaffMember,
    now: datetime,
    on_chunk: Callable[[int], None] | None,
) -> list[str]:
    ensure(session, actor, Action.OPEN_CASE)
    owner = session.get(Organisation, actor.org_id)
    assert owner is not None  # noqa: S101
    refs = _fresh_refs(session, len(rows))
    ids = _draw_ids(session, rows, roles)
    seals.sealing(session)  # asked now: no question may be asked inside the pipeline
    widen_sqlite_cache(session.connection())  # SQLite: to the commit (the seals' inserts)
    with pipelined(session.connection()):
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            part = refs[start : start + CHUNK]
            _load_chunk(session, chunk, part, ids, roles, actor, owner.country, now)
            if on_chunk is not None:
                on_chunk(len(chunk))
    present = sorted({f for r in rows for f in PERSON_FIELDS if getattr(r.case.person, f)})
    audit(session, actor=actor, action=f"import:cases:{len(refs)}"[:48], at=now, fields=present)
    return refs


Ids = dict[Any, Iterator[int]]


def _draw_ids(session: Session, rows: list[GoodRow], roles: dict[int, Roles]) -> Ids:
    """Every new row's id, drawn before any is written: each table's, in one statement."""
    catalog = load_catalog(CURRENT_VERSION)
    items = {
        minor: len(catalog.items_for(State.IDENTIFIED_ABROAD, is_minor=minor))
        for minor in (False, True)
    }
    counts = {
        Case: len(rows),
        CaseParticipant: sum(len(roles[good.row]) for good in rows),
        Beneficiary: len(rows),
        ChecklistItem: sum(items[good.case.is_minor] for good in rows),
        CaseEvent: len(rows),
    }
    conn = session.connection()
    return {model: iter(new_ids(conn, _table(model), n)) for model, n in counts.items()}


def _take(ids: Ids, model: Any, count: int) -> list[int]:
    taken = list(islice(ids[model], count))
    assert len(taken) == count  # noqa: S101 (counted by _draw_ids)
    return taken


def _load_chunk(
    session: Session,
    rows: list[GoodRow],
    refs: list[str],
    drawn: Ids,
    roles: dict[int, Roles],
    actor: StaffMember,
    country: str,
    now: datetime,
) -> None:
    """Every table's rows built as plain dicts under ids drawn before, then one insert a table
    (``homeward.base.bulk``); the sealed rows are named for sealing at commit."""
    conn = session.connection()
    ids = _take(drawn, Case, len(rows))
    _insert(
        session,
        Case,
        [
            {"id": cid, **_case_values(good, ref, actor, country, now)}
            for cid, good, ref in zip(ids, rows, refs, strict=True)
        ],
    )
    # each case's participants as texts and ids, once a kind of case (the rows share their
    # kind's roles), not read from the ORM's objects at every row
    kinds: dict[tuple[int, bool], list[tuple[str, int | None, str]]] = {}
    participants: list[dict[str, Any]] = []
    for cid, good in zip(ids, rows, strict=True):
        by_role = roles[good.row]
        kind = (id(by_role), good.case.is_minor)
        if kind not in kinds:
            kinds[kind] = [
                (str(role), org.id, str(_first_status(role, org.id, kind[1], actor)))
                for role, org in by_role.items()
            ]
        participants.extend(
            {"case_id": cid, "role": role, "org_id": org_id, "status": status}  # texts
            for role, org_id, status in kinds[kind]
        )
    _insert(session, CaseParticipant, participants, drawn=drawn)
    _store_people(session, ids, rows, drawn, now)
    _items_and_events(session, ids, rows, roles, drawn, actor, now)
    org_id = actor.org_id  # read once, not an ORM attribute at every row
    insert_rows(
        conn,
        _table(ImportedCase),
        [
            {
                "org_id": org_id,
                "external_id": g.case.external_id,
                "case_id": cid,
                "imported_at": now,
            }
            for cid, g in zip(ids, rows, strict=True)
        ],
    )


def _insert(
    session: Session, model: Any, rows: list[dict[str, Any]], *, drawn: Ids | None = None
) -> None:
    """Insert ``rows`` of a sealed table (under ids ``drawn`` before, if given) and give
    them to be sealed at commit as written: bulk inserts are not seen by the ORM's flush."""
    conn, table = session.connection(), _table(model)
    if drawn is not None:
        for row, row_id in zip(rows, _take(drawn, model, len(rows)), strict=True):
            row["id"] = row_id
    full = complete(table, rows)
    insert_rows(conn, table, full)
    seals.written(session, table.name, full)


def _first_status(
    role: str, org_id: int | None, minor: bool, actor: StaffMember
) -> ParticipantStatus:
    """An imported case has no sharing consent yet: partners needing it wait for it."""
    if org_id != actor.org_id and needs_consent(role, is_minor=minor):
        return ParticipantStatus.PENDING_CONSENT
    return ParticipantStatus.LIVE


def _table(model: Any) -> Table:
    """A model's table: inserting through it skips the ORM's per-row bookkeeping (these rows
    are never used as objects in this transaction)."""
    table: Table = model.__table__
    return table


# The enums' texts: the driver takes a str as it is, an enum member after a lookup.
_FIRST_STAGE, _ACTIVE = str(State.IDENTIFIED_ABROAD), str(CaseStatus.ACTIVE)


def _case_values(
    good: GoodRow, ref: str, actor: StaffMember, country: str, now: datetime
) -> dict[str, Any]:
    return {
        "case_ref": ref,
        "state": _FIRST_STAGE,
        "status": _ACTIVE,
        "stage_entered_at": now,
        "process_version": CURRENT_VERSION,
        "is_minor": good.case.is_minor,
        "owner_org_id": actor.org_id,
        "host_country": good.case.host_country or country,
        "destination_country": "RO",
        "opened_at": _opened_at(good, now),
        "interpreter_used": False,
        "legal_hold": False,
        "version": 1,
    }


def _store_people(
    session: Session, ids: list[int], rows: list[GoodRow], drawn: Ids, now: datetime
) -> None:
    """Each case's data key, wrapped, and its person encrypted under it (the ciphertexts are
    bound to the row's id, drawn before the row is written)."""
    keyring = load_keyring()
    keys = {cid: crypto.new_key() for cid in ids}
    wrapped = crypto.wrap_keys(keyring.active_master, keys)
    _insert(
        session,
        CaseKey,
        [
            {
                "case_id": cid,
                "master_key_id": keyring.active,
                "wrapped": wrapped[cid],
                "created_at": now,
            }
            for cid in ids
        ],
    )
    row_ids = _take(drawn, Beneficiary, len(ids))
    _insert(
        session,
        Beneficiary,
        [
            {"case_id": cid, **_sealed(row_id, keys[cid], good, keyring.index)}
            for row_id, cid, good in zip(row_ids, ids, rows, strict=True)
        ],
    )


def _sealed(row_id: int, key: bytes, good: GoodRow, index_key: bytes) -> dict[str, Any]:
    values = good.case.person.model_dump(mode="json")
    plain = {name: None if values[name] is None else str(values[name]) for name in PERSON_FIELDS}
    sealed: dict[str, Any] = {"id": row_id}
    sealed.update(crypto.encrypt_fields(key, plain, table="beneficiary", row_id=row_id))
    sealed["match_index"] = crypto.blind_index(
        index_key, values["given_name"], values["family_name"], values["birth_date"]
    )
    full_name = f"{values['given_name']} {values['family_name']}"
    sealed["name_index"] = crypto.blind_index(index_key, "name", full_name)  # vault.name_token
    return sealed


def _items_and_events(
    session: Session,
    ids: list[int],
    rows: list[GoodRow],
    roles: dict[int, Roles],
    drawn: Ids,
    actor: StaffMember,
    now: datetime,
) -> None:
    catalog = load_catalog(CURRENT_VERSION)
    # What every case of a kind (minor or not) gets alike: each item's row but its case and
    # organisation (its due moment computed once), and the event's data (one dict, shared).
    items_of = {
        minor: [
            (
                spec.owner_role(is_minor=minor),
                {
                    "stage": _FIRST_STAGE,
                    "code": spec.code,
                    "title_key": spec.title_key,
                    "due_at": spec.due.apply(now),
                    "blocking": spec.blocking,
                    "status": "open",
                    "created_at": now,
                },
            )
            for spec in catalog.items_for(State.IDENTIFIED_ABROAD, is_minor=minor)
        ]
        for minor in (False, True)
    }
    data_of = {
        minor: {"process_version": CURRENT_VERSION, "is_minor": minor} for minor in (False, True)
    }
    proof = session.info.get("proof")  # how the importer proved who they were
    own, actor_id = actor.org_id, actor.id  # read once, not ORM attributes at every row
    owners: dict[tuple[int, bool], list[Any]] = {}  # each item's owner, once a kind of case
    items, events = [], []
    for cid, good in zip(ids, rows, strict=True):
        minor = good.case.is_minor
        kind = (id(roles[good.row]), minor)
        if kind not in owners:
            by_role = {str(role): org.id for role, org in roles[good.row].items()}
            owners[kind] = [
                own if role == CASE_OWNER else by_role.get(role) or own
                for role, _item in items_of[minor]
            ]
        for owner, (_role, item) in zip(owners[kind], items_of[minor], strict=True):
            items.append({"case_id": cid, "owner_org_id": owner, **item})
        events.append(
            {
                "case_id": cid,
                "actor_id": actor_id,
                "at": _opened_at(good, now),
                "trigger": "import",
                "to_state": _FIRST_STAGE,
                "proof": proof,
                "data": data_of[minor],
            }
        )
    _insert(session, ChecklistItem, items, drawn=drawn)
    _insert(session, CaseEvent, events, drawn=drawn)


def import_rows(
    session: Session,
    *,
    rows: list[GoodRow],
    bad: list[BadRow],
    actor: StaffMember,
    skip_bad: bool,
    now: datetime,
    on_chunk: Callable[[int], None] | None = None,
) -> Outcome:
    """Check rows against the database too, then import all, or (``skip_bad``) the good ones.

    Raises ``InvalidInput`` listing every bad row when there is one and ``skip_bad`` is off:
    nothing is written.
    """
    ensure(session, actor, Action.OPEN_CASE)
    owner = session.get(Organisation, actor.org_id)
    assert owner is not None and owner.id is not None  # noqa: S101
    done = already_imported(session, owner.id)
    fresh = [r for r in rows if r.case.external_id not in done]
    roles, more_bad = check_participants(session, owner, fresh)
    bad = sorted([*bad, *more_bad], key=lambda b: (b.row, b.column))
    if bad and not skip_bad:
        raise BadRows(bad)
    bad_rows = {b.row for b in bad}
    todo = [r for r in fresh if r.row not in bad_rows]
    outcome = Outcome(already=len(rows) - len(fresh), skipped=bad)
    outcome.imported = load(
        session, rows=todo, roles=roles, actor=actor, now=now, on_chunk=on_chunk
    )
    return outcome


class BadRows(InvalidInput):
    """Some rows are bad: nothing was imported. ``rows`` lists every problem."""

    def __init__(self, rows: list[BadRow]) -> None:
        self.rows = rows
        count = len({b.row for b in rows})
        super().__init__(
            f"{count} bad row(s), nothing imported; fix them or pass --skip-bad (first: {rows[0]})"
        )
