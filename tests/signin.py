"""Signing staff in for tests, through the real ceremony: a code is issued by
``identity.open_challenge`` (the code the email would carry) and redeemed by ``identity.redeem``,
exactly as ``homeward login`` does, minus the mailbox. ``tests/cli/test_login.py`` proves the
whole way through a real SMTP server.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, create_engine, delete, text
from sqlalchemy.engine import make_url
from sqlmodel import col

from homeward.base.clock import utc
from homeward.base.db import make_engine, normalise_url, write_session
from homeward.base.models import OutboxMessage
from homeward.base.settings import get_settings
from homeward.protection import identity
from tests.logins import SYSTEM_LOGIN, login_url

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
_SYSTEM: dict[str, bool] = {}  # a URL -> whether its login is a system login (kept: a role's)


def _code_reader() -> Engine | None:
    """PostgreSQL: the system login's engine, the one that reads a code the database made
    (migration 0032; the app login cannot); None: the configured one, when it may (SQLite, or
    a system login: the suite's, or one a bench made of its own name)."""
    url = get_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or _is_system_login(url):
        return None
    system = login_url(url, SYSTEM_LOGIN)
    if system not in _READERS:
        _READERS[system] = make_engine(system)
    return _READERS[system]


def _is_system_login(url: str) -> bool:
    """Whether ``url``'s login is a system login: a member of ``homeward_system_scope``, not a
    superuser (the tables' owner signs in through the system login, as before). Asked once."""
    if make_url(url).username == SYSTEM_LOGIN:
        return True
    if url not in _SYSTEM:
        engine = create_engine(normalise_url(url))
        try:
            with engine.connect() as conn:
                member = (
                    "SELECT NOT rolsuper AND pg_has_role('homeward_system_scope', 'MEMBER') "
                    "FROM pg_roles WHERE rolname = current_user"
                )
                _SYSTEM[url] = bool(conn.execute(text(member)).scalar())
        finally:
            engine.dispose()
    return _SYSTEM[url]


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
