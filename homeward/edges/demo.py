"""``homeward demo``: a fresh temporary database, seven organisations with their service
offers, and three cases run to closure on a simulated clock: an adult identified in Italy who
returns with her daughter (a family case), a minor identified in Italy, and a woman identified
by the police in Cluj (the internal route). Each case's timeline, its reintegration plan
(services, budgets, costs) and follow-up visits (sustainability scores), and the emails the
journeys would send (reminders, digests, handoff notices, appointments) in English and Romanian.

An edge module (like the CLI): it drives the card packages through their public functions only,
exactly as coordinators and staff would, each step in its own transaction.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlmodel import select

from homeward.base.clock import SimulatedClock, local_date
from homeward.base.db import make_engine, read_session, system_scope, write_session
from homeward.base.migrate import upgrade
from homeward.base.models import Case, ChecklistItem, ItemStatus
from homeward.commands import (
    adhoc,
    assessments,
    case_views,
    cases,
    closures,
    consent,
    directory,
    family,
    handoffs,
    items,
    journal,
    providers,
    referral,
    visits,
)
from homeward.commands import plan as plans
from homeward.commands.directory import first_admin
from homeward.commands.runner import Command, run
from homeward.crypt.keys import init_keyring, using_keyring
from homeward.edges.demo_mail import show_emails, sweep
from homeward.protection import identity
from homeward.protection.consent import ConsentIn
from homeward.protection.identity import SessionToken
from homeward.protection.vault import DependantIn, PersonIn
from homeward.records.directory import OrganisationIn, StaffIn, validate
from statemachines.cases import CaseIn
from statemachines.steps import ClosureReason
from tasks.sustainability import QUESTIONS as VISIT_QUESTIONS

V = TypeVar("V")
# A plan's services: type, provider, budget and currency (minor units), cost when delivered.
Services = tuple[tuple[str, str, int, str, int], ...]

ORGANISATIONS = [
    ("iom-ro", "IOM Romania", "iom_mission", "RO"),
    ("iom-it", "IOM Italy (mission abroad)", "iom_mission", "IT"),
    ("cons-rome", "Embassy of Romania in Rome, consular section", "consulate", "IT"),
    ("adpare", "Asociația ADPARE", "ngo", "RO"),
    ("fmb", "Fundația Micu Bogdan", "ngo", "RO"),
    ("p2p", "People to People, Oradea", "ngo", "RO"),
    ("dgaspc-bv", "DGASPC Brasov", "dgaspc", "RO"),
]
# Romanian genitives, for Romanian emails ("punctele Asociației ADPARE"); the others are named
# around ("punctele organizației IOM Romania"), as an organisation that stored none is.
GENITIVES = {"adpare": "Asociației ADPARE", "fmb": "Fundației Micu Bogdan"}
ROLES = ("coordinator", "caseworker", "supervisor")
# Made-up people: the demo never prints them.
ADULT = PersonIn(given_name="Demo", family_name="Adult", sex="female")
CHILD = PersonIn(given_name="Demo", family_name="Child", sex="male")


def staff_email(org: str, role: str) -> str:
    return f"{role}@{org}.example.org"


@dataclass
class Journey:
    """One case moved along by the staff who would really do each step, each signed in (a
    one-time code redeemed as ``homeward login`` redeems it) and acting through the commands
    every edge uses: the history records each step's session, as for real users."""

    engine: Engine
    clock: SimulatedClock
    case_ref: str = ""
    sessions: dict[str, tuple[SessionToken, datetime]] = field(default_factory=dict)
    services: dict[str, int] = field(default_factory=dict)  # service type -> plan service id
    proposed: str = ""  # the services the directory proposes for the needs found: codes
    assessed: int = 0  # the last structured assessment recorded (its number)

    def _as(self, org: str, role: str) -> SessionToken:
        """The signed-in session of ``role`` at ``org`` (signing in again once it expired)."""
        email, now = staff_email(org, role), self.clock.now()
        held = self.sessions.get(email)
        if held is not None and held[1] > now:
            return held[0]
        with write_session(self.engine) as s:
            code = identity.open_challenge(s, email=email, now=now, channel="demo").code
            opened = identity.redeem(s, email=email, code=code or "", now=now, label="demo")
        assert opened is not None, f"{email} could not sign in"  # noqa: S101 (demo seed)
        self.sessions[email] = (SessionToken(opened.token), opened.expires_at)
        return self.sessions[email][0]

    def _run(self, command: Command[V], org: str, role: str = "coordinator") -> V:
        return run(command, self._as(org, role), clock=self.clock, engine=self.engine)

    def open(self, org: str, case_in: CaseIn, person: PersonIn) -> Journey:
        self.case_ref = self._run(cases.StartCase(case_in, person), org).case_ref
        return self

    def _item(self, code: str) -> int:
        with read_session(self.engine) as s, system_scope(s):
            case = s.exec(select(Case).where(Case.case_ref == self.case_ref)).one()
            query = select(ChecklistItem.id).where(
                ChecklistItem.case_id == case.id,
                ChecklistItem.code == code,
                ChecklistItem.status == ItemStatus.OPEN,
            )
            item_id = s.exec(query).first()
        assert item_id is not None, f"no open item {code} on {self.case_ref}"  # noqa: S101
        return item_id

    def done(self, org: str, *codes: str, outcome: str | None = None) -> Journey:
        for code in codes:
            self._run(items.DoneItem(self._item(code), outcome), org, "caseworker")
        return self

    def skip(self, org: str, code: str, reason: str) -> Journey:
        self._run(items.SkipItem(self._item(code), reason), org)
        return self

    def hand(self, code: str, from_org: str, to_org: str, *, accept: bool = True) -> Journey:
        item_id = self._item(code)
        self._run(handoffs.ProposeHandoff(item_id, to_org), from_org)
        if accept:
            self._run(handoffs.AcceptHandoff(item_id), to_org, "caseworker")
        else:
            self._run(handoffs.RejectHandoff(item_id, "outside our county"), to_org, "caseworker")
        return self

    def transfer(self, from_org: str, to_org: str) -> Journey:
        self._run(cases.TransferCase(self.case_ref, to_org), from_org)
        self._run(cases.AcceptTransfer(self.case_ref), to_org)
        return self

    def consent(self, org: str, *to_orgs: str, minor: bool = False) -> Journey:
        """The person agrees to their data being shared with ``to_orgs``."""
        how = {"method": "proxy", "representative": "parent"} if minor else {}
        for slug in to_orgs:
            given = ConsentIn.model_validate(
                {"purpose": "sharing", "org": slug, "method": "signed", "language": "ro"} | how
            )
            self._run(consent.GiveConsent(self.case_ref, given), org)
        return self

    def advance(self, org: str, trigger: str, **data: Any) -> Journey:
        self._run(cases.AdvanceCase(self.case_ref, trigger, data), org)
        return self

    def close(self, org: str, reason: ClosureReason) -> Journey:
        """The coordinator asks to close; a supervisor of the same organisation approves."""
        self._run(closures.RequestClosure(self.case_ref, reason), org)
        self._run(closures.ApproveClosure(self.case_ref), org, "supervisor")
        return self

    def wait(self, days: int) -> Journey:
        """Let ``days`` pass; the day's reminder run happens, as the scheduled sweep would."""
        self.clock.advance(days=days)
        sweep(self.engine, self.clock.now())
        return self

    def assess(self, org: str, kind: str, answers: Mapping[str, str]) -> Journey:
        """A structured assessment (risk, needs): it records its checklist item done."""
        done = self._run(assessments.RecordAssessment(self.case_ref, kind, answers), org)
        self.assessed = done.assessment_id
        return self

    def review(self, org: str) -> Journey:
        """A supervisor of ``org`` (not who recorded it) reviews the last assessment: a high
        risk travels only after that."""
        self._run(assessments.ReviewAssessment(self.assessed), org, "supervisor")
        return self

    def propose(self, org: str) -> Journey:
        """The services the directory offers, in the case's county, for the needs found."""
        found = self._run(assessments.ProposeServices(self.case_ref), org)
        self.proposed = "; ".join(
            f"{line.need}: {', '.join(p.org for p in line.providers) or 'none'}"
            for line in found.services
        )
        return self

    def plan(self, org: str, goal: str, services: Services) -> Journey:
        """``org``'s coordinator drafts a plan with goals and ``services`` and submits it; a
        supervisor who did not submit approves it (recording the reintegration_plan item); each
        provider starts its service."""
        self._run(plans.DraftPlan(self.case_ref), org)
        self._run(plans.AddGoal(self.case_ref, "economic", goal), org)
        self._run(plans.AddGoal(self.case_ref, "psychosocial", goal), org)
        for kind, provider, budget, currency, _cost in services:
            added = plans.AddService(
                self.case_ref, kind, provider, self.day, budget_minor=budget, currency=currency
            )
            service_id = self._run(added, org).service_id
            assert service_id is not None  # noqa: S101 (demo)
            self.services[kind] = service_id
        self._run(plans.SubmitPlan(self.case_ref), org)
        self._run(plans.ApprovePlan(self.case_ref), org, "supervisor")
        for kind, provider, *_ in services:
            self._run(plans.ServiceStarted(self.services[kind]), provider, "caseworker")
        return self

    def deliver(self, services: Services) -> Journey:
        """Each provider records its service delivered, with its cost."""
        for kind, provider, _budget, currency, cost in services:
            delivered = plans.ServiceDelivered(self.services[kind], None, cost, currency)
            self._run(delivered, provider, "caseworker")
        return self

    def visit(
        self, org: str, level: float, mode: str, attended: str | None, progress: str
    ) -> Journey:
        """A follow-up visit with the monitoring form answered at about ``level``: it records
        ``org``'s next follow-up item done."""
        recorded = visits.RecordVisit(
            self.case_ref,
            self.day,
            mode,
            attended=attended,
            progress=progress,
            answers=visit_answers(level),
        )
        self._run(recorded, org, "caseworker")
        return self

    @property
    def day(self) -> date:
        return local_date(self.clock.now())

    def date_in(self, days: int) -> date:
        return self.day + timedelta(days=days)

    @property
    def today(self) -> str:
        return local_date(self.clock.now()).isoformat()

    def in_days(self, days: int) -> str:
        return (local_date(self.clock.now()) + timedelta(days=days)).isoformat()


