"""Opening cases and firing triggers on them, each in the caller's single write transaction.

``fire`` loads the row, checks the actor, validates the step data, runs the machine (guards,
effects, entering the new stage, the ``CaseEvent``) and lets the optimistic lock catch a
concurrent change. Any refusal raises before commit, so a refused transition changes nothing.
"""

from __future__ import annotations

import threading
from datetime import datetime
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import bindparam
from sqlmodel import Session, col, select
from transitions import MachineError

from homeward.base.caseref import checked_ref, new_case_ref
from homeward.base.countries import COUNTIES, check_country
from homeward.base.errors import Conflict, InvalidInput, Refused
from homeward.base.models import (
    PARTICIPANT_KINDS,
    Case,
    CaseParticipant,
    CaseStatus,
    ChecklistItem,
    Organisation,
    OrgKind,
    ParticipantRole,
    StaffMember,
)
from homeward.protection import vault
from homeward.protection.access import can_see, case_not_found, ensure_can_see
from homeward.protection.permissions import Action, ensure
from homeward.protection.vault import PersonIn
from homeward.records import seals
from homeward.records.audit import record_event
from homeward.records.crossorg import refs_taken
from homeward.records.directory import get_org
from homeward.records.locking import bump, check_version
from statemachines import steps
from statemachines.return_case import (
    ACTIVE,
    ALL_STATES,
    ALL_TRIGGERS,
    CLOSABLE_STAGES,
    FIRST_STAGE,
    INTERNAL_ACTIVE,
    MACHINE,
    STATUS_MACHINE,
    STATUS_TRIGGERS,
    ReturnCase,
    Route,
    as_state,
    route_refusal,
)
from tasks import checklist, moves, participation
from tasks.catalog import CURRENT_VERSION, load_catalog

_machine_lock = threading.Lock()  # the shared machine's model list is not thread-safe
# An internal case (identified in Romania) has no travel: no sending mission, no consulate.
TRAVEL_ROLES = frozenset({ParticipantRole.S_IOM, ParticipantRole.CONS})
LEFT_FOR_GOOD = frozenset({*ACTIVE, *INTERNAL_ACTIVE})


