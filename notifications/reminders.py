"""The daily reminder run: the rules of ``rules.json`` applied to every open checklist item of
every active case, one digest per staff member and one escalation digest per supervisor. The
run reads the directory and the calendars first, in a read transaction, then commits a page of
items at a time, each page sized to take a fraction of a second (``_PAGE_SECONDS``), so a
catch-up over a backlog never keeps a writer waiting for more than that; the digests are built
outside any transaction and queued in pages sized the same way.

An overdue item is said again at the cadence of its rule (1, 3 and 7 days late, then every
``repeat_every_days``) until it is done, counted from its due date, never from the clock.
Escalations go to the item organisation's supervisors or mailbox; when it has neither, to the
case owner's, naming the organisation that could not be reached. Each supervisor gets at most
one escalation email a day, its items grouped by case and organisation (a backlog of hundreds
of cases is one email, not one per item). A partner's overdue item is also listed in the case
owner's coordinators' digest, in a section of its own.

The run happens once per local day, at or after ``HOMEWARD_MAIL_DIGEST_HOUR`` (a
``ReminderRun`` row per day, inserted first, makes a second call that day, or a concurrent one,
a no-op). Each rule fires at most once per item, due date and repeat (a ``Reminder`` row each),
so a run missed yesterday is caught up today and nothing is said twice. Suspended, closed,
consent-withdrawn and lost-contact cases get no reminders.

Nothing is said to an organisation on its quiet days (weekends, public holidays:
``notifications.workdays``): a rule whose readers are off today does not fire, and fires on
their next working day as a missed day does, so items coming due or due over a weekend are in
Monday's digest, and no digest is built for a quiet day. Digests and escalations then wait in
the outbox for the readers' local morning (``notifications.urgency``).

The run is built for a global caseload (bench/: 100,000 open cases): it reads only the open
items due within the longest lead time of the rules, as plain rows in keyset pages (due date,
id: each page cut from the items alone, found by the index where the last ended, each item
with its case, found by primary key), and writes reminders (leaving out, in the same
statement, the rules that fired before), escalation marks and emails with one statement per
batch, not one per item. An item escalated less than the cadence's shortest gap ago
(``escalated_at``), or, once it is late enough that only the steady repeat is left, less than
``repeat_every_days`` ago, cannot fire and is not read.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from functools import cache
from time import perf_counter
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    TypeDecorator,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    text,
    true,
    update,
)
from sqlalchemy import select as columns
from sqlalchemy.engine import Connection
from sqlalchemy.types import ARRAY
from sqlmodel import Session, col

from homeward.base.db import is_postgres, read_beside, system_scope
from homeward.base.faults import crash_point
from homeward.base.models import Case, CaseStatus, ChecklistItem, ItemStatus, Reminder, ReminderRun
from homeward.base.settings import get_settings
from homeward.records import seals
from notifications.contexts import (
    DigestContext,
    EscalatedGroup,
    EscalatedItem,
    EscalationContext,
    ItemLine,
    item_link,
)
from notifications.dropping import drop_mail_withdrawn_since
from notifications.i18n import item_title, stage_label
from notifications.outbox import (
    Queued,
    enqueue_many,
    insert_ignoring_duplicates,
    insert_outbox_rows,
    outbox_rows,
)
from notifications.recipients import Directory, Recipient
from notifications.rules import Firing, ReminderRules, Section, load_rules
from notifications.workdays import Calendars, WorkCalendar


@dataclass(frozen=True)
class ReminderReport:
    """How many rules fired in a run, by kind, and how many emails it queued."""

    coming_due: int = 0
    due_today: int = 0
    overdue: int = 0
    escalated: int = 0
    queued: int = 0


def queue_reminders(
    session: Session,
    *,
    now: datetime,
    batch: int | None = None,
    on_batch: Callable[[BatchDone], None] | None = None,
) -> ReminderReport:
    """Apply the reminder rules for the local day of ``now`` and queue the emails.

    Idempotent: the first call on a day at or after the digest hour does the work; any other
    call returns an empty report. What only reads (the directory, the calendars, the rules) is
    read first, in a read transaction of its own. Then the work is committed in pages of
    items (each its own short transaction, so no writer waits for a catch-up run): the first
    claims the day, each writes its items' reminders and escalation marks. The emails are
    built and checked outside any transaction and queued in pages sized the same way; then the
    run is recorded finished, in ``session``'s transaction, which the caller commits.
    A run that died between transactions is resumed by the next call once its lease ran out
    (``LEASE``): what its pages fired is read back into today's digests, and nothing fires
    twice.

    Args:
        session: a write session (committed between transactions).
        now: the moment of the run (aware); its local day and hour are what count.
        batch: items per page; by default each page is sized to take about ``_PAGE_SECONDS``
            (from the pace of the pages before it).
        on_batch: called after each committed transaction (the bench times them).

    Returns:
        Counts of fired rules (coming due, due today, overdue, escalated) and queued emails.
    """
    settings = get_settings()
    local = now.astimezone(settings.tz)
    if local.hour < settings.mail_digest_hour:
        return ReminderReport()
    today, rules = local.date(), load_rules()
    started = perf_counter()
    with read_beside(session) as reader, system_scope(reader):  # every organisation's items
        if _Lease.held(reader, today, now):
            return ReminderReport()
        run = _Run(reader, today=today, now=now, rules=rules)
        run.warm()
    run.write_to(session)
    pages, log = _Pages(batch), _Log(session, on_batch)
    with system_scope(session):  # the first page's transaction claims the day
        _one_run_at_a_time(session)
        lease = _Lease.take(session, today, now)
        if lease is None:
            return ReminderReport()

    def renew() -> None:
        _one_run_at_a_time(session)
        lease.renew(session, now + timedelta(seconds=perf_counter() - started))

    if lease.resumed:
        log.commit(0)
        with read_beside(session) as reader, system_scope(reader):
            run.recall(reader, lease.started)
    until, quiet = _horizon(today, rules), Quiet.on(today, rules)
    after: tuple[datetime, int] | None = None
    while True:
        size = pages.size()
        if log.number:
            log.begin()
        with system_scope(session):  # committed within: the scope ends with the transaction
            if log.number:
                renew()
            page = _open_items(session, until=until, quiet=quiet, after=after, limit=size)
            run.consider(page.items)
            run.mark_escalated()
            pages.took(log.commit(page.read))
        if page.end is None:
            break
        after = page.end
    # The emails, built and checked here, outside any transaction; then a page of them per
    # transaction (a catch-up over a large directory queues tens of thousands, an escalation
    # digest may list thousands of items): their keys make a resumed run's second try a no-op.
    rows, mail = outbox_rows(run.emails(), now=now, calendars=run.calendars), _Pages(None, 50)
    while rows:
        chunk, rows = rows[: mail.size()], rows[mail.size() :]
        log.begin()
        with system_scope(session):
            renew()
            run.queue_rows(chunk)
            # built outside any transaction: a sharing withdrawn since the run began (committed
            # after its items were read) takes its case out of what this page just queued
            drop_mail_withdrawn_since(session, lease.started, now)
            mail.took(log.commit(0, emails=len(chunk)))
    with system_scope(session):  # the caller commits this one
        renew()
        report = run.report()
        lease.finish(session, report)
    return report


class _Log:
    """Commits the run's transactions, counting them, and tells ``on_batch`` of each."""

    def __init__(self, session: Session, on_batch: Callable[[BatchDone], None] | None) -> None:
        self.session, self.on_batch, self.number = session, on_batch, 0
        self.begun = perf_counter()

    def begin(self) -> None:
        """A transaction begins with the next statement (SQLite: its write lock from there)."""
        self.begun = perf_counter()

    def commit(self, items: int, *, emails: int = 0) -> float:
        """Commit; returns how long the transaction was open."""
        self.session.commit()
        seconds = perf_counter() - self.begun
        self.number += 1
        if self.on_batch is not None:
            self.on_batch(BatchDone(self.number, items, seconds, emails))
        return seconds


