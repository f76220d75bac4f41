"""The reminder rules on real cases: before, on and after the due day, escalation once, one
digest per staff member, once a day, never for cases that are not active."""

from __future__ import annotations

import json
from datetime import date, timedelta
from importlib import resources

from sqlmodel import select

from homeward.base.clock import SimulatedClock
from homeward.base.db import read_session, system_scope, write_session
from homeward.base.models import Case, ChecklistItem, Reminder, ReminderRun
from homeward.base.settings import get_settings
from homeward.records.directory import StaffIn, add_staff, get_org, validate
from notifications.recipients import Directory
from notifications.reminders import ReminderReport
from notifications.rules import load_rules
from tasks import checklist
from tasks.catalog import available_versions, load_catalog
from tests import factories as f
from tests.notifications.helpers import (
    WORKING_MONDAY,
    codes,
    digest_for,
    escalated,
    outbox,
    remind,
    works,
)

IOM_IT = ["coord@iom-it.example.org", "cw@iom-it.example.org"]  # who works IOM Italy's items
CONSUL = "officer@cons-rome.example.org"
SUPERVISOR = "sup@iom-it.example.org"


def item(ref: str, code: str) -> ChecklistItem:
    (found,) = [i for i in f.items(ref) if i.code == code]
    return found


def test_before_on_and_after_the_due_day_with_one_escalation(db_url, clock):
    f.seed()
    clock.current = WORKING_MONDAY  # three working days in a row, in Romania and Italy
    ref = f.open_case(clock)  # Monday 12 January, 11:00 in Bucharest
    first = remind(clock)
    assert first == ReminderReport(coming_due=1, due_today=1, queued=3)
    for address in IOM_IT:
        assert codes(digest_for(address).context["due_today"]) == [
            "Presumed victim identified and referred"
        ]
    consul = digest_for(CONSUL).context
    assert codes(consul["coming_due"]) == ["ANITP notified and national referral record opened"]
    assert (
        consul["coming_due"][0]["days"] == 3
        and consul["org_name"] == "Consulate of Romania in Rome"
    )

    clock.advance(days=1)
    second = remind(clock)
    assert second == ReminderReport(due_today=1, overdue=1, escalated=1, queued=3)
    (escalation,) = outbox("escalation")
    (told,) = escalated(escalation)
    assert escalation.to_addrs == [SUPERVISOR] and told["days"] == 1 and told["case_ref"] == ref
    assert told["item_title"] == "Presumed victim identified and referred"
    assert item(ref, "victim_identified").escalated_at == clock.now()

    clock.advance(days=1)
    third = remind(clock)
    assert third.escalated == 1 and len(outbox("escalation")) == 2  # basic needs, not again
    assert codes(escalated(outbox("escalation")[1])) == [
        "Safe shelter, medical care and interpreter provided"
    ]
    assert item(ref, "victim_identified").escalated_at == clock.now() - timedelta(days=1)


def test_one_digest_per_staff_member_grouping_all_their_items(db_url, clock):
    f.seed()
    refs = {f.open_case(clock), f.open_case(clock)}
    remind(clock)
    for address in IOM_IT:
        lines = digest_for(address).context["due_today"]
        assert {line["case_ref"] for line in lines} == refs and len(lines) == 2
    assert len(outbox("digest")) == 3


def test_once_a_day_and_not_before_the_digest_hour(db_url, clock, monkeypatch):
    f.seed()
    f.open_case(clock)
    monkeypatch.setenv("HOMEWARD_MAIL_DIGEST_HOUR", "12")  # it is 11:00 in Bucharest
    get_settings.cache_clear()
    assert remind(clock) == ReminderReport() and outbox() == []
    clock.advance(hours=1)
    assert remind(clock).queued == 3
    clock.advance(hours=5)
    assert remind(clock) == ReminderReport() and len(outbox()) == 3
    with read_session() as s:
        (run,) = s.exec(select(ReminderRun)).all()
    assert (run.day.isoformat(), run.queued, run.due_today) == ("2026-01-05", 3, 1)


def test_a_missed_day_is_caught_up_without_repeating_anything(db_url, clock):
    f.seed()
    clock.current = WORKING_MONDAY
    f.open_case(clock)
    clock.advance(days=1)  # no run on Monday
    report = remind(clock)
    assert report.coming_due == 1  # the consulate's 3-day reminder, a day late
    assert report.due_today == 1 and report.overdue == 1 and report.escalated == 1
    clock.advance(days=1)
    assert remind(clock).coming_due == 0


