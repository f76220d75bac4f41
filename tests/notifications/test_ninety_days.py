"""Ninety simulated days of reminders over many cases (30 by default, 300 with ``-m slow``):
the real reminder run each morning at the test's clock, the real sender to a real SMTP server,
every message parsed with Python's email parser. It shows that

- every overdue item is mentioned on each day of its cadence (``rules.json``: 1, 3 and 7 days
  late, then every 7 days) until it is done, and on no day between: in its organisation's
  digest, and from the rule's ``escalate_after_days`` in the supervisors' escalation digest;
- a supervisor gets at most one escalation email a day, however large the backlog (the issue
  measured 1,995 in one morning for 285 cases), its items grouped by case and organisation,
  each with its days late;
- nothing about the person assisted is in any message.

Cases open over the first weeks, a third of them moved on to the assessments; each item is
recorded done at a lateness of its own (early, on time, days or weeks late, or never).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

import pytest
from sqlmodel import col, select

from homeward.base.clock import SimulatedClock, local_date
from homeward.base.db import write_session
from homeward.base.models import Case, ChecklistItem, ItemStatus, Organisation, StaffMember
from homeward.records.directory import StaffIn, add_staff, validate
from notifications.render import days
from notifications.rules import ItemRule, load_rules
from statemachines.return_case import ACTIVE
from tasks import checklist
from tasks.catalog import load_catalog
from tests import factories as f
from tests.notifications.simulation import DayLog, digest_lines, escalation_lines, run_days
from tests.notifications.smtp_server import ScriptedHandler

DAYS = 90
SUPERVISORS = [  # IOM Italy owns every case; ADPARE is a partner; the consulate has none
    ("iom-it", f.SUPERVISOR, "en"),  # seeded by tests.factories
    ("iom-it", "sup-ro@iom-it.example.org", "ro"),
    ("adpare", "sup@adpare.example.org", "en"),
]
PERSONAL = [f.CANARY.given_name, f.CANARY.family_name, "700 000 111", "+40700000111"]
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

    def setup(self) -> None:
        f.seed()
        with write_session() as s:
            for org, email, language in SUPERVISORS[1:]:
                staff = validate(
                    StaffIn,
                    org=org,
                    name="Staff supervisor",
                    email=email,
                    role="supervisor",
                    language=language,
                )
                add_staff(session=s, staff_in=staff)
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
                self.refs.append(f.open_case(self.clock, share=False))
                if n % 3 == 0:
                    f.drive_to(self.refs[-1], "consent_obtained", self.clock)
        self._record_done(today)
        self._expect(today)

    def _open_items(self) -> list[tuple[ChecklistItem, Case]]:
        with f.admin_read() as s:
            query = (
                select(ChecklistItem, Case)
                .join(Case, col(Case.id) == ChecklistItem.case_id)
                .where(ChecklistItem.status == ItemStatus.OPEN)
                .where(col(Case.state).in_([str(stage) for stage in ACTIVE]))
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


def test_ninety_days_of_escalations_over_30_cases(db_url, clock, smtp):
    world, logs = simulate(clock, smtp, cases=30, open_over_days=15)
    check_run(world, logs)


@pytest.mark.slow
def test_ninety_days_of_escalations_over_300_cases(db_url, clock, smtp):
    world, logs = simulate(clock, smtp, cases=300, open_over_days=30)
    check_run(world, logs)
