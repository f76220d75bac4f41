"""The day's reminder run over a backlog, in committed batches (issue 19 point 5): writers get
in between batches (a writer touching a row the run escalated in its first batch is not kept
waiting for the rest), a run that died between batches is resumed by a later one once its
lease ran out, and every fired rule is said exactly once, in one email per reader."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlmodel import col, func, select

from homeward.base.db import read_session, system_scope, write_session
from homeward.base.models import ChecklistItem, Reminder, ReminderRun
from notifications.reminders import (
    _PAGE_SECONDS,
    LEASE,
    BatchDone,
    ReminderReport,
    _Pages,
    queue_reminders,
)
from tasks import checklist
from tests import factories as f
from tests.notifications.helpers import outbox

BATCH = 3  # items per transaction: a handful of cases is a many-batch backlog
SECTIONS = ("overdue", "due_today", "coming_due", "partners_overdue")

pytestmark = pytest.mark.usefixtures("any_day")


class Died(Exception):
    """The run's process, gone after committing a batch (the next batch never starts)."""


@pytest.fixture
def backlog(db_url, clock):
    """Three cases whose items are nine days overdue, never reminded of: a catch-up."""
    f.seed()
    for _ in range(3):
        f.open_case(clock, share=False)
    clock.advance(days=9)
    return clock


def _run(clock, on_batch=None) -> ReminderReport:
    with write_session() as s:
        return queue_reminders(s, now=clock.now(), batch=BATCH, on_batch=on_batch)


def _fired() -> list[tuple[int, str]]:
    with read_session() as s, system_scope(s):
        return [(r.item_id, r.rule) for r in s.exec(select(Reminder))]


def _said() -> Counter[tuple[str, str, int]]:
    """(reader, section, item number) over every queued email: each once, if at all."""
    said: Counter[tuple[str, str, int]] = Counter()
    for m in outbox():
        (to,) = m.to_addrs
        if m.template == "escalation":
            for group in m.context["cases"]:
                said.update((to, "escalation", i["item_number"]) for i in group["overdue"])
        elif m.template == "digest":
            for section in SECTIONS:
                said.update((to, section, i["item_number"]) for i in m.context[section])
    return said


def _assert_each_rule_said_once(report: ReminderReport) -> None:
    said = _said()
    assert said and max(said.values()) == 1  # no reader told twice of an item in a section
    fired = _fired()
    assert len(fired) == len(set(fired))  # each rule fired once
    escalated = {i for i, rule in fired if rule.startswith("escalation_")}
    overdue = {i for i, rule in fired if rule.startswith("overdue_")}
    assert {i for _to, section, i in said if section == "escalation"} == escalated
    assert {i for _to, section, i in said if section == "overdue"} == overdue
    assert report.escalated == len(escalated) and report.overdue == len(overdue)
    assert report.queued == len(outbox())
    with read_session() as s:
        (run,) = s.exec(select(ReminderRun))
        assert run.finished_at is not None and run.escalated == report.escalated


def test_a_writer_gets_in_between_batches(backlog):
    """After the first batch commits, a writer marks done an item that batch escalated (so
    holds a lock on, until its commit): it commits while the run is still going, and the run
    then goes on to the end. Proven by order, not by time."""
    clock, seen = backlog, {}

    def write_between(done: BatchDone) -> None:
        if done.number != 1:
            return
        with read_session() as s, system_scope(s):
            item_id = s.exec(
                select(Reminder.item_id)
                .join(ChecklistItem, col(ChecklistItem.id) == Reminder.item_id)
                .where(col(Reminder.rule).startswith("escalation_"))
                .where(col(ChecklistItem.escalated_at).is_not(None))
            ).first()
        assert item_id is not None  # the first batch escalated something, and committed it

        def writer() -> None:
            with write_session() as s:
                item = checklist.mark_done(s, item_id=item_id, actor=f.actor(s), now=clock.now())
                seen["fired_then"] = len(_fired())
                seen["done"] = item.id

        thread = threading.Thread(target=writer)
        thread.start()
        thread.join(timeout=120)  # a deadlock detector, not a speed limit
        assert not thread.is_alive(), "the writer was kept waiting by the run"
        seen["batches_then"] = done.number

    report = _run(clock, write_between)
    assert "done" in seen, "the writer failed"
    assert 0 < seen["fired_then"] < len(_fired())  # it got in mid-way; the run went on after
    _assert_each_rule_said_once(report)


def test_a_run_that_died_between_batches_is_resumed_once(backlog):
    clock = backlog

    def die_after_second(done: BatchDone) -> None:
        if done.number == 2:
            raise Died

    with pytest.raises(Died):
        _run(clock, die_after_second)
    fired_before = _fired()
    assert fired_before and outbox() == []  # two batches committed, no email yet
    clock.advance(minutes=5)  # within the lease: the run may still be alive
    assert _run(clock) == ReminderReport() and _fired() == fired_before
    clock.advance(seconds=LEASE.total_seconds())
    report = _run(clock)  # takes the day over: recalls what fired, fires the rest
    assert set(fired_before) < set(_fired())
    _assert_each_rule_said_once(report)
    clock.advance(hours=1)
    assert _run(clock) == ReminderReport()  # the day is done


def test_batches_say_what_one_transaction_says(backlog):
    """Batch by batch, the day's counts and emails are those of one transaction: every rule
    once, escalations per supervisor in one email."""
    batches: list[BatchDone] = []
    report = _run(backlog, batches.append)
    *full, last = [b for b in batches if not b.emails]  # the last page, with fewer, too
    assert len(full) >= 2 and all(b.items == BATCH for b in full) and last.items < BATCH
    assert all(b.seconds > 0 for b in batches)  # each transaction timed, from its start
    assert sum(b.emails for b in batches) == report.queued  # then the emails, in pages too
    _assert_each_rule_said_once(report)
    with read_session() as s, system_scope(s):
        marked = s.exec(
            select(func.count())
            .select_from(ChecklistItem)
            .where(col(ChecklistItem.escalated_at).is_not(None))
        ).one()
    assert marked == report.escalated  # each escalated item marked, in its batch
    assert _run(backlog) == ReminderReport()


def test_a_page_is_sized_from_the_one_before_but_the_first_shrinks_nothing():
    """The first page pays for what a process does once: it may grow the next page, never
    shrink it; after it a slow page shrinks the next one, and a page grows at most fourfold,
    to the target's share (``_PAGE_SECONDS``) of the pace seen."""
    pages = _Pages(None)
    pages.took(_PAGE_SECONDS * 4)  # a slow first page: the next is as large
    assert pages.size() == 250
    pages.took(_PAGE_SECONDS * 2)  # slow again: half
    assert pages.size() == 125
    pages.took(_PAGE_SECONDS / 100)  # fast: fourfold at most
    assert pages.size() == 500
    fixed = _Pages(7)
    fixed.took(_PAGE_SECONDS * 10)
    assert fixed.size() == 7  # a batch size given is kept
