"""The sender builds every email's links itself: a row's context is whatever its inserter
wrote (an app login may insert notices on PostgreSQL), so a link that does not lead into our
own workspace (``workspace_url()``) is never sent, in any template or nested digest line; and
a sign-in email goes to its one address alone."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from homeward.base.models import OutboxMessage
from homeward.base.settings import get_settings, workspace_url
from notifications.outbox import Attempt
from notifications.samples import sample_context
from notifications.sender import envelope_for
from notifications.smtp import Envelope

EVIL = "https://evil.example/signin"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TO = "cw@adpare.example.org"


def _poisoned(value: Any) -> Any:
    """``value`` with every ``link`` in it (nested ones too) pointing at ``EVIL``."""
    if isinstance(value, dict):
        out = {k: _poisoned(v) for k, v in value.items()}
        if "link" in out:
            out["link"] = EVIL
        return out
    if isinstance(value, list):
        return [_poisoned(v) for v in value]
    return value


def _row(template: str, context: dict[str, Any], to: list[str] | None = None) -> OutboxMessage:
    return OutboxMessage(
        key=f"t:{template}",
        template=template,
        language="en",
        to_addrs=to or [TO],
        context=context,
        message_id="<t@x.org>",
        next_attempt_at=NOW,
        created_at=NOW,
    )


def _text(envelope: Envelope) -> str:
    message = message_from_bytes(envelope.data, _class=EmailMessage, policy=policy.default)
    parts = message.walk() if message.is_multipart() else [message]
    return " ".join(
        str(part.get_content()) for part in parts if part.get_content_maintype() == "text"
    )


TEMPLATES = (
    "digest",
    "escalation",
    "handoff_proposed",
    "consent_withdrawn",
    "partner_joined",
    "appointment",
    "visit",
    "health_alert",
    "test",
)


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_link_outside_the_workspace_is_never_sent(template: str) -> None:
    context = _poisoned(sample_context(template, "en", NOW.date()).model_dump(mode="json"))
    assert EVIL in str(context)
    built = envelope_for(_row(template, context), get_settings(), NOW)
    assert isinstance(built, Envelope), built
    body = _text(built)
    assert "evil.example" not in body
    if template not in ("partner_joined", "test"):  # the model's own page instead
        assert workspace_url() + "/" in body


def test_a_workspace_link_is_kept() -> None:
    context = sample_context("handoff_proposed", "en", NOW.date()).model_dump(mode="json")
    context["link"] = workspace_url() + "/cases/ANOTHER-1"
    built = envelope_for(_row("handoff_proposed", context), get_settings(), NOW)
    assert isinstance(built, Envelope) and "/cases/ANOTHER-1" in _text(built)


def test_a_look_alike_host_is_not_the_workspace() -> None:
    context = sample_context("handoff_proposed", "en", NOW.date()).model_dump(mode="json")
    context["link"] = workspace_url() + ".evil.example/cases/X"
    built = envelope_for(_row("handoff_proposed", context), get_settings(), NOW)
    assert isinstance(built, Envelope) and "evil.example" not in _text(built)


def test_a_sign_in_email_goes_to_its_one_address_alone() -> None:
    code = {"code": "12345678", "minutes": 10}
    fine = envelope_for(_row("login_code", code), get_settings(), NOW, [TO.upper()])
    assert isinstance(fine, Envelope)
    for to, recipients in (
        ([TO], [TO, "coord@iom-it.example.org"]),
        ([TO], ["coord@iom-it.example.org"]),
        ([TO, "coord@iom-it.example.org"], None),
    ):
        built = envelope_for(_row("login_code", code, to), get_settings(), NOW, recipients)
        assert isinstance(built, Attempt) and "one address only" in (built.error or "")