class _Pages:
    """The size of each page of items (or emails): ``batch`` if given, else sized from the last
    page's transaction to take about ``_PAGE_SECONDS`` (a loaded machine gets smaller pages),
    growing at most ``_GROWTH`` times a page. The first page also pays for what a process does
    once (its first statements, the first address checks, the day's claim): it may make the
    next page larger, never smaller; a slow page after it makes the one after smaller."""

    def __init__(self, batch: int | None, first: int = 250) -> None:
        self.fixed, self.next, self.first = batch is not None, batch or first, True

    def size(self) -> int:
        return self.next

    def took(self, seconds: float) -> None:
        if not self.fixed:
            scaled = int(self.next * _PAGE_SECONDS / max(seconds, 0.001))
            least = self.next if self.first else _SMALLEST_PAGE
            self.next = max(least, min(scaled, _GROWTH * self.next, _LARGEST_PAGE))
        self.first = False


@dataclass(frozen=True)
class BatchDone:
    """A committed transaction of the day's run: its number (from 1), its items, how long it
    was open (from its first statement to the end of its commit), and the emails it queued
    (the transactions after the last page of items queue emails only)."""

    number: int
    items: int
    seconds: float
    emails: int = 0


LEASE = timedelta(minutes=10)  # a run silent this long (no batch committed) is taken over


@dataclass
class _Lease:
    """The day's ``ReminderRun`` held by this run: claimed (or taken over from a run that died
    mid-way), renewed at each batch, and finished with the run's counts."""

    run_id: int
    started: datetime  # when the day's first attempt began: its reminders are today's
    beat: datetime
    resumed: bool

    @staticmethod
    def held(session: Session, day: date, now: datetime) -> bool:
        """Whether the day's run is done or another run holds it (a read: ``take`` decides)."""
        found = _day_run(session, day)
        if found is None:
            return False
        beat = found.heartbeat_at
        return found.finished_at is not None or beat is None or beat > now - LEASE

    @classmethod
    def take(cls, session: Session, day: date, now: datetime) -> _Lease | None:
        table = ReminderRun.__table__  # type: ignore[attr-defined]
        values = {"day": day, "ran_at": now, "heartbeat_at": now}
        claimed = insert_ignoring_duplicates(session, table, values, ["day"])
        if claimed is not None:
            return cls(claimed, now, now, resumed=False)
        found = _day_run(session, day)
        assert found is not None  # noqa: S101 (the insert found it there)
        beat = found.heartbeat_at
        if found.finished_at is not None or beat is None or beat > now - LEASE:
            return None  # done today, or another run is at it
        lease = cls(found.id, found.ran_at, beat, resumed=True)
        return lease if lease.renew(session, now, strict=False) else None

    def renew(self, session: Session, beat: datetime, *, strict: bool = True) -> bool:
        """Move the heartbeat on, unless another run took the day over (then refuse)."""
        moved = _core(session).execute(
            _statements(is_postgres(session)).renew,
            {"run_id": self.run_id, "beat": self.beat, "new_beat": beat},
        )
        if moved.rowcount != 1:
            if strict:
                raise RuntimeError("reminders: another run took today's run over; stopping")
            return False
        self.beat = beat
        return True

    def finish(self, session: Session, report: ReminderReport) -> None:
        counts = {f.name: getattr(report, f.name) for f in fields(report)}
        _core(session).execute(
            _statements(is_postgres(session)).finish,
            {**counts, "run_id": self.run_id, "finished": self.beat},
        )


