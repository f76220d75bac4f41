"""The assisted-return procedure as a ``transitions`` table, its guards and its effects.

Read the table to learn "what happens when". Guards raise ``Refused`` with a reason a
coordinator can act on; routing conditions (which of several rows applies) return booleans.
Effects only write rows in the caller's transaction; firing and committing is ``cases.fire``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlmodel import Session
from transitions import EventData, Machine

from homeward.base import dates
from homeward.base.clock import local_date
from homeward.base.errors import Refused
from homeward.base.models import (
    Case,
    CaseStatus,
    ChecklistItem,
    ConsentPurpose,
    HandoffStatus,
    StaffMember,
)
from homeward.protection import consent
from homeward.protection.permissions import Action, ensure, permits
from homeward.records.directory import get_staff
from statemachines import closure_requests, steps
from tasks import checklist, checklist_changes, family, moves, transfers

EMERGENCY_DOC_MAX_DAYS = 30


class State(StrEnum):
    """A case's phase, in the words of its history and reports: a stage while the case is
    active, else its status (``CaseStatus``). The stages are the stage table's states; the
    statuses the status table's."""

    IDENTIFIED_ABROAD = "identified_abroad"
    CONSENT_OBTAINED = "consent_obtained"
    ASSESSED = "assessed"
    TRAVEL_ARRANGED = "travel_arranged"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    REINTEGRATION = "reintegration"
    CLOSED = CaseStatus.CLOSED.value
    CONSENT_WITHDRAWN = CaseStatus.CONSENT_WITHDRAWN.value
    SUSPENDED = CaseStatus.SUSPENDED.value
    LOST_CONTACT = CaseStatus.LOST_CONTACT.value


S = State
C = CaseStatus
ACTIVE = [
    S.IDENTIFIED_ABROAD,
    S.CONSENT_OBTAINED,
    S.ASSESSED,
    S.TRAVEL_ARRANGED,
    S.IN_TRANSIT,
    S.RECEIVED,
    S.REINTEGRATION,
]
OPEN_STATES = [*ACTIVE, S.SUSPENDED, S.LOST_CONTACT]
# Before travel, a minor's case closes only as a referral: return not in the child's interest.
REFERRABLE = [S.CONSENT_OBTAINED, S.ASSESSED]
# An active case closes from these stages; paused or withdrawn, from any.
CLOSABLE_STAGES = [S.REINTEGRATION, *REFERRABLE]
TRAVEL_GUARDS = (
    "risk_assessed",
    "high_risk_reviewed",
    "minor_may_travel",
    "travel_document_valid",
)


