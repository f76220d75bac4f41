"""No oracle (issue 14): to an organisation that does not take part in a case, every command
answers for that case's items and case_ref exactly as for ones that do not exist: the same
words, the same exit, and never another organisation's case_ref, name or slug.

Two outsiders probe: staff of an organisation in no case at all, and staff of a partner in
another case (the minor's) but not in the adult's. Each loops over every item number in the
database and a few past its end, and over every case_ref and a few that name nothing, through
the commands layer and through the CLI. On PostgreSQL row security hides the rows; on SQLite
the engine reads them and must deny them in the same words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from homeward.base.clock import SimulatedClock, local_date
from homeward.base.db import write_session
from homeward.base.errors import HomewardError
from homeward.base.models import Case, ChecklistItem, Organisation, RequestKey
from homeward.commands import (
    adhoc,
    assessments,
    case_page,
    case_views,
    cases,
    closure_runs,
    closures,
    consent,
    family,
    handoffs,
    items,
    journal,
    plan,
    providers,
    referral,
    visits,
)
from homeward.commands import reports as report_cmds
from homeward.commands.runner import Command, run
from homeward.edges.cli.common import state
from homeward.protection.access import case_org_ids
from homeward.protection.consent import ConsentIn
from homeward.protection.vault import DependantIn, PersonIn
from homeward.records.directory import OrganisationIn, StaffIn, add_org, add_staff, validate
from homeward.reporting.programmes import ProgrammeIn
from statemachines.steps import ClosureReason, ClosureRejection
from tests import factories as f
from tests.cli.runner import run_cli
from tests.signin import credential_for

OUTSIDER = "coord@ngo-x.example.org"  # its organisation takes part in no case
NEIGHBOUR = "coord@fmb.example.org"  # a partner in the minor's case, not in the adult's
OWN_SLUG = {OUTSIDER: "ngo-x", NEIGHBOUR: "fmb"}
MISSING_REFS = ("RT-ZZZZ-ZZ", "RT-2345-67", "RT-QQQQ-99")
MISSING_ITEMS = 3  # item numbers past the last one
PROGRAMME = "oracle-1"


@pytest.fixture
def world(db_url: str, clock: SimulatedClock) -> dict[str, Any]:
    """The adult's case (shared with iom-ro and adpare; one item done, one handed to adpare),
    the minor's (with fmb), and a programme of each outsider's organisation."""
    f.seed()
    with write_session() as s:
        org_in = validate(
            OrganisationIn, slug="ngo-x", name="Outside NGO", kind="ngo", country="RO"
        )
        add_org(session=s, org_in=org_in)
        for org, email in (("ngo-x", OUTSIDER), ("fmb", NEIGHBOUR)):
            staff_in = validate(StaffIn, org=org, name="Probe", email=email, role="coordinator")
            add_staff(session=s, staff_in=staff_in)
    adult = f.open_case(clock, share=False)
    f.give_sharing(adult, clock, "iom-ro", "adpare")
    minor = f.open_case(clock, minor=True, ngo="fmb")
    first, second = (i.id or 0 for i in f.items(adult)[:2])
    cred = credential_for(f.COORD, clock.now())
    run(items.DoneItem(first, outcome=_outcome(first)), cred, clock=clock)
    run(handoffs.ProposeHandoff(second, "adpare"), cred, clock=clock)
    today = local_date(clock.now())
    for email in (OUTSIDER, NEIGHBOUR):
        programme = ProgrammeIn(
            code=f"{PROGRAMME}-{OWN_SLUG[email]}",
            name="Probe programme",
            donor="A donor",
            starts_on=today - timedelta(days=30),
            ends_on=today + timedelta(days=300),
        )
        run(report_cmds.AddProgramme(programme), credential_for(email, clock.now()), clock=clock)
    return {"adult": adult, "minor": minor}


def _outcome(item_id: int) -> str | None:
    from tasks.catalog import load_catalog

    with f.admin_read() as s:
        item = s.get(ChecklistItem, item_id)
        assert item is not None
        outcomes = load_catalog("v1").spec(item.code).outcomes
    return outcomes[0] if outcomes else None


def sight(email: str) -> dict[str, Any]:
    """What ``email``'s organisation may and may not know: the case_refs it cannot see, the
    items of those cases, the items past the end, and the names and slugs of organisations it
    meets in no case it sees (its own excepted)."""
    own = OWN_SLUG[email]
    with f.admin_read() as s:
        orgs = {o.id: o for o in s.exec(select(Organisation))}
        me = next(o.id for o in orgs.values() if o.slug == own)
        hidden, known = [], {me}
        for case in s.exec(select(Case)):
            taking_part = case_org_ids(s, case)
            if me in taking_part:
                known |= taking_part
            else:
                hidden.append(case)
        foreign_items = s.exec(
            select(ChecklistItem.id).where(col(ChecklistItem.case_id).in_([c.id for c in hidden]))
        ).all()
        last = max(s.exec(select(ChecklistItem.id)).all())
    unknown = [o for oid, o in orgs.items() if oid not in known]
    return {
        "refs": [c.case_ref for c in hidden],
        "items": sorted(i for i in foreign_items if i is not None),
        "missing_items": list(range(last + 1, last + 1 + MISSING_ITEMS)),
        "secrets": [c.case_ref for c in hidden] + [w for o in unknown for w in (o.slug, o.name)],
    }


# Each probe: an ordinary request a user could make, built for one item number or case_ref.
Probe = Callable[[Any, str, SimulatedClock], Command[Any]]


def _due(clock: SimulatedClock) -> Any:
    return local_date(clock.now()) + timedelta(days=14)


ITEM_PROBES: dict[str, Probe] = {
    "items show": lambda i, _me, _c: items.ShowItem(i),
    "items where": lambda i, _me, _c: case_page.FindItem(i),
    "items done": lambda i, _me, _c: items.DoneItem(i),
    "items skip": lambda i, _me, _c: items.SkipItem(i, "not needed here"),
    "items assign": lambda i, me, _c: items.AssignItem(i, me),
    "items reopen": lambda i, _me, _c: items.ReopenItem(i, "needed after all"),
    "items due": lambda i, _me, c: items.ChangeDue(i, _due(c), "court date set"),
    "items handoff": lambda i, me, _c: handoffs.ProposeHandoff(i, OWN_SLUG[me]),
    "items accept": lambda i, _me, _c: handoffs.AcceptHandoff(i),
    "items reject": lambda i, _me, _c: handoffs.RejectHandoff(i, "not ours"),
    "items reschedule": lambda i, _me, c: adhoc.RescheduleItem(i, _due(c), "moved", at="10:00"),
    "items cancel": lambda i, _me, _c: adhoc.CancelItem(i, "called off"),
}
REF_PROBES: dict[str, Probe] = {
    "case add-person": lambda r, _me, _c: family.AddPerson(
        r, DependantIn(relation="partner", given_name="A", family_name="B")
    ),
    "case people": lambda r, _me, _c: family.ListPeople(r),
    "case remove-person": lambda r, _me, _c: family.RemovePerson(r, 1, "other"),
    "case show": lambda r, _me, _c: case_views.ShowCase(r),
    "case page": lambda r, _me, _c: case_page.CasePage(r),
    "case show --personal": lambda r, _me, _c: case_views.ShowCasePersonal(r),
    "case items": lambda r, _me, _c: case_views.CaseItems(r),
    "case history": lambda r, _me, _c: case_views.CaseHistory(r),
    "case advance": lambda r, _me, _c: cases.AdvanceCase(
        r, "record_consent", {"method": "signed", "language": "ro"}
    ),
    "case person": lambda r, _me, _c: cases.EnterPerson(
        r, PersonIn(given_name="A", family_name="B")
    ),
    "case handoff": lambda r, me, _c: cases.TransferCase(r, OWN_SLUG[me]),
    "case accept": lambda r, _me, _c: cases.AcceptTransfer(r),
    "case reject": lambda r, _me, _c: cases.RejectTransfer(r, "not ours"),
    "case hold": lambda r, _me, _c: cases.LegalHold(r),
    "consent give": lambda r, me, _c: consent.GiveConsent(
        r, ConsentIn(purpose="sharing", org=OWN_SLUG[me], method="signed", language="ro")
    ),
    "consent withdraw": lambda r, _me, _c: consent.WithdrawConsent(r, "data_processing"),
    "consent list": lambda r, _me, _c: consent.ListConsents(r),
    "case request-closure": lambda r, _me, _c: closures.RequestClosure(
        r, ClosureReason.SUPPORT_PERIOD_ENDED
    ),
    "case closure": lambda r, _me, _c: closures.ClosureStatus(r),
    "case approve-closure": lambda r, _me, _c: closures.ApproveClosure(r),
    "case reject-closure": lambda r, _me, _c: closures.RejectClosure(
        r, ClosureRejection.WORK_OUTSTANDING
    ),
    "case closure outcome": lambda r, _me, _c: closure_runs.ClosureOutcome(r, 1),
    "case expire-closure": lambda r, _me, _c: closure_runs.ExpireClosure(r, 1, 60),
    "items list --case": lambda r, _me, _c: items.ListItems(ref=r),
    "programme enrol": lambda r, me, _c: report_cmds.EnrolCases(
        f"{PROGRAMME}-{OWN_SLUG[me]}", (r,)
    ),
    # issue 16's casework
    "items add": lambda r, me, c: adhoc.AddAdhocItem(r, "court_hearing", OWN_SLUG[me], _due(c)),
    "items adhoc": lambda r, _me, _c: adhoc.ListAdhoc(r, "en"),
    "journal add": lambda r, _me, _c: journal.AddNote(r, "met at the shelter", None),
    "journal list": lambda r, _me, _c: journal.ListNotes(r),
    "journal page": lambda r, _me, _c: journal.JournalPage(r),
    "document add": lambda r, _me, _c: journal.AddDocument(
        r, "other", "note.txt", b"plain words", None
    ),
    "document list": lambda r, _me, _c: journal.ListDocuments(r),
    "plan show": lambda r, _me, _c: plan.ShowPlan(r),
    "plan draft": lambda r, _me, _c: plan.DraftPlan(r, None),
    "plan add-goal": lambda r, _me, _c: plan.AddGoal(r, "economic", "a steady income"),
    "plan add-service": lambda r, me, c: plan.AddService(
        r, "housing", OWN_SLUG[me], _due(c), None, 10000, "EUR", None
    ),
    "plan submit": lambda r, _me, _c: plan.SubmitPlan(r),
    "plan approve": lambda r, _me, _c: plan.ApprovePlan(r),
    "plan reject": lambda r, _me, _c: plan.RejectPlan(r, "needs a budget"),
    "visit list": lambda r, _me, _c: visits.ListVisits(r),
    "visit record": lambda r, _me, c: visits.RecordVisit(r, local_date(c.now()), "home"),
    "assess list": lambda r, _me, _c: assessments.ListAssessments(r),
    "assess propose": lambda r, _me, _c: assessments.ProposeServices(r),
    "assess risk": lambda r, _me, _c: assessments.RecordAssessment(r, "needs", {"medical": "yes"}),
    "case set-county": lambda r, _me, _c: providers.SetDestinationCounty(r, "RO-CJ"),
    "referral record": lambda r, _me, c: referral.RecordReferral(
        r, "RO-2026/1", local_date(c.now()), "police"
    ),
    "referral show": lambda r, _me, _c: referral.ShowReferral(r),
}


def answer(command: Command[Any], email: str, clock: SimulatedClock) -> tuple[int, str]:
    """The exit code and the words a request gets (0 and its view when it goes through)."""
    try:
        return 0, repr(run(command, credential_for(email, clock.now()), clock=clock))
    except HomewardError as exc:
        return exc.exit_code, str(exc)


def same_words(said: str, name: str) -> str:
    """What was said, with the item number or case_ref the caller typed taken out."""
    return re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", "ID", said)


def probe_all(
    ask: Callable[[str, Any], tuple[int, str]],
    probes: dict[str, Any],
    hidden: list[Any],
    missing: list[Any],
    secrets: list[str],
) -> tuple[int, list[str]]:
    """Every probe for every hidden and missing name: how many were tried, and each problem
    (a secret said, or a hidden name answered otherwise than a missing one)."""
    tried, problems = 0, []
    for probe in probes:
        answers: dict[str, set[tuple[int, str]]] = {"hidden": set(), "missing": set()}
        for kind, name in [("hidden", n) for n in hidden] + [("missing", n) for n in missing]:
            code, said = ask(probe, name)
            tried += 1
            told = [s for s in secrets if s in said and s != str(name)]  # not what was typed
            problems += [f"{probe} {name}: says {s!r}: {said}" for s in told]
            answers[kind].add((code, same_words(said, str(name))))
        if hidden and answers["hidden"] != answers["missing"]:
            problems.append(f"{probe}: hidden {answers['hidden']} != missing {answers['missing']}")
        problems += [f"{probe}: answered {a}" for a in answers["missing"] if a[0] != 3]
    return tried, problems


@pytest.mark.parametrize("email", [OUTSIDER, NEIGHBOUR])
def test_commands_answer_hidden_items_and_cases_as_missing(world, clock, email):
    seen = sight(email)
    assert seen["items"] and seen["refs"]  # something to hide

    def ask_item(probe: str, item_id: Any) -> tuple[int, str]:
        return answer(ITEM_PROBES[probe](item_id, email, clock), email, clock)

    def ask_ref(probe: str, ref: Any) -> tuple[int, str]:
        return answer(REF_PROBES[probe](ref, email, clock), email, clock)

    before = f.db_snapshot()
    tried, problems = probe_all(
        ask_item, ITEM_PROBES, seen["items"], seen["missing_items"], seen["secrets"]
    )
    more, found = probe_all(ask_ref, REF_PROBES, seen["refs"], list(MISSING_REFS), seen["secrets"])
    listed = [
        answer(c, email, clock)[1] for c in (items.ListItems(status="all"), case_views.ListCases())
    ]
    found += [f"listing says {s!r}" for s in seen["secrets"] for text in listed if s in text]
    assert problems + found == [], f"{len(problems + found)} of {tried + more} probes"
    assert f.db_snapshot() == before


CLI_ITEMS: dict[str, Callable[[str, str, str], list[str]]] = {
    "show": lambda i, _me, _d: ["items", "show", i],
    "done": lambda i, _me, _d: ["items", "done", i],
    "skip": lambda i, _me, _d: ["items", "skip", i, "--reason", "not needed here"],
    "assign": lambda i, me, _d: ["items", "assign", i, "--to", me],
    "reopen": lambda i, _me, _d: ["items", "reopen", i, "--reason", "needed after all"],
    "due": lambda i, _me, d: ["items", "due", i, "--on", d, "--reason", "court date set"],
    "handoff": lambda i, me, _d: ["items", "handoff", i, "--to", OWN_SLUG[me]],
    "accept": lambda i, _me, _d: ["items", "accept", i],
    "reject": lambda i, _me, _d: ["items", "reject", i, "--reason", "not ours"],
}
CLI_REFS: dict[str, Callable[[str, str], list[str]]] = {
    "show": lambda r, _me: ["case", "show", r],
    "show --personal": lambda r, _me: ["case", "show", r, "--personal"],
    "history": lambda r, _me: ["case", "history", r],
    "advance": lambda r, _me: [
        "case",
        "advance",
        r,
        "record_consent",
        "--set",
        "method=signed",
        "--set",
        "language=ro",
    ],
    "person": lambda r, _me: ["case", "person", r, "--person", "-"],
    "handoff": lambda r, me: ["case", "handoff", r, "--to", OWN_SLUG[me]],
    "accept": lambda r, _me: ["case", "accept", r],
    "reject": lambda r, _me: ["case", "reject", r, "--reason", "not ours"],
    "hold": lambda r, _me: ["case", "hold", r],
    "consent give": lambda r, me: [
        "consent",
        "give",
        r,
        "--purpose",
        "sharing",
        "--org",
        OWN_SLUG[me],
        "--method",
        "signed",
        "--language",
        "ro",
    ],
    "consent withdraw": lambda r, _me: ["consent", "withdraw", r, "--purpose", "data_processing"],
    "consent list": lambda r, _me: ["consent", "list", r],
    "request-closure": lambda r, _me: [
        "case",
        "request-closure",
        r,
        "--reason",
        "support_period_ended",
    ],
    "approve-closure": lambda r, _me: ["case", "approve-closure", r],
    "reject-closure": lambda r, _me: ["case", "reject-closure", r, "--code", "work_outstanding"],
    "items list --case": lambda r, _me: ["items", "list", "--case", r],
    "programme enrol": lambda r, me: ["programme", "enrol", f"{PROGRAMME}-{OWN_SLUG[me]}", r],
}
A_PERSON = json.dumps({"given_name": "Probe", "family_name": "Person"})


@pytest.mark.parametrize("email", [OUTSIDER, NEIGHBOUR])
def test_the_cli_answers_hidden_items_and_cases_as_missing(
    world, clock, email, capsys, monkeypatch
):
    monkeypatch.setattr(state, "clock", clock)
    seen, day = sight(email), str(_due(clock))

    def cli(argv: list[str]) -> tuple[int, str]:
        done = run_cli(capsys, monkeypatch, "--as", email, *argv, stdin=A_PERSON)
        return done.code, done.out + done.err

    before = f.db_snapshot()
    tried, problems = probe_all(
        lambda p, i: cli(CLI_ITEMS[p](str(i), email, day)),
        CLI_ITEMS,
        seen["items"],
        seen["missing_items"],
        seen["secrets"],
    )
    more, found = probe_all(
        lambda p, r: cli(CLI_REFS[p](r, email)),
        CLI_REFS,
        seen["refs"],
        list(MISSING_REFS),
        seen["secrets"],
    )
    for argv in (["items", "list", "--status", "all"], ["case", "list"]):
        said = cli(argv)[1]
        found += [f"{' '.join(argv)} says {s!r}" for s in seen["secrets"] if s in said]
    assert problems + found == [], f"{len(problems + found)} of {tried + more} probes"
    assert f.db_snapshot() == before


PERSON = PersonIn(given_name="Ioana", family_name="Popescu", birth_date="2001-02-03")


def start(email: str, clock: SimulatedClock, ngo: str = "adpare") -> cases.CaseOpened:
    command = cases.StartCase(cases.CaseIn(participants={"ngo": ngo}), PERSON)
    opened = run(command, credential_for(email, clock.now()), clock=clock)
    assert isinstance(opened, cases.CaseOpened)
    return opened


def test_the_duplicate_check_tells_only_the_owner_organisation(world, clock):
    with write_session() as s:
        staff_in = validate(
            StaffIn, org="iom-ro", name="Probe", email="sup@iom-ro.example.org", role="supervisor"
        )
        add_staff(session=s, staff_in=staff_in)
    first = start(f.COORD, clock)
    assert first.duplicates == ""
    elsewhere = start(NEIGHBOUR, clock, ngo="fmb")  # another organisation: nothing said
    assert elsewhere.duplicates == "" and first.case_ref not in repr(elsewhere)
    assert "hidden" not in repr(elsewhere)  # not even a count of other organisations' cases
    partner = start("coord@iom-ro.example.org", clock)  # sees the first case, does not own it
    assert partner.duplicates == "" and first.case_ref not in repr(partner)
    again = start(f.COORD, clock)  # its own earlier case: told, and only that one
    assert again.duplicates == first.case_ref
    ours = start(NEIGHBOUR, clock, ngo="fmb")
    assert ours.duplicates == elsewhere.case_ref


def test_case_start_warns_only_of_your_own_cases(world, clock, capsys, monkeypatch):
    monkeypatch.setattr(state, "clock", clock)
    person = PERSON.model_dump_json()

    def start_cli(email: str, ngo: str) -> str:
        argv = ["--as", email, "case", "start", "--with", f"ngo={ngo}", "--person", "-"]
        done = run_cli(capsys, monkeypatch, *argv, stdin=person)
        assert done.code == 0, done.err
        return done.out

    first = start_cli(f.COORD, "adpare").split()[1]
    elsewhere = start_cli(NEIGHBOUR, "fmb")
    assert "warning" not in elsewhere and first not in elsewhere
    assert "other organisations" not in elsewhere
    assert f"possibly the same person as {first};" in start_cli(f.COORD, "adpare")


def test_probes_cover_every_case_and_item_command():
    """A new command taking an item number or a case_ref gets a probe here."""
    from tests.protect.test_principal_matrix import all_commands

    takes = {
        c.__name__
        for c in all_commands()
        if {"ref", "item_id"} & set(getattr(c, "__dataclass_fields__", {}))
    }
    probed = {
        type(make(1, OUTSIDER, SimulatedClock())).__name__ for make in ITEM_PROBES.values()
    } | {
        type(make("RT-ZZZZ-ZZ", OUTSIDER, SimulatedClock())).__name__
        for make in REF_PROBES.values()
    }
    service_only = {"RenewedClosure", "RenewClosure"}  # refused to staff before any lookup
    assert takes - probed - service_only == set()


def test_a_start_kept_with_the_old_count_replays_without_it(world, clock, engine):
    """A ``case start`` kept under its request key before the count was dropped: its retry
    returns the case, not a failure, and not the count."""
    key, cred = "start-kept-0001", credential_for(f.COORD, clock.now())
    command = cases.StartCase(cases.CaseIn(participants={"ngo": "adpare"}), PERSON)
    first = run(command, cred, key=key, clock=clock)
    with engine.begin() as conn:
        kept = conn.execute(select(RequestKey.result).where(RequestKey.key == key)).scalar_one()
        old = {**kept, "hidden_duplicates": 2}
        conn.execute(update(RequestKey).where(col(RequestKey.key) == key).values(result=old))
    again = run(command, cred, key=key, clock=clock)
    assert again == first and "hidden" not in repr(again)
