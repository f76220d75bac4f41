"""Ninety simulated days of reminders over many cases (30 by default, 300 with ``-m slow``):
the real reminder run each morning at the test's clock, the real sender to a real SMTP server,
every message parsed with Python's email parser. It shows that

- every overdue item is mentioned on each day of its cadence (``rules.json``: 1, 3 and 7 days
  late, then every 7 days) until it is done, and on no day between: in its organisation's
  digest, and from the rule's ``escalate_after_days`` in the supervisors' escalation digest;
- a supervisor gets at most one escalation email a day, however large the backlog (the issue
  measured 1,995 in one morning for 285 cases), its items grouped by case and organisation,
  each with its days late;
- nothing about the person assisted is in any message;
- every follow-up visit is one calendar event (one UID) for its whole run, its SEQUENCE rising
  with each message to each attendee; a moved visit's last REQUEST starts on its new day; every
  visit still open when its case ends (consent withdrawn, contact lost, closed) gets a CANCEL;
  each .ics read by ``icalendar`` and by ``vobject``;
- no refusal is silent: each permanent refusal the server gave (two staff mailboxes that
  refuse everything) is a recipient refused for good, with its code, in the dead letters
  (``homeward mail outbox --dead``) and in the mail stats (``homeward mail stats``).

Cases open over the first weeks, a third of them moved on to the assessments, one in four on
to reintegration, where its visits are invited by the daily follow-up pass; some visits are
moved once or twice, and some of those cases end. Each item is recorded done at a lateness of
its own (early, on time, days or weeks late, or never).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import col, select

from homeward.base.clock import SimulatedClock, local_date, local_noon, utc
from homeward.base.db import write_session
from homeward.base.models import (
    Case,
    CaseStatus,
    ChecklistItem,
    ItemStatus,
    Organisation,
    OutboxMessage,
    OutboxStatus,
    StaffMember,
)
from homeward.records.directory import StaffIn, add_staff, validate
from notifications.redelivery import refused
from notifications.render import days
from notifications.rules import ItemRule, load_rules
from notifications.stats import count_mail, daily_totals
from notifications.visits import schedule_follow_ups
from statemachines.return_case import ACTIVE
from tasks import checklist, checklist_changes
from tasks.catalog import load_catalog
from tests import factories as f
from tests.notifications.simulation import (
    DayLog,
    Invite,
    digest_lines,
    escalation_lines,
    invites,
    run_days,
)
from tests.notifications.smtp_server import ScriptedHandler

DAYS = 90
SUPERVISORS = [  # IOM Italy owns every case; ADPARE is a partner; the consulate has none
    ("iom-it", f.SUPERVISOR, "en"),  # seeded by tests.factories
    ("iom-it", "sup-ro@iom-it.example.org", "ro"),
    ("adpare", "sup@adpare.example.org", "en"),
]
PERSONAL = [f.CANARY.given_name, f.CANARY.family_name, "700 000 111", "+40700000111"]
REFUSED = {  # real staff whose mailboxes refuse everything (the second reads visits' calendars)
    "cw@iom-it.example.org": "550 5.1.1 <cw@iom-it.example.org>: mailbox unavailable",
    "cw2@adpare.example.org": "550 5.1.1 <cw2@adpare.example.org>: no such user",
}
ENDINGS = ["withdraw_consent", "lose_contact", "close", None]  # a visiting case's fate
PATIENCE = [-1, 0, 1, 2, 4, 8, 12, 20, 35, None, None]  # days late an item is done (None: never)

# the cadence day by day: quiet days and hours are proven apart (test_quiet_hours.py)
pytestmark = pytest.mark.usefixtures("any_day")


def on_cadence(rule: ItemRule, late: int) -> bool:
    """The rule's cadence, read from its fields alone (not from ``ItemRule.mention``)."""
    last, every = rule.overdue_days[-1], rule.repeat_every_days
    return late in rule.overdue_days or (late > last and (late - last) % every == 0)


