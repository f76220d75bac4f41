"""Hypothesis fuzz of header and template injection through every string people can type:
organisation names, item titles, the base URL, recipient addresses, header values.

150 examples per property in the default run; ``FUZZ_EXAMPLES=3000 pytest tests/notifications/
test_injection.py`` digs deeper (about a minute). The deep run once found Python 3.11's header
folder re-emitting the line break of an encoded word typed into a name: a real Bcc injection,
which is why subjects are encoded by ``notifications.message.encode_subject``.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from icalendar import Calendar
from markupsafe import escape
from pydantic import ValidationError

from homeward.base.errors import InvalidInput
from homeward.base.settings import LINE_BREAKS, Settings
from notifications.contexts import DigestContext, HandoffContext, ItemLine, VisitContext, one_line
from notifications.message import (
    UnsafeHeader,
    build_message,
    check_header,
    valid_address,
)
from notifications.render import render

NASTY = [
    "ADPARE\r\nBcc: everyone@example.org",
    "x\nSubject: spoofed",
    "\r\n\r\n<html>body takeover",
    "<script>alert(document.cookie)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ 7*7 }} {% for x in range(3) %}x{% endfor %}",
    "=?utf-8?q?encoded=0D=0ABcc:_x@y.org?=",
    "line\u2028separator\u2029para\x85nel\x0bvt\x0cff\x1cfs",
    "NUL\x00byte and \u202eoverride",
    "--===============0000000000==\r\nContent-Type: text/html",
    "Ștefan & Țară <ăîâ>",
]
text = st.one_of(st.sampled_from(NASTY), st.text(min_size=1, max_size=80))
EXPECTED_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "auto-submitted",
    "mime-version",
    "content-type",
    "content-language",
}
REFUSALS = {
    "to: give one plain address, e.g. name@example.org",
    "to: not a valid email address",
    "to: header value contains a line break; not sent",
}
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _message(template: str, context, language: str):
    rendered = render(template, language, context, stamp=datetime(2026, 1, 5, tzinfo=UTC))
    message = build_message(
        rendered,
        to=["cw@adpare.example.org"],
        mail_from="Homeward <no-reply@homeward.example.org>",
        message_id="<abc.homeward@homeward.example.org>",
        date=datetime(2026, 1, 5, tzinfo=UTC),
        language=language,
    )
    return rendered, message_from_bytes(message, policy=policy.default)


def _assert_headers_intact(parsed) -> None:
    assert {name.lower() for name in parsed.keys()} == EXPECTED_HEADERS
    assert parsed["To"] == "cw@adpare.example.org"
    assert not any(c in str(parsed["Subject"]) for c in "\r\n")
    assert not parsed.defects


@FUZZ
@given(from_org=text, to_org=text, title=text, language=st.sampled_from(["en", "ro"]))
def test_typed_text_cannot_inject_headers_or_markup(from_org, to_org, title, language):
    try:
        context = HandoffContext(
            case_ref="RT-7KQ2-M9",
            stage="Evaluări",
            item_number=3,
            item_title=title,
            from_org=from_org,
            to_org=to_org,
        )
    except ValidationError:
        assume(False)  # nothing printable left: refused before any email exists
        return
    rendered, parsed = _assert_message(context, language)
    benign = context.model_copy(update={"from_org": "A", "to_org": "B", "item_title": "C"})
    assert _markup(rendered.html) == _markup(_message("handoff_proposed", benign, language)[0].html)
    for value in (context.from_org, context.to_org, context.item_title):
        assert value is not None and value == one_line(value)
        assert str(escape(value)) in rendered.html
        assert value in parsed.get_body(("plain",)).get_content()


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, tuple[str, ...]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(sorted(name for name, _ in attrs))))


def _markup(html: str) -> list[tuple[str, tuple[str, ...]]]:
    """The page's elements and their attribute names: what typed text must never change."""
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _assert_message(context, language):
    rendered, parsed = _message("handoff_proposed", context, language)
    _assert_headers_intact(parsed)
    assert parsed["Subject"] == rendered.subject
    html_part = parsed.get_body(("html",))
    assert html_part is not None and html_part.get_content().count("<body") == 1
    return rendered, parsed