def _row(
    trigger: str,
    source: Any,
    dest: State | InternalState | CaseStatus,
    *conditions: str,
    before: str | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {"trigger": trigger, "source": source, "dest": dest}
    if conditions:
        row["conditions"] = list(conditions)
    if before:
        row["before"] = before
    return row


# The stage table: how an active case moves through the procedure. Suspending, losing contact,
# withdrawal and closure change its status instead (``STATUS_TRANSITIONS``): the stage stays.
TRANSITIONS: list[dict[str, Any]] = [
    _row(
        "record_consent",
        S.IDENTIFIED_ABROAD,
        S.CONSENT_OBTAINED,
        "stage_work_done",
        before="store_consent",
    ),
    _row("complete_assessment", S.CONSENT_OBTAINED, S.ASSESSED, "stage_work_done"),
    _row(
        "arrange_travel",
        S.ASSESSED,
        S.TRAVEL_ARRANGED,
        *TRAVEL_GUARDS,
        "stage_work_done",
        before="store_travel",
    ),
    # A lapsed document or a missed flight: a new document and new dates, same stage.
    _row(
        "rearrange_travel",
        S.TRAVEL_ARRANGED,
        S.TRAVEL_ARRANGED,
        *TRAVEL_GUARDS,
        before="store_new_travel",
    ),
    _row(
        "depart",
        S.TRAVEL_ARRANGED,
        S.IN_TRANSIT,
        "departure_in_document_window",
        "stage_work_done",
        before="store_departure",
    ),
    _row(
        "confirm_arrival",
        S.IN_TRANSIT,
        S.RECEIVED,
        "arrival_date_valid",
        "stage_work_done",
        before="store_arrival",
    ),
    _row("start_reintegration", S.RECEIVED, S.REINTEGRATION, "stage_work_done"),
]

TRIGGERS: list[str] = [row["trigger"] for row in TRANSITIONS]


PAUSED_IN_ORDER = [C.SUSPENDED, C.LOST_CONTACT]  # ``PAUSED`` (a set) in the table's order
# The status table: the same for every route and stage. Resuming goes back to the stage the
# case kept; nothing here names a stage.
STATUS_TRANSITIONS: list[dict[str, Any]] = [
    _row(
        "close",
        C.ACTIVE,
        C.CLOSED,
        "stage_closable",
        "closure_approved",
        "support_period_complete",
        "closure_reason_fits",
        before="store_closure",
    ),
    _row(
        "close",
        [*PAUSED_IN_ORDER, C.CONSENT_WITHDRAWN],
        C.CLOSED,
        "closure_approved",
        "support_period_complete",
        "closure_reason_fits",
        before="store_closure",
    ),
    _row(
        "withdraw_consent",
        [C.ACTIVE, *PAUSED_IN_ORDER],
        C.CONSENT_WITHDRAWN,
        before="stop_all_work",
    ),
    _row("suspend", C.ACTIVE, C.SUSPENDED),
    _row("resume", C.SUSPENDED, C.ACTIVE, "risk_reassessed"),
    _row("lose_contact", C.ACTIVE, C.LOST_CONTACT),
    _row("regain_contact", C.LOST_CONTACT, C.ACTIVE, before="move_follow_ups"),
    _row("reopen", C.CLOSED, C.SUSPENDED, before="prepare_reopen"),
]
STATUS_TRIGGERS: list[str] = list(dict.fromkeys(row["trigger"] for row in STATUS_TRANSITIONS))


# --- the internal route: victims identified in Romania (issue 16 point 6) ------------------
# Its own first stage and rows; from ``assessed`` assistance starts straight away (no travel).
# Kept apart from the return route's table above, which stays as it was (README's diagram).
class InternalState(StrEnum):
    IDENTIFIED_IN_ROMANIA = "identified_in_romania"


class Route(StrEnum):
    RETURN = "return"  # identified abroad, travels home
    INTERNAL = "internal"  # identified in Romania: no travel stages


FIRST_STAGE: dict[str, str] = {
    Route.RETURN: S.IDENTIFIED_ABROAD,
    Route.INTERNAL: InternalState.IDENTIFIED_IN_ROMANIA,
}
INTERNAL_ACTIVE = [InternalState.IDENTIFIED_IN_ROMANIA, S.CONSENT_OBTAINED, S.ASSESSED]
TRAVEL_TRIGGERS = frozenset({"arrange_travel", "rearrange_travel", "depart", "confirm_arrival"})
_IN_RO = InternalState.IDENTIFIED_IN_ROMANIA

INTERNAL_TRANSITIONS: list[dict[str, Any]] = [
    _row("record_consent", _IN_RO, S.CONSENT_OBTAINED, "stage_work_done", before="store_consent"),
    _row(
        "start_assistance",
        S.ASSESSED,
        S.RECEIVED,
        "internal_route",
        "stage_work_done",
        before="store_assistance_start",
    ),
]
STAGES: list[str] = [*ACTIVE, *InternalState]
ALL_STATES: list[str] = [*State, *InternalState]
STAGE_TRIGGERS: list[str] = list(
    dict.fromkeys(row["trigger"] for row in [*TRANSITIONS, *INTERNAL_TRANSITIONS])
)
ALL_TRIGGERS: list[str] = [*STAGE_TRIGGERS, *STATUS_TRIGGERS]


def _sources(row: dict[str, Any]) -> list[Any]:
    return row["source"] if isinstance(row["source"], list) else [row["source"]]


def phase_moves() -> set[tuple[str, str, str]]:
    """Every (trigger, from, to) a case's history may record, in phases (``Case.phase``): the
    stage tables' rows, and each status row from and back to any stage."""
    moves = {
        (row["trigger"], str(source), str(row["dest"]))
        for row in [*TRANSITIONS, *INTERNAL_TRANSITIONS]
        for source in _sources(row)
    }
    for row in STATUS_TRANSITIONS:
        for source in _sources(row):
            closable = "stage_closable" in row.get("conditions", [])
            for stage in CLOSABLE_STAGES if closable and source == C.ACTIVE else STAGES:
                leaves = stage if source == C.ACTIVE else str(source)
                enters = stage if row["dest"] == C.ACTIVE else str(row["dest"])
                moves.add((row["trigger"], leaves, enters))
    return moves


def as_state(value: str) -> State | InternalState:
    """A stored stage (or phase) as the machine's enum member (either route's)."""
    return InternalState(value) if value in set(InternalState) else State(value)


def route_refusal(case: Case, trigger: str) -> str | None:
    """Why ``trigger`` does not apply to the case's route (one line), or None when it may."""
    if case.route == Route.INTERNAL and trigger in TRAVEL_TRIGGERS:
        return (
            f"cannot {trigger} case {case.case_ref}: an internal case (identified in Romania) "
            "has no travel; once assessed, start assistance with `homeward case advance "
            f"{case.case_ref} start_assistance`"
        )
    return None


class ReturnCase:
    """Wraps a ``Case`` row for the machine: the state lives on the row, never on this object.

    One wrapper serves one firing: it carries the session, the actor, the step data and the
    moment, and is removed from the shared machine afterwards.
    """

    def __init__(
        self, case: Case, *, session: Session, actor: StaffMember, step: steps.Step, now: datetime
    ) -> None:
        self.case, self.session, self.actor, self.step, self.now = case, session, actor, step, now
        self.today: date = local_date(now)
        # (stage, its open items) as ``stage_work_done`` read them: what the move then
        # cancels, if it leaves the stage for good, without reading them again
        self.left_open: tuple[str, list[ChecklistItem]] | None = None

    @property
    def state(self) -> State | InternalState:
        return as_state(self.case.state)

    @state.setter
    def state(self, value: str) -> None:
        # The machine sets the model's state when it takes the wrapper on (``add_model``):
        # the same value set again would mark the row changed, and the next read would flush
        # it (and check it against its seal) for nothing.
        if self.case.state != value:
            self.case.state = str(value)

    @property
    def status(self) -> CaseStatus:
        return CaseStatus(self.case.status)

    @status.setter
    def status(self, value: str) -> None:
        if self.case.status != value:
            self.case.status = str(value)

    def _refuse(self, event: EventData, why: str) -> Refused:
        return Refused(f"cannot {event.event.name} case {self.case.case_ref}: {why}")

    # --- guards -------------------------------------------------------------------------
    def stage_work_done(self, event: EventData) -> bool:
        """Leaving a stage needs its blocking items done or skipped with a reason."""
        stage = self.case.state
        left_open = checklist.open_stage_items(self.session, self.case, stage)
        self.left_open = (stage, left_open)
        pending = [item for item in left_open if item.blocking]
        if pending:
            listed = ", ".join(f"{item.code} (#{item.id})" for item in pending)
            raise self._refuse(
                event,
                f"blocking items still open in stage {self.case.state}: "
                f"{listed}; mark them done or skip them with a reason",
            )
        return True

    def risk_assessed(self, event: EventData) -> bool:
        if not checklist.item_is_done(self.session, self.case, "risk_assessment"):
            raise self._refuse(
                event,
                "the risk assessment is not done; record risk_assessment "
                "first (skipping it does not count)",
            )
        return True

    def high_risk_reviewed(self, event: EventData) -> bool:
        """A high risk (structured assessments) travels only after a supervisor's review."""
        from tasks import assessments  # noqa: PLC0415 (kept to this guard: one owner per part)

        why = assessments.travel_refusal(self.session, self.case)
        if why:
            raise self._refuse(event, why)
        return True

    def minor_may_travel(self, event: EventData) -> bool:
        """A minor travels only with DGASPC notified, a best-interests assessment finding return
        in the child's interest and an escort; in a family case, for each travelling child too
        (named by relation and number, never by name)."""
        needed = {
            "best-interests assessment finding return in the child's interest": (
                "best_interests_assessment",
                "return_in_interest",
            ),
            "DGASPC notified": ("dgaspc_notified", None),
            "an escort arranged": ("escort_arranged", None),
        }
        if self.case.is_minor:
            missing = [
                label
                for label, (code, outcome) in needed.items()
                if not checklist.item_is_done(self.session, self.case, code, outcome)
            ]
            if missing:
                raise self._refuse(
                    event,
                    "a minor cannot travel without "
                    + "; ".join(missing)
                    + (self._referral_way_out() if _bia_negative(self.session, self.case) else ""),
                )
        labels = family.person_labels(self.session, self.case)
        for child in checklist.minor_dependants(self.session, self.case):
            assert child.id is not None  # noqa: S101
            missing = [
                label
                for label, (code, outcome) in needed.items()
                if not checklist.item_is_done(self.session, self.case, code, outcome, child.id)
            ]
            if missing:
                negative = checklist.item_is_done(
                    self.session,
                    self.case,
                    "best_interests_assessment",
                    "return_not_in_interest",
                    child.id,
                )
                raise self._refuse(
                    event,
                    f"{labels[child.id]} (a minor) cannot travel without "
                    + "; ".join(missing)
                    + (self._child_way_out(child.id, labels[child.id]) if negative else ""),
                )
        return True

    def _child_way_out(self, person_id: int, label: str) -> str:
        return (
            f"; the best-interests assessment found return not in {label}'s interest: refer the "
            "child to the host country's child protection and remove the child from the "
            f"travelling group with `homeward case remove-person {self.case.case_ref} "
            f"{person_id} --reason not_travelling`, or close the case as a referral"
        )

    def _referral_way_out(self) -> str:
        return (
            "; the best-interests assessment found return not in the child's interest: refer "
            "the child to the host country's child protection and ask to close the case with "
            f"`homeward case request-closure {self.case.case_ref} "
            f"--reason {steps.ClosureReason.RETURN_NOT_IN_CHILD_INTEREST}`; a supervisor "
            f"approves it with `homeward case approve-closure {self.case.case_ref}`"
        )

    def travel_document_valid(self, event: EventData) -> bool:
        step = self.step
        assert isinstance(step, steps.ArrangeTravel)  # noqa: S101
        problem = _document_problem(step, self.today)
        if problem:
            raise self._refuse(event, problem)
        dates.check_not_before_consent("departure_on", step.departure_on, self._consent_on())
        return True

    def _consent_on(self) -> date | None:
        """The day the person consented to the return (the latest such consent)."""
        given = [c for c in consent.ledger(self.session, self.case) if c.purpose == "return"]
        return given[-1].given_on if given else None

    def departure_in_document_window(self, event: EventData) -> bool:
        step = self.step
        assert isinstance(step, steps.Depart)  # noqa: S101
        day = step.departed_on or self.today
        # a future date would hold every arrival date as "before departure"
        dates.check_not_future("departed_on", day, self.now, "the person left")
        dates.check_not_before_consent("departed_on", day, self._consent_on())
        expires, issued = self.case.travel_doc_expires_on, self.case.travel_doc_issued_on
        if expires and day > expires:
            raise self._refuse(
                event,
                f"the travel document expired on {expires}; "
                + (
                    "arrange travel again with a valid document: `homeward case advance "
                    f"{self.case.case_ref} rearrange_travel --set document_kind=KIND "
                    "--set document_issued_on=YYYY-MM-DD --set document_expires_on=YYYY-MM-DD "
                    "--set departure_on=YYYY-MM-DD`"
                ),
            )
        if issued and day < issued:
            raise self._refuse(event, f"departure {day} is before the document's issue ({issued})")
        return True

    def arrival_date_valid(self, _event: EventData) -> bool:
        step = self.step
        assert isinstance(step, steps.ConfirmArrival)  # noqa: S101
        dates.check_not_future("arrival_on", step.arrival_on, self.now, "the person arrived")
        dates.check_arrival(step.arrival_on, self.case.departure_on)
        return True

    def stage_closable(self, event: EventData) -> bool:
        """An active case closes after reintegration, or before travel as a referral."""
        if self.case.state not in CLOSABLE_STAGES:
            raise self._refuse(
                event,
                f"an active case in stage {self.case.state} does not close; it closes in "
                f"reintegration, or before travel as a referral "
                f"({steps.ClosureReason.RETURN_NOT_IN_CHILD_INTEREST}); otherwise suspend it "
                "or record the withdrawal of consent (withdraw_consent) first",
            )
        return True

    def closure_approved(self, event: EventData) -> bool:
        step = self.step
        assert isinstance(step, steps.Close)  # noqa: S101
        approver = get_staff(session=self.session, email=str(step.approved_by))
        if not permits(self.session, approver, Action.DECIDE_CLOSURE, self.case):
            raise self._refuse(
                event,
                "closure must be approved by a supervisor of the case's "
                "owner organisation; give their email in approved_by",
            )
        if approver.id == (closure_requests.requester_id(self.session, self.case) or self.actor.id):
            raise self._refuse(
                event, "who asked for the closure cannot approve it; another supervisor decides"
            )
        return True

    def support_period_complete(self, event: EventData) -> bool:
        step = self.step
        assert isinstance(step, steps.Close)  # noqa: S101
        if step.reason == steps.ClosureReason.SUPPORT_PERIOD_ENDED:
            if self.case.phase != S.REINTEGRATION:
                raise self._refuse(event, "support_period_ended applies only after reintegration")
            return self.stage_work_done(event)
        return True

    def closure_reason_fits(self, event: EventData) -> bool:
        """Before travel a case closes only as a referral, and a referral needs a minor whose
        best-interests assessment found return not in the child's interest."""
        step = self.step
        assert isinstance(step, steps.Close)  # noqa: S101
        referral = step.reason in steps.REFERRAL_REASONS
        if self.case.phase in REFERRABLE and not referral:
            raise self._refuse(
                event,
                f"before travel a case closes only with reason "
                f"{steps.ClosureReason.RETURN_NOT_IN_CHILD_INTEREST}; otherwise suspend it or "
                "record the withdrawal of consent (withdraw_consent) first",
            )
        if referral and not (self.case.is_minor and _bia_negative(self.session, self.case)):
            raise self._refuse(
                event,
                f"reason {step.reason} needs a minor's best-interests assessment done with "
                "outcome return_not_in_interest",
            )
        return True

    def risk_reassessed(self, event: EventData) -> bool:
        if not checklist.item_is_done(self.session, self.case, "risk_reassessment"):
            raise self._refuse(
                event, "a new risk assessment is needed first; record the risk_reassessment item"
            )
        return True

    def internal_route(self, event: EventData) -> bool:
        """Assistance starts without travel only for a case identified in Romania."""
        if self.case.route != Route.INTERNAL:
            raise self._refuse(
                event,
                "only an internal case (identified in Romania) starts assistance without travel; "
                "a return case arranges travel (arrange_travel)",
            )
        return True

    # --- effects (rows only, in the caller's transaction) -----------------------------
    def store_consent(self, _event: EventData) -> None:
        step = self.step
        assert isinstance(step, steps.RecordConsent)  # noqa: S101
        consent.check_representative(self.case, step.method, step.representative)
        consent.give_all(
            self.session,
            case=self.case,
            purposes=[ConsentPurpose.RETURN, ConsentPurpose.DATA_PROCESSING],
            org_id=None,
            method=step.method,
            language=step.language,
            interpreter=step.interpreter,
            given_on=self.today,
            actor=self.actor,
            now=self.now,
            representative=step.representative,
        )
        # Set after the consents' statements, which flush what the ORM holds: the case's row
        # is then written once, with its new stage, not once for these and again for that.
        self.case.consent_method, self.case.consent_language = step.method, step.language
        self.case.interpreter_used = step.interpreter

    def store_travel(self, _event: EventData) -> None:
        step = self.step
        assert isinstance(step, steps.ArrangeTravel)  # noqa: S101
        self.case.travel_doc_kind = step.document_kind
        self.case.travel_doc_issued_on = step.document_issued_on
        self.case.travel_doc_expires_on = step.document_expires_on
        self.case.departure_on = step.departure_on

    def store_new_travel(self, event: EventData) -> None:
        """New document and dates: departure-dated items follow the new departure."""
        self.store_travel(event)
        checklist_changes.follow_new_departure(self.session, case=self.case, now=self.now)

    def store_departure(self, _event: EventData) -> None:
        step = self.step
        assert isinstance(step, steps.Depart)  # noqa: S101
        self.case.departure_on = step.departed_on or self.today

    def store_arrival(self, _event: EventData) -> None:
        step = self.step
        assert isinstance(step, steps.ConfirmArrival)  # noqa: S101
        self.case.arrival_on = step.arrival_on

    def store_assistance_start(self, _event: EventData) -> None:
        """An internal case's "arrival" (the anchor of reception and follow-up due dates) is
        the day assistance started: no one travels, the clock starts here."""
        self.case.arrival_on = self.today

    def store_closure(self, _event: EventData) -> None:
        step = self.step
        assert isinstance(step, steps.Close)  # noqa: S101
        approver = get_staff(session=self.session, email=str(step.approved_by))
        self.case.closure_reason, self.case.closure_approved_by_id = step.reason, approver.id
        self.case.closed_at = self.now
        checklist.cancel_open_items(self.session, case=self.case, actor=self.actor, now=self.now)

    def stop_all_work(self, _event: EventData) -> None:
        step = self.step
        assert isinstance(step, steps.WithdrawConsent)  # noqa: S101
        ensure(self.session, self.actor, Action.CHANGE_CONSENT, self.case)
        day = dates.check_consent_day(
            self.case, step.withdrawn_on or self.today, self.now, "withdrawn_on", "withdrawn"
        )
        checklist.cancel_open_items(self.session, case=self.case, actor=self.actor, now=self.now)
        transfer = transfers.pending_transfer(self.session, self.case)
        if transfer:  # sharing stops too: no one may take the case over after withdrawal
            transfers.decide(transfer, HandoffStatus.REVOKED, self.actor, self.now)
        for given in consent.ledger(self.session, self.case):
            if given.withdrawn_on is None:
                consent.end(given, on=day, actor=self.actor, now=self.now)

    def move_follow_ups(self, _event: EventData) -> None:
        """Contact is back: visits missed meanwhile count again from today, none overdue."""
        moves.reschedule_after_regained_contact(
            self.session, case=self.case, actor=self.actor, now=self.now
        )

    def prepare_reopen(self, _event: EventData) -> None:
        arrived = self.case.arrival_on is not None
        first = FIRST_STAGE.get(self.case.route, S.IDENTIFIED_ABROAD)
        self.case.state = S.REINTEGRATION if arrived else first
        self.case.closed_at = self.case.closure_reason = self.case.closure_approved_by_id = None


def _bia_negative(session: Session, case: Case) -> bool:
    """Whether the child's best-interests assessment found return not in their interest."""
    return checklist.item_is_done(
        session, case, "best_interests_assessment", "return_not_in_interest"
    )


def _document_problem(step: steps.ArrangeTravel, today: date) -> str | None:
    """Why the travel document does not cover the departure, or None when it does."""
    if step.departure_on < today:
        return f"departure_on {step.departure_on} is in the past"
    if step.document_expires_on < step.departure_on:
        return (
            f"the travel document expires on {step.document_expires_on}, "
            f"before departure on {step.departure_on}"
        )
    if step.document_kind != steps.TravelDocKind.EMERGENCY:
        return None
    issued = step.document_issued_on
    if issued is None:
        return "document_issued_on is required for an emergency travel document"
    if step.document_expires_on - issued > timedelta(days=EMERGENCY_DOC_MAX_DAYS):
        return f"an emergency travel document is valid at most {EMERGENCY_DOC_MAX_DAYS} days"
    if step.departure_on < issued:
        return f"departure_on {step.departure_on} is before the document is issued ({issued})"
    return None


MACHINE = Machine(
    model=None,
    states=STAGES,
    transitions=[*TRANSITIONS, *INTERNAL_TRANSITIONS],
    initial=S.IDENTIFIED_ABROAD,
    auto_transitions=False,
    send_event=True,
)
"""The stage table's machine (the wrapper's ``state``, the row's stage)."""
STATUS_MACHINE = Machine(
    model=None,
    states=list(CaseStatus),
    transitions=STATUS_TRANSITIONS,
    initial=CaseStatus.ACTIVE,
    auto_transitions=False,
    send_event=True,
    model_attribute="status",
)
"""The status table's machine (the wrapper's ``status``, the row's status)."""
