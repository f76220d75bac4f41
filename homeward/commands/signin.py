"""Signing in and out: a one-time code by email, a session, run assertions for Prefect runs.

``request_code`` and ``sign_in`` are the only commands run without a credential: they are how
one is obtained. The answer to a code request is the same whether or not the address belongs
to staff, so the sign-in form cannot be used to find out who works where.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime

from homeward.base.clock import SYSTEM_CLOCK, Clock, utc
from homeward.base.db import may_act_for_system
from homeward.base.errors import NotSignedIn
from homeward.base.models import Organisation, StaffMember, StaffSession
from homeward.base.settings import get_settings
from homeward.commands.runner import Command, Context, transaction
from homeward.protection import identity


@dataclass(frozen=True)
class CodeRequested:
    """A code was queued for the address if it is a staff member's (``mail_key`` None if not).

    ``asked_at`` (a monotonic clock reading) lets ``deliver`` answer after the same time."""

    mail_key: str | None
    minutes: int
    asked_at: float = field(default_factory=time.monotonic)
    sends_here: bool = True  # False: PostgreSQL's app login, which cannot read the code


def request_code(email: str, *, channel: str = "cli", clock: Clock = SYSTEM_CLOCK) -> CodeRequested:
    """Queue a one-time sign-in code to ``email``'s staff mailbox (nothing for other addresses).
    The sender adds the web workspace's sign-in link for it (``/signin/link?e=EMAIL&c=CODE``)
    from its own settings: the row holds none (on PostgreSQL the database refuses one).

    Raises ``TooMany`` once the address, staff or not, asked for too many codes this hour (the
    audit line of that request is kept)."""
    from notifications.contexts import LoginCodeContext  # mail: only to sign in
    from notifications.outbox import enqueue

    asked_at = time.monotonic()
    minutes = get_settings().login_code_minutes
    with transaction(writes=True) as session:
        now = clock.now()
        asked = identity.open_challenge(session, email=email, now=now, channel=channel)
        sends_here = may_act_for_system(session)  # SQLite, or PostgreSQL's system login
        mail_key = asked.mail_key or None  # PostgreSQL: the database queued it (0032)
        if mail_key is None and asked.code and asked.staff is not None:
            mail_key = f"login:{asked.challenge_id}:{secrets.token_urlsafe(24)}"
            enqueue(
                session,
                key=mail_key,
                template="login_code",
                to=asked.staff.email,
                language=asked.staff.language,
                context=LoginCodeContext(code=asked.code, minutes=minutes),
                now=now,
            )
    if asked.throttled:
        raise identity.too_many_codes()
    return CodeRequested(mail_key, minutes, asked_at, sends_here)


def deliver(requested: CodeRequested, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """Send the code's email now, ahead of the rest of the outbox, and answer no sooner than
    ``login_answer_seconds`` after the request: for an address that is not staff's nothing is
    sent, but the answer comes as late, and mis-set mail settings fail alike for any address.
    (A mail server slower than that wait still shows; an edge open to the world should send
    in the background instead.)

    On PostgreSQL under the app's login the code is unreadable here (migration 0033): the
    system login's sender (``homeward up``, ``homeward health --watch``), woken by the
    database, sends it meanwhile (``notifications.sign_in_mail``); the answer comes as late."""
    from notifications.sender import drain
    from notifications.smtp import ensure_safe_transport

    settings = get_settings()
    ensure_safe_transport(settings)
    if requested.mail_key is not None and requested.sends_here:
        asyncio.run(drain(keys=[requested.mail_key], limit=1, clock=clock))
    remaining = requested.asked_at + settings.login_answer_seconds - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


def sign_in(
    email: str, code: str, *, label: str = "", clock: Clock = SYSTEM_CLOCK
) -> identity.Opened:
    """Trade a one-time code for a session. A wrong try is counted (and committed) first."""
    with transaction(writes=True) as session:
        opened = identity.redeem(session, email=email, code=code, now=clock.now(), label=label)
    if opened is None:
        raise NotSignedIn(
            "code: wrong, used or expired code; check the newest sign-in email, or ask for a "
            "new code with `homeward login`"
        )
    return opened


@dataclass(frozen=True)
class Me:
    """Who the session belongs to (their own details only)."""

    email: str
    name: str
    org: str
    role: str
    session_id: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class WhoAmI(Command[Me]):
    """The signed-in person and their session."""

    name = "whoami"
    writes = False

    def execute(self, ctx: Context) -> Me:
        staff: StaffMember = ctx.staff
        org = ctx.session.get(Organisation, staff.org_id)
        session_id = ctx.principal.session_id
        row = ctx.session.get(StaffSession, session_id) if session_id else None
        return Me(
            staff.email,
            staff.name,
            org.slug if org else "",
            staff.role,
            ctx.principal.session_id,
            row.expires_at if row else None,
        )


@dataclass(frozen=True)
class SessionLine:
    """One of a person's sessions, as listed."""

    session_id: str
    label: str
    created_at: datetime
    expires_at: datetime
    ended: bool
    current: bool