class _DayRun(NamedTuple):
    """What the lease reads of the day's ``ReminderRun``."""

    id: int
    ran_at: datetime
    heartbeat_at: datetime | None
    finished_at: datetime | None


def _day_run(session: Session, day: date) -> _DayRun | None:
    found = _core(session).execute(_statements(is_postgres(session)).day_run, {"day": day})
    row = found.first()
    return _DayRun(*row) if row is not None else None


def _core(session: Session) -> Connection:
    """The connection of ``session``'s transaction: the run's own statements are Core ones,
    built once per process (``_statements``), so they skip the ORM's layer (pending ORM
    changes are flushed first, as the ORM's own statements would)."""
    if session.autoflush:
        session.flush()
    return session.connection()


class _Statements(NamedTuple):
    """The statements the run repeats (per page, per item batch), each built once per process
    and database kind: building one and working out its cache key cost more than running it."""

    day_run: Any  # the day's ReminderRun (id, ran_at, heartbeat_at, finished_at)
    renew: Any
    finish: Any
    pages: tuple[Any, Any]  # the first page, and a page after (due, id)
    remember: Any  # what is due and did not fire before, inserted and returned
    escalate: Any


def _ids(column: Any, name: str, postgres: bool) -> ColumnElement[bool]:
    """``column`` is one of the ids bound as ``name``, one parameter whatever their count:
    on PostgreSQL ``IN`` the rows of an array (``unnest``), and on SQLite ``IN``
    the ids of a JSON array (``json_each``): an expanding ``IN`` was a statement of its own
    for each count, its text and its thousand parameters rendered at every page."""
    if postgres:  # the array bound as one literal (``_PgIds``), joined as a set of rows
        # Not ``= ANY(array)``: the cast literal is no constant to the planner, so the array is
        # searched element by element for each row (no hashed lookup); on a table whose
        # statistics say it is small (``reminder`` as a catch-up fills it, before autovacuum's
        # ANALYZE) the planner scanned it whole: 1,000 ids x every row, 130-230 ms a page, the
        # PostgreSQL sweep 0.34 -> 2.5 s. As rows, the ids are hashed or drive the index.
        array = cast(bindparam(name, type_=_PgIds()), ARRAY(column.type))
        return column.in_(columns(func.unnest(array)))  # type: ignore[no-any-return]
    listed: Select[tuple[Any]] = columns(literal_column("value")).select_from(
        func.json_each(bindparam(name, type_=_JsonIds()))
    )
    return column.in_(listed)  # type: ignore[no-any-return]


