"""The outbox: every email is first a row, written in the transaction of the change behind it.

``enqueue`` is idempotent on ``key`` at the database (``INSERT ... ON CONFLICT DO NOTHING``),
so two sweeps racing, or a retried transaction, still queue each email once. The sender
claims due rows with a lease (``sending`` until ``next_attempt_at``), so a crashed sender's
rows come back instead of being lost. Each address of a message is an ``OutboxRecipient``
row, delivered, refused or retried on its own (``notifications.delivery``).

Mail that can wait is queued for its recipients' next working hours (``notifications.urgency``:
``next_attempt_at`` is then their next working morning), and ``claim`` holds back any such row
that comes due in quiet hours all the same (a retry, a dead letter queued again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, insert, update
from sqlmodel import Session, col, select

from homeward.base.bulk import insert_new_rows, insert_rows
from homeward.base.clock import utc
from homeward.base.db import insert_for, is_postgres
from homeward.base.errors import InvalidInput
from homeward.base.models import (
    OutboxMessage,
    OutboxRecipient,
    OutboxStatus,
    RecipientStatus,
    utcnow,
)
from homeward.base.settings import get_settings
from notifications.contexts import TEMPLATES, Context
from notifications.i18n import check_language
from notifications.message import check_header, message_id_for, valid_address
from notifications.render import validate_context
from notifications.urgency import Urgency, send_at, urgency_of
from notifications.workdays import Calendars, WorkCalendar

KEY_MAX = 200
OPEN = (RecipientStatus.PENDING, RecipientStatus.DEFERRED)  # still to be tried


class Verdict(StrEnum):
    """What one attempt at sending a message came to."""

    SENT = "sent"  # accepted for at least one recipient (others may be refused or deferred)
    RETRY = "retry"  # temporary: a 4xx answer, a lost connection, a timeout
    DEAD = "dead"  # permanent: a 5xx answer, or a message that cannot be built safely
    NOT_TRIED = "not_tried"  # the server could not be reached: uses up no attempt


@dataclass(frozen=True)
class Attempt:
    """The outcome of one attempt; ``refused`` are permanent (5xx) recipient refusals,
    ``deferred`` temporary (4xx) ones, both as address -> "code reply"; ``reply`` the server's
    answer to the message when it accepted it (e.g. "250 2.0.0 OK: queued")."""

    verdict: Verdict
    accepted: tuple[str, ...] = ()
    refused: Mapping[str, str] = field(default_factory=dict)
    deferred: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    reply: str | None = None


def insert_ignoring_duplicates(
    session: Session, table: Table, values: Mapping[str, Any], unique: Sequence[str]
) -> int | None:
    """Insert one row; return its id, or None when a row with the same ``unique`` columns
    exists (the database decides, so concurrent writers cannot both insert)."""
    statement = (
        insert_for(session)(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(unique))
        .returning(table.c.id)
    )
    row_id: int | None = session.execute(statement).scalar_one_or_none()
    return row_id


def insert_many_ignoring_duplicates(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], unique: Sequence[str]
) -> int:
    """Insert many rows, a thousand per statement, skipping any whose ``unique`` columns exist
    already; returns how many were inserted."""
    statement = (
        insert_for(session)(table)
        .on_conflict_do_nothing(index_elements=list(unique))
        .returning(table.c.id)
    )
    inserted = 0
    for start in range(0, len(rows), 1_000):
        inserted += len(session.execute(statement, list(rows[start : start + 1_000])).all())
    return inserted


def _recipients(to: str | Sequence[str]) -> list[str]:
    addresses = [to] if isinstance(to, str) else list(to)
    if not addresses:
        raise InvalidInput("to: give at least one recipient")
    return list(dict.fromkeys(valid_address(address) for address in addresses))


class Queued(NamedTuple):
    """One email to queue (see ``enqueue``)."""

    key: str
    template: str
    to: str | Sequence[str]
    language: str
    context: Context | Mapping[str, Any]
    org_id: int | None = None  # the recipients' organisation: its calendar says when it goes


def _row(
    message: Queued, moment: datetime, mail_from: str, calendar: WorkCalendar
) -> dict[str, Any]:
    """The outbox row of ``message``, checked: a bad key, address, language or context raises
    here, before anything is written. It is due at ``moment``, or when ``calendar``'s working
    hours open if it can wait."""
    key = message.key
    if not key or len(key) > KEY_MAX:
        raise InvalidInput(f"key: give 1 to {KEY_MAX} characters")
    check_header("key", key)
    model = validate_context(message.template, message.context)
    context = model.model_dump(mode="json")
    return {
        "key": key,
        "template": message.template,
        "language": check_language(message.language),
        "to_addrs": _recipients(message.to),
        "context": context,
        "message_id": message_id_for(key, mail_from),
        "status": OutboxStatus.QUEUED,
        "attempts": 0,
        "next_attempt_at": send_at(message.template, context, calendar, moment),
        "org_id": message.org_id,
        "created_at": moment,
    }


def _recipient_rows(
    message_id: int, addresses: Sequence[str], moment: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "message_id": message_id,
            "address": address,
            "status": RecipientStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": moment,
            "updated_at": moment,
        }
        for address in addresses
    ]


def enqueue(
    session: Session,
    *,
    key: str,
    template: str,
    to: str | Sequence[str],
    language: str,
    context: Context | Mapping[str, Any],
    now: datetime | None = None,
    org_id: int | None = None,
) -> OutboxMessage | None:
    """Queue one email in the caller's transaction; None if ``key`` was queued before.

    ``context`` must fit the template's context model (checked here, so a bad row is never
    written); ``to`` is one address or several (one message, each recipient tracked);
    ``org_id`` their organisation, whose working hours it waits for unless it is urgent.
    """
    message, moment = Queued(key, template, to, language, context, org_id), now or utcnow()
    calendar = Calendars(session).of(org_id)
    values = _row(message, moment, get_settings().mail_from, calendar)
    row_id = insert_ignoring_duplicates(session, _table(), values, ["key"])
    if row_id is None:
        return None
    session.execute(insert(OutboxRecipient), _recipient_rows(row_id, values["to_addrs"], moment))
    return session.get(OutboxMessage, row_id)


SIGN_IN = "login_code"


def enqueue_many(
    session: Session, messages: Sequence[Queued], *, now: datetime | None = None
) -> int:
    """Queue many emails with one statement per thousand; returns how many were new (a key
    queued before is skipped, as by ``enqueue``). Every message is checked before any is
    written."""
    rows = outbox_rows(messages, now=now or utcnow(), calendars=Calendars(session))
    return insert_outbox_rows(session, rows)


def outbox_rows(
    messages: Sequence[Queued], *, now: datetime, calendars: Calendars
) -> list[dict[str, Any]]:
    """The outbox rows of these messages, each checked (a bad one raises, nothing written):
    built before the transaction that inserts them, which then holds no writer up for it."""
    mail_from = get_settings().mail_from
    calendars.load([message.org_id for message in messages])
    return [_row(m, now, mail_from, calendars.of(m.org_id)) for m in messages]


def insert_outbox_rows(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows built by ``outbox_rows`` (and their recipients), a thousand per statement;
    returns how many were new."""
    statement = (
        insert_for(session)(_table())
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(_table().c.id, _table().c.to_addrs)
    )
    postgres, inserted = is_postgres(session), 0
    for start in range(0, len(rows), 1_000):
        chunk = rows[start : start + 1_000]
        new: Sequence[Any]
        if postgres:  # the rows as one JSON text each: no statement of a parameter a value
            session.flush()
            conn = session.connection()
            new = insert_new_rows(conn, _table(), chunk, unique="key", returning=["id", "to_addrs"])
        else:
            new = session.execute(statement, list(chunk)).all()
        moment = chunk[0]["created_at"]
        recipients = [r for row_id, to in new for r in _recipient_rows(row_id, to, moment)]
        if recipients and postgres:
            insert_rows(conn, OutboxRecipient.__table__, recipients)  # type: ignore[attr-defined]
        elif recipients:
            session.execute(insert(OutboxRecipient), recipients)
        inserted += len(new)
    return inserted


