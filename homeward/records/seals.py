"""Row seals: a keyed MAC over every case-data row, summed up in the audit head.

The audit chain says who did what; the seals say what the case data looked like when Homeward
last wrote it. Each row of a ``SEALED`` table has a ``RowSeal``: an HMAC (key derived from the
keyring, outside the database) of all its columns, ciphertexts included, bound to the table,
the row id, the case id and a version bumped at each change. The audit head keeps the seals'
count and the XOR of their MACs under its own MAC, so:

- an edited, nulled or swapped value, a forged row, a case_ref moved to another case: the row
  no longer matches its seal, or has none;
- a deleted row (a case key removed outside a purge, a history event dropped): a seal without
  its row; deleted together with its seal: the head's count and sum no longer match;
- an older row put back with its older seal (a replayed ciphertext): the head's sum differs.

Rows are resealed at commit (``before_commit``) from what the database then holds, for every
row the session flushed; bulk statements name their cases with ``touch_cases``. A purge goes
through the ORM and is resealed like any write, so only a key deleted behind Homeward's back
shows as missing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache, reduce
from itertools import chain, repeat
from operator import itemgetter, xor
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Integer,
    RowMapping,
    Select,
    String,
    Table,
    any_,
    bindparam,
    delete,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import load_only
from sqlmodel import Session
from sqlmodel import select as orm_select

from homeward.base import models
from homeward.base.bulk import among, collection_paused, insert_rows, pipelined
from homeward.base.clock import moment_key, utc
from homeward.base.db import is_postgres, system_scope, widest_scope
from homeward.base.errors import AuditBroken
from homeward.base.models import AwareDateTime
from homeward.crypt.crypto import DecryptionFailed
from homeward.crypt.keys import Keyring, load_keyring

if TYPE_CHECKING:
    from homeward.base.models import AuditHead

# The audit tables are named where they are used (``models.RowSeal``): a process that seals no
# row (a read such as ``homeward case show``) never defines them (issue 19).

# Tables holding case data, with the column naming their case.
SEALED: dict[str, str] = {
    "return_case": "id",
    "case_participant": "case_id",
    "beneficiary": "case_id",
    "case_key": "case_id",
    "case_event": "case_id",
    "consent": "case_id",
    "checklist_item": "case_id",
    "handoff": "case_id",
    "item_change": "case_id",
    "reintegration_plan": "case_id",
    "plan_goal": "case_id",
    "plan_service": "case_id",
    "visit": "case_id",
    "case_note": "case_id",
    "case_document": "case_id",
    "case_person": "case_id",
    "nrm_referral": "case_id",
    "assessment": "case_id",
}
# Columns a seal leaves out. A case's ``version`` is its optimistic lock (``locking.bump``),
# which every command on the case writes, a partner's too: sealed, a partner's command had to
# renew the owner's case seal, and so could write it with any MAC (migration 0043). The
# version says nothing of the case; every other column of the row is sealed. An approved plan's
# ``review_due_on`` likewise: a partner's visit brings the review forward to its day
# (``plans.mark_review_due``), which sealed let its commit renew the owner's plan seal with any
# MAC (migration 0044, which holds the date itself to that day and that visit).
UNSEALED: dict[str, frozenset[str]] = {
    "return_case": frozenset({"version"}),
    "reintegration_plan": frozenset({"review_due_on"}),
}
_NAMES = {name: name for name in SEALED}
ZERO = "0" * 64
GENESIS = ZERO
_PENDING = "homeward.unsealed"  # session.info: {table: {row id, ...}} flushed, not yet sealed
_WRITTEN = "homeward.written"  # session.info: {table: {row id: row}} bulk-inserted, not yet sealed
_WRITTEN_MACS = "homeward.written_macs"  # session.info: {table: (sealer, {row id: MAC})} of those
_MOVED = "homeward.head_moved"  # session.info: the chain grew, the head needs a new MAC
_HEAD = "homeward.locked_head"  # session.info: (the transaction that locked it, the head)
_CHAIN = "homeward.chain_end"  # session.info: the chain's last (id, MAC), the head's at commit
# session.info: (the transaction, {table: {row id: (row, seal)}}) read under lock (``hold``)
_HELD = "homeward.held_rows"
_BATCH = 500


@cache
def _seals() -> Table:
    """The ``row_seal`` table."""
    return models.RowSeal.__table__  # type: ignore[attr-defined,no-any-return]


def _table(name: str) -> Table:
    return models.table(name)  # a sealed table this process has not named yet is defined now


def _pk(table: Table) -> Column[Any]:
    return next(iter(table.primary_key.columns))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def row_mac(keyring: Keyring, name: str, row: RowMapping, version: int) -> str:
    """The seal of one row of table ``name`` at ``version``."""
    return _sealer(keyring, name).mac(row, version)


# Types whose values a seal takes as they are (``_plain`` would give them back unchanged).
_AS_IS = (String, Integer, Boolean, JSON)


def _plainer(column: Column[Any]) -> Callable[[Any], Any] | None:
    if isinstance(column.type, _AS_IS):
        return None
    return _plain_moment if isinstance(column.type, DateTime | AwareDateTime) else _plain


def _plain_moment(value: Any) -> Any:
    """``_plain`` for a datetime column, with a short way for the usual value (aware UTC)."""
    if type(value) is datetime and value.tzinfo is UTC:
        return value.isoformat()  # as utc(value).isoformat(): astimezone(UTC) keeps it
    return _plain(value)


# Encodes what a row seal covers (as ``json.dumps`` with these options would, reused).
_ENCODE = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str).encode


def _list_encoder() -> Callable[[Any], str]:
    """``_ENCODE`` for a list or a value inside one (the same text), its C encoder made
    once instead of at each call as ``JSONEncoder.encode`` does."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _ENCODE
    like = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str)
    # JSONEncoder.iterencode's one-shot call, without the circular check's markers (a row's
    # values hold no cycle; markers shared between calls would outlive a failed one)
    made = make(
        None,
        like.default,
        json.encoder.encode_basestring_ascii,
        None,
        like.key_separator,
        like.item_separator,
        like.sort_keys,
        like.skipkeys,
        like.allow_nan,
    )
    return lambda value: "".join(made(value, 0))