SEEDED_AT = datetime(2026, 1, 5, 8, tzinfo=UTC)
PLATFORM_ADMIN = ("iom-ro", "platform_admin")


def _staff(slug: str, role: str, country: str) -> StaffIn:
    return validate(
        StaffIn,
        org=slug,
        name=f"{role.title()} {slug}",
        email=staff_email(slug, role),
        role=role,
        language="ro" if country == "RO" else "en",
    )


def seed(engine: Engine) -> None:
    """The organisations of the Romanian return programme, with three staff members each, set
    up as for real: the operator makes IOM Romania's platform_admin (``homeward admin init``),
    who signs in and adds the other organisations and everyone's staff."""
    orgs = [
        validate(
            OrganisationIn,
            slug=slug,
            name=name,
            kind=kind,
            country=country,
            name_genitive=GENITIVES.get(slug),
        )
        for slug, name, kind, country in ORGANISATIONS
    ]
    clock = SimulatedClock(SEEDED_AT)
    slug, role = PLATFORM_ADMIN
    admin_org = next(org for org in orgs if org.slug == slug)
    first_admin(
        _staff(slug, role, admin_org.country),
        admin_org,
        proof="operator demo",
        clock=clock,
        engine=engine,
    )
    admin = Journey(engine, clock)
    for org in orgs:
        if org.slug != slug:
            admin._run(directory.AddOrganisation(org), slug, role)
        for staff_role in ROLES:
            admin._run(directory.AddStaff(_staff(org.slug, staff_role, org.country)), slug, role)
    for org_slug, service, county, capacity in OFFERS:  # each organisation keeps its own offers
        admin._run(providers.AddService(service, county, capacity), org_slug)


