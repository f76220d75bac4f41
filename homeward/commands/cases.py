"""Case-level commands: open a case, move it between stages, enter the person's data, hand the
whole case to another organisation (and answer such a handoff), place or lift a legal hold.
Reading cases (show, list, history) is ``homeward.commands.case_views``.

The CLI (``homeward case ...``) and the Prefect flows (``start-return``, ``advance-case``) run
the same commands for their proven principal; the engine (``statemachines``, ``tasks``,
``homeward.protection``) keeps every rule. Keyed commands return flat views (the request-key
store keeps them); personal data and free text stay out of a request's fingerprint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homeward.base.errors import Refused
from homeward.base.models import Case
from homeward.commands.case_views import OneCase, org_kind
from homeward.commands.runner import Command, Context
from homeward.protection import vault
from homeward.protection.vault import PersonIn
from homeward.records.audit import history
from statemachines.cases import CaseIn, fire, get_case, start_case
from tasks import transfers


@dataclass(frozen=True)
class CaseMoved:
    """A case after a command changed it: its reference, stages and owner kind, no names."""

    case_ref: str
    state: str
    org_kind: str
    from_state: str | None = None


@dataclass(frozen=True)
class CaseOpened:
    """A case just opened; ``duplicates``: the case_refs (comma-separated) of the opener's
    organisation's own earlier cases of possibly the same person. Other organisations' cases
    are not looked at (``vault.find_possible_duplicates``)."""

    case_ref: str
    case_id: int
    state: str
    org_kind: str
    duplicates: str = ""


@dataclass(frozen=True)
class StartCase(Command[CaseOpened]):
    """Open a case owned by the acting staff member's organisation (``person``: optional)."""

    case: CaseIn
    person: PersonIn | None = field(default=None, repr=False)
    name = "case start"
    view = CaseOpened

    def args(self) -> Mapping[str, Any]:
        return self.case.model_dump(mode="json")  # the person's data stays out of it

    def execute(self, ctx: Context) -> CaseOpened:
        who, session = ctx.staff, ctx.session
        earlier = (
            vault.find_possible_duplicates(session, self.person, owner_org_id=who.org_id)
            if self.person
            else []
        )
        case = start_case(session, actor=who, case_in=self.case, person=self.person, now=ctx.now)
        assert case.id is not None  # noqa: S101 (flushed)
        kind = org_kind(session, case)
        return CaseOpened(case.case_ref, case.id, case.phase, kind, ", ".join(earlier))


CLOSE_BY_REQUEST = (
    "close: a case closes when a supervisor approves a closure request, as themselves: ask "
    "with `homeward case request-closure {ref} --reason CODE`; a supervisor of its owner "
    "organisation who did not ask approves it with `homeward case approve-closure {ref}`"
)


@dataclass(frozen=True)
class AdvanceCase(OneCase, Command[CaseMoved]):
    """Fire ``trigger`` on a case with its step data (``expected_version``: refuse if the case
    changed since the caller read it). Not ``close``: a closure is requested and approved
    (``homeward.commands.closures``), so its approver is a proven person, never an address
    typed into the step data."""

    ref: str
    trigger: str
    data: Mapping[str, Any] = field(default_factory=dict)
    expected_version: int | None = None
    name = "case advance"
    view = CaseMoved

    def args(self) -> Mapping[str, Any]:
        return {"case_ref": self.ref, "trigger": self.trigger, "data": dict(self.data)}

    def execute(self, ctx: Context) -> CaseMoved:
        if self.trigger == "close":  # its step data would name the approver by a typed email
            raise Refused(CLOSE_BY_REQUEST.format(ref=self.ref))
        case = fire(
            ctx.session,
            case_ref=self.ref,
            trigger=self.trigger,
            actor=ctx.staff,
            data=dict(self.data),
            now=ctx.now,
            expected_version=self.expected_version,
        )
        from_state = _from_state(ctx, case)
        return CaseMoved(case.case_ref, case.phase, org_kind(ctx.session, case), from_state)


def _from_state(ctx: Context, case: Case) -> str | None:
    """The stage the case left (its newest event, just recorded)."""
    events = history(ctx.session, case)
    return events[-1].from_state if events else None


