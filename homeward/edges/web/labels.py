"""Words the engine hands the pages as English labels (triggers, fields, codes), translated here.

The engine names what a form asks for (``statemachines.step_fields``: a trigger's label, each
field's label and description, each code's label); a page shows them through the catalog. They
are written out below once more, marked ``N_``, only so that ``pybabel extract`` keeps them in
the catalogs; ``tests/web/test_case_labels.py`` fails when the engine gains a label that is
not marked here or not translated into Romanian.
"""

from __future__ import annotations

from typing import Protocol

from homeward.edges.web.i18n import N_
from statemachines.step_fields import TRIGGER_LABELS, label_of


class Speaker(Protocol):
    def _(self, message: str) -> str: ...


EVENT_LABELS: dict[str, str] = {
    "open": N_("Case opened"),
    "item_done": N_("Item done"),
    "item_skipped": N_("Item skipped"),
    "item_assigned": N_("Item assigned"),
    "item_reopened": N_("Item reopened"),
    "item_due_changed": N_("Item due date changed"),
    "items_cancelled": N_("Items cancelled"),
    "handoff_proposed": N_("Item handed off"),
    "handoff_accepted": N_("Handoff accepted"),
    "handoff_rejected": N_("Handoff rejected"),
    "transfer_proposed": N_("Case offered to another organisation"),
    "transfer_accepted": N_("Case transfer accepted"),
    "transfer_rejected": N_("Case transfer rejected"),
    "consent_given": N_("Consent recorded"),
    "sharing_consent_withdrawn": N_("Consent to sharing withdrawn"),
    "partner_joined": N_("Partner joined"),
    "follow_ups_rescheduled": N_("Follow-ups rescheduled"),
    "closure_requested": N_("Closure requested"),
    "closure_request_renewed": N_("Closure request renewed"),
    "closure_rejected": N_("Closure not approved"),
    "closure_request_expired": N_("Closure request expired"),
    "legal_hold_placed": N_("Legal hold placed"),
    "legal_hold_lifted": N_("Legal hold lifted"),
    # issue 16: casework
    "plan_drafted": N_("Reintegration plan drafted"),
    "plan_goal_added": N_("Plan goal added"),
    "plan_service_added": N_("Plan service added"),
    "plan_submitted": N_("Reintegration plan submitted for approval"),
    "plan_approved": N_("Reintegration plan approved"),
    "plan_rejected": N_("Reintegration plan not approved"),
    "plan_service_started": N_("Plan service started"),
    "plan_service_delivered": N_("Plan service delivered"),
    "plan_service_cancelled": N_("Plan service cancelled"),
    "item_added": N_("Item added"),
    "item_rescheduled": N_("Appointment moved"),
    "item_cancelled": N_("Item cancelled"),
    "note_added": N_("Journal note added"),
    "document_added": N_("Document attached"),
    "document_removed": N_("Document removed"),
    "visit_recorded": N_("Follow-up visit recorded"),
    "safety_concern_reported": N_("Safety concern reported"),
    "add_person": N_("Family member added"),
    "remove_person": N_("Family member removed"),
    "nrm_referral_recorded": N_("NRM referral recorded"),
    "nrm_referral_corrected": N_("NRM referral corrected"),
    "assessment_recorded": N_("Assessment recorded"),
    "assessment_reviewed": N_("Assessment reviewed by a supervisor"),
    "destination_county_set": N_("Destination county set"),
}

WORDS: dict[str, str] = {
    # item statuses
    "open": N_("open"),
    "done": N_("done"),
    "skipped": N_("skipped"),
    "cancelled": N_("cancelled"),
    # consent purposes
    "return": N_("return"),
    "data_processing": N_("data processing"),
    "sharing": N_("sharing"),
}

ROLE_LABELS: dict[str, str] = {
    "s_iom": N_("IOM mission in the host country"),
    "cons": N_("Romanian embassy or consulate"),
    "r_iom": N_("IOM Romania, receiving"),
    "ngo": N_("Partner NGO at home"),
    "dgaspc": N_("Child protection (DGASPC)"),
    "anitp": N_("ANITP (national anti-trafficking agency)"),
    "le": N_("Police or prosecutors"),
}