_ENCODE_LIST = _list_encoder()


class _Sealer:
    """Row seals for one table: its key derived and its columns listed once, not once a row."""

    def __init__(self, keyring: Keyring, name: str, *, every_column: bool = False) -> None:
        table = _table(name)
        self.name, self.pk, self.case = name, _pk(table).name, SEALED[name]
        left_out = frozenset() if every_column else UNSEALED.get(name, frozenset())
        self.columns = [(c.name, _plainer(c)) for c in table.columns if c.name not in left_out]
        keyed = hmac.new(keyring.derive("row seal"), digestmod=hashlib.sha256)
        # OpenSSL's HMAC under the wrapper when there is one: its copy (one a seal) skips the
        # wrapper's Python; both copy, update and hexdigest alike
        self.keyed: Any = getattr(keyed, "_hmac", None) or keyed

    def mac(self, row: Mapping[Any, Any] | RowMapping, version: int) -> str:
        values = [row[name] if plain is None else plain(row[name]) for name, plain in self.columns]
        content = _ENCODE([self.name, row[self.pk], row[self.case], version, values])
        keyed = self.keyed.copy()
        keyed.update(content.encode())
        mac: str = keyed.hexdigest()
        return mac

    def macs(self, rows: Sequence[Mapping[str, Any]], version: int) -> list[str]:
        """``mac`` of each of ``rows`` at ``version``, the same seals: the rows taken a column
        at a time, a moment repeated down a column made text once (``_moments``), each
        column's values encoded (a value repeated down a column once, ``_encoded``) and each
        row's text joined from them, as the encoder joins a list."""
        columns = []
        for name, plain in self.columns:
            values = list(map(itemgetter(name), rows))
            if plain is _plain_moment:
                values = _moments(values)
            elif plain is not None:  # (None is None in a seal, as _plain gives it)
                values = [None if value is None else plain(value) for value in values]
            columns.append(_encoded(values))
        name, keyed = self.name, self.keyed
        row_ids = list(map(itemgetter(self.pk), rows))
        case_ids = list(map(itemgetter(self.case), rows))
        table = _ENCODE_LIST([name])[:-1]  # '["<table>"'
        if type(version) is int and {*map(type, row_ids), *map(type, case_ids)} == {int}:
            # ints: as json writes them
            ids = zip(row_ids, case_ids, strict=True)
            leads = [f"{table},{r},{c},{version},[" for r, c in ids]
        else:
            leads = [
                _ENCODE_LIST([name, r, c, version])[:-1] + ",["
                for r, c in zip(row_ids, case_ids, strict=True)
            ]
        out: list[str] = []
        copy, append = keyed.copy, out.append
        for lead, parts in zip(leads, zip(*columns, strict=True), strict=True):
            each = copy()
            each.update(f"{lead}{','.join(parts)}]]".encode())
            append(each.hexdigest())
        return out


_ONE_KIND = frozenset({str, int, bool, type(None)})
# How ``_ENCODE`` writes a text inside a list (its C function, called without the encoder's
# Python around it), and the other values of a column of one kind.
_TEXT = json.encoder.encode_basestring_ascii
_WORDS: dict[Any, str] = {None: "null", True: "true", False: "false"}