@dataclass
class World:
    """The simulation's cases and what the oracle expects each day."""

    clock: SimulatedClock
    cases: int
    open_over_days: int
    refs: list[str] = field(default_factory=list)
    org_names: dict[int, str] = field(default_factory=dict)
    supervisors: dict[int, set[str]] = field(default_factory=dict)  # by organisation
    mentioned: dict[date, set[int]] = field(default_factory=dict)
    escalated: dict[date, set[int]] = field(default_factory=dict)
    partners: dict[date, set[int]] = field(default_factory=dict)
    about: dict[tuple[date, int], tuple[str, int, int, int]] = field(default_factory=dict)
    done_after_mention: int = 0
    visiting: dict[str, date] = field(default_factory=dict)  # case_ref: day of departure
    moved: dict[int, datetime] = field(default_factory=dict)  # visit: its last due time
    moves: dict[int, int] = field(default_factory=dict)  # visit: times moved
    ended: dict[int, tuple[str, date]] = field(default_factory=dict)  # open visit: how, when

    def setup(self) -> None:
        f.seed()
        with write_session() as s:
            staff = [(*supervisor, "supervisor") for supervisor in SUPERVISORS[1:]]
            for org, email, language, role in [
                *staff,
                ("adpare", "cw2@adpare.example.org", "ro", "caseworker"),
            ]:
                member = validate(
                    StaffIn,
                    org=org,
                    name=f"Staff {role}",
                    email=email,
                    role=role,
                    language=language,
                )
                add_staff(session=s, staff_in=member)
        with f.admin_read() as s:
            self.org_names = {o.id: o.name for o in s.exec(select(Organisation))}
            for member in s.exec(select(StaffMember).where(StaffMember.role == "supervisor")):
                self.supervisors.setdefault(member.org_id, set()).add(member.email)

    def morning(self, today: date) -> None:
        """Before the run: open today's cases, record the items whose time has come done,
        then write down what the rules say today's mail must mention."""
        day = (today - date(2026, 1, 5)).days
        for n in range(self.cases):
            if n % self.open_over_days == day:
                visiting = n % 4 == 2  # sharing with ADPARE, which works its visits
                self.refs.append(f.open_case(self.clock, share=visiting))
                if visiting:  # on to reintegration, departing in five days
                    f.drive_to(self.refs[-1], "travel_arranged", self.clock)
                    self.visiting[self.refs[-1]] = today + timedelta(days=5)
                elif n % 3 == 0:
                    f.drive_to(self.refs[-1], "consent_obtained", self.clock)
        for k, (ref, departs) in enumerate(self.visiting.items()):
            self._visits_of(ref, k, (today - departs).days)
        with write_session() as s:  # the daily follow-up pass (flow schedule-follow-ups)
            schedule_follow_ups(s, now=self.clock.now())
        self._record_done(today)
        self._expect(today)

    def _visits_of(self, ref: str, k: int, since: int) -> None:
        """A visiting case's life, ``since`` days after its departure: it arrives and starts
        reintegration; its one-month visit is moved (every other case), a second time (every
        fourth); it ends as its ``ENDINGS`` says."""
        if since == 0:
            for trigger in ("depart", "confirm_arrival", "start_reintegration"):
                f.complete_stage(ref, self.clock)
                f.advance(ref, trigger, self.clock)
        elif since in (10, 15) and k % (2 if since == 10 else 4) == 0:
            self._move(ref, "follow_up_1m", days=since + 12)
        elif since == 12 and k % 3 == 1:
            self._move(ref, "follow_up_2w", days=9)
        elif since == 20 + 10 * (k % 4) and (ending := ENDINGS[k % 4]):
            today = local_date(self.clock.now())
            for item in f.items(ref, stage="reintegration", status=ItemStatus.OPEN):
                if load_rules().is_visit(item.code):
                    self.ended[item.id or 0] = (ending, today)
                    if ending == "close":  # closing asks that the visits left be skipped
                        self._skip(item.id or 0)
            if ending == "close":
                f.complete_stage(ref, self.clock)
            f.advance(ref, ending, self.clock)

    def _skip(self, item_id: int) -> None:
        with write_session() as s:
            checklist.mark_skipped(
                s,
                item_id=item_id,
                actor=f.actor(s),
                now=self.clock.now(),
                reason="the support period ended",
            )

    def _move(self, ref: str, code: str, *, days: int) -> None:
        (item,) = [i for i in f.items(ref, status=ItemStatus.OPEN) if i.code == code] or [None]
        if item is None or f.load_case(ref).status != CaseStatus.ACTIVE:
            return
        on = local_date(self.clock.now()) + timedelta(days=days)
        with write_session() as s:
            checklist_changes.change_due(
                s,
                item_id=item.id or 0,
                actor=f.actor(s),
                on=on,
                reason="the family asked for another day",
                now=self.clock.now(),
            )
        self.moved[item.id or 0] = local_noon(on)
        self.moves[item.id or 0] = self.moves.get(item.id or 0, 0) + 1

    def _open_items(self) -> list[tuple[ChecklistItem, Case]]:
        with f.admin_read() as s:
            query = (
                select(ChecklistItem, Case)
                .join(Case, col(Case.id) == ChecklistItem.case_id)
                .where(ChecklistItem.status == ItemStatus.OPEN)
                .where(col(Case.state).in_([str(stage) for stage in ACTIVE]))
                .where(Case.status == CaseStatus.ACTIVE)
            )
            return list(s.exec(query))

    def _record_done(self, today: date) -> None:
        catalog = load_catalog("v1")
        for item, _case in self._open_items():
            patience = random.Random(item.id).choice(PATIENCE)
            late = (today - local_date(item.due_at)).days
            if patience is None or late < patience:
                continue
            if any(item.id in ids for ids in self.mentioned.values()):
                self.done_after_mention += 1
            outcomes = catalog.spec(item.code).outcomes
            with write_session() as s:
                checklist.mark_done(
                    s,
                    item_id=item.id or 0,
                    actor=f.actor(s),
                    now=self.clock.now(),
                    outcome=outcomes[0] if outcomes else None,
                )

    def _expect(self, today: date) -> None:
        rules = load_rules()
        mentioned, escalated, partners = set(), set(), set()
        for item, case in self._open_items():
            late = (today - local_date(item.due_at)).days
            rule = rules.for_item(item.code)
            if late < 1 or not on_cadence(rule, late):
                continue
            assert item.id is not None
            mentioned.add(item.id)
            self.about[(today, item.id)] = (
                case.case_ref,
                item.owner_org_id,
                case.owner_org_id,
                late,
            )
            if late >= rule.escalate_after_days:
                escalated.add(item.id)
            if item.owner_org_id != case.owner_org_id:
                partners.add(item.id)
        self.mentioned[today], self.escalated[today], self.partners[today] = (
            mentioned,
            escalated,
            partners,
        )


