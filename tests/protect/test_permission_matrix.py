"""Every cell of ``homeward.protection.permissions.RULES`` (action x organisation kind x role),
through the
real engine functions, on one scenario per (kind, role).

The acting organisation ``org-x`` owns case O and takes part in case P (owned by IOM Italy), where
it owns an item and is offered an item handoff and the case itself. Each action is tried where
its relation holds: allowed cells go through (then are rolled back, so the scenario serves every
action); refused cells raise a one-line refusal naming whom to ask and change nothing. Actions
that need the case's owner are also tried on P, where ``org-x`` is only a partner: always refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from sqlmodel import Session, select

from homeward.base.db import system_scope, write_session
from homeward.base.errors import HomewardError, NotFound, Refused
from homeward.base.models import (
    Case,
    ChecklistItem,
    Organisation,
    OrgKind,
    RecipientStatus,
    StaffMember,
    StaffRole,
)
from homeward.protection import administrators, retention, vault
from homeward.protection.consent import ConsentIn
from homeward.protection.permissions import RULES, Action, Relation, allowed
from homeward.records.directory import (
    OrganisationIn,
    StaffIn,
    add_org,
    add_staff,
    get_org,
    get_staff,
    validate,
)
from homeward.reporting import htcds, reports
from notifications import redelivery
from notifications.contexts import SendTestContext
from notifications.outbox import enqueue, recipients_of
from statemachines import approvals
from statemachines.cases import CaseIn, fire, get_case, start_case
from tasks import checklist, handoffs, providers, transfers
from tasks.consents import give_consent, withdraw_consent
from tests import factories as f
from tests.factories import acting

# Every command, role and organisation on the simulated clock (tests/conftest.py): no wall
# clock of ours is read, so CI runs these once, not again at UTC midnight.
pytestmark = pytest.mark.matrix

PART_OF_KIND = {
    OrgKind.IOM_MISSION: "r_iom",
    OrgKind.CONSULATE: "cons",
    OrgKind.NGO: "ngo",
    OrgKind.DGASPC: "dgaspc",
    OrgKind.ANITP: "anitp",
    OrgKind.POLICE: "le",
}
ACTOR, BOSS = "actor@x.example.org", "boss@x.example.org"
OWN_ITEM, OFFERED_ITEM = "rights_informed", "basic_needs_met"


@dataclass
class World:
    owned: str  # case O, owned by x
    partner: str  # case P, owned by IOM Italy, x taking part
    own_item: int  # P's item owned by x
    offered_item: int  # P's item offered to x
    others_item: int  # O's item owned by IOM Italy
    owners_item: int  # P's item owned by IOM Italy
    noted_item: int  # O's item with a note
    snapshot: dict[str, list[tuple[object, ...]]] = field(default_factory=f.db_snapshot)


def _share(s: Session, case: Case, now: datetime, *slugs: str) -> None:
    for slug in slugs:
        given = ConsentIn(purpose="sharing", org=slug, method="signed", language="ro")
        give_consent(s, case=case, given=given, actor=f.actor(s), now=now)


def _item(s: Session, case: Case, code: str) -> ChecklistItem:
    query = select(ChecklistItem).where(ChecklistItem.case_id == case.id)
    return next(i for i in s.exec(query) if i.code == code)


def _cases(s: Session, kind: OrgKind, now: datetime) -> tuple[Case, Case]:
    """P (x takes part, has sharing consent and an offered item and transfer), then O."""
    participants = {"ngo": "adpare", PART_OF_KIND[kind]: "org-x"}
    partner = start_case(
        s, actor=f.actor(s), case_in=CaseIn(participants=participants), person=None, now=now
    )
    _share(s, partner, now, "org-x", "iom-ro")
    offered = _item(s, partner, OFFERED_ITEM).id or 0
    handoffs.propose(s, item_id=offered, to_org_slug="org-x", actor=f.actor(s), now=now)
    transfers.propose_transfer(s, case=partner, to_org_slug="org-x", actor=f.actor(s), now=now)
    owned = start_case(s, actor=f.actor(s), case_in=CaseIn(), person=f.CANARY, now=now)
    _share(s, owned, now, "iom-ro")
    noted = _item(s, owned, "victim_identified").id or 0
    checklist.mark_skipped(s, item_id=noted, actor=f.actor(s), now=now, reason="done elsewhere")
    return partner, owned


def build(kind: OrgKind, role: StaffRole, now: datetime) -> World:
    """The scenario, in three transactions (commits are what a test waits for)."""
    f.seed()
    with write_session() as s:
        org_in = validate(OrganisationIn, slug="org-x", name="Org X", kind=kind, country="RO")
        x = add_org(session=s, org_in=org_in).id or 0
        for email, staff_role in ((ACTOR, role), (BOSS, StaffRole.COORDINATOR)):
            staff_in = validate(StaffIn, org="org-x", name="Staff X", email=email, role=staff_role)
            add_staff(session=s, staff_in=staff_in)
        partner, owned = _cases(s, kind, now)
        own, offered = _item(s, partner, OWN_ITEM), _item(s, partner, OFFERED_ITEM)
        others, noted = _item(s, owned, OWN_ITEM), _item(s, owned, "victim_identified")
        owners = _item(s, partner, "victim_identified")
        with system_scope(s):  # ANITP and the police can come to own nothing through Homeward,
            own.owner_org_id = owned.owner_org_id = x  # yet their owner cells must be tried
            s.add_all([own, owned])
    ids = (own.id, offered.id, others.id, owners.id, noted.id)
    return World(owned.case_ref, partner.case_ref, *(i or 0 for i in ids))


@dataclass
class Try:
    """One attempt: the session, the actor, the scenario, the case tried on, the moment."""

    s: Session
    who: StaffMember
    w: World
    ref: str
    now: datetime

    def case(self, ref: str | None = None) -> Case:
        return get_case(self.s, case_ref=ref or self.ref, actor=self.who)


Probe = Callable[[Try], object]


def _consent(t: Try) -> None:
    case, fmb = t.case(), get_org(session=t.s, slug="fmb").id
    given = ConsentIn(purpose="sharing", org="fmb", method="signed", language="ro")
    give_consent(t.s, case=case, given=given, actor=t.who, now=t.now)
    withdraw_consent(t.s, case=case, purpose="sharing", org_id=fmb, actor=t.who, now=t.now)


def _note(t: Try) -> str:
    item = t.s.get(ChecklistItem, t.w.noted_item)
    assert item is not None and item.note is not None
    return vault.reveal_text(
        t.s,
        case=t.case(),
        table="checklist_item",
        column="note",
        row_id=t.w.noted_item,
        stored=item.note,
        actor=t.who,
        now=t.now,
    )


def _review_risk(t: Try) -> object:
    """A high risk assessment recorded by someone else of x, reviewed by the actor."""
    from homeward.base.clock import local_date
    from homeward.base.models import Assessment
    from tasks import assessments

    case = t.case()
    row = Assessment(
        case_id=case.id,
        kind="risk",
        level="high",
        assessed_on=local_date(t.now),
        assessed_by_id=get_staff(session=t.s, email=BOSS).id,
        recorded_at=t.now,
    )
    # the scenario's row, not the actor's: written for the system (on P, owned by IOM Italy,
    # the database refuses x's staff an assessment its commands would not write: 0044)
    with system_scope(t.s):
        t.s.add(row)
        t.s.flush()
    return assessments.review(t.s, case=case, row=row, actor=t.who, level=None, now=t.now)


def _done(item_id: int) -> Probe:
    return lambda t: checklist.mark_done(t.s, item_id=item_id, actor=t.who, now=t.now)


# How each action is tried (on the case ``t.ref``, or on the scenario's items and offers).
PROBES: dict[Action, Probe] = {
    Action.OPEN_CASE: lambda t: start_case(
        t.s, actor=t.who, case_in=CaseIn(), person=None, now=t.now
    ),
    Action.FIRE_TRIGGER: lambda t: fire(
        t.s, case_ref=t.ref, trigger="lose_contact", actor=t.who, now=t.now
    ),
    Action.CHANGE_CONSENT: _consent,
    Action.ENTER_PERSON: lambda t: vault.store_person(
        t.s, case=t.case(), person=f.CANARY, actor=t.who, now=t.now
    ),
    Action.READ_PERSON: lambda t: vault.read_person(t.s, case=t.case(), actor=t.who, now=t.now),
    Action.READ_NOTES: _note,
    Action.RECORD_OWN_ITEM: lambda t: _done(t.w.own_item)(t),
    Action.ASSIGN_OWN_ITEM: lambda t: checklist.assign(
        t.s,
        item_id=t.w.own_item,
        assignee=get_staff(session=t.s, email=BOSS),
        actor=t.who,
        now=t.now,
    ),
    Action.HAND_OFF_OWN_ITEM: lambda t: handoffs.propose(
        t.s, item_id=t.w.own_item, to_org_slug="iom-ro", actor=t.who, now=t.now
    ),
    Action.WORK_ANY_ITEM: lambda t: _done(
        t.w.others_item if t.ref == t.w.owned else t.w.owners_item
    )(t),
    Action.ANSWER_HANDOFF: lambda t: handoffs.accept(
        t.s, item_id=t.w.offered_item, actor=t.who, now=t.now
    ),
    Action.TRANSFER_CASE: lambda t: transfers.propose_transfer(
        t.s, case=t.case(), to_org_slug="iom-ro", actor=t.who, now=t.now
    ),
    Action.ANSWER_TRANSFER: lambda t: transfers.accept_transfer(
        t.s, case=t.case(t.w.partner), actor=t.who, now=t.now
    ),
    Action.LEGAL_HOLD: lambda t: retention.set_legal_hold(
        t.s, case=t.case(), actor=t.who, hold=True, now=t.now
    ),
    # Deciding a closure request: the check every decision (CLI, the flow's form) goes through.
    Action.DECIDE_CLOSURE: lambda t: approvals.decider(t.s, t.case(), t.who),
    Action.RUN_REPORTS: lambda t: reports.run_report(t.s, "stages", actor=t.who, now=t.now),
    Action.EXPORT_CASES: lambda t: htcds.export_htcds(t.s, actor=t.who, now=t.now),
    Action.MANAGE_STAFF: lambda t: administrators.add_member(
        t.s,
        actor=t.who,
        staff_in=StaffIn(org="org-x", name="New X", email="new@x.example.org", role="caseworker"),
    ),
    Action.MANAGE_DIRECTORY: lambda t: administrators.add_organisation(
        t.s,
        actor=t.who,
        org_in=OrganisationIn(slug="org-y", name="Org Y", kind="ngo", country="RO"),
    ),
    Action.REVIEW_RISK: lambda t: _review_risk(t),  # issue 16: assessments
    Action.KEEP_SERVICES: lambda t: providers.add_offer(  # issue 16: the service directory
        t.s,
        actor=t.who,
        org=t.s.get(Organisation, t.who.org_id),
        service="housing",
        county="RO-CJ",
        capacity=2,
    ),
}


def _fix_mail(t: Try) -> object:
    """Retry a recipient at org-x refused by its mail server (issue 17: refused recipients)."""
    row = enqueue(
        t.s,
        key="probe:refused",
        template="test",
        to=[BOSS],
        language="en",
        context=SendTestContext(day=t.now.date()),
        now=t.now,
    )
    assert row is not None and row.id is not None
    for recipient in recipients_of(t.s, row.id):
        recipient.status = RecipientStatus.DEAD
        t.s.add(recipient)
    t.s.flush()
    return redelivery.retry(t.s, actor=t.who, message_id=row.id, now=t.now)


PROBES[Action.FIX_MAIL] = _fix_mail
OWNER_ACTIONS = [a for a, rule in RULES.items() if rule.relation == Relation.OWNER]


class _Undo(Exception):
    """Raised after an allowed action, so its transaction rolls back."""


def attempt(action: Action, world: World, ref: str, now: datetime) -> HomewardError | None:
    """Try ``action`` as the actor; None if it went through (and was rolled back)."""
    try:
        with write_session() as s:
            PROBES[action](Try(s, acting(session=s, email=ACTOR), world, ref, now))
            raise _Undo
    except _Undo:
        return None
    except HomewardError as exc:
        assert f.db_snapshot() == world.snapshot, f"{action} refused but changed the database"
        return exc


def check_refusal(exc: HomewardError | None, action: Action, owner: str) -> str | None:
    """What is wrong with a refusal (None: it is a clear one-line refusal naming whom to ask)."""
    if exc is None:
        return "went through"
    if not isinstance(exc, Refused | NotFound) or "\n" in str(exc) or "ask " not in str(exc):
        return f"unclear refusal {type(exc).__name__}: {exc}"
    if RULES[action].relation == Relation.OWNER and owner not in str(exc):
        return f"does not name the owner {owner}: {exc}"
    return None


@pytest.mark.parametrize("role", list(StaffRole))
@pytest.mark.parametrize("kind", list(OrgKind))
def test_every_cell(kind, role, db_url, clock):
    world = build(kind, role, clock.now())
    wrong = {}
    for action in Action:
        exc = attempt(action, world, world.owned, clock.now())
        if allowed(kind, role, action):
            if exc is not None:
                wrong[action] = f"allowed by the table, refused: {exc}"
        elif problem := check_refusal(exc, action, "Org X (org-x)"):
            wrong[action] = problem
    for action in OWNER_ACTIONS:  # x only takes part in P: the owner, IOM Italy, decides
        problem = check_refusal(
            attempt(action, world, world.partner, clock.now()), action, "iom-it"
        )
        if problem:
            wrong[f"{action} as partner"] = problem
    assert not wrong, "\n".join(f"{kind} {role} {a}: {why}" for a, why in wrong.items())