def _encoded(values: list[Any]) -> list[str]:
    """Each value as ``_ENCODE`` writes it inside a list. A column of one such kind (texts,
    or ints, or bools; and None) is written by that kind's own function, without the
    encoder's walk: a text by json's C function, an int as its repr, None and bools by
    name."""
    kinds = set(map(type, values))
    if kinds == {int}:  # ids: an int is written as its repr
        return list(map(int.__repr__, values))
    if kinds == {str}:  # ciphertexts, codes, references: each written by the C function
        return list(map(_TEXT, values))
    if not kinds <= _ONE_KIND or len(kinds - {type(None)}) > 1:  # (True == 1, "true" != "1")
        return [_ENCODE_LIST(value) for value in values]
    if str in kinds:
        return [_TEXT(value) if value is not None else "null" for value in values]
    if int in kinds:
        return [int.__repr__(value) if value is not None else "null" for value in values]
    return list(map(_WORDS.__getitem__, values))  # bools and None


def _moments(values: list[Any]) -> list[Any]:
    """``_plain_moment`` of each value; a datetime met again is looked up (by ``moment_key``:
    the same instant, whose text in UTC is the same)."""
    seen: dict[Any, str] = {}
    out: list[Any] = []
    for value in values:
        if value is None:
            out.append(None)
        elif type(value) is datetime:
            key = moment_key(value)
            text = seen.get(key)
            if text is None:
                text = seen[key] = _plain_moment(value)
            out.append(text)
        else:
            out.append(_plain(value))
    return out


_SEALERS: dict[tuple[str, str], _Sealer] = {}  # (the keyring's audit key, table) -> its sealer


def _sealer(keyring: Keyring, name: str) -> _Sealer:
    """The table's sealer for this keyring's seal key, made once (a process meets one or two
    keyrings: the seal key is derived from the audit key, which rotation keeps)."""
    key = (keyring.audit_key, name)
    sealer = _SEALERS.get(key)
    if sealer is None:
        sealer = _SEALERS[key] = _Sealer(keyring, name)
    return sealer


def head_mac(keyring: Keyring, head: AuditHead) -> str:
    """The audit head's own MAC: the chain's last link and the seals' count and sum."""
    content = json.dumps([head.last_id, head.last_mac, head.seal_count, head.seal_state])
    return hmac.new(keyring.derive("audit head"), content.encode(), hashlib.sha256).hexdigest()


def _xor(a: str, b: str) -> str:
    return f"{int(a, 16) ^ int(b, 16):064x}"


_SEALING: set[str] = set()  # databases found to hold row seals (schema 0014 on)


def sealing(session: Session) -> bool:
    """Whether the database has row seals: an older schema (a backup being taken or checked
    before its upgrade) has the chain only, and is sealed when it is upgraded."""
    url = session.get_bind().engine.url
    where = url.render_as_string(hide_password=True)
    if where in _SEALING:
        return True
    found = inspect(session.connection()).has_table("row_seal")
    if found and url.database:  # not a file opened through a creator (a backup's check)
        _SEALING.add(where)
    return found


_HEAD_QUERIES: dict[tuple[bool, bool], Any] = {}  # (sealing?, locked?) -> the statement


def head_query(session: Session, *, locked: bool = False) -> Any:
    """The audit head's row (on an older schema: the chain's columns only); ``locked``: for
    update. Built once each (every write transaction reads it)."""
    key = (sealing(session), locked)
    query = _HEAD_QUERIES.get(key)
    if query is None:
        head = models.AuditHead
        query = orm_select(head).where(head.id == 1)
        if not key[0]:
            only = (head.id, head.last_id, head.last_mac)
            query = query.options(load_only(*only))  # type: ignore[arg-type]
        if locked:
            query = query.with_for_update()
        query = _HEAD_QUERIES[key] = query.execution_options(populate_existing=True)
    return query


def _transaction(session: Session) -> object:
    return session.get_nested_transaction() or session.get_transaction()


def _this_transactions(session: Session, key: str) -> Any:
    """What ``session.info[key]`` keeps for this transaction (kept as ``(transaction,
    value)``), or None: another transaction's, or a savepoint's rolled back, is stale."""
    kept = session.info.get(key)
    return kept[1] if kept is not None and kept[0] is _transaction(session) else None


def locked_head(session: Session) -> AuditHead:
    """The audit head, locked for this transaction (created at the first write). Read once
    per transaction: once locked, only this transaction changes it (through this object); a
    savepoint, or its rollback, reads it again."""
    held = _this_transactions(session, _HEAD)
    if held is not None:
        return held  # type: ignore[no-any-return]
    head = session.exec(head_query(session, locked=True)).first()
    if head is None:
        # The chain's columns only: the others take the schema's defaults (an older schema
        # has none of them).
        first = text("INSERT INTO audit_head (id, last_id, last_mac) VALUES (1, 0, :mac)")
        session.execute(first, {"mac": GENESIS})
        head = session.exec(head_query(session, locked=True)).one()
    session.info[_HEAD] = (_transaction(session), head)
    return head  # type: ignore[no-any-return]