@FUZZ
@given(org=text, title=text)
def test_digest_lines_with_typed_text_stay_inside_their_part(org, title):
    try:
        line = ItemLine(
            case_ref="RT-7KQ2-M9",
            stage="Primire",
            item_number=1,
            item_title=title,
            org_name=org,
            due_on=date(2026, 1, 8),
            days=3,
        )
        context = DigestContext(day=date(2026, 1, 5), org_name=org, coming_due=(line,))
    except ValidationError:
        assume(False)
        return
    _, parsed = _message("digest", context, "ro")
    _assert_headers_intact(parsed)
    parts = [p.get_content_type() for p in parsed.walk()]
    assert parts == ["multipart/alternative", "text/plain", "text/html"]  # no .ics in a digest


@FUZZ
@given(org=text, title=text)
def test_visit_invitations_with_typed_text_stay_inside_their_part(org, title):
    try:
        context = VisitContext(
            case_ref="RT-7KQ2-M9",
            stage="Reintegrare",
            item_number=1,
            item_title=title,
            org_name=org,
            due_on=date(2026, 1, 8),
            time="12:00",
            starts_at=datetime(2026, 1, 8, 10, 0, tzinfo=UTC),
            sequence=1,
            calendar_uid="visit-item-1",
            tzid="Europe/Bucharest",
            attendee="cw@adpare.example.org",
        )
    except ValidationError:
        assume(False)
        return
    _, parsed = _message("visit", context, "ro")
    _assert_headers_intact(parsed)
    parts = [p.get_content_type() for p in parsed.walk()]
    assert parts == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    (invite,) = [p for p in parsed.walk() if p.get_content_type() == "text/calendar"]
    (event,) = Calendar.from_ical(invite.get_payload(decode=True)).walk("VEVENT")
    assert str(event["uid"]).startswith("visit-item-1@")  # typed text never reaches a property


@FUZZ
@given(value=st.one_of(st.sampled_from(NASTY), st.text(max_size=60)))
def test_addresses_are_one_plain_mailbox_or_refused(value):
    try:
        address = valid_address(value)
    except InvalidInput as exc:
        assert str(exc) in REFUSALS  # fixed words: the value itself is never echoed
        return
    assert address.count("@") == 1 and address.isascii() and address == address.strip()
    assert not any(c.isspace() or c in ',;<>"()\\' or c in LINE_BREAKS for c in address)


@FUZZ
@given(value=st.text(max_size=40), breaker=st.sampled_from(sorted(LINE_BREAKS)))
def test_any_line_break_in_a_header_value_is_refused(value, breaker):
    position = len(value) // 2
    with pytest.raises(UnsafeHeader) as refused:
        check_header("Subject", value[:position] + breaker + value[position:])
    assert "Subject" in str(refused.value) and breaker not in str(refused.value)


@FUZZ
@given(
    url=st.one_of(
        st.sampled_from(
            [
                "https://h.example.org/a b",
                "https://x.org/\r\nBcc: y",
                'https://x.org/"><script>',
                "javascript:alert(1)",
            ]
        ),
        st.text(max_size=60).map(lambda t: "https://homeward.example.org/" + t),
    )
)
def test_the_base_url_is_a_plain_web_address_or_refused(url):
    try:
        base = Settings(_env_file=None, mail_base_url=url).mail_base_url
    except ValidationError:
        return
    assert base is not None and base.startswith(("https://", "http://"))
    assert not any(c.isspace() or c in "<>\"'" or c in LINE_BREAKS for c in base)
    context = HandoffContext(
        case_ref="RT-7KQ2-M9", stage="s", from_org="a", to_org="b", link=f"{base}/cases/RT-7KQ2-M9"
    )
    _assert_message(context, "en")