ENGINE_LABELS = (
    # triggers
    N_("Record the person's consent"),
    N_("Complete the assessments"),
    N_("Arrange travel"),
    N_("Arrange travel again"),
    N_("Record the departure"),
    N_("Confirm the arrival"),
    N_("Start reintegration"),
    N_("Close the case"),
    N_("Record that consent was withdrawn"),
    N_("Suspend the case"),
    N_("Resume the case"),
    N_("Record lost contact"),
    N_("Record regained contact"),
    N_("Reopen the case"),
    # fields and their descriptions
    N_("How consent was given"),
    N_("signed, oral, or proxy (a minor's guardian)"),
    N_("Language of the consent (ISO code, e.g. ro)"),
    N_("ISO 639-1 code of the language consent was given in"),
    N_("An interpreter was used"),
    N_("an interpreter was used"),
    N_("A minor's representative consented, as"),
    N_(
        "a minor's case: the capacity of the guardian or legal representative consenting for "
        "them (parent, legal_guardian, dgaspc_guardian, special_representative)"
    ),
    N_("Travel document"),
    N_("Document issued on"),
    N_("required for an emergency travel document"),
    N_("Document expires on"),
    N_("Departure on"),
    N_("Departed on"),
    N_("defaults to today"),
    N_("Arrived on"),
    N_("the date the person arrived in Romania"),
    N_("Reason"),
    N_("Approving supervisor's email"),
    N_("email of the approving supervisor"),
    N_("Withdrawn on"),
    N_("defaults to today; not in the future nor before a consent"),
    N_("Given name"),
    N_("Family name"),
    N_("Birth date"),
    N_("Sex"),
    N_("Phone"),
    N_("Home address"),
    N_("Notes"),
    N_("Exploitation form"),
    # codes
    N_("Signed"),
    N_("Oral"),
    N_("By a guardian or representative (a minor)"),
    N_("Parent"),
    N_("Legal guardian"),
    N_("DGASPC as guardian"),
    N_("Special representative"),
    N_("Passport"),
    N_("Identity card"),
    N_("Emergency travel document"),
    N_("The support period ended"),
    N_("No longer eligible"),
    N_("The person chose to stop"),
    N_("Moved away or migrated again"),
    N_("Died"),
    N_("Funding ended"),
    N_("Security"),
    N_("Return not in the child's interest (referral)"),
    N_("Safety incident"),
    N_("Re-trafficking suspected"),
    N_("Threat received"),
    N_("Re-trafficking"),
    N_("Needs more support"),
    N_("Work is outstanding"),
    N_("Support is still needed"),
    N_("Wrong reason"),
    N_("Records are incomplete"),
    N_("Low"),
    N_("Medium"),
    N_("High"),
    N_("Return in the child's interest"),
    N_("Return not in the child's interest"),
    N_("Female"),
    N_("Male"),
    N_("Other"),
    N_("Unknown"),
    N_("Sexual"),
    N_("Labour"),
    N_("Domestic servitude"),
    N_("Begging"),
    N_("Forced criminality"),
    N_("Forced marriage"),
    N_("Organ removal"),
)


# Engine messages met on the case page, with their values as ``{0}`` (deps.translate_error).
CASE_MESSAGES = (
    N_("reason: say why the item is skipped ({0}+ characters)"),
    N_("item #{0} is already done"),
    N_("item #{0} is already skipped"),
)


def label(v: Speaker, text: str) -> str:
    """An engine label in the reader's language (the English itself if untranslated)."""
    return v._(text) if text else ""


def help_text(v: Speaker, text: str) -> str:
    return v._(text) if text else ""


def event_label(v: Speaker, trigger: str) -> str:
    """A timeline event's name: the trigger's label, or the event's, or its code."""
    english = TRIGGER_LABELS.get(trigger) or EVENT_LABELS.get(trigger)
    return v._(english) if english else trigger


def code_label(v: Speaker, code: str | None) -> str:
    """A code (an outcome, a reason, a method) by its label, in the reader's language."""
    return v._(label_of(code)) if code else ""


def word(v: Speaker, code: str) -> str:
    """A status or a consent purpose in the reader's language."""
    return v._(WORDS[code]) if code in WORDS else code


def role_label(v: Speaker, role: str) -> str:
    """A part in a case (``ngo``) as people name it, in the reader's language."""
    return v._(ROLE_LABELS[role]) if role in ROLE_LABELS else role


RELATION_LABELS = {
    "child": N_("child"),
    "partner": N_("partner"),
    "parent": N_("parent"),
    "sibling": N_("sibling"),
    "other": N_("other family member"),
    "primary": N_("the person"),
}


def who(v: Speaker, label: str) -> str:
    """A family member's label (``child 2``) in the reader's language: relation translated,
    number kept."""
    relation, _, number = label.rpartition(" ")
    if not relation:
        return v._(RELATION_LABELS.get(label, label))
    return f"{v._(RELATION_LABELS.get(relation, relation))} {number}"
