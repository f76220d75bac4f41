"""Signing in to the workspace with the emailed link or code, CSRF, the idle timeout, signing
out, and ``next`` (local paths only), against the served app and a real SMTP server."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from homeward.base.models import AuditEntry, StaffSession
from homeward.edges.web.deps import safe_next
from tests import factories as f
from tests.web.conftest import Staff, Workspace, form

CW = "cw@adpare.example.org"


def _sessions(email_id_org: str = f.COORD) -> list[StaffSession]:
    with f.admin_read() as s:
        staff_id = f.acting(session=s, email=email_id_org).id
        return list(s.exec(select(StaffSession).where(StaffSession.staff_id == staff_id)))


def _set_cookies(answer) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Set-Cookie headers of an answer, by cookie name."""
    return {h.split("=", 1)[0]: h for h in answer.headers.get_list("set-cookie")}


def test_the_emailed_link_signs_in_only_when_its_button_is_pressed(staff: Staff) -> None:
    link = staff.ask_code(f.COORD)
    assert urlsplit(link).path == "/signin/link"

    page = staff.get(link)  # what a mail scanner does: no session comes of it
    assert page.status_code == 200 and "hw_session" not in _set_cookies(page)
    assert staff.get("/").status_code == 303
    assert _sessions() == []

    fields = form(page.text, "/signin/link")
    signed = staff.post("/signin/link", fields)

    assert signed.status_code == 303 and signed.headers["location"] == "/"
    cookie = _set_cookies(signed)["hw_session"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http on loopback; https below
    home = staff.get("/")
    assert home.status_code == 200
    assert "Staff coordinator" in home.text and "IOM Italy" in home.text  # who, which org
    (session,) = _sessions()
    assert session.label == "web" and session.revoked_at is None
    again = staff.post("/signin/link", form(staff.get(link).text, "/signin/link"))  # once only
    assert again.status_code == 400 and "wrong, used or expired code" in again.text


def test_the_code_typed_signs_in_too_and_a_wrong_one_is_refused_in_place(staff: Staff) -> None:
    link = staff.ask_code(f.COORD)
    code = parse_qs(urlsplit(link).query)["c"][0]

    wrong = staff.submit(
        "/signin/code",
        "/signin/code",
        email=f.COORD,
        code="0000 0000" if code != "00000000" else "1",
    )
    assert wrong.status_code == 400
    assert 'aria-invalid="true"' in wrong.text and "wrong, used or expired code" in wrong.text
    assert staff.get("/").status_code == 303

    typed = staff.submit(
        "/signin/code", "/signin/code", email=f.COORD, code=f"{code[:4]} {code[4:]}"
    )
    assert typed.status_code == 303 and staff.get("/").status_code == 200


def test_an_address_that_is_not_staff_gets_the_same_answer_and_no_email(staff: Staff) -> None:
    seen = len(staff.mailbox.received)
    answer = staff.submit("/signin", "/signin", email="nobody@elsewhere.example.org")
    bad = staff.submit("/signin", "/signin", email="not an address")

    assert answer.status_code == 200 and "/signin/code" in answer.text
    assert len(staff.mailbox.received) == seen
    assert bad.status_code == 400 and "email: type your work email address" in bad.text


def test_too_many_codes_are_refused_in_place(staff: Staff, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEWARD_LOGIN_CODES_PER_HOUR", "2")
    from homeward.base.settings import get_settings

    get_settings.cache_clear()
    for _ in range(2):
        assert staff.submit("/signin", "/signin", email=f.COORD).status_code == 200
    third = staff.submit("/signin", "/signin", email=f.COORD)
    assert third.status_code == 429 and "Too many attempts" in third.text


def test_every_post_needs_the_form_token_of_this_browser(workspace: Workspace) -> None:
    ana, other = workspace.browser(), workspace.browser()
    ana.sign_in(f.COORD)
    other.sign_in(CW)
    page = ana.get("/")
    token = form(page.text, "/signout")["csrf"]

    without = ana.post("/signout", {})
    foreign = ana.post("/signout", {"csrf": form(other.get("/").text, "/signout")["csrf"]})
    cross_site = ana.post("/signout", {"csrf": token}, headers={"Origin": "https://evil.example"})
    newcomer = workspace.browser()
    link = newcomer.ask_code(f.COORD)
    unsigned_link = newcomer.post(
        "/signin/link", {**form(newcomer.get(link).text, "/signin/link"), "csrf": ""}
    )

    for refused in (without, foreign, cross_site, unsigned_link):
        assert refused.status_code == 403, refused.text
        assert "The form was not sent from this page." in refused.text
    assert ana.get("/").status_code == 200  # still signed in: nothing was done
    assert [s.revoked_at for s in _sessions()] == [None]


def test_signing_out_ends_the_session_for_good(staff: Staff) -> None:
    staff.sign_in(f.COORD)
    kept = {name: staff.client.cookies[name] for name in ("hw_session", "hw_seen")}

    out = staff.submit("/", "/signout")

    assert out.status_code == 303 and out.headers["location"] == "/signin?why=out"
    assert "You are signed out." in staff.get("/signin?why=out").text
    assert staff.get("/").status_code == 303
    (session,) = _sessions()
    assert session.revoked_at is not None  # ended through EndSession, not just forgotten
    for name, value in kept.items():  # a copy of the cookies taken before is no use
        staff.client.cookies.set(name, value)
    assert staff.get("/").status_code == 303


def test_a_session_left_idle_too_long_is_ended(staff: Staff, workspace: Workspace) -> None:
    staff.sign_in(f.COORD)
    for _ in range(3):  # activity keeps it alive well past 30 minutes in all
        workspace.clock.advance(minutes=20)
        assert staff.get("/").status_code == 200

    workspace.clock.advance(minutes=31)
    idle = staff.get("/?case=RT-2026-0001")

    assert idle.status_code == 303
    assert idle.headers["location"] == "/signin?next=/%3Fcase%3DRT-2026-0001&why=idle"
    assert "signed out after a while without activity" in staff.get(idle.headers["location"]).text
    (session,) = _sessions()
    assert session.revoked_at is not None
    with f.admin_read() as s:
        actions = [e.action for e in s.exec(select(AuditEntry))]
    assert "cmd:sessions end" in actions


def test_signing_in_again_in_the_same_browser_ends_the_session_it_had(
    workspace: Workspace,
) -> None:
    staff = workspace.browser()
    staff.sign_in(f.COORD)
    link = workspace.browser().ask_code(CW)  # a colleague's link, opened on this browser
    signed = staff.post("/signin/link", form(staff.get(link).text, "/signin/link"))
    assert signed.status_code == 303

    assert "Staff caseworker" in staff.get("/").text and "ADPARE" in staff.get("/").text
    assert [s.revoked_at is not None for s in _sessions()] == [True]
    assert [s.revoked_at is None for s in _sessions(CW)] == [True]


def test_a_forged_last_seen_stamp_counts_as_idle(staff: Staff) -> None:
    staff.sign_in(f.COORD)
    staff.client.cookies.set("hw_seen", "9999999999.forged")
    assert staff.get("/").status_code == 303
    assert _sessions()[0].revoked_at is not None


def test_a_deep_link_comes_back_after_signing_in(staff: Staff) -> None:
    asked = staff.get("/?case=RT-2026-0001")
    assert asked.status_code == 303
    target = asked.headers["location"]
    assert target == "/signin?next=/%3Fcase%3DRT-2026-0001"
    page = staff.get(target)
    assert form(page.text, "/signin")["next"] == "/?case=RT-2026-0001"

    signed = staff.sign_in(f.COORD, next_path="/?case=RT-2026-0001")

    assert signed.headers["location"] == "/?case=RT-2026-0001"


def test_the_emailed_link_comes_back_to_the_deep_link_asked_for_in_this_browser(
    staff: Staff,
) -> None:
    link = staff.ask_code(f.COORD, next_path="/?case=RT-2026-0001")
    assert "next" not in link  # the email knows nothing of it
    page = staff.get(link)

    signed = staff.post("/signin/link", form(page.text, "/signin/link"))

    assert signed.headers["location"] == "/?case=RT-2026-0001"
    assert "hw_next=" in _set_cookies(signed)["hw_next"] and "Max-Age=0" in str(
        _set_cookies(signed)["hw_next"]
    )


def test_from_an_email_the_sign_in_page_is_reached_from_our_own_page(staff: Staff) -> None:
    """A SameSite=Strict cookie is not sent on a link followed from a mail client: the answer
    is a page of ours that goes on to /signin (where the cookie is sent, and a signed-in person
    goes straight on)."""
    bounce = staff.get("/?case=RT-2026-0001", headers={"Sec-Fetch-Site": "cross-site"})
    assert bounce.status_code == 200
    assert (
        'http-equiv="refresh" content="0;url=/signin?next=/%3Fcase%3DRT-2026-0001"' in bounce.text
    )
    staff.sign_in(f.COORD)
    assert staff.get("/signin?next=/%3Fcase%3DRT-2026-0001").headers["location"] == (
        "/?case=RT-2026-0001"
    )


EVIL = [
    "https://evil.example/",
    "//evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "/ok\r\nSet-Cookie: x=1",
    "http:/evil.example",
    "",
]


@pytest.mark.parametrize("target", EVIL)
def test_next_never_leaves_the_site(target: str) -> None:
    assert safe_next(target) == "/"


def test_next_to_another_site_lands_on_my_work(staff: Staff) -> None:
    signed = staff.sign_in(f.COORD, next_path="//evil.example/x")
    assert signed.headers["location"] == "/"
    already = staff.get("/signin?next=https://evil.example/")
    assert already.headers["location"] == "/"


def test_cookies_are_secure_when_the_workspace_is_served_over_https(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOMEWARD_MAIL_BASE_URL", "https://homeward.example.org")
    from homeward.base.settings import get_settings

    get_settings.cache_clear()
    browser = workspace.browser()  # plain http here: it keeps Secure cookies to itself
    page = browser.get("/signin")
    assert "secure" in _set_cookies(page)["hw_pre"].lower()
    pre = page.headers["set-cookie"].split(";")[0]
    fields = {**form(page.text, "/signin"), "email": f.COORD}
    browser.post("/signin", fields, headers={"Cookie": pre})
    link = browser.link_in_newest_email(f.COORD)
    confirm = browser.client.get(link, headers={"Cookie": pre})
    signed = browser.post(
        "/signin/link", form(confirm.text, "/signin/link"), headers={"Cookie": pre}
    )
    assert signed.status_code == 303
    assert "secure" in _set_cookies(signed)["hw_session"].lower()


def test_pages_forbid_framing_caching_and_referrers(staff: Staff) -> None:
    page = staff.get("/signin")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