@dataclass(frozen=True)
class Texts:
    """The free texts the journeys write (a child's name, notes, goals, who attended a visit,
    a reason, a document): made up, encrypted when stored, never printed. The canary test puts
    its canary in each of them."""

    child: DependantIn = field(
        default_factory=lambda: DependantIn(
            relation="child",
            given_name="Demo",
            family_name="Kid",
            birth_date=date(2018, 11, 14),
            sex="female",
        )
    )
    note: str = "Demo note: met at the shelter, agreed to go home with her daughter."
    goal: str = "Demo goal: a stable income and school for the child."
    attended: str = "Demo: the person and her daughter."
    reason: str = "Demo: the court moved the hearing."
    document: bytes = b"%PDF-1.4\n% Demo signed consent\n%%EOF\n"


TEXTS = Texts()
ADULT_PLAN: Services = (
    ("psychological", "adpare", 120_000, "RON", 98_000),
    ("housing", "adpare", 450_000, "RON", 450_000),
    ("vocational_training", "fmb", 300_000, "RON", 276_500),
)
INTERNAL_PLAN: Services = (
    ("housing", "p2p", 360_000, "RON", 342_000),
    ("job_placement", "p2p", 80_000, "RON", 80_000),
    ("legal", "adpare", 150_000, "RON", 120_000),
)
RISK_LOW = dict.fromkeys(
    (
        "trafficker_knows_home",
        "trafficker_contacts_family",
        "network_in_destination",
        "family_involved",
        "threats_received",
        "debt",
        "no_income",
        "prior_trafficking",
        "substance_use",
    ),
    "no",
) | {"health": "none"}
RISK_MEDIUM = RISK_LOW | {"debt": "yes", "no_income": "yes"}  # 2 points: medium
RISK_HIGH = RISK_LOW | {"trafficker_knows_home": "yes"}  # the trafficker knows where: high
NEEDS_ADULT = dict.fromkeys(
    ("psychological", "housing", "vocational_training", "child_care"), "yes"
) | {"education_level": "secondary"}
NEEDS_INTERNAL = dict.fromkeys(("housing", "job_placement", "legal"), "yes")
OFFERS = (
    # organisation, service type, county, capacity: the service directory
    ("adpare", "housing", "RO-B", 4),
    ("adpare", "psychological", "RO-B", 10),
    ("adpare", "legal", "RO-B", None),
    ("adpare", "legal", "RO-CJ", None),
    ("fmb", "vocational_training", "RO-B", 6),
    ("fmb", "vocational_training", "RO-BV", 8),
    ("p2p", "housing", "RO-CJ", 3),
    ("p2p", "job_placement", "RO-CJ", 5),
    ("p2p", "psychological", "RO-CJ", None),
)


