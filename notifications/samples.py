"""Sample contexts for previewing every template (``homeward mail preview``): made-up but
realistic case facts, in the reader's language, and never a person's details.

``variants`` adds, per template, the other shapes its text takes (a whole case handed over, a
partner's item handed on by the case owner, a moved or cancelled appointment, an escalation
that reached the case owner instead...), so tests can read every sentence a template can say.
The partner has its Romanian genitive stored ("Asociației ADPARE"), the owner none (its name
is phrased around: "organizației IOM Romania")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from notifications.contexts import (
    AppointmentContext,
    ConsentWithdrawnContext,
    Context,
    DigestContext,
    EscalatedGroup,
    EscalatedItem,
    EscalationContext,
    HandoffContext,
    HealthAlertContext,
    ItemLine,
    LoginCodeContext,
    PartnerContext,
    SendTestContext,
    VisitContext,
    case_link,
    home_link,
    item_link,
    signin_link,
)
from notifications.i18n import item_title, stage_label
from notifications.render import check_template

CASE_REF, OTHER_CASE_REF = "RT-7KQ2-M9", "RT-3HW8-P4"
BUCHAREST = ZoneInfo("Europe/Bucharest")
OWNER, PARTNER, OTHER = "IOM Romania", "Asociația ADPARE", "Fundația Micu Bogdan"
CONSULATE = "Consulate of Romania in Rome"
GENITIVES = {PARTNER: "Asociației ADPARE", OTHER: "Fundației Micu Bogdan"}


def _line(code: str, stage: str, number: int, days: int, today: date, lang: str) -> ItemLine:
    return ItemLine(
        case_ref=CASE_REF,
        stage=stage_label(stage, lang),
        item_number=number,
        item_title=item_title(code, lang),
        org_name=PARTNER,
        due_on=today + timedelta(days=days),
        days=days,
        link=item_link(number),
    )


def _digest(today: date, lang: str) -> Context:
    return DigestContext(
        day=today,
        org_name=PARTNER,
        genitives=GENITIVES,
        overdue=(_line("first_counselling", "received", 31, -2, today, lang),),
        due_today=(_line("medical_care", "received", 30, 0, today, lang),),
        coming_due=(
            _line("reintegration_plan", "reintegration", 34, 3, today, lang),
            _line("follow_up_2w", "reintegration", 35, 7, today, lang),
        ),
    )


def _escalated(code: str, stage: str, number: int, late: int, today: date, lang: str) -> Any:
    return EscalatedItem(
        item_number=number,
        item_title=item_title(code, lang),
        stage=stage_label(stage, lang),
        due_on=today - timedelta(days=late),
        days=late,
        link=item_link(number),
    )


def _escalation(today: date, lang: str) -> Context:
    return EscalationContext(
        day=today,
        org_name=OWNER,
        cases=(
            EscalatedGroup(
                case_ref=CASE_REF,
                org_name=PARTNER,
                overdue=(
                    _escalated("first_counselling", "received", 31, 7, today, lang),
                    _escalated("medical_care", "received", 30, 3, today, lang),
                ),
            ),
            EscalatedGroup(
                case_ref=OTHER_CASE_REF,
                org_name=CONSULATE,
                unreached=True,
                overdue=(_escalated("anitp_notified", "identified_abroad", 4, 14, today, lang),),
            ),
        ),
    )


def _handoff(_today: date, lang: str) -> Context:
    return HandoffContext(
        case_ref=CASE_REF,
        stage=stage_label("consent_obtained", lang),
        item_number=12,
        item_title=item_title("family_assessment", lang),
        from_org=OWNER,
        to_org=PARTNER,
        link=item_link(12),
        genitives=GENITIVES,
    )


def _withdrawn(_today: date, lang: str) -> Context:
    return ConsentWithdrawnContext(
        case_ref=CASE_REF,
        org_name=PARTNER,
        item_titles=(item_title("shelter_arranged", lang), item_title("medical_care", lang)),
        link=case_link(CASE_REF),
        genitives=GENITIVES,
    )


def _partner(_today: date, lang: str) -> Context:
    return PartnerContext(
        case_ref=CASE_REF,
        org_name=PARTNER,
        item_titles=(item_title("shelter_arranged", lang), item_title("first_counselling", lang)),
        link=case_link(CASE_REF),
        genitives=GENITIVES,
    )


def _appointment(today: date, lang: str) -> Context:
    return AppointmentContext(
        case_ref=CASE_REF,
        stage=stage_label("reintegration", lang),
        item_number=41,
        item_title=item_title("adhoc_court_hearing", lang),
        org_name=PARTNER,
        due_on=today + timedelta(days=5),
        time="10:30",
        starts_at=datetime.combine(today + timedelta(days=5), time(8, 30), tzinfo=UTC),
        sequence=1,
        calendar_uid="appointment-item-41",
        link=item_link(41),
        genitives=GENITIVES,
        tzid="Europe/Bucharest",
        attendee="ana@adpare.example.org",
    )


def _visit(today: date, lang: str) -> Context:
    return VisitContext(
        case_ref=CASE_REF,
        stage=stage_label("reintegration", lang),
        item_number=35,
        item_title=item_title("follow_up_2w", lang),
        org_name=PARTNER,
        due_on=today + timedelta(days=7),
        time="12:00",
        starts_at=datetime.combine(today + timedelta(days=7), time(12, 0), tzinfo=BUCHAREST),
        sequence=0,
        calendar_uid="visit-item-35",
        link=item_link(35),
        tzid="Europe/Bucharest",
        attendee="ana@adpare.example.org",
        genitives=GENITIVES,
    )


def _health(today: date, _lang: str) -> Context:
    return HealthAlertContext(
        problem="late", flow_name="sweep-due-items", day=today, time="09:00", link=home_link()
    )


SAMPLES: dict[str, Callable[[date, str], Context]] = {
    "digest": _digest,
    "escalation": _escalation,
    "handoff_proposed": _handoff,
    "handoff_accepted": _handoff,
    "handoff_rejected": _handoff,
    "consent_withdrawn": _withdrawn,
    "sharing_withdrawn": lambda today, lang: _partner(today, lang).model_copy(
        update={"link": None}
    ),
    "partner_joined": _partner,
    "appointment": _appointment,
    "visit": _visit,
    "test": lambda today, _lang: SendTestContext(day=today, link=home_link()),
    "login_code": lambda _today, _lang: LoginCodeContext(
        code="20461739", minutes=10, link=signin_link("ana@iom-it.example.org", "20461739")
    ),
    "health_alert": _health,
}


def sample_context(template: str, language: str, today: date) -> Context:
    """A made-up context for ``template`` in ``language``, dated around ``today``."""
    return SAMPLES[check_template(template)](today, language)


def _partners_overdue(today: date, lang: str) -> dict[str, object]:
    late = _line("family_assessment", "assessed", 12, -9, today, lang)
    return {"org_name": OWNER, "partners_overdue": (late.model_copy(update={"org_name": OTHER}),)}


# Per template: name -> the changes to its sample that make one more shape of its text.
VARIANTS: dict[str, dict[str, Callable[[date, str], dict[str, object]]]] = {
    "digest": {
        "partners-overdue": _partners_overdue,
        "visit-only": lambda today, lang: {
            "overdue": (),
            "due_today": (),
            "coming_due": (_line("follow_up_1m", "reintegration", 36, 1, today, lang),),
        },
    },
    # escalation: its sample holds both shapes (a group, and one whose organisation was not
    # reached)
    "handoff_proposed": {
        "whole-case": lambda _t, _l: {"item_number": None, "item_title": None, "link": None},
        "partner-item": lambda _t, _l: {"to_org": OTHER, "owner_org": PARTNER},
    },
    "consent_withdrawn": {"no-items": lambda _t, _l: {"item_titles": ()}},
    "partner_joined": {"owner": lambda _t, _l: {"org_name": OWNER, "genitives": {}}},
    "appointment": {
        "new": lambda _t, _l: {"sequence": 0},
        "cancelled": lambda _t, _l: {"sequence": 2, "cancelled": True},
    },
    "test": {"no-link": lambda _t, _l: {"link": None}},
    "login_code": {"no-link": lambda _t, _l: {"link": None}},
    "health_alert": {
        "late-recovered": lambda _t, _l: {"recovered": True},
        "failed": lambda _t, _l: {"problem": "failed", "flow_name": "audit-checkpoint"},
        "failed-recovered": lambda _t, _l: {"problem": "failed", "recovered": True},
        "mail-stuck": lambda _t, _l: {"problem": "mail_stuck", "flow_name": None, "count": 23},
        "one-stuck": lambda _t, _l: {"problem": "mail_stuck", "flow_name": None, "count": 1},
        "mail-recovered": lambda _t, _l: {
            "problem": "mail_stuck",
            "flow_name": None,
            "recovered": True,
        },
    },
}
VARIANTS["handoff_accepted"] = VARIANTS["handoff_rejected"] = VARIANTS["handoff_proposed"]


def variants(template: str, language: str, today: date) -> dict[str, Context]:
    """Every shape of ``template``'s text, by name: ``sample`` (``sample_context``) and its
    ``VARIANTS``, each validated again as a stored row would be (links filled in)."""
    sample = sample_context(template, language, today)
    found = {"sample": sample}
    for name, change in VARIANTS.get(template, {}).items():
        values = {**sample.model_dump(), **change(today, language)}
        found[name] = type(sample).model_validate(values)
    return found