class _PgIds(TypeDecorator[list[int]]):
    """A list of ids bound as one PostgreSQL array literal, which the statement casts."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: list[int] | None, _dialect: Any) -> str | None:
        return None if value is None else _pg_array(map(str, map(int, value)))


def _pg_array(elements: Iterable[str]) -> str:
    """An array literal of these elements, each already written out (``_pg_quoted`` for text):
    bound as one value, cast by the statement. psycopg adapts a list element by element, in
    Python, about 1 µs an id and 2 µs a date or a string, and a sweep binds tens of
    thousands (issue 19 point 7)."""
    return "{" + ",".join(elements) + "}"


def _pg_quoted(value: str) -> str:
    """A string as an element of an array literal: quoted, its quotes and backslashes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _JsonIds(TypeDecorator[list[int]]):
    """A list of ids bound as a JSON array (SQLite's ``json_each`` reads it)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: list[int] | None, _dialect: Any) -> str | None:
        return None if value is None else json.dumps(value)


@cache
def _statements(postgres: bool) -> _Statements:
    run: Table = ReminderRun.__table__  # type: ignore[attr-defined]
    item: Table = ChecklistItem.__table__  # type: ignore[attr-defined]
    case: Table = Case.__table__  # type: ignore[attr-defined]
    reminder: Table = Reminder.__table__  # type: ignore[attr-defined]
    beat_type = run.c.heartbeat_at.type
    counts: dict[str, Any] = {f.name: bindparam(f.name) for f in fields(ReminderReport)}
    return _Statements(
        day_run=columns(run.c.id, run.c.ran_at, run.c.heartbeat_at, run.c.finished_at).where(
            run.c.day == bindparam("day", type_=run.c.day.type)
        ),
        renew=update(run)
        .where(
            run.c.id == bindparam("run_id"),
            run.c.heartbeat_at == bindparam("beat", type_=beat_type),
        )
        .values(heartbeat_at=bindparam("new_beat", type_=beat_type)),
        finish=update(run)
        .where(run.c.id == bindparam("run_id"))
        .values(**counts, finished_at=bindparam("finished", type_=run.c.finished_at.type)),
        pages=tuple(
            _page_query(item, case, after=after, postgres=postgres) for after in (False, True)
        ),
        remember=(_REMEMBER_PG if postgres else _REMEMBER_SQLITE)
        .bindparams(bindparam("fired_at", type_=reminder.c.fired_at.type))
        .columns(reminder.c.item_id, reminder.c.rule, reminder.c.due_on),
        escalate=update(item)
        .where(_ids(item.c.id, "ids", postgres))
        .values(escalated_at=bindparam("at", type_=item.c.escalated_at.type)),
    )


# What fired before (the same item, rule and due date) is left out before the insert, so
# that no value of the ids' sequence is taken for it (PostgreSQL takes one for each row
# proposed, a conflict or not); ``ON CONFLICT`` is for a concurrent run, which the lease
# keeps out. Rows are proposed in the order given, so their ids follow it, as before.
_REMEMBER_PG = text(
    "INSERT INTO reminder (item_id, rule, due_on, fired_at) "
    "SELECT fired.item_id, fired.rule, fired.due_on, :fired_at "
    "FROM unnest(CAST(:item_ids AS INTEGER[]), CAST(:rules AS VARCHAR[]), "
    "CAST(:due_ons AS DATE[])) AS fired(item_id, rule, due_on) "
    "WHERE NOT EXISTS (SELECT 1 FROM reminder AS r WHERE r.item_id = fired.item_id "
    "AND r.rule = fired.rule AND r.due_on = fired.due_on) "
    "ON CONFLICT (item_id, rule, due_on) DO NOTHING RETURNING item_id, rule, due_on"
)
_REMEMBER_SQLITE = text(  # json_each's rows come in the array's order (its key)
    "INSERT INTO reminder (item_id, rule, due_on, fired_at) "
    "SELECT fired.item_id, fired.rule, fired.due_on, :fired_at FROM ("
    "SELECT json_extract(value, '$[0]') AS item_id, json_extract(value, '$[1]') AS rule, "
    "json_extract(value, '$[2]') AS due_on "
    "FROM json_each(:fired) ORDER BY key) AS fired "
    "WHERE NOT EXISTS (SELECT 1 FROM reminder AS r WHERE r.item_id = fired.item_id "
    "AND r.rule = fired.rule AND r.due_on = fired.due_on) "
    "ON CONFLICT (item_id, rule, due_on) DO NOTHING RETURNING item_id, rule, due_on"
)


def _page_query(item: Table, cases: Table, *, after: bool, postgres: bool) -> Any:
    """``_open_items``' query, its values bound at each page (see there): each item with its
    case's reference, process version and owner (None when the case is not active)."""
    due, escalated = item.c.due_at, item.c.escalated_at
    quiet = Quiet._make(  # bound at each page, by the names of its fields
        bindparam(name, type_=(due if name == "steady_due_before" else escalated).type)
        for name in Quiet._fields
    )
    until = bindparam("until", type_=due.type)
    conditions = _item_conditions(until, quiet)
    if after:
        after_due = bindparam("after_due", type_=due.type)
        conditions += [  # the first condition is the index's range: the page starts there
            due >= after_due,
            or_(due > after_due, item.c.id > bindparam("after_id", type_=item.c.id.type)),
        ]
    # The page's due dates, read once: from the first item that may fire to the ``limit``-th
    # (its edge; none when fewer are left: the last page, up to ``until``, which every item is
    # due before). The page is read between the two, so its index scan starts at the first
    # (not at the quiet items before it, escalated lately, read once here) and stops at the
    # edge. Each bound a subquery of its own: under row security PostgreSQL bounds no index
    # scan by a COALESCE (not leakproof); the window is one CTE, worked out once.
    limit = bindparam("limit", type_=Integer())
    window = columns(due.label("due")).where(*conditions).order_by(due).limit(limit).subquery()
    bounds = columns(
        func.min(window.c.due).label("first"),
        case((func.count() == limit, func.max(window.c.due))).label("edge"),
    ).cte("bounds")
    first = columns(bounds.c.first).scalar_subquery()
    edge = columns(func.coalesce(bounds.c.edge, until)).scalar_subquery()
    # Each item's case is found by its primary key, the item read (an outer join: the page's
    # length and end are the items' alone). On PostgreSQL a lateral subquery, kept apart by
    # its OFFSET, so that it is looked up for the page's items only: as a plain join the
    # planner, misjudging how many items a page holds, hashed every case instead.
    found = columns(cases.c.case_ref, cases.c.process_version, cases.c.owner_org_id)
    active = [cases.c.id == item.c.case_id, cases.c.status == CaseStatus.ACTIVE]
    if postgres:
        joined = found.where(*active).offset(literal(0)).lateral("page_case")
        source, case_columns = item.outerjoin(joined, true()), joined.c
    else:
        source, case_columns = item.outerjoin(cases, and_(*active)), cases.c
    return (
        columns(*(item.c[name] for name in _ITEM_FIELDS))
        .add_columns(case_columns.case_ref, case_columns.process_version)
        .add_columns(case_columns.owner_org_id)
        .select_from(source)
        .where(*conditions, due >= first, due <= edge)
        .order_by(due, item.c.id)
        .limit(limit)
    )


