"""Every word the engine gives the case page to show (a trigger, a field, a code, an event, a
part in a case) is in the catalogs, marked for extraction and translated into Romanian; and
the forms ask for exactly the step data the engine validates (one source: the step models)."""

from __future__ import annotations

from datetime import date

import pytest

from homeward.base.errors import InvalidInput
from homeward.base.models import ParticipantRole
from homeward.commands.case_page import person_fields
from homeward.edges.web import i18n
from homeward.edges.web.labels import ENGINE_LABELS, EVENT_LABELS, ROLE_LABELS, WORDS
from statemachines import steps
from statemachines.return_case import TRIGGERS
from statemachines.step_fields import CHOICE_LABELS, TRIGGER_LABELS, fields_for, step_data


def _engine_words() -> set[str]:
    words = {TRIGGER_LABELS[t] for t in TRIGGERS} | set(CHOICE_LABELS.values())
    for spec in [f for t in TRIGGERS for f in fields_for(t)] + list(person_fields()):
        words |= {spec.label, spec.help} | {c.label for c in spec.choices}
    return words - {""}


def test_every_engine_label_is_marked_and_translated_into_romanian() -> None:
    words = _engine_words()
    assert words <= set(ENGINE_LABELS)  # marked: pybabel extract keeps them
    shown = words | set(EVENT_LABELS.values()) | set(ROLE_LABELS.values()) | set(WORDS.values())
    ro = i18n.read_catalog("ro")
    untranslated = sorted(w for w in shown if w not in ro or not ro[w].string)
    assert untranslated == []
    assert set(ROLE_LABELS) == {str(r) for r in ParticipantRole}


def test_every_trigger_has_a_label_and_its_form_is_its_step_model() -> None:
    assert set(TRIGGER_LABELS) >= set(TRIGGERS)
    for trigger in TRIGGERS:
        model = steps.STEP_MODELS.get(trigger, steps.NoData)
        assert [f.name for f in fields_for(trigger)] == list(model.model_fields)
    kinds = {f.name: f.kind for f in fields_for("arrange_travel")}
    assert kinds == {
        "document_kind": "choice",
        "document_issued_on": "date",
        "document_expires_on": "date",
        "departure_on": "date",
    }
    (method, *_rest) = fields_for("record_consent")
    assert [c.code for c in method.choices] == [str(m) for m in steps.ConsentMethod]


def test_a_forms_strings_become_the_step_data_the_engine_checks() -> None:
    form = {
        "method": "oral",
        "language": " ro ",
        "interpreter": "on",
        "representative": "",
        "stray": "x",
    }
    data = step_data("record_consent", form)
    assert data == {"method": "oral", "language": "ro", "interpreter": True}
    parsed = steps.parse_step("record_consent", data)
    assert isinstance(parsed, steps.RecordConsent) and parsed.interpreter is True
    travel = {"document_kind": "passport", "document_expires_on": "2027-01-02"}
    with pytest.raises(InvalidInput, match="departure_on"):
        steps.parse_step("arrange_travel", step_data("arrange_travel", travel))
    depart = steps.parse_step("depart", step_data("depart", {"departed_on": "2026-03-04"}))
    assert isinstance(depart, steps.Depart) and depart.departed_on == date(2026, 3, 4)
    assert step_data("complete_assessment", {"anything": "x"}) == {}
