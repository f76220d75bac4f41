"""Case-level export in the layout of UN Migration's Human Trafficking Case Data Standard.

Field names follow HTCDS / CTDC (``gender``, ``ageBroad``, ``majorityStatus``,
``CountryOfExploitation``, the ``is...`` exploitation flags); the case is identified only by its
random case_ref, ages only by band, dates only by year. Only supervisors and managers of the
owner organisation may export, only their organisation's cases, never a case whose person
withdrew consent or whose data was purged; every export is audited with its field names.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from homeward.base.db import system_scope
from homeward.base.models import Case, CaseStatus, StaffMember
from homeward.protection.permissions import Action, ensure
from homeward.records.auditlog import audit
from homeward.reporting.dimensions import UNKNOWN
from homeward.reporting.facts import load_facts

FLAGS = {
    "isSexualExploit": "sexual",
    "isForcedLabour": "labour",
    "isSlaveryAndPractices": "domestic_servitude",
    "isForcedBegging": "begging",
    "isForcedCriminality": "forced_criminality",
    "isForcedMarriage": "forced_marriage",
    "isOrganRemoval": "organ_removal",
    "isOtherExploit": "other",
}
FIELDS = [
    "caseId",
    "yearOfRegistration",
    "gender",
    "ageBroad",
    "majorityStatus",
    "citizenship",
    "CountryOfExploitation",
    *FLAGS,
    "caseStatus",
    "closureReason",
    "returned",
]
# HTCDS statuses: Active, FollowUp (after return, in reintegration), Closed, ClosedReferred.
STATUS = {"reintegration": "FollowUp", "received": "FollowUp", "closed": "Closed"}
# Closure reasons that hand the person on (statemachines.steps.REFERRAL_REASONS): ClosedReferred.
REFERRAL_REASONS = frozenset({"return_not_in_child_interest"})


def _gender(sex: str) -> str:
    return {"female": "Female", "male": "Male", "other": "Other"}.get(sex, "Unknown")


def _row(case: Case, profile_sex: str, band: str, form: str) -> dict[str, str | int]:
    row: dict[str, str | int] = {
        "caseId": case.case_ref,
        "yearOfRegistration": case.opened_at.year,
        "gender": _gender(profile_sex),
        "ageBroad": band,
        "majorityStatus": "Minor" if case.is_minor else "Adult",
        "citizenship": case.destination_country,
        "CountryOfExploitation": case.host_country,
    }
    row.update({flag: int(form == code) for flag, code in FLAGS.items()})
    referred = case.closure_reason in REFERRAL_REASONS
    row["caseStatus"] = "ClosedReferred" if referred else STATUS.get(case.phase, "Active")
    row["closureReason"] = case.closure_reason or ""
    row["returned"] = int(case.arrival_on is not None)
    return row


def export_htcds(
    session: Session, *, actor: StaffMember, now: datetime
) -> list[dict[str, str | int]]:
    """The actor's organisation's cases, one HTCDS row each (audited as one export)."""
    ensure(session, actor, Action.EXPORT_CASES)
    query = select(Case).where(
        Case.owner_org_id == actor.org_id,
        Case.status != CaseStatus.CONSENT_WITHDRAWN,
        col(Case.purged_at).is_(None),
    )
    with system_scope(session):
        cases = list(session.exec(query.order_by(col(Case.id))))
    ids = [c.id for c in cases if c.id is not None]
    facts = {
        f.case_id: f
        for f in load_facts(session, case_ids=ids, actor=actor, purpose="htcds", now=now)
    }
    rows = []
    for case in cases:
        profile = facts[case.id or 0].profile
        form = profile.exploitation_form if profile.exploitation_form != UNKNOWN else ""
        rows.append(_row(case, profile.sex, profile.age_band, form))
    audit(session, actor=actor, action="export:htcds", at=now, fields=FIELDS)
    return rows