def _one_run_at_a_time(session: Session) -> None:
    """Runs for two different days never overlap (SQLite: writers queue already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _RUN_LOCK})


_RUN_LOCK = 0x686F6D6577617264  # "homeward"
_BATCH = 1_000  # escalation marks per statement
_PAGE_SECONDS = 0.2  # what a page aims to take: a writer waits at most about that
_SMALLEST_PAGE, _LARGEST_PAGE = 10, 5_000  # items or emails
_GROWTH = 4  # the most a page grows over the one before


def _horizon(today: date, rules: ReminderRules) -> datetime:
    """Items due after this moment fire nothing today: it is past the longest lead time."""
    lead = max((n for rule in rules.all_rules() for n in rule.before_days), default=0)
    return datetime.combine(today + timedelta(days=lead + 1), time(), get_settings().tz)


class Quiet(NamedTuple):
    """Which escalated items cannot fire today, so are not read: those escalated at or after
    ``escalated_since``, and those escalated at or after ``steady_escalated_since`` that were
    due before ``steady_due_before`` (late enough that only the steady repeat is left)."""

    escalated_since: datetime
    steady_escalated_since: datetime
    steady_due_before: datetime

    @classmethod
    def on(cls, today: date, rules: ReminderRules) -> Quiet:
        """Today's quiet items under ``rules`` (see ``ItemRule.firings``: a mention never
        comes sooner after the last escalation than the cadence's gap there)."""

        def start(days_ago: int) -> datetime:
            return datetime.combine(today - timedelta(days=days_ago), time(), get_settings().tz)

        return cls(
            escalated_since=start(rules.shortest_gap() - 1),
            steady_escalated_since=start(rules.shortest_repeat() - 1),
            steady_due_before=start(rules.steady_from() - 1),
        )


_OpenQuery = Select[
    tuple[int | None, str, str, datetime, int, int | None, datetime | None, str, str, int]
]  # the columns of ``_Open`` (SQLAlchemy 2.0's form; pyproject pins < 2.1)


class _Open(NamedTuple):
    """An open item, as much of it (and its case) as the rules and the emails need."""

    id: int
    code: str
    stage: str
    due_at: datetime
    owner_org_id: int
    assignee_id: int | None
    escalated_at: datetime | None
    case_ref: str
    process_version: str
    case_owner_org_id: int


def open_items_query(until: datetime, quiet: Quiet | None = None) -> _OpenQuery:
    """The open items of active cases due before ``until`` that may still fire, as ``_Open``
    rows: without the ``quiet`` ones when given (``bench/run.py``'s one-task-per-case
    baseline narrows it to one case). The run reads them a page at a time (``_open_items``)."""
    return (
        _open_columns()
        .join(Case, col(Case.id) == ChecklistItem.case_id)
        .where(
            *_item_conditions(until, quiet),
            col(Case.status) == CaseStatus.ACTIVE,  # paused or ended cases owe nothing
        )
        .order_by(col(ChecklistItem.due_at), col(ChecklistItem.id))
    )


def _item_conditions(until: Any, quiet: Quiet | None) -> list[ColumnElement[bool]]:
    """Which of ``open_items_query``'s items may fire, from the item's own columns. The
    moments are values, or parameters bound at each page (``_page_query``)."""
    item: Table = ChecklistItem.__table__  # type: ignore[attr-defined]
    conditions = [item.c.status == ItemStatus.OPEN, item.c.due_at < until]
    if quiet is None:
        return conditions
    # An item escalated within the cadence's gap has nothing to fire: its coming-due, due-day
    # and earlier overdue reminders fired before, and its next mention is not due yet.
    escalated = item.c.escalated_at
    return [
        *conditions,
        or_(escalated.is_(None), escalated < quiet.escalated_since),
        or_(
            escalated.is_(None),
            escalated < quiet.steady_escalated_since,
            item.c.due_at >= quiet.steady_due_before,
        ),
    ]


def _open_columns() -> _OpenQuery:
    """The columns of ``_Open``, from the item and its case."""
    return columns(
        col(ChecklistItem.id),
        col(ChecklistItem.code),
        col(ChecklistItem.stage),
        col(ChecklistItem.due_at),
        col(ChecklistItem.owner_org_id),
        col(ChecklistItem.assignee_id),
        col(ChecklistItem.escalated_at),
        col(Case.case_ref),
        col(Case.process_version),
        col(Case.owner_org_id),
    )


class _Page(NamedTuple):
    """A page of open items: those of active cases, how many were read, and where the next
    page starts (None: this was the last)."""

    items: list[_Open]
    read: int
    end: tuple[datetime, int] | None