def mark(session: Session | OrmSession, name: str, row_ids: Iterable[int]) -> None:
    """Reseal these rows of ``name`` when the transaction commits."""
    pending: dict[str, set[int]] = session.info.setdefault(_PENDING, {})
    pending.setdefault(name, set()).update(row_ids)


def written(session: Session, name: str, rows: Iterable[dict[str, Any]]) -> None:
    """Seal these rows of ``name`` at commit from these values: rows a bulk insert has just
    written under new ids, every column given as the database holds it
    (``homeward.base.bulk.complete``), so neither they nor their seals are read back. A seal
    already there for one of them (a row deleted behind Homeward's back, its seal left) makes
    the seal's insert, and so the commit, fail. A row flushed or marked since is read back.

    Their MACs (at version 1, as the commit seals a new row) are computed now: on PostgreSQL
    while the server writes the rows (``bulk.pipelined``) rather than at commit, when it waits
    for them. The commit uses them if its keyring seals alike (the same sealer), and only
    for rows not flushed or marked since."""
    name = _NAMES[name]  # the plain text (a table's name is a str subclass the driver adapts)
    pk = _pk(_table(name)).name
    rows = list(rows)
    store: dict[int, dict[str, Any]] = session.info.setdefault(_WRITTEN, {}).setdefault(name, {})
    row_ids = list(map(itemgetter(pk), rows))
    store.update(zip(row_ids, rows, strict=True))
    sealer = _sealer(load_keyring(), name)
    made: dict[str, tuple[_Sealer, dict[int, str]]] = session.info.setdefault(_WRITTEN_MACS, {})
    held = made.get(name)
    if held is None or held[0] is not sealer:  # (a keyring sealing otherwise: these only)
        held = made[name] = (sealer, {})
    held[1].update(zip(row_ids, sealer.macs(rows, 1), strict=True))


def chain_end(session: Session, head: AuditHead) -> tuple[int, str]:
    """The chain's last entry (id, MAC), with this transaction's entries: the head's values
    until an entry is appended, then the newest appended."""
    end: tuple[int, str] | None = session.info.get(_CHAIN)
    return end if end is not None else (head.last_id, head.last_mac)


def head_moved(session: Session, last_id: int, last_mac: str) -> None:
    """The chain grew in this transaction, up to ``last_id``: the head is written once, at
    commit, with the new end and its new MAC (not at each flush in between; nothing reads
    the head back before the commit, whose MAC it would not match anyway)."""
    session.info[_CHAIN] = (last_id, last_mac)
    session.info[_MOVED] = True


def touch_cases(session: Session, case_ids: Iterable[int]) -> None:
    """Reseal every row of these cases at commit (after bulk statements, which the ORM does
    not see): the rows there now, and the seals of rows that are gone."""
    ids = list(case_ids)
    if not sealing(session):
        return
    with widest_scope(session):  # row_seal follows its case (0015)
        _touch(session, ids)


def _touch(session: Session, ids: list[int]) -> None:
    conn, row_seal = session.connection(), _seals()
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        for name, case_column in SEALED.items():
            table = _table(name)
            found = conn.execute(select(_pk(table)).where(among(conn, table.c[case_column], chunk)))
            sealed = conn.execute(
                select(row_seal.c.row_id).where(
                    row_seal.c.tbl == name, among(conn, row_seal.c.case_id, chunk)
                )
            )
            mark(session, name, chain(found.scalars(), sealed.scalars()))


@event.listens_for(OrmSession, "after_flush")
def _note_flushed(session: OrmSession, _context: Any) -> None:
    for obj in chain(session.new, session.dirty, session.deleted):
        name = getattr(obj, "__tablename__", None)
        if name in SEALED:
            mark(session, name, [getattr(obj, _pk(_table(name)).name)])


@event.listens_for(OrmSession, "before_flush")
def _check_before_writing(session: OrmSession, _context: Any, _instances: Any) -> None:
    if not isinstance(session, Session):
        return  # not ours (Prefect's own database)
    first = _first_writes(session)
    if first:
        refuse_altered(session, first)


def _first_writes(session: Session) -> dict[str, list[int]]:
    """The sealed rows this flush writes (changes or deletes) that this transaction has not
    written before: the database still holds them as their seals should say."""
    found: dict[str, list[int]] = {}
    for obj in chain(session.dirty, session.deleted):
        name = getattr(obj, "__tablename__", None)
        if name not in SEALED:
            continue
        identity = inspect(obj).identity
        if identity is None:
            continue
        row_id = identity[0]
        if not _written_here(session, name, row_id):
            found.setdefault(name, []).append(row_id)
    return found


