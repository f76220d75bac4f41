"""Emails link to the web workspace: every kind of staff email, in English and Romanian, text
and HTML, received from a real SMTP server and read with the ``email`` package, carries the
link to the exact item page (``/items/ID``) or case page (``/cases/CASE_REF``) at
``workspace_url()`` (``HOMEWARD_MAIL_BASE_URL``, else http://127.0.0.1:4300), asks nobody to
run a command, and puts no personal data in any URL (a link alone grants nothing)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from homeward.base.clock import local_date
from homeward.base.db import read_session, write_session
from homeward.base.models import Case, ChecklistItem, OutboxMessage
from homeward.base.settings import DEFAULT_WORKSPACE_URL, Settings, get_settings, workspace_url
from homeward.commands import signin
from homeward.commands.adhoc import AddAdhocItem
from homeward.commands.runner import run
from homeward.records.directory import OrganisationIn, StaffIn, add_org, add_staff, validate
from notifications.contexts import TEMPLATES, HandoffContext, ItemLine, LoginCodeContext
from notifications.health import Problem, queue_alerts
from notifications.render import render
from notifications.sender import send_test
from notifications.visits import schedule_follow_ups
from statemachines.cases import get_case
from tasks import handoffs, transfers
from tests import factories as f
from tests.notifications.helpers import remind, send_all_queued
from tests.notifications.test_sharing_withdrawn import in_reintegration, withdraw_sharing
from tests.signin import credential_for

PUBLIC = "https://homeward.iom.example.org/work"
IOM_RO, ADPARE, FMB = "coord@iom-ro.example.org", "cw@adpare.example.org", "cw@fmb.example.org"
# The person's details (tests.factories.CANARY) and a typed reason: never in an email, let
# alone in a URL.
CANARIES = ("Zenobia", "Canarycanary", "700 000 111", "+40700000111", "Zenobia's family")
COMMAND = re.compile(r"\bhomeward [a-z]")  # "homeward items done 17", "homeward case show"...
URL = re.compile(r"https?://[^\s\"'<>]+")
PAGE = r"/|/items/\d+|/cases/[A-Z0-9-]+|/signin/link\?e=[^&]+&c=\d{8}"  # the only paths linked
OPEN = {"en": "Open", "ro": "Deschideți"}  # what the link's label or instruction says
SIGN_IN = {"en": "sign in", "ro": "autentificați"}  # where the reader is asked to act


def seed_speaking(language: str) -> None:
    """The test organisations and staff (tests.factories), every one reading ``language``."""
    with write_session() as s:
        for slug, name, kind, country in f.ORGS:
            add_org(
                session=s,
                org_in=validate(OrganisationIn, slug=slug, name=name, kind=kind, country=country),
            )
        for org, address, role in f.STAFF:
            staff = validate(
                StaffIn, org=org, name=f"Staff {role}", email=address, role=role, language=language
            )
            add_staff(session=s, staff_in=staff)


def item_of(ref: str, code: str) -> int:
    (item,) = [i for i in f.items(ref) if i.code == code]
    assert item.id is not None
    return item.id


def every_kind_of_staff_email(clock) -> None:
    """Drive real cases so that each template is queued (or sent) at least once."""
    ref = f.open_case(clock)  # the person is tests.factories.CANARY
    f.drive_to(ref, "consent_obtained", clock)
    family = item_of(ref, "family_assessment")
    for to, answer in (("fmb", "reject"), ("adpare", "accept")):  # item handoffs, answered
        with write_session() as s:
            handoffs.propose(
                s, item_id=family, to_org_slug=to, actor=f.actor(s), now=clock.now(), reason=None
            )
        with write_session() as s:
            actor = f.actor(s, FMB if to == "fmb" else ADPARE)
            if answer == "reject":
                handoffs.reject(
                    s, item_id=family, actor=actor, now=clock.now(), reason="Zenobia's family"
                )
            else:
                handoffs.accept(s, item_id=family, actor=actor, now=clock.now())
    for answer in ("reject", "accept"):  # whole cases handed over, answered
        moved = f.open_case(clock)
        with write_session() as s:
            who = f.actor(s)
            case = get_case(s, case_ref=moved, actor=who)
            transfers.propose_transfer(
                s, case=case, to_org_slug="iom-ro", actor=who, now=clock.now()
            )
        with write_session() as s:
            who = f.actor(s, IOM_RO)
            case = get_case(s, case_ref=moved, actor=who)
            if answer == "reject":
                transfers.reject_transfer(
                    s, case=case, actor=who, now=clock.now(), reason="Zenobia's family"
                )
            else:
                transfers.accept_transfer(s, case=case, actor=who, now=clock.now())
    withdrawn = f.open_case(clock)
    f.drive_to(withdrawn, "consent_obtained", clock)
    f.advance(withdrawn, "withdraw_consent", clock)  # consent_withdrawn
    joined = in_reintegration(clock, late=True)  # partner_joined, on a Saturday: it waits
    with write_session() as s:  # visit: each follow-up visit's invitation, an email of its own
        schedule_follow_ups(s, now=clock.now())
    assert send_all_queued(clock) == 0  # sent before the withdrawal below would drop it
    withdraw_sharing(joined, "adpare", clock)  # sharing_withdrawn
    hearing = run(  # appointment: a court hearing, with its calendar invitation
        AddAdhocItem(
            ref,
            "court_hearing",
            "adpare",
            local_date(clock.now()) + timedelta(days=9),
            at="10:30",
            title="Zenobia's hearing",
        ),
        credential_for(f.COORD, clock.now()),
        clock=clock,
    )
    assert hearing.item_id
    for _day in range(6):  # digests, then escalations of the overdue family assessment
        remind(clock)
        clock.advance(days=1)
    with write_session() as s:  # health_alert, to the managers: flow names and counts only
        late = Problem("late", "sweep-due-items", clock.now())
        queue_alerts(s, [late], checked={"late"}, now=clock.now())
    assert send_all_queued(clock) == 0
    asked = signin.request_code(ADPARE, clock=clock)  # login_code, sent at once
    signin.deliver(asked, clock=clock)
    asyncio.run(send_test(to="ops@iom.example.org", language=staff_language(ADPARE)))


def staff_language(address: str) -> str:
    from homeward.base.models import StaffMember

    with read_session() as s:
        return s.exec(select(StaffMember.language).where(StaffMember.email == address)).one()


class Anchors(HTMLParser):
    """The ``href`` of every ``<a>`` of an HTML part (entities decoded, as a client does)."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href" and value]


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None, "every staff email has a text and an HTML part"
    return text.get_content(), html.get_content()