def visit_answers(level: float) -> tuple[tuple[str, str], ...]:
    """The monitoring form answered at about ``level`` (0..1): that share of the questions,
    spread over the three dimensions, gets the best answer, the rest a poor one."""
    count = len(VISIT_QUESTIONS)
    answers = []
    for index, question in enumerate(VISIT_QUESTIONS):
        best = (index * 7 % count) / count < level
        target = 1.0 if best else 0.25
        choice = min(question.choices, key=lambda c: abs(c.score - target))
        answers.append((question.key, choice.code))
    return tuple(answers)


def adult_journey(j: Journey, person: PersonIn = ADULT, texts: Texts = TEXTS) -> Journey:
    """A woman identified in Italy returns to Bucharest with her daughter (a family case) and
    ADPARE's support: assessments, the NRM referral, a plan with services, visits, closure."""
    j.open("iom-it", CaseIn(participants={"ngo": "adpare", "dgaspc": "dgaspc-bv"}), person)
    j._run(family.AddPerson(j.case_ref, texts.child), "iom-it")
    j.done("iom-it", "victim_identified", "basic_needs_met", "dgaspc_notified").wait(1)
    j._run(
        referral.RecordReferral(j.case_ref, "RO-2026/00117", j.day, "consulate"), "cons-rome"
    )  # the consulate refers her to the NRM: records anitp_notified
    j.wait(1).done("iom-it", "rights_informed").wait(2)
    j.advance("iom-it", "record_consent", method="signed", language="ro", interpreter=True)
    j.consent("iom-it", "iom-ro", "adpare", "p2p", "fmb", "dgaspc-bv", "cons-rome")
    j._run(journal.AddNote(j.case_ref, texts.note), "iom-it")
    j._run(
        journal.AddDocument(j.case_ref, "signed_consent", "consent.pdf", texts.document), "iom-it"
    )
    j._run(providers.SetDestinationCounty(j.case_ref, "RO-B"), "iom-it")
    j.wait(5).assess("iom-it", "risk", RISK_MEDIUM | {"notes": texts.note})
    j.assess("iom-it", "needs", NEEDS_ADULT)
    j.propose("iom-it")
    j.hand("family_assessment", "iom-ro", "p2p", accept=False)
    j.hand("family_assessment", "iom-ro", "adpare").wait(3).done("adpare", "family_assessment")
    # The daughter's minors' items waited for the consent to share with DGASPC Brasov, which
    # now holds them.
    j.done("dgaspc-bv", "social_inquiry").wait(4)
    j.done("dgaspc-bv", "best_interests_assessment", outcome="return_in_interest")
    j.done("dgaspc-bv", "reintegration_preparation_plan", "guardian_appointed")
    j.skip("iom-it", "criminal_case_status", "no criminal proceedings opened in Italy")
    j.advance("iom-it", "complete_assessment").wait(4)
    j.done("cons-rome", "travel_document").done("iom-it", "booking", "medical_escort_decided")
    j.done("iom-it", "escort_arranged")
    j.advance(
        "iom-it",
        "arrange_travel",
        document_kind="passport",
        document_expires_on=j.in_days(700),
        departure_on=j.in_days(7),
    )
    j.wait(4).done("iom-it", "pre_arrival_notice", "pre_departure_counselling").wait(2)
    j.done("iom-it", "fit_to_travel").wait(1).advance("iom-it", "depart")
    j.done("iom-it", "transit_assistance").done("iom-ro", "met_on_arrival")
    j.advance("iom-it", "confirm_arrival", arrival_on=j.today).transfer("iom-it", "iom-ro")
    j.done("iom-ro", "onward_transport").done("adpare", "shelter_arranged").wait(3)
    j.done("adpare", "medical_care", "first_counselling").done("iom-ro", "anitp_informed")
    j.advance("iom-ro", "start_reintegration").wait(11)
    j.visit("adpare", 0.1, "home", texts.attended, "no_plan")  # follow_up_2w
    j.wait(3).plan("iom-ro", texts.goal, ADULT_PLAN).wait(6)
    j.deliver(ADULT_PLAN[:1]).wait(8).visit("adpare", 0.3, "office", None, "partly")  # 1m
    j.wait(30).deliver(ADULT_PLAN[1:]).wait(31).visit("adpare", 0.6, "home", None, "on_track")
    j.wait(92).visit("adpare", 0.9, "phone", None, "on_track")  # follow_up_6m
    return j.close("iom-ro", ClosureReason.SUPPORT_PERIOD_ENDED)