def _written_here(session: Session, name: str, row_id: int) -> bool:
    """Whether this transaction wrote ``name``'s row ``row_id``: its seal is made at commit,
    so the database's seal does not speak for it yet."""
    pending: dict[str, set[int]] = session.info.get(_PENDING, {})
    given: dict[str, dict[int, Any]] = session.info.get(_WRITTEN, {})
    return row_id in pending.get(name, ()) or row_id in given.get(name, {})


def with_seal(query: Select[Any], name: str) -> Select[Any]:
    """``query``, a read of rows of table ``name``, with each row's seal beside it (its
    version and MAC; None for a row without one): what ``hold`` takes."""
    table, row_seal = _table(name), _seals()
    on = (row_seal.c.tbl == name) & (row_seal.c.row_id == _pk(table))
    return query.outerjoin(row_seal, on).add_columns(row_seal.c.version, row_seal.c.mac)


def hold(session: Session, name: str, obj: Any, version: int | None, mac: str | None) -> None:
    """Keep, for this transaction, the row ``obj`` of table ``name`` as it was just read with
    its seal (``with_seal``), the row locked for this transaction (``FOR UPDATE``; on SQLite
    the write transaction's lock): until this transaction writes it, the database holds it as
    read, so the check before its first write (``refuse_altered``) needs no read of its own."""
    state = inspect(obj)
    values = state.dict
    columns = _attribute_keys(name, state.mapper)
    if any(key not in values for _column, key in columns):
        return  # not every column loaded: the check reads the row
    row = {column: values[key] for column, key in columns}
    row_id = row[_pk(_table(name)).name]
    seal = _Seal(row_id, version, mac) if version is not None and mac is not None else None
    kept: dict[str, dict[int, tuple[dict[str, Any], _Seal | None]]] | None
    kept = _this_transactions(session, _HELD)
    if kept is None:
        kept = {}
        session.info[_HELD] = (_transaction(session), kept)
    kept.setdefault(name, {})[row_id] = (row, seal)


_KEYS: dict[str, list[tuple[str, str]]] = {}  # table -> (column, mapped attribute) of each column


def _attribute_keys(name: str, mapper: Any) -> list[tuple[str, str]]:
    keys = _KEYS.get(name)
    if keys is None:
        columns = _table(name).columns
        keys = _KEYS[name] = [(c.name, mapper.get_property_by_column(c).key) for c in columns]
    return keys


def _held(session: Session) -> dict[str, dict[int, tuple[dict[str, Any], _Seal | None]]]:
    """The rows ``hold`` kept in this transaction (none once it is another)."""
    return _this_transactions(session, _HELD) or {}


def refuse_altered(session: Session, row_ids: Mapping[str, list[int]]) -> None:
    """Refuse (exit 9) to write over a sealed row that no longer matches its seal: changed
    outside Homeward since its last write. Resealing it at commit (``_reseal`` seals what the
    row then holds) would make the outside change look like Homeward's own. A row read with
    its seal under this transaction's lock (``hold``) is checked as read, not read again."""
    if not sealing(session):
        return
    # Read in the transaction's own scope (row security: the seals of the cases it sees, so
    # of the rows it writes); a scope changed here would flush, inside this flush.
    keyring, conn, held = load_keyring(), session.connection(), _held(session)
    for name, ids in row_ids.items():
        kept, sealer = held.get(name, {}), _sealer(keyring, name)
        # A held row that does not match (or had no seal beside it) is read again: under READ
        # COMMITTED a ``FOR UPDATE`` that waited for another transaction's lock re-fetches the
        # locked row once that one commits, but not the seal joined to it, so a command that
        # waited for another command's commit holds the new row beside the old seal. Only
        # the fresh read decides: a false "altered outside Homeward" teaches people to shrug
        # at exit 9.
        again = [i for i in ids if i not in kept or not _matches(sealer, *kept[i])]
        if not again:
            continue
        rows, seals = _rows_and_seals(conn, _table(name), name, again)
        for row_id in again:
            row, seal = rows.get(row_id), seals.get(row_id)
            if row is None or seal is None:
                continue  # gone (the write finds it so), or a seal this scope does not see
            if not _matches(sealer, row, seal):
                raise AuditBroken(
                    f"{name} row {row_id} does not match its seal: altered outside Homeward; "
                    "nothing was written (run `homeward audit verify`)"
                )


def _matches(sealer: _Sealer, row: Mapping[str, Any], seal: _Seal | None) -> bool:
    return seal is not None and hmac.compare_digest(seal.mac, sealer.mac(row, seal.version))


@event.listens_for(OrmSession, "before_commit")
def _seal_at_commit(session: OrmSession) -> None:
    if not isinstance(session, Session):
        return  # not ours (Prefect's own database)
    if session.new or session.dirty or session.deleted:
        session.flush()  # commit flushes only after this hook: flush now to see what changed
    if session.info.get(_PENDING) or session.info.get(_WRITTEN) or session.info.get(_MOVED):
        seal_pending(session)