@dataclass(frozen=True)
class CaseRef:
    """The case a command acted on."""

    case_ref: str


@dataclass(frozen=True)
class PersonStored:
    """The person's data stored; ``duplicates``: the case_refs (comma-separated) of the owner's
    own other cases of possibly the same person, as ``case start`` warns of them."""

    case_ref: str
    duplicates: str = ""


@dataclass(frozen=True)
class EnterPerson(OneCase, Command[PersonStored]):
    """Enter or replace the person's data (stored encrypted; the owner's staff)."""

    ref: str
    person: PersonIn = field(repr=False)
    name = "case person"
    view = PersonStored

    def args(self) -> Mapping[str, Any]:
        return {"case_ref": self.ref}  # never the person's data

    def execute(self, ctx: Context) -> PersonStored:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        vault.store_person(ctx.session, case=case, person=self.person, actor=ctx.staff, now=ctx.now)
        found = vault.find_possible_duplicates(
            ctx.session, self.person, owner_org_id=case.owner_org_id
        )
        return PersonStored(case.case_ref, ", ".join(r for r in found if r != case.case_ref))


@dataclass(frozen=True)
class TransferOffered:
    case_ref: str
    to: str
    handoff_id: int


@dataclass(frozen=True)
class TransferCase(OneCase, Command[TransferOffered]):
    """Offer the whole case to organisation ``to`` (``reason``: free text, kept encrypted)."""

    ref: str
    to: str
    reason: str | None = field(default=None, repr=False)
    expected_version: int | None = None
    name = "case handoff"
    view = TransferOffered

    def args(self) -> Mapping[str, Any]:
        return {"case_ref": self.ref, "to": self.to}  # the free-text reason stays out

    def execute(self, ctx: Context) -> TransferOffered:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        handoff = transfers.propose_transfer(
            ctx.session,
            case=case,
            to_org_slug=self.to,
            actor=ctx.staff,
            now=ctx.now,
            reason=self.reason,
            expected_version=self.expected_version,
        )
        assert handoff.id is not None  # noqa: S101 (flushed)
        return TransferOffered(case.case_ref, self.to, handoff.id)


@dataclass(frozen=True)
class AcceptTransfer(OneCase, Command[CaseRef]):
    """Accept a case offered to the acting organisation: it becomes theirs."""

    ref: str
    expected_version: int | None = None
    name = "case accept"

    def execute(self, ctx: Context) -> CaseRef:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        transfers.accept_transfer(
            ctx.session,
            case=case,
            actor=ctx.staff,
            now=ctx.now,
            expected_version=self.expected_version,
        )
        return CaseRef(case.case_ref)


@dataclass(frozen=True)
class RejectTransfer(OneCase, Command[CaseRef]):
    """Reject a case offered to the acting organisation (``reason``: free text, encrypted)."""

    ref: str
    reason: str = field(repr=False)
    expected_version: int | None = None
    name = "case reject"

    def args(self) -> Mapping[str, Any]:
        return {"case_ref": self.ref}

    def execute(self, ctx: Context) -> CaseRef:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        transfers.reject_transfer(
            ctx.session,
            case=case,
            actor=ctx.staff,
            now=ctx.now,
            reason=self.reason,
            expected_version=self.expected_version,
        )
        return CaseRef(case.case_ref)


@dataclass(frozen=True)
class HoldSet:
    case_ref: str
    hold: bool


@dataclass(frozen=True)
class LegalHold(OneCase, Command[HoldSet]):
    """Place (``hold``) or lift a legal hold (the owner's supervisors)."""

    ref: str
    hold: bool = True
    name = "case hold"

    def execute(self, ctx: Context) -> HoldSet:
        # here, not at the top: the purge names every case-data table, which no other command
        # of this module defines (homeward.base.models defines a table when first named)
        from homeward.protection import retention

        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        retention.set_legal_hold(
            ctx.session, case=case, actor=ctx.staff, hold=self.hold, now=ctx.now
        )
        return HoldSet(case.case_ref, self.hold)