def internal_journey(j: Journey, person: PersonIn = ADULT, texts: Texts = TEXTS) -> Journey:
    """A woman identified by the police in Cluj is assisted at home (the internal route, no
    travel): IOM Romania owns the case, People to People and ADPARE provide the services."""
    j.open(
        "iom-ro",
        CaseIn(route="internal", destination_county="RO-CJ", participants={"ngo": "p2p"}),
        person,
    )
    j._run(referral.RecordReferral(j.case_ref, "RO-2026/00142", j.day, "police"), "iom-ro")
    j.done("iom-ro", "ro_victim_identified").consent("iom-ro", "p2p", "adpare")
    j.done("p2p", "ro_basic_needs_met").wait(1).done("iom-ro", "ro_rights_informed").wait(1)
    j.advance("iom-ro", "record_consent", method="signed", language="ro")
    j._run(journal.AddNote(j.case_ref, texts.note), "iom-ro")
    j.wait(2).assess("iom-ro", "risk", RISK_LOW).assess("iom-ro", "needs", NEEDS_INTERNAL)
    j.propose("iom-ro")
    j.done("iom-ro", "family_assessment")
    j.skip("iom-ro", "criminal_case_status", "prosecutor's office handles the case")
    j.advance("iom-ro", "complete_assessment").wait(1).advance("iom-ro", "start_assistance")
    j.done("p2p", "shelter_arranged").wait(2).done("p2p", "medical_care", "first_counselling")
    j.advance("iom-ro", "start_reintegration")
    hearing = j._run(  # an appointment at the court in Cluj, then moved once
        adhoc.AddAdhocItem(j.case_ref, "court_hearing", "iom-ro", j.date_in(14), at="10:30"),
        "iom-ro",
    ).item_id
    j.wait(5)
    j._run(adhoc.RescheduleItem(hearing, j.date_in(14), texts.reason, at="09:00"), "iom-ro")
    j.plan("iom-ro", texts.goal, INTERNAL_PLAN).wait(6)
    j.visit("p2p", 0.2, "home", texts.attended, "partly")  # follow_up_2w
    j.deliver(INTERNAL_PLAN[:1]).wait(14).done("iom-ro", "adhoc_court_hearing")
    j.visit("p2p", 0.4, "office", None, "partly")  # follow_up_1m
    j.wait(30).deliver(INTERNAL_PLAN[1:]).wait(31).visit("p2p", 0.6, "home", None, "on_track")
    j.wait(92).visit("p2p", 0.8, "phone", None, "on_track")  # follow_up_6m
    return j.close("iom-ro", ClosureReason.SUPPORT_PERIOD_ENDED)