def check_day(world: World, log: DayLog) -> None:
    """Today's mail says exactly what the cadence says, grouped and counted as it should."""
    today = log.day
    escalations = [m for m in log.mail if m.template == "escalation"]
    digests = [m for m in log.mail if m.template == "digest"]
    per_supervisor = Counter(address for m in escalations for address in m.to)
    assert all(n == 1 for n in per_supervisor.values()), (today, per_supervisor)
    assert set(per_supervisor) <= {email for _, email, _ in SUPERVISORS}, per_supervisor

    told: dict[int, set[str]] = defaultdict(set)
    for mail in escalations:
        lines = escalation_lines(mail)
        assert lines, (today, mail.subject)
        _groups_are_contiguous([(line.case_ref, line.org) for line in lines], today)
        for line in lines:
            case_ref, org_id, _owner, late = world.about[(today, line.item_number)]
            assert (line.case_ref, line.org, line.days_late) == (
                case_ref,
                world.org_names[org_id],
                late,
            ), (today, line)
            assert line.unreached == (org_id not in world.supervisors), line
            assert f"#{line.item_number} " in mail.html  # the HTML part says it all too
            assert days(late, mail.language) in mail.html
            told[line.item_number].update(mail.to)
    assert set(told) == world.escalated[today], (
        today,
        sorted(set(told) ^ world.escalated[today]),
    )
    for number, addresses in told.items():  # the organisation's supervisors, else the owner's
        _case, org_id, owner, _late = world.about[(today, number)]
        assert addresses == world.supervisors.get(org_id, world.supervisors[owner]), number

    overdue = {
        line.item_number
        for mail in digests
        for line in digest_lines(mail)
        if line.section == "overdue"
    }
    assert overdue == world.mentioned[today], (today, sorted(overdue ^ world.mentioned[today]))
    partners = {
        line.item_number
        for mail in digests
        for line in digest_lines(mail)
        if line.section == "partners_overdue"
    }
    assert partners == world.partners[today], (today, sorted(partners ^ world.partners[today]))


def _groups_are_contiguous(groups: list[tuple[str, str]], today: date) -> None:
    """Each (case, organisation) appears as one block of lines, the blocks in case order."""
    blocks = [g for n, g in enumerate(groups) if n == 0 or groups[n - 1] != g]
    assert len(blocks) == len(set(blocks)), (today, blocks)
    assert [b[0] for b in blocks] == sorted(b[0] for b in blocks), (today, blocks)


def simulate(
    clock: SimulatedClock, smtp: ScriptedHandler, *, cases: int, open_over_days: int
) -> tuple[World, list[DayLog]]:
    """Ninety days over ``cases`` cases opened over the first ``open_over_days`` days."""
    world = World(clock, cases, open_over_days)
    world.setup()
    smtp.rcpt_replies = dict(REFUSED)
    return world, run_days(clock, smtp, DAYS, before_run=world.morning)


