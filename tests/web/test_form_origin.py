"""Where a POST came from, as browsers say it: Chromium sends ``Origin: null`` on this site's
own forms (the pages' ``Referrer-Policy: no-referrer``) with ``Sec-Fetch-Site: same-origin``;
that is this site. A form sent from another site is refused, whatever it carries."""

from __future__ import annotations

from tests import factories as f
from tests.web.conftest import Staff, form


def _send_email_form(staff: Staff, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    page = staff.get("/signin")
    fields = {**form(page.text, "/signin"), "email": f.COORD}
    return staff.post("/signin", fields, headers=headers)


def test_a_same_origin_form_with_a_null_origin_is_accepted(staff: Staff) -> None:
    sent = _send_email_form(staff, {"origin": "null", "sec-fetch-site": "same-origin"})
    assert sent.status_code == 200, sent.text
    assert len(staff.mailbox.received) == 1


def test_a_form_from_another_site_is_refused_even_with_the_token(staff: Staff) -> None:
    for headers in (
        {"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        {"origin": "null", "sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"origin": "https://evil.example"},
    ):
        sent = _send_email_form(staff, headers)
        assert sent.status_code == 403, (headers, sent.status_code)
    assert staff.mailbox.received == []