def calendar_urls(message: EmailMessage) -> set[str]:
    """The URL of each calendar invitation (a follow-up visit's .ics) of the message."""
    found = set()
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            unfolded = part.get_content().replace("\r\n ", "")
            found |= set(re.findall(r"^URL[^:]*:(\S+)", unfolded, flags=re.M))
    return found


def hrefs(html: str) -> list[str]:
    anchors = Anchors()
    anchors.feed(html)
    return anchors.hrefs


def pages(base: str) -> dict[str, set[str]]:
    """Every item page and case page the database holds (what a link may point at)."""
    with f.admin_read() as s:
        items = {f"{base}/items/{i}" for i in s.exec(select(ChecklistItem.id))}
        cases = {f"{base}/cases/{r}" for r in s.exec(select(Case.case_ref))}
    return {"items": items, "cases": cases}


def expected_links(row: OutboxMessage, base: str, text: str, to: str) -> set[str]:
    """Where this email must send its reader, from the facts it is about."""
    context = row.context
    if row.template == "digest":
        lines = [
            ItemLine.model_validate(line)
            for section in ("overdue", "due_today", "coming_due", "partners_overdue")
            for line in context[section]
        ]
        return {f"{base}/items/{line.item_number}" for line in lines}
    if row.template == "escalation":
        numbers = [item["item_number"] for group in context["cases"] for item in group["overdue"]]
        return {f"{base}/items/{number}" for number in numbers}
    if row.template in ("appointment", "visit"):
        return {f"{base}/items/{context['item_number']}"}
    if row.template.startswith("handoff_"):
        handoff = HandoffContext.model_validate(context)
        if handoff.item_title is not None:
            return {f"{base}/items/{handoff.item_number}"}
        return {f"{base}/cases/{handoff.case_ref}"}
    if row.template in ("consent_withdrawn", "partner_joined"):
        return {f"{base}/cases/{context['case_ref']}"}
    if row.template == "health_alert":  # about Homeward itself: the workspace's first page
        return {f"{base}/"}
    if row.template == "sharing_withdrawn":
        return set()  # the partner may not open the case any more: no link to it
    if row.template == "login_code":  # its code and link were wiped from the row once sent
        code = re.search(r"(\d{4}) (\d{4})\.", text)
        assert code is not None
        return {f"{base}/signin/link?e={to.replace('@', '%40')}&c={code[1]}{code[2]}"}
    raise AssertionError(f"no expectation for {row.template}")