def _open_items(
    session: Session,
    *,
    until: datetime,
    quiet: Quiet,
    after: tuple[datetime, int] | None,
    limit: int,
) -> _Page:
    """The next page of ``open_items_query``'s rows after ``after`` (due, id): a page per
    transaction, never all in memory, each read from the index where the last one ended.

    Joined to the cases first and ordered by (due, id), which the index (status, due) does not
    give, PostgreSQL read and sorted every item left, and hashed every case, for each page: a
    catch-up grew quadratically. So the page is cut from the items alone, between the due
    date of its first item that may fire (after where the last ended) and that of its
    ``limit``-th (``edge``: both read in the index's own order, no sort), and only then joined
    to its cases, each by its primary key (those of active ones kept), in the page's own
    query: a query of the page's cases by id was one more a page, its ids bound and its rows
    matched to the items in Python."""
    params: dict[str, Any] = {"until": until, **quiet._asdict(), "limit": limit}
    if after is not None:
        params["after_due"], params["after_id"] = after
    query = _statements(is_postgres(session)).pages[after is not None]
    rows = _core(session).execute(query, params).all()
    end = (rows[-1][3], rows[-1][0]) if len(rows) == limit else None
    # an item of a case not active has no case here (a case's reference is never empty)
    return _Page([_Open(*row) for row in rows if row[7] is not None], len(rows), end)


_ITEM_FIELDS = ("id", "code", "stage", "due_at", "owner_org_id", "assignee_id", "escalated_at")


class _Due(NamedTuple):
    """A rule about to fire for an item, with who is told."""

    item: _Open
    firing: Firing
    due_on: date
    days_left: int
    recipients: list[Recipient]
    unreached_org_id: int | None = None  # escalated to the case owner instead of this one