def check_run(world: World, logs: list[DayLog]) -> None:
    for log in logs:
        check_day(world, log)
    everything = [m for log in logs for m in log.mail]
    for mail in everything:
        whole = mail.raw.decode("utf-8", "replace") + mail.text + mail.html + mail.subject
        assert not any(word in whole for word in PERSONAL), (mail.day, mail.template)
        if mail.template in ("digest", "escalation"):  # cases named by case_ref only
            assert any(ref in whole for ref in world.refs), (mail.day, mail.template)
    # The run went through what it is about: long backlogs, repeats, items done after being
    # mentioned, both languages, digests grouping several cases.
    mentions = Counter(i for ids in world.escalated.values() for i in ids)
    assert max(mentions.values()) >= 8  # 1, 3, 7, 14... 56 days late at least
    assert world.done_after_mention > 0
    escalations = [m for m in everything if m.template == "escalation"]
    assert {m.language for m in escalations} == {"en", "ro"}
    assert max(len({line.case_ref for line in escalation_lines(m)}) for m in escalations) >= 5
    backlog = max(len(ids) for ids in world.escalated.values())
    busiest = max(
        sum(m.template == "escalation" for m in log.mail) for log in logs
    )  # one per supervisor, whatever the backlog
    assert busiest <= len(SUPERVISORS) < backlog
    check_calendars(world, [i for m in everything for i in invites(m)])


def check_calendars(world: World, received: list[Invite]) -> None:
    """Each visit one event for the whole run, its SEQUENCE rising with each message to each
    attendee; a moved visit's last REQUEST at its new start; an ended case's visits cancelled."""
    readers = {i.to for i in received}  # cw2's were refused
    assert "cw@adpare.example.org" in readers and not readers & set(REFUSED), readers
    by_visit: dict[int, list[Invite]] = defaultdict(list)  # each visit's messages, in order
    uids: dict[int, set[str]] = defaultdict(set)
    for invite in received:
        item_id = int(invite.uid.split("@")[0].removeprefix("visit-item-"))
        by_visit[item_id].append(invite)
        uids[item_id].add(invite.uid)
    assert all(len(found) == 1 for found in uids.values()), uids  # one UID, whole run
    assert len(set().union(*uids.values())) == len(uids)  # and each visit its own
    for item_id, timeline in by_visit.items():
        for reader in {i.to for i in timeline}:  # each attendee's calendar
            sequences = [i.sequence for i in timeline if i.to == reader]
            assert sequences == sorted(set(sequences)), (item_id, reader, sequences)
        assert timeline[0].method == "REQUEST", (item_id, timeline[0])
    for item_id, start in world.moved.items():
        requests = [i for i in by_visit[item_id] if i.method == "REQUEST"]
        assert utc(requests[-1].start) == utc(start), (item_id, requests[-1])
        assert len({i.start for i in requests}) == world.moves[item_id] + 1, item_id
    for item_id, (ending, on) in world.ended.items():
        last = by_visit[item_id][-1]  # invited, then cancelled when its case ended
        assert (last.method, last.day) == ("CANCEL", on), (item_id, ending, last)
        assert all(i.method == "REQUEST" for i in by_visit[item_id][:-1]), (item_id, ending)
    # The run went through what it is about: visits moved twice, cases ended each way.
    assert max(world.moves.values()) == 2
    assert {ending for ending, _ in world.ended.values()} == {e for e in ENDINGS if e is not None}
    moved_then_ended = set(world.moved) & set(world.ended)
    assert moved_then_ended, "no moved visit was cancelled"


def check_refusals(smtp: ScriptedHandler, first_day: date, last_day: date) -> None:
    """Zero silent refusals: each refusal the server gave is a recipient refused for good,
    with its code, in the dead letters, and counted by the mail stats."""
    assert smtp.refusals and {address for address, _ in smtp.refusals} == set(REFUSED)
    with f.admin_read() as s:
        dead = refused(s, limit=100_000)
        stats = count_mail(s, first_day=first_day, last_day=last_day)
        dead_messages = s.exec(
            select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.DEAD)
        )
        all_dead = {m.id for m in dead_messages}
    assert Counter(r.address for r in dead) == Counter(a for a, _ in smtp.refusals)
    assert all((r.code, r.reply) == (550, REFUSED[r.address]) for r in dead), dead[:3]
    assert {"digest", "visit"} <= {r.template for r in dead}  # reminders and calendars alike
    totals = daily_totals(stats, first_day, last_day)
    assert {"digest", "visit"} <= {row.kind for row in stats if row.refused}
    refused_messages = {r.message_id for r in dead}
    assert sum(row.refused for row in totals) == len(refused_messages)
    assert sum(row.dead for row in totals) == len(all_dead) > 0
    assert all_dead <= refused_messages


def test_ninety_days_of_escalations_over_30_cases(db_url, clock, smtp):
    world, logs = simulate(clock, smtp, cases=30, open_over_days=15)
    check_run(world, logs)
    check_refusals(smtp, logs[0].day, logs[-1].day)


@pytest.mark.slow
def test_ninety_days_of_escalations_over_300_cases(db_url, clock, smtp):
    world, logs = simulate(clock, smtp, cases=300, open_over_days=30)
    check_run(world, logs)
    check_refusals(smtp, logs[0].day, logs[-1].day)