def _table() -> Table:
    table: Table = OutboxMessage.__table__  # type: ignore[attr-defined]
    return table


class Leased(NamedTuple):
    """A message ``claim`` leased: its row as it now stands (``sending``, one more attempt),
    read without the ORM (a drain claims thousands)."""

    id: int
    key: str
    template: str
    language: str
    to_addrs: list[str]
    context: dict[str, Any]
    message_id: str
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    org_id: int | None


def claim(
    session: Session,
    *,
    due_by: datetime,
    now: datetime,
    limit: int,
    lease_seconds: float,
    keys: Sequence[str] | None = None,
    leased_from: dict[int, Unleased] | None = None,
) -> list[Leased]:
    """Lease up to ``limit`` messages due by ``due_by`` (queued, or sending with an expired
    lease) to the caller: they become ``sending`` until ``now + lease``; oldest first.
    ``leased_from``, if given, is filled with each claimed row's state before the lease, for
    ``release``.

    PostgreSQL skips rows another sender holds (``FOR UPDATE SKIP LOCKED``); SQLite serialises
    writers, so two senders never claim the same row. ``keys``: only these messages (a sign-in
    code is sent at once, without sending the rest of the queue). A row that can wait and
    whose recipients are in quiet hours at ``now`` is not claimed but queued for their next
    working morning.

    Rows are read and leased with Core statements, not loaded as ORM objects (one UPDATE for
    the whole lease): a drain's claiming is on the sender's CPU.
    """
    table = _table()
    query = (
        select(*(table.c[name] for name in Leased._fields))
        .where(
            table.c.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]),
            table.c.next_attempt_at <= due_by,
        )
        .order_by(table.c.next_attempt_at, table.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if keys is not None:
        query = query.where(table.c.key.in_(list(keys)))
    calendars, held = Calendars(session), set[int]()
    while True:
        narrowed = query.where(table.c.id.not_in(held)) if held else query
        found = [Leased(*row) for row in session.execute(narrowed)]
        waiting = _hold(session, found, calendars, now)
        rows, held = [row for row in found if row.id not in waiting], held | waiting
        if rows or len(found) < limit:
            break
    if not rows:
        return []
    until = now + timedelta(seconds=lease_seconds)
    session.execute(
        update(table)
        .where(table.c.id.in_([row.id for row in rows]))
        .values(status=OutboxStatus.SENDING, attempts=table.c.attempts + 1, next_attempt_at=until)
    )
    if leased_from is not None:
        for row in rows:
            leased_from[row.id] = Unleased(row.status, row.attempts, row.next_attempt_at)
    return [
        row._replace(status=OutboxStatus.SENDING, attempts=row.attempts + 1, next_attempt_at=until)
        for row in rows
    ]


class Unleased(NamedTuple):
    """A message's state before ``claim`` leased it."""

    status: str
    attempts: int
    next_attempt_at: datetime


def release(session: Session, leased_from: Mapping[int, Unleased]) -> int:
    """Give leased messages back untried, as they were before ``claim`` (a sender that stops
    early: the server is unreachable); a row no longer leased to this sender (sent, or its
    lease lapsed and another sender claimed it: one more attempt) is left alone. Returns how
    many."""
    released = 0
    for row_id, was in leased_from.items():
        row = session.get(OutboxMessage, row_id)
        if row is None or row.status != OutboxStatus.SENDING or row.attempts != was.attempts + 1:
            continue
        row.status, row.attempts, row.next_attempt_at = was
        session.add(row)
        released += 1
    session.flush()
    return released


def _hold(
    session: Session, rows: Sequence[Leased], calendars: Calendars, now: datetime
) -> set[int]:
    """The ids of ``rows`` that must wait for their recipients' working hours; each is queued
    for them (a lapsed lease is given up: nobody is sending it)."""
    held, opens = {}, dict[tuple[str, int | None], datetime]()
    for row in rows:
        if urgency_of(row.template) is Urgency.BEFORE_IT_STARTS:  # when depends on the context
            when = send_at(row.template, row.context, calendars.of(row.org_id), now)
        else:  # the same for every row of one template and organisation: worked out once
            known = opens.get(group := (row.template, row.org_id))
            if known is None:
                known = opens[group] = send_at(
                    row.template, row.context, calendars.of(row.org_id), now
                )
            when = known
        if when > now:
            held[row.id] = when
    if held:
        table = _table()
        session.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(status=OutboxStatus.QUEUED, next_attempt_at=bindparam("when")),
            [{"row_id": row_id, "when": when} for row_id, when in held.items()],
        )
    return set(held)


