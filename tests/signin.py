"""Signing staff in for tests, through the real ceremony: a code is issued by
``identity.open_challenge`` (the code the email would carry) and redeemed by ``identity.redeem``,
exactly as ``homeward login`` does, minus the mailbox. ``tests/cli/test_login.py`` proves the
whole way through a real SMTP server.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete
from sqlalchemy.engine import make_url
from sqlmodel import col

from homeward.base.clock import utc
from homeward.base.db import make_engine, write_session
from homeward.base.models import OutboxMessage
from homeward.base.settings import get_settings
from homeward.protection import identity

_TOKENS: dict[tuple[str, str], tuple[str, datetime]] = {}
NOT_STAFF = "not-a-session-token"


def forget_all() -> None:
    """Every test starts signed out (its database is new, or upgraded again: no connection
    kept from before holds statements prepared against functions since made again)."""
    _TOKENS.clear()
    for engine in _READERS.values():
        engine.dispose()
    _READERS.clear()


def token_for(email: str, now: datetime) -> str:
    """A live session token for staff member ``email`` at ``now`` (a bad token if not staff)."""
    key = (get_settings().database_url, email.strip().lower())
    cached = _TOKENS.get(key)
    if cached is not None and cached[1] > now + timedelta(minutes=1):
        return cached[0]
    with write_session(_code_reader()) as session:
        asked = identity.open_challenge(session, email=email, now=now, channel="test")
        if not asked.code:
            return NOT_STAFF
        signed = identity.redeem(session, email=email, code=asked.code, now=now, label="test")
        if asked.mail_key:  # PostgreSQL queued its email: not sent, as on SQLite (no mailbox)
            session.execute(delete(OutboxMessage).where(col(OutboxMessage.key) == asked.mail_key))
    assert signed is not None
    _TOKENS[key] = (signed.token, utc(signed.expires_at))
    return signed.token


_READERS: dict[str, Engine] = {}


def _code_reader() -> Engine | None:
    """PostgreSQL: the system login's engine, the one that reads a code the database made
    (migration 0032; the app login cannot); None: the configured one."""
    from tests.conftest import SYSTEM_LOGIN, login_url

    url = get_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or parsed.username == SYSTEM_LOGIN:
        return None
    system = login_url(url, SYSTEM_LOGIN)
    if system not in _READERS:
        _READERS[system] = make_engine(system)
    return _READERS[system]


def credential_for(email: str, now: datetime) -> identity.SessionToken:
    return identity.SessionToken(token_for(email, now))


def assertion_for(email: str, flow: str, now: datetime | None = None) -> str:
    """A run assertion for one run of ``flow``, issued to ``email``'s session at ``now``
    (default: the wall clock, which flows act at) as ``homeward assertion --flow FLOW`` does."""
    from homeward.base.clock import SYSTEM_CLOCK, SimulatedClock
    from homeward.commands.runner import run
    from homeward.commands.signin import IssueAssertion

    moment = now or SYSTEM_CLOCK.now()
    issued = run(IssueAssertion(flow), credential_for(email, moment), clock=SimulatedClock(moment))
    return issued.token