class _Run:
    """One day's run: fires rules batch by batch, then queues one digest per recipient."""

    def __init__(
        self,
        session: Session,
        *,
        today: date,
        now: datetime,
        rules: ReminderRules,
        directory: Directory | None = None,
    ):
        self.session, self.today, self.now, self.rules = session, today, now, rules
        self.directory = directory or Directory(session)
        self.calendars = Calendars(session)
        self.working: dict[int, bool] = {}  # organisation id -> whether today is a working day
        self.tz = get_settings().tz
        self.digests: dict[Recipient, dict[Section, list[ItemLine]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.escalations: dict[Recipient, list[_Due]] = defaultdict(list)
        self.counts: dict[Section, int] = defaultdict(int)
        self.escalated: list[int] = []
        self.queued = 0
        self._firings_of: dict[tuple[str, int, int | None], list[Firing]] = {}
        self._readers_of: dict[tuple[Any, ...], tuple[list[Recipient], int | None, bool]] = {}
        self._words_of: dict[tuple[str, str, str, int, str], tuple[str, str, str]] = {}

    def warm(self) -> None:
        """Read and work out what every page would otherwise find on its way, in the read
        transaction before the first write: every organisation's calendar and whether today is
        a working day there (the first also imports the holidays package)."""
        # the directory read every organisation's country: no second query for the calendars
        self.calendars.known({org.id: org.country for org in self.directory.orgs.values()})
        working: dict[WorkCalendar, bool] = {}  # organisations share a few calendars
        for org_id in self.directory.orgs:
            calendar = self.calendars.of(org_id)
            if calendar not in working:
                working[calendar] = calendar.is_working_day(self.today)
            self.working[org_id] = working[calendar]

    def write_to(self, session: Session) -> None:
        """Write (and read what is left to read) through ``session`` from now on."""
        self.session = self.calendars.session = session

    def consider(self, batch: Sequence[_Open]) -> None:
        """Fire whatever each item's rule says for today (each rule once per due date)."""
        orgs = {org for item in batch for org in (item.owner_org_id, item.case_owner_org_id)}
        self.calendars.load(list(orgs))  # one query a page, not one per organisation met
        due = [firing for item in batch for firing in self._firings(item)]
        self._gather(self._remember(due))

    def recall(self, reader: Session, since: datetime) -> None:
        """Take back into today's digests what an earlier attempt at today's run fired (and
        committed) before it died: the ``Reminder`` rows fired since ``since``."""
        query = (
            _open_columns()
            .add_columns(col(Reminder.rule), col(Reminder.due_on))
            .select_from(Reminder)
            .join(ChecklistItem, col(ChecklistItem.id) == Reminder.item_id)
            .join(Case, col(Case.id) == ChecklistItem.case_id)
            .where(col(Reminder.fired_at) >= since)
            .order_by(col(Reminder.id))
        )
        recalled: list[_Due] = []
        for row in reader.execute(query):
            item, rule, due_on = _Open(*row[:-2]), row[-2], row[-1]
            firing = Firing(rule, _section(rule))
            recipients, unreached = self._recipients(item, firing)
            if recipients:
                days_left = (due_on - self.today).days
                recalled.append(_Due(item, firing, due_on, days_left, recipients, unreached))
        self._gather(recalled)
        self.escalated.clear()  # marked when they fired

    def _gather(self, new: Sequence[_Due]) -> None:
        for d in new:
            self.counts[d.firing.section] += 1
            if d.firing.section is Section.ESCALATION:
                self.escalated.append(d.item.id)
                for recipient in d.recipients:
                    self.escalations[recipient].append(d)
            else:
                lines: dict[str, ItemLine] = {}  # one line per language, shared by readers
                for recipient in d.recipients:
                    if recipient.language not in lines:
                        lines[recipient.language] = self._line(d, recipient.language)
                    self.digests[recipient][d.firing.section].append(lines[recipient.language])

    def _firings(self, item: _Open) -> Iterator[_Due]:
        crash_point("sweep-mid")  # fault tests: SIGKILL at the Nth item considered
        due_on = item.due_at.astimezone(self.tz).date()
        days_left = (due_on - self.today).days
        escalated = item.escalated_at
        ago = (self.today - escalated.astimezone(self.tz).date()).days if escalated else None
        firings = self._rule_firings(item.code, days_left, ago)
        if not firings:  # most items read: nothing today
            return
        for firing in self._with_partners(item, firings):
            recipients, unreached, working = self._readers(item, firing)
            if working:
                yield _Due(item, firing, due_on, days_left, recipients, unreached)

    def _readers(self, item: _Open, firing: Firing) -> tuple[list[Recipient], int | None, bool]:
        """``_recipients``, and whether there are some and all of them work today: worked out
        once for each set of readers (a few organisations' staff), not once per firing."""
        section = firing.section
        key: tuple[Any, ...]
        if section is Section.PARTNERS_OVERDUE:
            key = (section, item.case_owner_org_id)
        elif section is Section.ESCALATION:
            key = (section, item.owner_org_id, item.case_owner_org_id)
        else:  # the digests' sections are read by the same people
            key = (None, item.assignee_id, item.owner_org_id)
        found = self._readers_of.get(key)
        if found is None:
            recipients, unreached = self._recipients(item, firing)
            working = bool(recipients) and self._working_today(recipients)
            found = self._readers_of[key] = (recipients, unreached, working)
        return found

    def _rule_firings(self, code: str, days_left: int, ago: int | None) -> list[Firing]:
        """What the rule of item kind ``code`` fires today (worked out once per kind, days
        left and days since the last escalation: a page has few of each)."""
        key = (code, days_left, ago)
        found = self._firings_of.get(key)
        if found is None:
            rule = self.rules.for_item(code)
            found = self._firings_of[key] = rule.firings(
                days_left=days_left, escalated_days_ago=ago
            )
        return found

    def _working_today(self, recipients: list[Recipient]) -> bool:
        """Whether every reader works today; if not, the rule waits for a day when they do
        (readers of one rule belong to one organisation)."""
        for org_id in {r.org_id for r in recipients} - self.working.keys():
            self.working[org_id] = self.calendars.of(org_id).is_working_day(self.today)
        return all(self.working[r.org_id] for r in recipients)

    @staticmethod
    def _with_partners(item: _Open, firings: list[Firing]) -> Iterator[Firing]:
        """The rule's firings, and for a partner's overdue item its mention to the case owner
        (a rule of its own: each reader is told once, whoever else could be reached)."""
        for firing in firings:
            yield firing
            if firing.section is Section.OVERDUE and item.owner_org_id != item.case_owner_org_id:
                yield Firing(f"partners_{firing.rule}", Section.PARTNERS_OVERDUE, firing.repeat)

    def _recipients(self, item: _Open, firing: Firing) -> tuple[list[Recipient], int | None]:
        """Who is told, and the organisation that could not be (escalations only)."""
        if firing.section is Section.PARTNERS_OVERDUE:
            return self.directory.coordinators(item.case_owner_org_id), None
        if firing.section is Section.ESCALATION:
            found = self.directory.supervisors(item.owner_org_id)
            if found or item.owner_org_id == item.case_owner_org_id:
                return found, None
            return self.directory.supervisors(item.case_owner_org_id), item.owner_org_id
        assignee = self.directory.member(item.assignee_id)
        return ([assignee] if assignee else self.directory.audience(item.owner_org_id)), None

    def _remember(self, due: Sequence[_Due]) -> list[_Due]:
        """One ``Reminder`` row per rule due that did not fire before (for that item and due
        date); returns those, in order. One statement a page: it leaves out what fired before
        and inserts the rest (the unique key stays the last word), returning what it inserted;
        a lookup of what fired, then an insert of the rest, was two, and SQLite's insert bound
        four parameters a row."""
        if not due:
            return []
        postgres = is_postgres(self.session)
        statement = _statements(postgres).remember
        keys = [(d.item.id, d.firing.rule, d.due_on) for d in due]
        if postgres:  # three arrays: one short statement, whatever the count
            ids, rules, days = zip(*keys, strict=True)
            values = {
                "item_ids": _pg_array(map(str, ids)),
                "rules": _pg_array(map(_pg_quoted, rules)),
                "due_ons": _pg_array(map(date.isoformat, days)),
            }
        else:  # one JSON array of [item id, rule, due date] (``json_each`` reads it)
            values = {"fired": json.dumps([[i, r, d.isoformat()] for i, r, d in keys])}
        found = _core(self.session).execute(statement, {**values, "fired_at": self.now})
        inserted = set(found.tuples())
        return [d for d, key in zip(due, keys, strict=True) if key in inserted]

    def _about(self, d: _Due, language: str) -> dict[str, Any]:
        """What a digest line and an escalation both say of the item, in ``language``."""
        item = d.item
        key = (item.stage, item.code, item.process_version, item.owner_org_id, language)
        words = self._words_of.get(key)
        if words is None:  # a few kinds of item, stages and organisations: worked out once each
            words = self._words_of[key] = (
                stage_label(item.stage, language),
                item_title(item.code, language, process_version=item.process_version),
                self.directory.org_name(item.owner_org_id),
            )
        stage, title, org_name = words
        return {
            "case_ref": item.case_ref,
            "stage": stage,
            "item_number": item.id,
            "item_title": title,
            "org_name": org_name,
            "due_on": d.due_on,
            "link": item_link(item.id),
        }

    def _line(self, d: _Due, language: str) -> ItemLine:
        """A digest line: a visit is listed like any item; its calendar invitation is an
        email of its own (``notifications.invitations``), never an attachment here."""
        return ItemLine(**self._about(d, language), days=d.days_left)

    def _escalation_digest(self, recipient: Recipient, due: list[_Due]) -> Queued:
        """The supervisor's one escalation email of the day: the items by case and
        organisation, most days late first within each group."""
        language, groups = recipient.language, defaultdict[tuple[str, int], list[_Due]](list)
        for d in due:
            groups[(d.item.case_ref, d.item.owner_org_id)].append(d)
        cases = tuple(
            EscalatedGroup(
                case_ref=case_ref,
                org_name=self.directory.org_name(org_id),
                unreached=any(d.unreached_org_id == org_id for d in items),
                overdue=tuple(self._escalated_item(d, language) for d in sorted(items, key=_due)),
            )
            for (case_ref, org_id), items in sorted(groups.items(), key=self._by_case_and_org)
        )
        return Queued(
            key=f"escalation:{recipient.key}:{self.today.isoformat()}",
            template="escalation",
            to=[recipient.address],
            language=language,
            context=EscalationContext(
                day=self.today, org_name=self.directory.org_name(recipient.org_id), cases=cases
            ),
            org_id=recipient.org_id,  # waits for the supervisor's working day (urgency)
        )

    def _by_case_and_org(self, group: tuple[tuple[str, int], list[_Due]]) -> tuple[str, str]:
        (case_ref, org_id), _items = group
        return case_ref, self.directory.org_name(org_id)

    def _escalated_item(self, d: _Due, language: str) -> EscalatedItem:
        about = self._about(d, language)
        return EscalatedItem(
            item_number=about["item_number"],
            item_title=about["item_title"],
            stage=about["stage"],
            due_on=d.due_on,
            days=-d.days_left,
            link=about["link"],
        )

    def mark_escalated(self) -> None:
        """Mark the items escalated since the last call (``escalated_at``: when last
        escalated), in the transaction that remembered their firing."""
        escalated = sorted(self.escalated)  # rows locked in id order, as other writers do
        self.escalated.clear()
        statement = _statements(is_postgres(self.session)).escalate
        for start in range(0, len(escalated), _BATCH):
            chunk = escalated[start : start + _BATCH]
            _core(self.session).execute(statement, {"ids": chunk, "at": self.now})
            seals.mark(self.session, "checklist_item", chunk)  # a bulk update: reseal its rows

    def finish(self) -> ReminderReport:
        """Mark what is left escalated, queue one digest per recipient and one escalation
        digest per supervisor, and report the run (all in this transaction)."""
        self.mark_escalated()
        self.queue(self.emails())
        return self.report()

    def emails(self) -> list[Queued]:
        """One digest per recipient and one escalation digest per supervisor."""
        digests = [
            Queued(
                key=f"digest:{recipient.key}:{self.today.isoformat()}",
                template="digest",
                to=[recipient.address],
                language=recipient.language,
                context=DigestContext(
                    day=self.today,
                    org_name=self.directory.org_name(recipient.org_id),
                    overdue=tuple(sections[Section.OVERDUE]),
                    due_today=tuple(sections[Section.DUE_TODAY]),
                    coming_due=tuple(sections[Section.COMING_DUE]),
                    partners_overdue=tuple(sections[Section.PARTNERS_OVERDUE]),
                    genitives=self.directory.genitives(recipient.org_id),
                ),
                org_id=recipient.org_id,
            )
            for recipient, sections in sorted(self.digests.items(), key=lambda kv: kv[0].key)
        ]
        escalations = [
            self._escalation_digest(recipient, due)
            for recipient, due in sorted(self.escalations.items(), key=lambda kv: kv[0].key)
        ]
        return [*digests, *escalations]

    def queue(self, emails: Sequence[Queued]) -> None:
        """Queue these emails in the outbox (a key queued before is skipped)."""
        self.queued += enqueue_many(self.session, emails, now=self.now)
        self.session.flush()

    def queue_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert these outbox rows (built by ``outbox_rows``; a key queued before is skipped)."""
        self.queued += insert_outbox_rows(self.session, rows)

    def report(self) -> ReminderReport:
        """The run's counts so far."""
        return ReminderReport(
            coming_due=self.counts[Section.COMING_DUE],
            due_today=self.counts[Section.DUE_TODAY],
            overdue=self.counts[Section.OVERDUE],
            escalated=self.counts[Section.ESCALATION],
            queued=self.queued,
        )


def _section(rule: str) -> Section:
    """Where a fired rule's line goes, from its name (``ItemRule.firings`` names them)."""
    for prefix, section in (
        ("partners_", Section.PARTNERS_OVERDUE),
        ("escalation_", Section.ESCALATION),
        ("overdue_", Section.OVERDUE),
        ("due_today", Section.DUE_TODAY),
    ):
        if rule.startswith(prefix):
            return section
    return Section.COMING_DUE  # before_N


def _due(d: _Due) -> tuple[date, int]:
    """The longest late first, then by item number."""
    return d.due_on, d.item.id