class Due(NamedTuple):
    """A recipient to try now: its row's id and address."""

    id: int
    address: str


def due_recipients(
    session: Session, message_ids: Sequence[int], now: datetime
) -> dict[int, list[Due]]:
    """The recipients of these messages to try at ``now`` (pending, or deferred until then),
    in the order they were added."""
    table = OutboxRecipient.__table__  # type: ignore[attr-defined]
    query = (
        select(table.c.message_id, table.c.id, table.c.address)
        .where(
            table.c.message_id.in_(list(message_ids)),
            table.c.status.in_(OPEN),
            table.c.next_attempt_at <= now,
        )
        .order_by(table.c.id)
    )
    found: dict[int, list[Due]] = {message_id: [] for message_id in message_ids}
    for message_id, recipient_id, address in session.execute(query):
        found[message_id].append(Due(recipient_id, address))
    return found


def recipients_of(session: Session, message_id: int) -> list[OutboxRecipient]:
    """Every recipient of one message, in the order they were added."""
    query = select(OutboxRecipient).where(OutboxRecipient.message_id == message_id)
    return list(session.exec(query.order_by(col(OutboxRecipient.id))))


def list_messages(
    session: Session, *, dead: bool = False, dropped: bool = False, limit: int = 50
) -> list[OutboxMessage]:
    """Messages not yet sent (queued or sending), or the dead letters, or those dropped on
    purpose (``notifications.dropping``); oldest first. Recipients refused one by one, in
    messages delivered to the others, are ``notifications.redelivery.refused``'s."""
    statuses = [OutboxStatus.QUEUED, OutboxStatus.SENDING]
    if dead or dropped:
        statuses = [OutboxStatus.DEAD] * dead + [OutboxStatus.DROPPED] * dropped
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.status).in_(statuses))
        .order_by(col(OutboxMessage.created_at), col(OutboxMessage.id))
        .limit(limit)
    )
    return list(session.exec(query))


def has_expired(row: OutboxMessage | Leased, now: datetime) -> bool:
    """Whether a message carrying a secret (a sign-in code) is past its use: it is not sent."""
    model = TEMPLATES.get(row.template)
    if model is None or not model.secret & row.context.keys():  # none, or wiped already
        return False
    return model.model_validate(row.context).expired(utc(row.created_at), now)


def forget_secrets(row: OutboxMessage) -> None:
    """Wipe the template's secret fields from a row that will not be sent again: a copied
    database or backup then holds no sign-in code, live or not."""
    model = TEMPLATES.get(row.template)
    secret = model.secret if model is not None else frozenset[str]()
    if secret & row.context.keys():
        row.context = {name: value for name, value in row.context.items() if name not in secret}