class CaseIn(BaseModel):
    """Case facts for opening a case: codes and organisations, no personal data."""

    # its validator is built when first used (issue 19): a read builds none
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    is_minor: bool = False
    host_country: str | None = Field(default=None, description="where the person was identified")
    destination_country: str = "RO"
    process_version: str = CURRENT_VERSION
    route: Route = Field(
        default=Route.RETURN,
        description="return (identified abroad, travels home) or internal (identified in "
        "Romania: no travel stages)",
    )
    destination_county: str | None = Field(
        default=None, description="ISO 3166-2 county where the person lives or goes: RO-CJ"
    )
    participants: dict[ParticipantRole, str] = Field(
        default_factory=dict, description="role -> organisation slug"
    )

    @field_validator("host_country", "destination_country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return check_country(value) if value is not None else None

    @field_validator("destination_county")
    @classmethod
    def _county(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        county = value.upper()
        if county not in COUNTIES:
            raise ValueError("use an ISO 3166-2 county code of Romania such as RO-CJ or RO-B")
        return county

    @model_validator(mode="after")
    def _internal_in_romania(self) -> CaseIn:
        if self.route == Route.INTERNAL:
            if self.host_country not in (None, "RO"):
                raise InvalidInput(
                    "host_country: an internal case is identified in Romania; leave it out "
                    "or use the return route"
                )
            if self.destination_country != "RO":
                raise InvalidInput("destination_country: an internal case stays in Romania (RO)")
            if TRAVEL_ROLES & set(self.participants):
                raise InvalidInput(
                    "participants: an internal case has no travel, so no s_iom or cons; "
                    "leave them out"
                )
            self.host_country = "RO"
        return self


def _only(session: Session, kind: OrgKind, country: str | None = None) -> Organisation | None:
    query = select(Organisation).where(Organisation.kind == kind)
    if country:
        query = query.where(Organisation.country == country)
    found = list(session.exec(query.limit(2)))
    return found[0] if len(found) == 1 else None


def _default_participant(
    session: Session, role: ParticipantRole, owner: Organisation, case_in: CaseIn, host: str
) -> Organisation | None:
    match role:
        case ParticipantRole.S_IOM:
            return (
                owner
                if owner.kind == OrgKind.IOM_MISSION and owner.country == host
                else (_only(session, OrgKind.IOM_MISSION, host))
            )
        case ParticipantRole.R_IOM:
            return _only(session, OrgKind.IOM_MISSION, case_in.destination_country)
        case ParticipantRole.CONS:
            return _only(session, OrgKind.CONSULATE, host) or _only(session, OrgKind.CONSULATE)
        case ParticipantRole.DGASPC if not case_in.is_minor:
            return None  # child protection sees children's cases only, unless named
        case _:
            return _only(session, PARTICIPANT_KINDS[role])


def _resolve_participants(
    session: Session, owner: Organisation, case_in: CaseIn, host: str
) -> dict[ParticipantRole, Organisation]:
    resolved: dict[ParticipantRole, Organisation] = {}
    for role in ParticipantRole:
        if case_in.route == Route.INTERNAL and role in TRAVEL_ROLES:
            continue
        slug = case_in.participants.get(role)
        org = (
            get_org(session=session, slug=slug)
            if slug
            else _default_participant(session, role, owner, case_in, host)
        )
        if org is None:
            continue
        if org.kind != PARTICIPANT_KINDS[role]:
            raise InvalidInput(
                f"participants.{role}: {org.slug} is a {org.kind}, not a {PARTICIPANT_KINDS[role]}"
            )
        resolved[role] = org
    if case_in.is_minor and ParticipantRole.DGASPC not in resolved:
        raise InvalidInput(
            "participants.dgaspc: a minor's case needs a DGASPC; name it with --with dgaspc=SLUG"
        )
    return resolved


def resolve_participants(
    session: Session, *, owner: Organisation, case_in: CaseIn
) -> dict[ParticipantRole, Organisation]:
    """The organisations a new case of ``owner`` would have, as ``start_case`` decides them."""
    return _resolve_participants(session, owner, case_in, case_in.host_country or owner.country)


def start_case(
    session: Session,
    *,
    actor: StaffMember,
    case_in: CaseIn,
    person: PersonIn | None,
    now: datetime,
) -> Case:
    """Open a case in its route's first stage (``identified_abroad``, or
    ``identified_in_romania`` for an internal case) owned by the actor's organisation.

    ``person`` may follow later (``homeward case person``); it is stored only encrypted.
    """
    ensure(session, actor, Action.OPEN_CASE)
    load_catalog(case_in.process_version)  # unknown versions fail before anything is written
    owner = session.get(Organisation, actor.org_id)
    assert owner is not None and owner.id is not None  # noqa: S101
    host = case_in.host_country or owner.country
    roles = _resolve_participants(session, owner, case_in, host)
    case = Case(
        case_ref=_unused_ref(session),
        state=FIRST_STAGE[case_in.route],
        stage_entered_at=now,
        process_version=case_in.process_version,
        is_minor=case_in.is_minor,
        owner_org_id=owner.id,
        host_country=host,
        destination_country=case_in.destination_country,
        route=case_in.route,
        destination_county=case_in.destination_county,
        opened_at=now,
    )
    session.add(case)
    session.flush()
    assert case.id is not None  # noqa: S101
    for role, org in roles.items():
        assert org.id is not None  # noqa: S101
        status = participation.initial_status(session, case, role, org.id)
        session.add(CaseParticipant(case_id=case.id, role=role, org_id=org.id, status=status))
    session.flush()
    if person is not None:
        vault.store_person(session, case=case, person=person, actor=actor, now=now)
    checklist.create_stage_items(session, case=case, stage=case.state, now=now)
    record_event(
        session,
        case=case,
        trigger="open",
        at=now,
        actor=actor,
        to_state=case.state,
        data={
            "process_version": case.process_version,
            "is_minor": case.is_minor,
            **({"route": case.route} if case.route != Route.RETURN else {}),
        },
    )
    return case


def _unused_ref(session: Session) -> str:
    for _ in range(20):
        ref = new_case_ref()
        if not refs_taken(session, [ref]):  # unique across every organisation's cases
            return ref
    raise Conflict("could not draw an unused case_ref; try again")  # pragma: no cover


_BY_REF = {  # built once each: every command names its case
    False: select(Case).where(Case.case_ref == bindparam("ref")),
    # locked: read the row as committed now, not as this session saw it before
    True: select(Case)
    .where(Case.case_ref == bindparam("ref"))
    .with_for_update()
    .execution_options(populate_existing=True),
}


@cache
def _locked_with_seal() -> Any:
    """``_BY_REF[True]`` with the case's seal beside it (built once): the case is then checked
    against its seal before its first write as read here, locked, not read again."""
    by_ref = col(Case.case_ref) == bindparam("ref")
    query = seals.with_seal(select(Case), "return_case").where(by_ref)
    return query.with_for_update(of=Case).execution_options(populate_existing=True)


def get_case(
    session: Session, *, case_ref: str, actor: StaffMember, for_update: bool = False
) -> Case:
    """The case with ``case_ref``, if the actor may see it (otherwise 'not found');
    ``for_update``: locked until the transaction ends, as the write that follows needs it."""
    ref = checked_ref(case_ref)
    if for_update and seals.sealing(session):
        found = session.execute(_locked_with_seal(), {"ref": ref}).first()
        case: Case | None = found[0] if found is not None else None
        if found is not None:
            seals.hold(session, "return_case", case, found[1], found[2])
    else:
        case = session.exec(_BY_REF[for_update], params={"ref": ref}).first()
    if case is None:
        raise case_not_found(ref)
    ensure_can_see(session, actor, case)
    return case


def allowed_triggers(case: Case) -> list[str]:
    """The triggers the tables allow the case now (guards may still refuse): the stage table's
    from its stage while it is active, and the status table's from its status."""
    table = set(STATUS_MACHINE.get_triggers(CaseStatus(case.status)))
    if case.status == CaseStatus.ACTIVE:
        table |= set(MACHINE.get_triggers(as_state(case.state)))
        if case.state not in CLOSABLE_STAGES:
            table.discard("close")
    return [t for t in ALL_TRIGGERS if t in table and not route_refusal(case, t)]


def _status_refusal(case: Case, trigger: str) -> str | None:
    """Why a stage move does not apply while the case is not active (one line), or None."""
    if trigger in STATUS_TRIGGERS or case.status == CaseStatus.ACTIVE:
        return None
    way = {
        CaseStatus.SUSPENDED: "resume it first (resume, after a new risk assessment)",
        CaseStatus.LOST_CONTACT: "record that contact is back first (regain_contact)",
    }.get(CaseStatus(case.status), "it takes no more steps")
    return (
        f"cannot {trigger} case {case.case_ref}: the case is {case.status} "
        f"(in stage {case.state}); {way}"
    )


def fire(
    session: Session,
    *,
    case_ref: str,
    trigger: str,
    actor: StaffMember,
    data: dict[str, Any] | None = None,
    now: datetime,
    expected_version: int | None = None,
) -> Case:
    """Fire ``trigger`` on a case: guards, effects, new stage items and the event, or nothing."""
    if trigger not in ALL_TRIGGERS:
        # never echoed: whatever was typed here could be a name pasted into the wrong field
        raise InvalidInput(
            f"trigger: not one Homeward knows; use one of: {', '.join(ALL_TRIGGERS)}"
        )
    case = get_case(session, case_ref=case_ref, actor=actor, for_update=True)
    check_version(case, expected_version)
    ensure(session, actor, Action.FIRE_TRIGGER, case)  # get_case checked it may see the case
    refusal = route_refusal(case, trigger) or _status_refusal(case, trigger)
    if refusal:
        raise Refused(refusal)
    step = steps.parse_step(trigger, data or {})
    wrapper = ReturnCase(case, session=session, actor=actor, step=step, now=now)
    from_state = case.phase
    if not _run_machine(wrapper, trigger):
        raise Refused(f"cannot {trigger} case {case.case_ref} from {from_state}")
    _enter_stage(
        session,
        case=case,
        actor=actor,
        now=now,
        trigger=trigger,
        from_state=from_state,
        step=step,
        left_open=wrapper.left_open,
    )
    return case


def _run_machine(wrapper: ReturnCase, trigger: str) -> bool:
    on_status = trigger in STATUS_TRIGGERS
    machine = STATUS_MACHINE if on_status else MACHINE
    with _machine_lock:
        machine.add_model(wrapper, initial=wrapper.status if on_status else wrapper.state)
        try:
            return bool(machine.events[trigger].trigger(wrapper))
        except MachineError:
            allowed = ", ".join(allowed_triggers(wrapper.case)) or "none"
            raise Refused(
                f"cannot {trigger} case {wrapper.case.case_ref} in {_where(wrapper.case)}; "
                f"allowed here: {allowed}"
            ) from None
        finally:
            machine.remove_model(wrapper)


def _where(case: Case) -> str:
    """Where the case stands, for a refusal: its stage, and its status when not active."""
    if case.status == CaseStatus.ACTIVE:
        return f"stage {case.state}"
    return f"stage {case.state}, {case.status}"


def _enter_stage(
    session: Session,
    *,
    case: Case,
    actor: StaffMember,
    now: datetime,
    trigger: str,
    from_state: str,
    step: steps.Step,
    left_open: tuple[str, list[ChecklistItem]] | None = None,
) -> None:
    if case.phase != from_state:
        case.stage_entered_at = now
        session.add(case)
        session.flush()
    else:  # rearrange_travel stays in its stage (whose clock runs on), yet the case changed
        bump(session, case)
    checklist.create_stage_items(session, case=case, stage=case.phase, now=now)
    record_event(
        session,
        case=case,
        trigger=trigger,
        at=now,
        actor=actor,
        from_state=from_state,
        to_state=case.phase,
        data=step.model_dump(mode="json"),
    )
    if from_state in LEFT_FOR_GOOD and case.phase in LEFT_FOR_GOOD and from_state != case.phase:
        # Left for good (not suspended, not lost contact): its open items have had their time.
        # They come as the guard read them (``stage_work_done``) when it read that stage's.
        read = left_open[1] if left_open is not None and left_open[0] == from_state else None
        moves.cancel_left_behind(
            session, case=case, stage=from_state, actor=actor, now=now, left_open=read
        )


def list_cases(session: Session, *, actor: StaffMember, state: str | None = None) -> list[Case]:
    """Cases the actor's organisation takes part in, newest first; ``state`` a stage (active
    cases in it) or a status (cases with it, whatever their stage)."""
    query = select(Case).order_by(col(Case.opened_at).desc(), col(Case.id).desc())
    if state:
        if state not in set(ALL_STATES) | set(CaseStatus):
            raise InvalidInput(
                f"state: {state!r} is not a stage or a status; use one of "
                f"{', '.join(dict.fromkeys([*ALL_STATES, *CaseStatus]))}"
            )
        if state in set(CaseStatus):
            query = query.where(Case.status == state)
        else:
            query = query.where(Case.state == state, Case.status == CaseStatus.ACTIVE)
    return [case for case in session.exec(query) if can_see(session, actor, case)]
