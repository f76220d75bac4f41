"""Templates: complete in English and Romanian, reading only their allow-listed context,
escaping HTML, multipart with calendar invitations for follow-up visits."""

from __future__ import annotations

import typing
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from importlib import resources

import pytest
from icalendar import Calendar
from jinja2 import UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from pydantic import BaseModel

from homeward.base import models
from homeward.base.models import Beneficiary
from notifications.contexts import ALLOWED_FIELDS, TEMPLATES, HandoffContext, ItemLine
from notifications.i18n import item_title, locale
from notifications.message import build_message, message_id_for
from notifications.render import ENVIRONMENT, PARTS, days, render, template_names
from notifications.samples import PARTNER, sample_context
from tasks.catalog import available_versions, load_catalog

LANGUAGES = ("en", "ro")
STAMP = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
TODAY = date(2026, 3, 2)


def rendered(template: str, language: str):
    context = sample_context(template, language, TODAY)
    return render(template, language, context, stamp=STAMP, domain="homeward.example.org")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", template_names())
def test_every_template_renders_subject_text_and_html(template, language):
    result = rendered(template, language)
    assert result.subject and "\n" not in result.subject and len(result.subject) < 200
    assert result.text.endswith("\n") and "case_ref" in result.text  # the privacy footer
    assert result.html.startswith("<!DOCTYPE html>") and f'<html lang="{language}">' in result.html
    if template == "login_code":  # no case; the code in the body, never in the subject
        assert "2046 1739" in result.text and not any(c.isdigit() for c in result.subject)
    elif template not in ("test", "health_alert"):  # no case in either
        assert "RT-7KQ2-M9" in result.subject + result.text


def test_romanian_is_romanian_and_english_english():
    ro, en = rendered("consent_withdrawn", "ro"), rendered("consent_withdrawn", "en")
    assert "Consimțământ retras" in ro.subject and "orice activitate" in ro.text
    english = en.text.replace(PARTNER, "the partner")  # its name is Romanian, in any language
    assert "Consent withdrawn" in en.subject and "ț" not in english
    digest = rendered("digest", "ro")
    assert "Îngrijire medicală asigurată" in digest.text and "martie 2026" in digest.text


def test_the_template_files_are_exactly_the_known_templates_in_both_languages():
    root = resources.files("notifications") / "templates"
    found = {p.name for p in root.iterdir() if not p.name.startswith("_")}
    assert found == set(TEMPLATES)
    for name in TEMPLATES:
        for language in LANGUAGES:
            parts = {p.name for p in (root / name / language).iterdir()}
            assert parts == set(PARTS), (name, language)


def _fields(model: type[BaseModel]) -> dict[str, object]:
    """Every field name of a context model, nested models included, with its annotation."""
    found: dict[str, object] = {}
    for name, info in model.model_fields.items():
        found[name] = info.annotation
        for arg in typing.get_args(info.annotation) or (info.annotation,):
            for inner in typing.get_args(arg) or (arg,):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    found.update(_fields(inner))
    return found


def test_contexts_are_an_allow_list_that_shares_nothing_with_the_beneficiary():
    personal = set(Beneficiary.model_fields) - {"id", "case_id"}
    for model in set(TEMPLATES.values()):
        names = set(_fields(model))
        assert names <= ALLOWED_FIELDS, (model.__name__, names - ALLOWED_FIELDS)
        assert not names & personal
        assert model.model_config.get("extra") == "forbid"
    tables = {t.name for t in models.metadata().sorted_tables}
    assert not any(
        isinstance(v, type) and getattr(v, "__tablename__", None) in tables
        for m in TEMPLATES.values()
        for v in _fields(m).values()
    )


@pytest.mark.parametrize("template", template_names())
def test_templates_read_only_their_context_fields(template):
    allowed = set(_fields(TEMPLATES[template]))
    for language in LANGUAGES:
        for part in PARTS:
            source = ENVIRONMENT.loader.get_source(ENVIRONMENT, f"{template}/{language}/{part}")[0]
            tree = ENVIRONMENT.parse(source)
            macros = {node.target for node in tree.find_all(nodes.Import)}  # our own macros
            used = meta.find_undeclared_variables(tree) - macros
            assert used <= allowed, (template, language, part, used - allowed)


def test_a_template_cannot_reach_anything_beyond_its_context():
    context = sample_context("handoff_proposed", "en", TODAY).model_dump()
    for source in ("{{ given_name }}", "{{ case.beneficiary.family_name }}", "{{ notes }}"):
        with pytest.raises(UndefinedError):
            ENVIRONMENT.from_string(source).render(context)
    with pytest.raises(SecurityError):
        ENVIRONMENT.from_string("{{ case_ref.__class__.__mro__[1].__subclasses__() }}").render(
            context
        )


def test_html_is_escaped_and_typed_text_is_folded_onto_one_line():
    nasty = "<script>alert(1)</script>\r\nBcc: all@example.org"
    context = HandoffContext(
        case_ref="RT-7KQ2-M9", stage="Assessments", from_org=nasty, to_org="ADPARE & Co"
    )
    result = render("handoff_proposed", "en", context, stamp=STAMP)
    assert "<script>" not in result.html and "&lt;script&gt;" in result.html
    assert "ADPARE &amp; Co" in result.html
    assert "\r" not in result.subject and "Bcc: all@example.org" in result.subject
    assert context.from_org == "<script>alert(1)</script> Bcc: all@example.org"


def test_romanian_covers_every_catalog_item():
    for version in available_versions():
        for specs in load_catalog(version).stages.values():
            for spec in specs:
                assert spec.title_key in locale("ro").items, spec.code
                assert item_title(spec.code, "en", process_version=version) == spec.title


