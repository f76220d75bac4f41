"""Signing in to the workspace with the emailed link, CSRF, idle timeout, sign-out, ``next``."""

from __future__ import annotations

from tests import factories as f
from tests.web.conftest import Staff


def test_sign_in_with_the_emailed_link_lands_on_my_work(staff: Staff) -> None:
    signed = staff.sign_in(f.COORD)

    assert signed.status_code == 303 and signed.headers["location"] == "/"
    page = staff.get("/")
    assert page.status_code == 200
    assert "IOM Italy" in page.text and "Staff coordinator" in page.text
