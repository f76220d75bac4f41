"""``homeward demo``: a fresh temporary database, seven organisations, an adult's and a minor's
case run from identification to closure on a simulated clock, each case's timeline, and the
emails the journeys would send (reminders, digests, handoff notices) in English and Romanian.

An edge module (like the CLI): it drives the card packages through their public functions only,
exactly as coordinators and staff would, each step in its own transaction.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from homeward.commands import case_views, cases, closures, consent, directory, handoffs, items
from homeward.commands.directory import first_admin
from homeward.commands.runner import Command, run
from homeward.crypt.keys import init_keyring, using_keyring
from homeward.edges.demo_mail import show_emails, sweep
from homeward.protection import identity
from homeward.protection.consent import ConsentIn
from homeward.protection.identity import SessionToken
from homeward.protection.vault import PersonIn
from homeward.records.directory import OrganisationIn, StaffIn, validate
from statemachines.cases import CaseIn
from statemachines.steps import ClosureReason

V = TypeVar("V")

ORGANISATIONS = [
    ("iom-ro", "IOM Romania", "iom_mission", "RO"),
    ("iom-it", "IOM Italy (mission abroad)", "iom_mission", "IT"),
    ("cons-rome", "Embassy of Romania in Rome, consular section", "consulate", "IT"),
    ("adpare", "ADPARE Bucharest", "ngo", "RO"),
    ("fmb", "Micu Bogdan Foundation, Brasov", "ngo", "RO"),
    ("p2p", "People to People, Oradea", "ngo", "RO"),
    ("dgaspc-bv", "DGASPC Brasov", "dgaspc", "RO"),
]
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
        validate(OrganisationIn, slug=slug, name=name, kind=kind, country=country)
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


def adult_journey(j: Journey, person: PersonIn = ADULT) -> Journey:
    """A woman identified in Italy returns to Bucharest with ADPARE's support."""
    j.open("iom-it", CaseIn(participants={"ngo": "adpare"}), person)
    j.done("iom-it", "victim_identified", "basic_needs_met").wait(1)
    j.done("cons-rome", "anitp_notified").wait(1).done("iom-it", "rights_informed").wait(2)
    j.advance("iom-it", "record_consent", method="signed", language="ro", interpreter=True)
    j.consent("iom-it", "iom-ro", "adpare", "p2p", "cons-rome")
    j.wait(5).done("iom-it", "risk_assessment", outcome="medium").done("iom-it", "needs_assessment")
    j.hand("family_assessment", "iom-ro", "p2p", accept=False)
    j.hand("family_assessment", "iom-ro", "adpare").wait(3).done("adpare", "family_assessment")
    j.skip("iom-it", "criminal_case_status", "no criminal proceedings opened in Italy")
    j.advance("iom-it", "complete_assessment").wait(4)
    j.done("cons-rome", "travel_document").done("iom-it", "booking", "medical_escort_decided")
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
    j.advance("iom-ro", "start_reintegration").wait(11).done("adpare", "follow_up_2w")
    j.wait(9).done("adpare", "reintegration_plan").wait(8).done("adpare", "follow_up_1m")
    j.wait(61).done("adpare", "follow_up_3m").wait(92).done("adpare", "follow_up_6m")
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
    j.wait(6).done("iom-it", "risk_assessment", outcome="high").done("iom-it", "needs_assessment")
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


def timeline(journey: Journey, title: str) -> Table:
    """The case's stages and handoffs with dates and organisations: no personal data. Read as
    IOM Italy's supervisor would: ``homeward case history``, through the same command."""
    events = journey._run(case_views.CaseHistory(journey.case_ref), "iom-it", "supervisor")
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


def run_demo(keep: str | None = None, console: Console | None = None) -> list[str]:
    """Run both journeys on a fresh temporary database; return the case_refs."""
    console = console or Console(highlight=False)
    with tempfile.TemporaryDirectory(prefix="homeward-demo-") as folder:
        path = Path(folder) / "demo.db"
        engine = make_engine(f"sqlite:///{path}")
        with using_keyring(init_keyring(Path(folder) / "keys.json")):
            upgrade(engine)
            seed(engine)
            adult = adult_journey(
                Journey(engine, SimulatedClock(datetime(2026, 1, 5, 9, tzinfo=UTC)))
            )
            minor = minor_journey(
                Journey(engine, SimulatedClock(datetime(2026, 1, 12, 9, tzinfo=UTC)))
            )
            for journey, title in ((adult, "adult"), (minor, "minor")):
                console.print(timeline(journey, title))
            show_emails(engine, console, now=max(adult.clock.now(), minor.clock.now()))
        engine.dispose()
        if keep:
            shutil.copy(path, keep)
            shutil.copy(Path(folder) / "keys.json", f"{keep}.keys.json")
            console.print(f"demo database kept at {keep} (its keyring at {keep}.keys.json)")
    return [adult.case_ref, minor.case_ref]