@pytest.mark.parametrize(
    ("language", "base_url"), [("en", None), ("ro", PUBLIC)], ids=["en-default", "ro-public"]
)
def test_every_staff_email_links_to_its_item_or_case_page_and_asks_no_command(
    db_url, clock, smtp, monkeypatch, language, base_url
):
    monkeypatch.setenv("HOMEWARD_LOGIN_ANSWER_SECONDS", "0")
    if base_url:
        monkeypatch.setenv("HOMEWARD_MAIL_BASE_URL", base_url + "/")  # a trailing slash is fine
    get_settings.cache_clear()
    base = base_url or DEFAULT_WORKSPACE_URL
    assert workspace_url() == base
    seed_speaking(language)
    every_kind_of_staff_email(clock)

    with read_session() as s:
        rows = {row.message_id: row for row in s.exec(select(OutboxMessage))}
    known = pages(base)
    seen: dict[str, int] = {}
    for received in smtp.received:
        message = received.parsed()
        text, html = parts(message)
        row = rows.get(str(message["Message-ID"]))
        template = row.template if row else "test"  # the test email skips the outbox
        seen[template] = seen.get(template, 0) + 1
        assert f'<html lang="{language}">' in html and message["Content-Language"] == language
        whole = received.data.decode("utf-8", "replace") + text + html
        assert not COMMAND.search(text + html), (template, COMMAND.search(text + html))
        assert not any(canary in whole for canary in CANARIES), template
        urls = set(URL.findall(text)) | set(hrefs(html)) | calendar_urls(message)
        for url in urls:  # every URL is the workspace's, and names nothing but ids and refs
            assert url.startswith(base + "/"), (template, url)
            path = url[len(base) :]
            assert re.fullmatch(PAGE, path), (template, url)
        if row is None:
            assert urls == {base + "/"}  # the test email: the workspace itself
            continue
        expected = expected_links(row, base, text, received.rcpt_tos[0])
        home = {base + "/"} if template == "health_alert" else set()
        assert expected <= known["items"] | known["cases"] | home or template == "login_code"
        for link in expected:  # the exact page, in both parts
            assert link in text and link in hrefs(html), (template, link)
        assert urls == expected, (template, urls ^ expected)
        if expected and template != "login_code":  # its own words: tests below
            assert OPEN[language] in text and OPEN[language] in html, template
        if template in ("digest", "escalation", "handoff_proposed"):  # act on the page
            assert SIGN_IN[language] in text and SIGN_IN[language] in html, template
    assert set(seen) == set(TEMPLATES), set(TEMPLATES) - set(seen)


def test_a_sign_in_link_carries_the_address_and_code_and_asks_to_press_the_button(
    db_url, clock, smtp, monkeypatch
):
    monkeypatch.setenv("HOMEWARD_LOGIN_ANSWER_SECONDS", "0")
    monkeypatch.setenv("HOMEWARD_MAIL_BASE_URL", PUBLIC)
    get_settings.cache_clear()
    seed_speaking("ro")
    address = "cw+field@adpare.example.org"
    with write_session() as s:
        add_staff(
            session=s,
            staff_in=validate(
                StaffIn, org="adpare", name="Ion", email=address, role="caseworker", language="ro"
            ),
        )
    signin.deliver(signin.request_code(address, clock=clock), clock=clock)
    (received,) = smtp.received
    text, html = parts(received.parsed())
    code = re.search(r"este (\d{4}) (\d{4})\.", text)
    assert code is not None
    (link,) = hrefs(html)
    parsed = urlsplit(link)
    assert f"{parsed.scheme}://{parsed.netloc}{parsed.path}" == f"{PUBLIC}/signin/link"
    assert parse_qs(parsed.query) == {"e": [address], "c": [code[1] + code[2]]}
    assert link in text and "apăsați butonul din pagină" in text
    with read_session() as s:
        (row,) = s.exec(select(OutboxMessage).where(OutboxMessage.template == "login_code"))
    assert not set(LoginCodeContext.secret) & row.context.keys()  # code and link wiped once sent


def test_a_row_queued_before_links_gets_its_page_link_when_sent(db_url, clock, smtp, monkeypatch):
    """A handoff notice queued by the previous version (no link, the old context) still reaches
    its reader with the item's page, not a command."""
    monkeypatch.setenv("HOMEWARD_MAIL_BASE_URL", PUBLIC)
    get_settings.cache_clear()
    old = {
        "case_ref": "RT-7KQ2-M9",
        "stage": "Informed consent",
        "item_number": 12,
        "item_title": "Family assessment or tracing",
        "from_org": "IOM Romania",
        "to_org": "ADPARE",
        "link": None,
    }
    for language in ("en", "ro"):
        result = render("handoff_proposed", language, old, stamp=clock.now())
        assert f"{PUBLIC}/items/12" in result.text and f'href="{PUBLIC}/items/12"' in result.html
        assert not COMMAND.search(result.text + result.html)


@pytest.mark.parametrize(
    ("value", "base"),
    [
        (None, DEFAULT_WORKSPACE_URL),
        ("", DEFAULT_WORKSPACE_URL),
        ("https://homeward.iom.example.org/", "https://homeward.iom.example.org"),
        ("http://10.0.0.5:4300/hw", "http://10.0.0.5:4300/hw"),
    ],
)
def test_the_workspace_address_is_the_mail_base_url_or_the_local_default(value, base):
    assert workspace_url(Settings(_env_file=None, mail_base_url=value)) == base


@pytest.mark.parametrize("value", ["https://hw.example.org/?next=1", "https://hw.example.org/#x"])
def test_a_base_url_with_a_query_or_fragment_is_refused(value):
    with pytest.raises(ValueError, match="without query or fragment"):
        Settings(_env_file=None, mail_base_url=value)