def minor_journey(j: Journey, person: PersonIn = CHILD) -> Journey:
    """A 16-year-old identified in Italy returns to Brasov; DGASPC Brasov owns the case at home."""
    j.open(
        "iom-it", CaseIn(is_minor=True, participants={"ngo": "fmb", "dgaspc": "dgaspc-bv"}), person
    )
    j.done("iom-it", "victim_identified", "dgaspc_notified", "basic_needs_met").wait(2)
    j.done("cons-rome", "anitp_notified").done("iom-it", "rights_informed").wait(1)
    j.advance("iom-it", "record_consent", method="proxy", representative="parent", language="ro")
    j.consent("iom-it", "iom-ro", "fmb", "dgaspc-bv", "cons-rome", minor=True)
    j.wait(6).assess("iom-it", "risk", RISK_HIGH).review("iom-it")  # high: reviewed to travel
    j.done("iom-it", "needs_assessment")
    j.done("dgaspc-bv", "family_assessment", "social_inquiry").wait(7)
    j.done("dgaspc-bv", "best_interests_assessment", outcome="return_in_interest")
    j.done("dgaspc-bv", "reintegration_preparation_plan", "guardian_appointed")
    j.skip("iom-it", "criminal_case_status", "prosecutor informed; no hearing scheduled")
    j.advance("iom-it", "complete_assessment").wait(3)
    j.done("cons-rome", "travel_document").done("iom-it", "booking", "escort_arranged")
    j.done("iom-it", "medical_escort_decided")
    j.advance(
        "iom-it",
        "arrange_travel",
        document_kind="emergency_travel_document",
        document_issued_on=j.today,
        document_expires_on=j.in_days(30),
        departure_on=j.in_days(6),
    )
    j.wait(3).done("iom-it", "pre_arrival_notice", "pre_departure_counselling").wait(2)
    j.done("iom-it", "fit_to_travel").wait(1).advance("iom-it", "depart")
    j.done("iom-it", "transit_assistance").done("dgaspc-bv", "met_on_arrival")
    j.advance("iom-it", "confirm_arrival", arrival_on=j.today).transfer("iom-it", "dgaspc-bv")
    j.done("iom-ro", "onward_transport").done("dgaspc-bv", "shelter_arranged").wait(2)
    j.done("dgaspc-bv", "medical_care", "first_counselling").done("iom-ro", "anitp_informed")
    j.advance("dgaspc-bv", "start_reintegration").wait(12).done("dgaspc-bv", "follow_up_2w")
    j.wait(6).advance("dgaspc-bv", "suspend", reason="threat_received")
    j.wait(2).done("dgaspc-bv", "risk_reassessment", outcome="medium")
    j.advance("dgaspc-bv", "resume").done("dgaspc-bv", "reintegration_plan")
    j.wait(12).done("dgaspc-bv", "follow_up_1m").wait(61).done("dgaspc-bv", "follow_up_3m")
    j.wait(92).done("dgaspc-bv", "follow_up_6m")
    return j.close("dgaspc-bv", ClosureReason.SUPPORT_PERIOD_ENDED)