def test_cases_that_are_not_active_get_no_reminders(db_url, clock):
    f.seed()
    suspended, withdrawn, closed = f.open_case(clock), f.open_case(clock), f.open_case(clock)
    f.advance(suspended, "suspend", clock)
    f.advance(withdrawn, "withdraw_consent", clock)
    f.advance(closed, "lose_contact", clock)
    f.advance(closed, "close", clock, {"reason": "moved_or_migrated", "approved_by": f.SUPERVISOR})
    before = len(outbox())
    for _ in range(5):
        clock.advance(days=1)
        assert remind(clock) == ReminderReport()
    assert len(outbox()) == before  # only the consent-withdrawn notices, queued at the time
    assert {m.template for m in outbox()} <= {"consent_withdrawn"}


def test_an_assignee_is_told_instead_of_the_whole_organisation(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    with write_session() as s:
        checklist.assign(
            s,
            item_id=item(ref, "victim_identified").id,
            actor=f.actor(s),
            assignee=f.actor(s, "cw@iom-it.example.org"),
            now=clock.now(),
        )
    remind(clock)
    assert codes(digest_for("cw@iom-it.example.org").context["due_today"]) == [
        "Presumed victim identified and referred"
    ]
    assert [m for m in outbox("digest") if m.to_addrs == ["coord@iom-it.example.org"]] == []


def test_without_a_supervisor_the_escalation_goes_to_the_mailbox_or_the_case_owner(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    clock.advance(days=4)  # the consulate's ANITP notice is a day late; it has no supervisor
    remind(clock)
    anitp = item(ref, "anitp_notified")
    told = [
        (m, i) for m in outbox("escalation") for i in escalated(m) if i["item_number"] == anitp.id
    ]
    assert [m.to_addrs for m, _ in told] == [[SUPERVISOR]]  # the case owner's, told who was not
    assert told[0][1]["unreached"] and told[0][1]["org"] == "Consulate of Romania in Rome"
    assert anitp.escalated_at == clock.now()
    with write_session() as s, system_scope(s):  # the directory (0031)
        get_org(session=s, slug="cons-rome").email = "consular@cons-rome.example.org"
        consulate = get_org(session=s, slug="cons-rome").id
    clock.advance(days=7)  # the next mention (7 days late) reaches the consulate's own mailbox
    remind(clock)
    told = [
        (m, i) for m in outbox("escalation") for i in escalated(m) if i["item_number"] == anitp.id
    ]
    assert [(m.to_addrs, i["unreached"], i["days"]) for m, i in told] == [
        ([SUPERVISOR], True, 1),
        (["consular@cons-rome.example.org"], False, 8),
    ]
    assert told[1][0].key == f"escalation:org-{consulate}:2026-01-16"  # one a day per mailbox


def test_each_reader_gets_their_own_language(db_url, clock):
    f.seed()
    with write_session() as s:
        staff_in = validate(
            StaffIn,
            org="cons-rome",
            name="Ana Pop",
            email="ana@cons-rome.example.org",
            role="caseworker",
            language="ro",
        )
        add_staff(session=s, staff_in=staff_in)
    f.open_case(clock)
    remind(clock)
    ro = digest_for("ana@cons-rome.example.org")
    assert (
        ro.language == "ro"
        and ro.context["coming_due"][0]["stage"] == "Identificare în străinătate"
    )
    assert ro.context["coming_due"][0]["item_title"].startswith("ANITP notificată")
    assert digest_for(CONSUL).language == "en"


def test_follow_up_visits_are_listed_in_digests_without_a_calendar_file(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    f.drive_to(ref, "reintegration", clock)
    visit = item(ref, "follow_up_2w")
    # Seven days before is a Saturday (the visit is due on one): nothing is said on a quiet
    # day, and the 7-day reminder comes on the Monday after, five days before.
    clock.current = visit.due_at - timedelta(days=7)
    assert remind(clock).coming_due == 0
    clock.current = visit.due_at - timedelta(days=5)
    remind(clock)
    lines = [
        line
        for m in outbox("digest")
        for line in m.context["coming_due"]
        if line["item_number"] == visit.id
    ]
    # The invitation is its own email (notifications.invitations): a digest only lists it.
    assert lines and all(line["calendar_uid"] is None for line in lines)
    with read_session() as s:
        fired = s.exec(select(Reminder).where(Reminder.item_id == visit.id)).all()
    assert [r.rule for r in fired] == ["before_7"]


def test_the_rules_name_only_catalog_items():
    codes_in_catalogs = {
        spec.code
        for version in available_versions()
        for specs in load_catalog(version).stages.values()
        for spec in specs
    }
    rules = load_rules()
    assert set(rules.items) <= codes_in_catalogs
    assert rules.calendar_items <= codes_in_catalogs
    raw = json.loads((resources.files("notifications") / "rules.json").read_text("utf-8"))
    assert set(raw["items"]) == set(rules.items)


def test_batches_and_the_lead_time_window_change_nothing(db_url, clock, monkeypatch):
    """Against an oracle of the rules alone: over four weeks of daily runs, reading the items
    two at a time and only up to the rules' longest lead time, every rule fires exactly when
    the rules say, once per item and due date, into the right digest or escalation, and never
    on its readers' quiet days (weekends, 6 and 7 January in Romania, 6 January in Italy)."""
    from notifications import reminders

    monkeypatch.setattr(reminders, "_BATCH", 2)
    f.seed()
    refs = []
    for day in range(6):  # cases opened on different days, some moved on a stage
        refs.append(f.open_case(clock))
        if day % 2:
            f.drive_to(refs[-1], "consent_obtained", clock)
        clock.advance(days=1)
    rules, tz, fired = load_rules(), get_settings().tz, set()
    escalation_mails: set[tuple[str, date]] = set()  # one per supervisor and day
    escalated_on: dict[int, date] = {}
    for _ in range(28):  # four weeks: overdue items are mentioned again after a week
        today = clock.now().astimezone(tz).date()
        expected = {"coming_due": 0, "due_today": 0, "overdue": 0, "escalated": 0}
        with f.admin_read() as s:
            open_items = s.exec(select(ChecklistItem).where(ChecklistItem.status == "open")).all()
            owners = {c.id: c.owner_org_id for c in s.exec(select(Case))}
            directory = Directory(s)
        for it in open_items:
            due_on = it.due_at.astimezone(tz).date()
            rule = rules.for_item(it.code)
            owner = owners[it.case_id]
            last = escalated_on.get(it.id)
            ago = (today - last).days if last else None
            for firing in rule.firings(days_left=(due_on - today).days, escalated_days_ago=ago):
                told = {
                    "escalation": directory.supervisors(it.owner_org_id)
                    or directory.supervisors(owner),
                    "partners_overdue": directory.coordinators(owner),
                }.get(firing.section, directory.audience(it.owner_org_id))
                if not told or (it.id, firing.rule, due_on) in fired:
                    continue
                if not all(works(directory.orgs[r.org_id].country, today) for r in told):
                    continue  # a quiet day of the readers: the rule waits for a working day
                fired.add((it.id, firing.rule, due_on))
                section = "escalated" if firing.section == "escalation" else firing.section
                expected[section] += 1
                if firing.section == "escalation":
                    escalation_mails.update((r.key, today) for r in told)
                    escalated_on[it.id] = today
                if firing.section == "overdue" and it.owner_org_id != owner:
                    fired.add((it.id, f"partners_{firing.rule}", due_on))
        report = remind(clock)
        assert (report.coming_due, report.due_today, report.overdue, report.escalated) == (
            expected["coming_due"],
            expected["due_today"],
            expected["overdue"],
            expected["escalated"],
        ), today
        clock.advance(days=1)
    with f.admin_read() as s:
        rows = {(r.item_id, r.rule, r.due_on) for r in s.exec(select(Reminder))}
    assert rows == fired and len(fired) > 40
    assert any(rule.startswith("escalation_") for _, rule, _ in fired)  # repeats happened
    assert any(rule.startswith("partners_") for _, rule, _ in fired)
    escalations = outbox("escalation")
    assert {(m.key.split(":")[1], date.fromisoformat(m.context["day"])) for m in escalations} == (
        escalation_mails
    )
    assert len({m.key for m in escalations}) == len(escalations)


def test_the_runs_own_statements_skip_the_orm(db_url: str, clock: SimulatedClock) -> None:
    """The lease, the pages of items, the fired reminders, the escalation marks and the finish
    are Core statements built once per process (issue 19 point 7): none goes through the ORM,
    which built and compiled them again, and an ORM object for the lease, at every run. What
    the run writes is the same (the tests above)."""
    from sqlalchemy import Select, event
    from sqlalchemy.orm import ORMExecuteState
    from sqlalchemy.orm import Session as OrmSession

    f.seed()
    clock.current = WORKING_MONDAY
    f.open_case(clock)
    remind(clock)
    clock.advance(days=3)  # a working Thursday: items due, overdue and escalated
    touched: list[set[str]] = []

    def seen(state: ORMExecuteState) -> None:
        if not state.is_orm_statement:  # a Core statement run through the session
            return
        statement = state.statement
        froms = statement.get_final_froms() if isinstance(statement, Select) else []
        table = getattr(statement, "table", None)
        touched.append({getattr(t, "name", "") for t in [*froms, table] if t is not None})

    event.listen(OrmSession, "do_orm_execute", seen)
    try:
        report = remind(clock)
    finally:
        event.remove(OrmSession, "do_orm_execute", seen)
    assert report.overdue and report.escalated
    own = {"reminder_run", "reminder", "checklist_item"}
    assert [names for names in touched if names & own] == []
    with read_session() as s:
        run = s.exec(select(ReminderRun).order_by(ReminderRun.day.desc())).first()  # type: ignore[attr-defined]
        assert run is not None and run.finished_at is not None
        assert (run.overdue, run.escalated, run.queued) == (
            report.overdue,
            report.escalated,
            report.queued,
        )