@event.listens_for(OrmSession, "after_commit")
@event.listens_for(OrmSession, "after_rollback")
def _forget(session: OrmSession) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_WRITTEN, None)
    session.info.pop(_WRITTEN_MACS, None)
    session.info.pop(_MOVED, None)
    session.info.pop(_HEAD, None)
    session.info.pop(_CHAIN, None)
    session.info.pop(_HELD, None)


def seal_pending(session: Session) -> None:
    """Reseal the rows this transaction wrote and give the audit head its new MAC (Python's
    garbage collector waiting meanwhile: a bulk import seals ten rows a case)."""
    with collection_paused():
        _seal_pending(session)


def _seal_pending(session: Session) -> None:
    session.flush()
    pending: dict[str, set[int]] = session.info.pop(_PENDING, {})
    given: dict[str, dict[int, dict[str, Any]]] = session.info.pop(_WRITTEN, {})
    made: dict[str, tuple[_Sealer, dict[int, str]]] = session.info.pop(_WRITTEN_MACS, {})
    session.info.pop(_MOVED, None)
    end: tuple[int, str] | None = session.info.pop(_CHAIN, None)
    if not sealing(session):
        if end is not None:  # an older schema: the chain's end only
            _set_end(session, locked_head(session), end)
        return
    keyring = load_keyring()
    with widest_scope(session):
        head = locked_head(session)
        if end is not None:
            _set_end(session, head, end)
        conn = session.connection()
        # Rows given as written need no reading: their seals' inserts are then sent without
        # waiting (``pipelined``), the next table's seals computed meanwhile.
        with pipelined(conn) if not any(pending.values()) else nullcontext():
            new: list[dict[str, Any]] = []  # new rows' seals, of every table: one insert a batch
            for name in sorted(pending.keys() | given.keys()):
                marked, known = pending.get(name, set()), given.get(name, {})
                known = {i: row for i, row in known.items() if i not in marked}  # changed since
                row_ids = sorted(marked | known.keys())
                sealer, macs = made.get(name, (None, {}))
                if sealer is not _sealer(keyring, name):
                    macs = {}  # computed with another keyring's seal key: computed again
                _reseal(conn, keyring, head, name, row_ids, known, new, macs)
                if len(new) >= _BATCH:
                    insert_rows(conn, _seals(), new)
                    new = []
            insert_rows(conn, _seals(), new)
        head.mac = head_mac(keyring, head)
        session.add(head)


def _set_end(session: Session, head: AuditHead, end: tuple[int, str]) -> None:
    head.last_id, head.last_mac = end
    session.add(head)  # written by the commit's flush


def _reseal(
    conn: Connection,
    keyring: Keyring,
    head: AuditHead,
    name: str,
    row_ids: list[int],
    known: dict[int, dict[str, Any]] | None = None,
    new_seals: list[dict[str, Any]] | None = None,
    known_macs: dict[int, str] | None = None,
) -> None:
    """Reseal these rows of ``name``: one statement per kind of change and batch, not one a
    row (a bulk import seals ten rows a case), and the head's sum added up once. Rows in
    ``known`` (just bulk-inserted) are sealed from those values, the others read back. The
    seals of new rows go to ``new_seals`` when given (the caller inserts them), else are
    inserted here. ``known_macs``: the MACs at version 1 of rows in ``known``, computed
    before (``written``); a row without one is sealed here."""
    known, known_macs = known or {}, known_macs or {}
    table, row_seal = _table(name), _seals()
    sealer = _sealer(keyring, name)
    case_column = SEALED[name]
    count, state = head.seal_count, int(head.seal_state, 16)
    for start in range(0, len(row_ids), _BATCH):
        chunk = row_ids[start : start + _BATCH]
        new: list[dict[str, Any]] = []
        if given := [i for i in chunk if i in known]:
            # rows given as written are new (a seal already there refuses the commit): sealed
            # at version 1 together, from those values
            rows_given = [known[i] for i in given]
            if missing := [i for i in given if i not in known_macs]:
                made = sealer.macs([known[i] for i in missing], 1)
                known_macs = {**known_macs, **dict(zip(missing, made, strict=True))}
            macs = [known_macs[i] for i in given]
            new = [
                {"tbl": name, "row_id": i, "case_id": row[case_column], "version": 1, "mac": mac}
                for i, row, mac in zip(given, rows_given, macs, strict=True)
            ]
            count += len(macs)
            state = reduce(xor, map(int, macs, repeat(16)), state)  # each MAC's bits, summed
        rows: dict[int, Any] = {}
        seals: dict[int, Any] = {}
        if unknown := [i for i in chunk if i not in known]:
            rows, seals = _rows_and_seals(conn, table, name, unknown)
        changed: list[dict[str, Any]] = []
        gone: list[int] = []
        for row_id in unknown:
            row, seal = rows.get(row_id), seals.get(row_id)
            if row is None:
                if seal is not None:  # deleted through Homeward: the seal goes too
                    gone.append(seal.row_id)
                    count, state = count - 1, state ^ int(seal.mac, 16)
                continue
            if seal is not None and hmac.compare_digest(seal.mac, sealer.mac(row, seal.version)):
                continue  # flushed, but unchanged
            version = seal.version + 1 if seal is not None else 1
            mac = sealer.mac(row, version)
            values = {"case_id": row[case_column], "version": version, "mac": mac}
            if seal is None:
                new.append({"tbl": name, "row_id": row_id, **values})
                count += 1
            else:
                changed.append({"b_row_id": row_id, **values})
                state ^= int(seal.mac, 16)
            state ^= int(mac, 16)
        if gone:
            conn.execute(
                delete(row_seal).where(row_seal.c.tbl == name, among(conn, row_seal.c.row_id, gone))
            )
        if new_seals is not None:
            new_seals += new
        elif new:
            insert_rows(conn, row_seal, new)
        if changed:
            conn.execute(_reseal_update(name), changed)
    if (count, state) != (head.seal_count, int(head.seal_state, 16)):
        head.seal_count, head.seal_state = count, f"{state:064x}"