def timeline(journey: Journey, title: str, reader: str = "iom-it") -> Table:
    """The case's stages and handoffs with dates and organisations: no personal data. Read as
    ``reader``'s supervisor would: ``homeward case history``, through the same command."""
    events = journey._run(case_views.CaseHistory(journey.case_ref), reader, "supervisor")
    table = Table("date", "event", "stage", "by", title=f"{title}: case {journey.case_ref}")
    counts: dict[str, int] = {}
    state = ""
    for event in events:
        counts[event.trigger] = counts.get(event.trigger, 0) + 1
        state = event.to_state or state
        if event.trigger.startswith("item_") or event.trigger.startswith("handoff_"):
            continue
        stage = " -> ".join(filter(None, (event.from_state, event.to_state)))
        by = event.who.partition("@")[2].partition(".")[0] or "system"  # role@ORG.example.org
        table.add_row(local_date(event.at).isoformat(), event.trigger, stage, by)
    table.caption = (
        f"{counts.get('item_done', 0)} items done, "
        f"{counts.get('item_skipped', 0)} skipped, "
        f"{counts.get('handoff_accepted', 0)} handoffs accepted, "
        f"{counts.get('handoff_rejected', 0)} rejected; final stage {state}"
    )
    return table


def casework(journey: Journey, title: str, org: str) -> tuple[Table, Table]:
    """The case's plan (its services, budgets and costs) and its visits with their scores, read
    as the owner's coordinator (``homeward plan show``, ``homeward visit list``): codes, dates,
    amounts and scores only."""
    shown = journey._run(plans.ShowPlan(journey.case_ref), org)
    table = Table("service", "provider", "status", "budget", "cost", title=f"{title}: plan")
    table.caption = "no plan recorded"
    for version in shown.versions:
        for line in version.services:
            row = (line.service_type, line.provider, line.status, line.budget, line.cost)
            table.add_row(*row)
        totals = ", ".join(f"{t.budget} budget, {t.spent} spent" for t in version.totals)
        table.caption = f"plan version {version.version}, {version.status}: {totals}"
    if journey.proposed:
        table.caption = f"{table.caption}\nproposed by the directory: {journey.proposed}"
    listed = journey._run(visits.ListVisits(journey.case_ref), org)
    columns = ("date", "mode", "visit", "economic", "social", "psychosocial", "composite")
    scores = Table(*columns, title=f"{title}: follow-up visits")
    if not listed.visits:
        scores.caption = "no visits recorded (follow-ups kept as items)"
    for visit in sorted(listed.visits, key=lambda line: (line.visited_on, line.visit_id)):
        values = (visit.economic, visit.social, visit.psychosocial, visit.composite)
        scores.add_row(
            visit.visited_on.isoformat(),
            visit.mode,
            (visit.item_code or "-").removeprefix("follow_up_"),
            *("-" if value is None else f"{value:.2f}" for value in values),
        )
    return table, scores


# Each journey: its title, who reads its timeline (a supervisor) and its owner at the end.
SHOWN = (
    ("adult with her child", "iom-it", "iom-ro"),
    ("minor", "iom-it", "dgaspc-bv"),
    ("internal (Cluj)", "iom-ro", "iom-ro"),
)


def run_demo(keep: str | None = None, console: Console | None = None) -> list[str]:
    """Run the three journeys on a fresh temporary database; return their case_refs."""
    console = console or Console(highlight=False)
    with tempfile.TemporaryDirectory(prefix="homeward-demo-") as folder:
        path = Path(folder) / "demo.db"
        engine = make_engine(f"sqlite:///{path}")
        with using_keyring(init_keyring(Path(folder) / "keys.json")):
            upgrade(engine)
            seed(engine)
            journeys = [
                adult_journey(Journey(engine, SimulatedClock(datetime(2026, 1, 5, 9, tzinfo=UTC)))),
                minor_journey(
                    Journey(engine, SimulatedClock(datetime(2026, 1, 12, 9, tzinfo=UTC)))
                ),
                internal_journey(
                    Journey(engine, SimulatedClock(datetime(2026, 1, 19, 9, tzinfo=UTC)))
                ),
            ]
            for journey, (title, reader, owner) in zip(journeys, SHOWN, strict=True):
                console.print(timeline(journey, title, reader))
                console.print(*casework(journey, title, owner))
            show_emails(engine, console, now=max(journey.clock.now() for journey in journeys))
        engine.dispose()
        if keep:
            shutil.copy(path, keep)
            shutil.copy(Path(folder) / "keys.json", f"{keep}.keys.json")
            console.print(f"demo database kept at {keep} (its keyring at {keep}.keys.json)")
    return [journey.case_ref for journey in journeys]