@dataclass(frozen=True)
class ListSessions(Command[list[SessionLine]]):
    """The signed-in person's sessions, newest first."""

    name = "sessions list"
    writes = False

    def execute(self, ctx: Context) -> list[SessionLine]:
        assert ctx.staff.id is not None  # noqa: S101 (a stored row)
        return [
            SessionLine(
                row.id,
                row.label,
                row.created_at,
                row.expires_at,
                row.revoked_at is not None or utc(row.expires_at) <= ctx.now,
                row.id == ctx.principal.session_id,
            )
            for row in identity.sessions_of(ctx.session, ctx.staff.id)
        ]


@dataclass(frozen=True)
class Ended:
    session_id: str


@dataclass(frozen=True)
class EndSession(Command[Ended]):
    """End one of one's own sessions (default: the current one: signing out)."""

    session_id: str | None = None
    name = "sessions end"

    def execute(self, ctx: Context) -> Ended:
        assert ctx.staff.id is not None  # noqa: S101 (a stored row)
        target = self.session_id or ctx.principal.session_id
        if target is None:
            raise NotSignedIn("session: not signed in with a session")
        identity.revoke(ctx.session, staff_id=ctx.staff.id, session_id=target, now=ctx.now)
        return Ended(target)


@dataclass(frozen=True)
class Assertion:
    token: str
    flow: str
    expires_at: datetime


@dataclass(frozen=True)
class IssueAssertion(Command[Assertion]):
    """A signed assertion for one Prefect run of ``flow``, acting for the signed-in person."""

    flow: str
    name = "assertion"

    def execute(self, ctx: Context) -> Assertion:
        ctx.staff  # noqa: B018 (a person, not a service)
        token, expires = identity.issue_assertion(
            ctx.session, principal=ctx.principal, flow=self.flow, now=ctx.now
        )
        return Assertion(token, self.flow, expires)


@dataclass(frozen=True)
class StartedByReader(Command[bool]):
    """Whether Prefect run ``flow_run_id``, which carries ``assertion`` as its parameter, is the
    reader's own: the assertion was issued to them and no other run holds it."""

    assertion: str
    flow_run_id: str
    name = "run owner"
    writes = False

    def args(self) -> dict[str, str]:
        return {"flow_run_id": self.flow_run_id}  # never the token

    def execute(self, ctx: Context) -> bool:
        staff_id = ctx.staff.id
        return identity.issued_to(ctx.session, self.assertion, self.flow_run_id) == staff_id


@dataclass(frozen=True)
class ProveRun(Command[identity.Principal]):
    """Prove a credential and nothing else: a Prefect run's first step binds its assertion to
    the run here, before anything changes, and learns whom it acts for."""

    name = "prove"

    def execute(self, ctx: Context) -> identity.Principal:
        return ctx.principal