@cache
def _reseal_update(name: str) -> Any:
    """The new version and MAC of ``name``'s row ``b_row_id``'s seal (built once a table)."""
    row_seal = _seals()
    where = (row_seal.c.tbl == name) & (row_seal.c.row_id == bindparam("b_row_id"))
    return update(row_seal).where(where)


class _Seal(NamedTuple):
    row_id: int
    version: int
    mac: str


_ROWS_AND_SEALS: dict[tuple[str, bool], Any] = {}  # (table, PostgreSQL?) -> the statement


def _ids_param(conn: Connection, column: Column[Any]) -> Any:
    """``column`` is one of the bound list ``ids`` (``among``'s forms, as one cached statement)."""
    if is_postgres(conn):
        return column == any_(bindparam("ids", type_=ARRAY(column.type)))
    return column.in_(bindparam("ids", expanding=True))


def _rows_and_seals(
    conn: Connection, table: Table, name: str, row_ids: list[int]
) -> tuple[dict[int, Any], dict[int, _Seal]]:
    """These rows of ``name`` as the database holds them, and their seals, in one statement
    (the row joined to its seal); the seals of rows that are gone in a second one, only when
    some are gone."""
    key, row_seal = (name, is_postgres(conn)), _seals()
    query = _ROWS_AND_SEALS.get(key)
    if query is None:
        pk = _pk(table)
        joined = table.outerjoin(row_seal, (row_seal.c.tbl == name) & (row_seal.c.row_id == pk))
        seal_columns = (row_seal.c.version.label("seal_v_"), row_seal.c.mac.label("seal_mac_"))
        query = select(table, *seal_columns).select_from(joined).where(_ids_param(conn, pk))
        _ROWS_AND_SEALS[key] = query
    pk_name = _pk(table).name
    rows: dict[int, Any] = {}
    seals: dict[int, _Seal] = {}
    for row in conn.execute(query, {"ids": row_ids}).mappings():
        row_id = row[pk_name]
        rows[row_id] = row
        if row["seal_mac_"] is not None:
            seals[row_id] = _Seal(row_id, row["seal_v_"], row["seal_mac_"])
    if gone := [i for i in row_ids if i not in rows]:
        query = select(row_seal).where(row_seal.c.tbl == name, among(conn, row_seal.c.row_id, gone))
        seals.update((s.row_id, _Seal(s.row_id, s.version, s.mac)) for s in conn.execute(query))
    return rows, seals


def reseal_all(session: Session) -> int:
    """Seal every case-data row as it stands (the upgrade's baseline); returns the count."""
    conn = session.connection()
    for name, table in ((n, _table(n)) for n in SEALED):
        mark(session, name, conn.execute(select(_pk(table))).scalars())
    count = sum(len(ids) for ids in session.info.get(_PENDING, {}).values())
    seal_pending(session)
    session.flush()
    return count