def test_day_counts_read_naturally():
    assert [days(n, "en") for n in (1, 2)] == ["1 day", "2 days"]
    assert [days(n, "ro") for n in (1, 2, 19, 20, 101, 120)] == [
        "1 zi",
        "2 zile",
        "19 zile",
        "20 de zile",
        "101 zile",
        "120 de zile",
    ]


def test_a_digest_lists_visits_but_carries_no_calendar_file():
    result = rendered("digest", "ro")
    assert result.attachments == ()
    assert "Contact de monitorizare la 2 săptămâni" in result.text  # the visit is still listed


def test_a_visit_is_an_email_of_its_own_with_a_utf8_calendar_request():
    result = rendered("visit", "ro")
    message = build_message(
        result,
        to=["ana@adpare.example.org"],
        mail_from="Homeward <no-reply@homeward.example.org>",
        message_id=message_id_for("visit:item-35:seq-0:entry-1", "no-reply@homeward.example.org"),
        date=STAMP,
        language="ro",
    )
    parsed = message_from_bytes(message, policy=policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    assert parsed["Subject"] == result.subject  # diacritics survive the RFC 2047 encoding
    assert parsed["Subject"].startswith("Vizită de monitorizare: ")  # not a digest's subject
    (invite,) = [p for p in parsed.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert (invite.get_param("method"), invite.get_content_charset()) == ("REQUEST", "utf-8")
    raw = invite.get_payload(decode=True)
    assert all(len(line) <= 75 for line in raw.split(b"\r\n")) and raw.endswith(b"\r\n")
    calendar = Calendar.from_ical(raw)
    (event,) = calendar.walk("VEVENT")
    assert event["dtstart"].params["TZID"] == "Europe/Bucharest"
    assert str(event["uid"]) == "visit-item-35@homeward.example.org"
    assert "RT-7KQ2-M9" in str(event["summary"]) and "săptămâni" in str(event["summary"])
    assert not {"LOCATION", "GEO", "CONTACT"} & set(event)


def test_the_same_message_renders_identically_twice_with_a_stable_message_id():
    first, second = rendered("digest", "en"), rendered("digest", "en")
    assert first == second
    key = "digest:staff-4:2026-03-02"
    assert message_id_for(key, "a@b.org") == message_id_for(key, "a@b.org")
    assert message_id_for(key, "a@b.org") != message_id_for(key + "x", "a@b.org")


def test_overdue_lines_carry_no_invitation():
    line = ItemLine(
        case_ref="RT-AAAA-BB",
        stage="s",
        item_number=1,
        item_title="t",
        org_name="o",
        due_on=TODAY,
        days=-3,
        calendar_uid=None,
    )
    assert line.calendar_uid is None


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", template_names())
def test_the_wire_format_is_clean_mime_that_a_mail_reader_parses_without_defects(
    template, language
):
    result = rendered(template, language)
    wire = build_message(
        result,
        to=["a@adpare.example.org", "b@adpare.example.org"],
        mail_from="Homeward <no-reply@homeward.example.org>",
        message_id="<k.homeward@homeward.example.org>",
        date=STAMP,
        language=language,
    )
    assert b"\n" not in wire.replace(b"\r\n", b"") and b"\r" not in wire.replace(b"\r\n", b"")
    assert max(len(line) for line in wire.split(b"\r\n")) <= 78 and wire.isascii()
    parsed = message_from_bytes(wire, policy=policy.default)
    assert all(not part.defects for part in parsed.walk())
    assert parsed["Subject"] == result.subject and parsed["Date"].datetime == STAMP
    assert parsed["To"].addresses[1].addr_spec == "b@adpare.example.org"
    assert parsed.get_body(("html",)).get_content().replace("\r\n", "\n") == result.html
    for header in str(wire.split(b"\r\n\r\n")[0], "ascii").split("\r\n"):
        words = [w for w in header.split() if w.startswith("=?")]
        assert all(len(w) <= 75 for w in words)  # RFC 2047 encoded-word limit
    assert wire == build_message(  # byte-identical for the same row: a resend is the same mail
        result,
        to=["a@adpare.example.org", "b@adpare.example.org"],
        mail_from="Homeward <no-reply@homeward.example.org>",
        message_id="<k.homeward@homeward.example.org>",
        date=STAMP,
        language=language,
    )


@pytest.mark.parametrize(
    "subject",
    [
        "short",
        "word " * 40,
        "x" * 120,
        "Întârziere de 2 zile: " + "ă" * 80,
        "looks =?utf-8?q?encoded?= but is typed",
    ],
)
def test_subjects_of_any_length_survive_the_round_trip(subject):
    rendered_mail = render(
        "test", "en", sample_context("test", "en", TODAY), stamp=STAMP
    ).__class__(subject=subject.strip(), text="t\n", html="<p>h</p>")
    wire = build_message(
        rendered_mail,
        to=["a@b.org"],
        mail_from="Ana Țară <n@h.org>",
        message_id="<m@h.org>",
        date=STAMP,
        language="ro",
    )
    parsed = message_from_bytes(wire, policy=policy.default)
    assert parsed["Subject"] == subject.strip()
    assert parsed["From"].addresses[0].display_name == "Ana Țară"


def test_every_template_and_layout_has_its_globals_as_a_plain_dict():
    """Issue 19 point 6: every render copies its template's globals, and those of the layout,
    include and import it pulls in; from jinja's default ChainMap that copy was a measurable
    part of an email's CPU. The filters are still there, the sandbox too."""
    for name in ("escalation/en/body.html", "_layout/en.html", "_layout/footer.en.txt"):
        template = ENVIRONMENT.get_template(name)
        assert type(template.globals) is dict, name
        assert template.globals.keys() == ENVIRONMENT.globals.keys()
    assert "long_day" in ENVIRONMENT.filters and ENVIRONMENT.sandboxed
