"""Plain factory functions for tests: organisations, staff, cases, and driving a case forward.

Everything goes through the engine's public functions on a real database; nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from homeward.base.clock import SimulatedClock, local_date
from homeward.base.db import act_as, read_session, write_session
from homeward.base.models import Case, ChecklistItem, ItemStatus, StaffMember
from homeward.protection.consent import ConsentIn
from homeward.protection.vault import PersonIn
from homeward.records.directory import (
    OrganisationIn,
    StaffIn,
    add_org,
    add_staff,
    get_staff,
    validate,
)
from statemachines.cases import CaseIn, fire, get_case, start_case
from tasks import checklist
from tasks.catalog import load_catalog
from tasks.consents import give_consent


def acting(*, session: Session, email: str) -> StaffMember:
    """Act as the staff member with ``email`` in this transaction, for tests that call the
    engine below the commands layer (the product itself only acts for a proven principal)."""
    staff = get_staff(session=session, email=email)
    act_as(session, staff.org_id, staff.id)
    return staff


ORGS = [
    ("iom-it", "IOM Italy", "iom_mission", "IT"),
    ("iom-ro", "IOM Romania", "iom_mission", "RO"),
    ("cons-rome", "Consulate of Romania in Rome", "consulate", "IT"),
    ("adpare", "ADPARE", "ngo", "RO"),
    ("fmb", "Micu Bogdan Foundation", "ngo", "RO"),
    ("dgaspc-bv", "DGASPC Brasov", "dgaspc", "RO"),
]
STAFF = [
    ("iom-it", "coord@iom-it.example.org", "coordinator"),
    ("iom-it", "sup@iom-it.example.org", "supervisor"),
    ("iom-it", "cw@iom-it.example.org", "caseworker"),
    ("iom-it", "mgr@iom-it.example.org", "manager"),
    ("iom-ro", "coord@iom-ro.example.org", "coordinator"),
    ("cons-rome", "officer@cons-rome.example.org", "caseworker"),
    ("adpare", "cw@adpare.example.org", "caseworker"),
    ("fmb", "cw@fmb.example.org", "caseworker"),
    ("dgaspc-bv", "cw@dgaspc-bv.example.org", "caseworker"),
    ("iom-ro", "admin@iom-ro.example.org", "platform_admin"),
    ("adpare", "admin@adpare.example.org", "admin"),
]
COORD, SUPERVISOR = "coord@iom-it.example.org", "sup@iom-it.example.org"
PLATFORM_ADMIN, ADPARE_ADMIN = "admin@iom-ro.example.org", "admin@adpare.example.org"
CANARY = PersonIn(given_name="Zenobia", family_name="Canarycanary", phone="+40 700 000 111")


# Step data that satisfies every guard, relative to the clock's local date (the engine's "today").
def step_data(trigger: str, clock: SimulatedClock) -> dict[str, Any]:
    today = local_date(clock.now())
    travel = {
        "document_kind": "passport",
        "document_expires_on": str(today + timedelta(days=400)),
        "departure_on": str(today + timedelta(days=5)),
    }
    return {
        "record_consent": {"method": "signed", "language": "ro"},
        "arrange_travel": travel,
        "rearrange_travel": travel,
        "depart": {},
        "confirm_arrival": {"arrival_on": str(today)},
        "close": {"reason": "support_period_ended", "approved_by": SUPERVISOR},
        "suspend": {"reason": "safety_incident"},
        "reopen": {"reason": "needs_more_support"},
    }.get(trigger, {})


def seed(session: Session | None = None) -> None:
    """Register the test organisations and staff."""
    with write_session() as s:
        for slug, name, kind, country in ORGS:
            add_org(
                session=s,
                org_in=validate(OrganisationIn, slug=slug, name=name, kind=kind, country=country),
            )
        for org, email, role in STAFF:
            add_staff(
                session=s,
                staff_in=validate(StaffIn, org=org, name=f"Staff {role}", email=email, role=role),
            )


def actor(session: Session, email: str = COORD) -> StaffMember:
    return acting(session=session, email=email)


def open_case(
    clock: SimulatedClock,
    *,
    minor: bool = False,
    share: bool = True,
    person: PersonIn = CANARY,
    **participants: str,
) -> str:
    """Open a case as the IOM Italy coordinator; return its case_ref.

    With ``share`` the person consents to sharing with every other seeded organisation, so
    handoffs and transfers are allowed; tests of the consent rules pass ``share=False``.
    """
    roles = {"ngo": "adpare", **participants}
    if minor:
        roles.setdefault("dgaspc", "dgaspc-bv")
    with write_session() as s:
        case = start_case(
            s,
            actor=actor(s),
            case_in=CaseIn(is_minor=minor, participants=roles),
            person=person,
            now=clock.now(),
        )
        ref = case.case_ref
    if share:
        give_sharing(ref, clock, *(slug for slug, *_ in ORGS if slug != "iom-it"))
    return ref


# A minor's consent is given by a representative (method proxy, with their capacity).
BY_PARENT = {"method": "proxy", "representative": "parent"}


def give_sharing(case_ref: str, clock: SimulatedClock, *slugs: str) -> None:
    """Record the person's consent to sharing with each organisation in ``slugs``."""
    for slug in slugs:
        with write_session() as s:
            case = get_case(s, case_ref=case_ref, actor=actor(s))
            how = BY_PARENT if case.is_minor else {"method": "signed"}
            given = ConsentIn.model_validate(
                {"purpose": "sharing", "org": slug, "language": "ro", **how}
            )
            give_consent(s, case=case, given=given, actor=actor(s), now=clock.now())