def reseal_left_out(
    session: Session, *, left_out: bool = True, tables: Sequence[str] | None = None
) -> int:
    """Migrations 0043 and 0044: the seals of ``UNSEALED``'s tables (or of ``tables``, some
    of them) made again without those columns (``left_out``; False: over every column again,
    for a downgrade), at their versions. A
    seal is made again only where its row still matches it: a row changed outside Homeward
    keeps its seal, and still fails ``verify_seals``. The head's sum follows (and its MAC, if
    it held). Returns how many seals were made again."""
    done = 0
    with widest_scope(session):
        names = list(UNSEALED if tables is None else tables)
        sealed = select(func.count()).where(_seals().c.tbl.in_(names))
        if not session.connection().execute(sealed).scalar_one():
            return 0  # no case sealed yet (a new database): no keyring needed
        keyring, head = load_keyring(), locked_head(session)
        held, state = head.mac == head_mac(keyring, head), int(head.seal_state, 16)
        for name in names:
            every, fewer = _Sealer(keyring, name, every_column=True), _sealer(keyring, name)
            was, now = (every, fewer) if left_out else (fewer, every)
            made = _remade(session.connection(), name, was, now)
            for old, new in made.values():
                state ^= int(old, 16) ^ int(new, 16)
            done += len(made)
        head.seal_state = f"{state:064x}"
        if held:
            head.mac = head_mac(keyring, head)
        session.add(head)
        session.flush()
    return done


def _remade(conn: Connection, name: str, was: _Sealer, now: _Sealer) -> dict[int, tuple[str, str]]:
    """The seals of ``name`` that ``was`` made and its rows still match, made by ``now``
    instead: {row id: (old MAC, new MAC)}."""
    table, row_seal = _table(name), _seals()
    pk = _pk(table)
    joined = table.join(row_seal, (row_seal.c.tbl == name) & (row_seal.c.row_id == pk))
    seal_columns = (row_seal.c.version.label("seal_v_"), row_seal.c.mac.label("seal_mac_"))
    made: dict[int, tuple[str, str]] = {}
    for row in conn.execute(select(table, *seal_columns).select_from(joined)).mappings():
        if hmac.compare_digest(row["seal_mac_"], was.mac(row, row["seal_v_"])):
            made[row[pk.name]] = (row["seal_mac_"], now.mac(row, row["seal_v_"]))
    changes = [{"b_row_id": i, "mac": new} for i, (_old, new) in made.items()]
    for start in range(0, len(changes), _BATCH):
        conn.execute(_reseal_update(name), changes[start : start + _BATCH])
    return made


def check_row(session: Session, name: str, row_id: int) -> None:
    """Refuse (exit 8) to decrypt from a row that does not match its seal: it was changed,
    swapped or replayed outside Homeward. Rows this transaction wrote are not sealed yet."""
    session.flush()
    if _written_here(session, name, row_id) or not sealing(session):
        return
    table, row_seal = _table(name), _seals()
    conn = session.connection()
    with widest_scope(session):
        row = conn.execute(select(table).where(_pk(table) == row_id)).mappings().first()
        query = select(row_seal).where(row_seal.c.tbl == name, row_seal.c.row_id == row_id)
        seal = conn.execute(query).first()
    if row is None and seal is None:
        return
    if row is None or seal is None or seal.mac != row_mac(load_keyring(), name, row, seal.version):
        raise DecryptionFailed(
            f"{name} row {row_id} does not match its seal (changed, swapped or removed "
            "outside Homeward); nothing was decrypted: run `homeward audit verify`"
        )


@dataclass(frozen=True)
class SealSum:
    """What the seals add up to, as the audit head should record it."""

    count: int
    state: str


def verify_seals(session: Session, keyring: Keyring) -> tuple[str | None, SealSum]:
    """Every sealed row against its seal: the first problem (or None) and the seals' sum."""
    conn, total, state = session.connection(), 0, ZERO
    with system_scope(session):
        seen = {r.tbl for r in conn.execute(select(_seals().c.tbl).distinct())}
        if unknown := seen - set(SEALED):
            return f"row seals name an unknown table {sorted(unknown)[0]}", SealSum(0, ZERO)
        for name in SEALED:
            problem, count, part = _verify_table(conn, keyring, name)
            if problem:
                return problem, SealSum(0, ZERO)
            total, state = total + count, _xor(state, part)
    return None, SealSum(total, state)


def _verify_table(conn: Connection, keyring: Keyring, name: str) -> tuple[str | None, int, str]:
    table, row_seal = _table(name), _seals()
    pk = _pk(table)
    query = select(row_seal).where(row_seal.c.tbl == name).order_by(row_seal.c.row_id)
    seals = {s.row_id: s for s in conn.execute(query)}
    state, count, sealer = ZERO, 0, _sealer(keyring, name)
    for row in conn.execute(select(table).order_by(pk)).mappings():
        row_id = row[pk.name]
        seal = seals.pop(row_id, None)
        if seal is None:
            return f"{name} row {row_id} has no seal: written outside Homeward", 0, ZERO
        if not hmac.compare_digest(seal.mac, sealer.mac(row, seal.version)):
            return f"{name} row {row_id} does not match its seal: altered outside Homeward", 0, ZERO
        state, count = _xor(state, seal.mac), count + 1
    if seals:
        return f"{name} row {min(seals)} was deleted outside Homeward", 0, ZERO
    return None, count, state