def items(
    case_ref: str, stage: str | None = None, status: str | None = None
) -> list[ChecklistItem]:
    with read_session() as s:
        case = get_case(s, case_ref=case_ref, actor=actor(s))
        query = select(ChecklistItem).where(ChecklistItem.case_id == case.id)
        if stage:
            query = query.where(ChecklistItem.stage == stage)
        if status:
            query = query.where(ChecklistItem.status == status)
        return list(s.exec(query.order_by(ChecklistItem.id)))


def complete_stage(
    case_ref: str, clock: SimulatedClock, stage: str | None = None, **outcomes: str
) -> None:
    """Mark every open item of the case's (or the given) stage done, as a supervisor would;
    items with outcomes get the first listed, or the one given by code in ``outcomes``."""
    state = stage or load_case(case_ref).phase
    for item in items(case_ref, stage=state, status=ItemStatus.OPEN):
        spec = load_catalog("v1").spec(item.code)
        outcome = outcomes.get(item.code, spec.outcomes[0] if spec.outcomes else None)
        with write_session() as s:
            checklist.mark_done(
                s, item_id=item.id or 0, actor=actor(s, COORD), now=clock.now(), outcome=outcome
            )


def advance(
    case_ref: str,
    trigger: str,
    clock: SimulatedClock,
    data: dict[str, Any] | None = None,
    as_email: str = COORD,
) -> Case:
    with write_session() as s:
        if data is None:
            data = step_data(trigger, clock)
            if (
                trigger == "record_consent"
                and get_case(s, case_ref=case_ref, actor=actor(s)).is_minor
            ):
                data = {**data, **BY_PARENT}
        return fire(
            s,
            case_ref=case_ref,
            trigger=trigger,
            actor=actor(s, as_email),
            data=data,
            now=clock.now(),
        )


def load_case(case_ref: str) -> Case:
    with read_session() as s:
        return get_case(s, case_ref=case_ref, actor=actor(s))


HAPPY_PATH = [
    "record_consent",
    "complete_assessment",
    "arrange_travel",
    "depart",
    "confirm_arrival",
    "start_reintegration",
    "close",
]


def drive_to(case_ref: str, target: str, clock: SimulatedClock) -> Case:
    """Drive a case along the happy path until it is in ``target`` (completing stage work)."""
    case = load_case(case_ref)
    for trigger in HAPPY_PATH:
        if case.phase == target:
            return case
        complete_stage(case_ref, clock)
        if trigger == "depart":
            clock.advance(days=5)
        case = advance(case_ref, trigger, clock)
    assert case.phase == target, f"{target} is not on the happy path"
    return case


def db_snapshot() -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, to prove a refused command changed nothing.

    Signing in is not the command: the sign-in tables, the audit lines of signing in
    (``login:...``) and of issuing and proving a run assertion (``cmd:assertion``,
    ``cmd:prove``: a flow proves who acts before anything else), and the audit chain's head
    (which every audit line moves) are left out, and so is the keyring's binding, which the
    database's first write records whatever it is (``tests/protect/test_keyring_binding.py``
    checks it on its own)."""
    from homeward.base import models
    from homeward.base.db import get_engine, system_scope

    skipped = {
        "login_challenge",
        "login_request",
        "staff_session",
        "run_grant",
        "audit_head",
        "keyring_binding",
    }
    with get_engine().connect() as conn, system_scope(conn):
        snapshot = {
            table.name: sorted(tuple(map(repr, row)) for row in conn.execute(table.select()))
            for table in models.metadata().sorted_tables
            if table.name not in skipped
        }
    # (and a reused request key's refusal: the audit line is the refusal's, not a change)
    proving = ("'login:", "'cmd:assertion'", "'cmd:prove'", "'key_refused:")
    snapshot["audit_entry"] = [
        r for r in snapshot["audit_entry"] if not any(p in r[3] for p in proving)
    ]
    return snapshot


@contextmanager
def admin_read() -> Iterator[Session]:
    """A read session acting as the system (row security off), for checking results."""
    from homeward.base.db import system_scope

    with read_session() as s, system_scope(s):
        yield s


def plain(table: str, column: str, row_id: int, stored: str | None) -> str | None:
    """Decrypt a protected free-text value (as the system would), for assertions."""
    from homeward.base.models import Case, ChecklistItem, Handoff, ItemChange
    from homeward.protection import vault

    if stored is None:
        return None
    with admin_read() as s:
        holders = {"checklist_item": ChecklistItem, "item_change": ItemChange}
        holder = s.get(holders.get(table, Handoff), row_id)
        assert holder is not None
        case = s.get(Case, holder.case_id)
        assert case is not None
        key = vault.case_key(s, case)
    from homeward.crypt.crypto import decrypt_field

    return decrypt_field(key, stored, table=table, column=column, row_id=row_id)
