"""Who is acting, proven: one-time sign-in codes, sessions, run assertions, service identities.

A person is never who they type. Staff sign in with a code sent to their staff email through
the outbox (``open_challenge`` then ``redeem``): the code lives ``login_code_minutes``, is used
once, only for the address it was sent to, allows ``MAX_TRIES`` wrong tries (counted under a
row lock, so tries in parallel are counted too), and a new code ends the one before. Any
address, staff or not, can ask for ``login_codes_per_hour`` codes an hour (counted by a keyed
hash of the address), so neither the answer nor the limit tells who is staff. Redeeming a code
opens a session: a random token handed to the person once, of which only the SHA-256 is
stored, expiring after ``session_hours``, revocable, and refused once the person is inactive.

A Prefect run started for a person carries a run assertion instead of an email: a token signed
with ``itsdangerous`` (key derived from the keyring with HKDF) naming a ``run_grant`` row,
issued to a signed-in person for one flow. The first run that presents it, while its session
is live, binds it (under a row lock: two runs racing for it cannot both win); any other run
presenting it is refused (a replay), as is one whose signature, spelling, age, flow or session
is wrong. Scheduled flows act as a named service, recorded as such. Whatever string is
presented, the answer is a principal or ``NotSignedIn``, never another error.

Every credential resolves to a ``Principal``; its ``proof`` ("session 3f9c2a1b", "run 6a1f...
for session 3f9c2a1b", "service scheduler") goes into each history event the principal causes.
On PostgreSQL the database makes and keeps the secrets (migration 0032): definer functions
open a challenge (the code made there, its email queued there), redeem a code (the session
token made there), issue a run grant to the session acting and bind it to a run; the app's
login writes none of these tables and reads no code. The rules are the same; the audit lines
are written here, after each call. SQLite (one file, whose holder has everything) does it all
here. Nothing here is cryptography written by hand: ``secrets`` makes the tokens and codes,
``hashlib``/``hmac`` hash them, ``cryptography``'s HKDF derives keys, ``itsdangerous`` signs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import TYPE_CHECKING, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import text, update
from sqlmodel import Session, col, delete, func, select

from homeward.base import models
from homeward.base.clock import utc
from homeward.base.db import is_postgres, may_act_for_system
from homeward.base.errors import InvalidInput, NotSignedIn, TooMany
from homeward.base.models import StaffMember, StaffSession
from homeward.base.settings import get_settings
from homeward.crypt.keys import load_keyring
from homeward.records.auditlog import audit

if TYPE_CHECKING:
    from itsdangerous import URLSafeTimedSerializer

    from homeward.base.models import LoginChallenge

# The sign-in and run grant tables are named where they are used (``models.LoginChallenge``):
# a command run with a session (every CLI command but ``login``) never defines them.

# itsdangerous is imported where a run assertion is signed or read: a command run with a
# session token (every CLI command) never loads it (tests/cli/test_imports.py).

MAX_TRIES = 5
MAX_TOKEN = 1024  # longer than any token or assertion Homeward issues
CODE_DIGITS = 8
_CODE_SHAPE = re.compile(rf"[0-9]{{{CODE_DIGITS}}}")  # ASCII digits only: "\d" takes "٣" too
_FLOW_NAME = re.compile(r"[a-z][a-z0-9-]{0,63}")  # as Homeward names its flows (kebab-case)
_ASSERTION_SALT = "homeward.run-assertion"
SIGN_IN_AGAIN = "run `homeward login` to sign in"


@dataclass(frozen=True)
class Principal:
    """Who acts: a signed-in staff member, or a named service. ``proof`` says how it is known."""

    kind: Literal["staff", "service"]
    proof: str
    staff_id: int | None = None
    session_id: str | None = None

    @classmethod
    def service(cls, name: str) -> Principal:
        """A scheduled flow or a sweep acting for the system (never for a person)."""
        return cls(kind="service", proof=f"service {name}")


@dataclass(frozen=True)
class SessionToken:
    """A session token, as ``homeward login`` stored it (or the web workspace's cookie)."""

    token: str


@dataclass(frozen=True)
class RunAssertion:
    """A run assertion presented by the Prefect run ``run_id`` of ``flow``."""

    token: str
    flow: str
    run_id: str


@dataclass(frozen=True)
class Service:
    """A named service identity: the scheduler's sweeps and reports."""

    name: str


Credential = SessionToken | RunAssertion | Service


def _derived(purpose: bytes) -> bytes:
    """A key for ``purpose``, derived from the keyring's audit key (HKDF-SHA256)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"homeward " + purpose)
    return hkdf.derive(load_keyring().audit)


def _code_hash(challenge_id: str, code: str) -> str:
    """A keyed hash of a sign-in code: without the keyring, a copied database cannot test codes."""
    message = f"{challenge_id}:{code}".encode()
    return hmac.new(_derived(b"sign-in codes"), message, hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """What is stored of a session token (256 random bits: a plain SHA-256 suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _staff_by_email(session: Session, email: str) -> StaffMember | None:
    query = select(StaffMember).where(StaffMember.email == _address(email))
    staff = session.exec(query).first()
    return staff if staff is not None and staff.active else None


def _address(email: str) -> str:
    return email.strip().lower()


def _address_tag(email: str) -> str:
    """A keyed hash of an address as typed: what the hourly limit counts, for any address."""
    message = _address(email).encode("utf-8", "surrogatepass")
    return hmac.new(_derived(b"sign-in addresses"), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CodeRequest:
    """What asking for a code came to. ``code`` is set only when it is to be mailed to ``staff``;
    ``throttled`` when the address, staff or not, asked for too many codes this hour."""

    throttled: bool = False
    staff: StaffMember | None = None
    challenge_id: str = ""
    code: str = field(default="", repr=False)
    mail_key: str = ""  # PostgreSQL: the email the database queued (its code unreadable here)


def too_many_codes() -> TooMany:
    """The answer once an address asked for ``login_codes_per_hour`` codes (any address)."""
    limit = get_settings().login_codes_per_hour
    return TooMany(
        f"email: {limit} sign-in codes were asked for in the last hour; use the newest one, "
        "or try again later"
    )


def _over_limit(session: Session, email: str, now: datetime) -> bool:
    """Count this request against the address's hourly limit; whether it is over it.

    Every address is counted the same way (a keyed hash, kept an hour), so the limit answers
    alike for staff and for anyone else. A request over the limit is not counted again."""
    hour_ago = now - timedelta(hours=1)
    request = models.LoginRequest
    session.exec(delete(request).where(col(request.at) <= hour_ago))
    tag = _address_tag(email)
    recent = session.exec(
        select(func.count()).select_from(request).where(request.address_tag == tag)
    ).one()
    if recent >= get_settings().login_codes_per_hour:
        return True
    session.add(request(address_tag=tag, at=now))
    return False


def open_challenge(
    session: Session, *, email: str, now: datetime, channel: str = "cli"
) -> CodeRequest:
    """A new one-time code for the active staff member with ``email``.

    Any other address gets the same treatment short of the code: counted against the hourly
    limit, audited, no code (the caller answers the same either way, so the form does not
    reveal who is staff). The code is returned for the email only; the row keeps its keyed
    hash. On PostgreSQL the database makes the code and queues its email (``mail_key``); the
    code is returned only to the system login (which sends it), never to the app's."""
    staff = _staff_by_email(session, email)
    if _over_limit(session, email, now):
        audit(session, actor=staff, action="login:throttled", at=now)
        return CodeRequest(throttled=True)
    if staff is None or staff.id is None:
        audit(session, actor=None, action="login:unknown", at=now)
        return CodeRequest()
    if is_postgres(session):
        return _opened_in_the_database(session, staff, now, channel)
    _end_codes(session, staff.id, now)  # only the newest code works: one live code at most
    challenge_id = secrets.token_hex(8)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    session.add(
        models.LoginChallenge(
            id=challenge_id,
            staff_id=staff.id,
            code_hash=_code_hash(challenge_id, code),
            created_at=now,
            expires_at=now + timedelta(minutes=get_settings().login_code_minutes),
            channel=channel,
        )
    )
    audit(session, actor=staff, action="login:code-sent", at=now, fields=[channel])
    session.flush()
    return CodeRequest(staff=staff, challenge_id=challenge_id, code=code)


def _mail_domain() -> str:
    """The domain of the sign-in email's Message-ID (``notifications.message.message_id_for``)."""
    domain = parseaddr(get_settings().mail_from)[1].rpartition("@")[2]
    return domain if re.fullmatch(r"[A-Za-z0-9.-]{1,200}", domain) else "homeward.invalid"


def _opened_in_the_database(
    session: Session, staff: StaffMember, now: datetime, channel: str
) -> CodeRequest:
    """PostgreSQL: ``homeward_open_challenge`` makes the code and queues its email."""
    row = session.execute(
        text("SELECT * FROM homeward_open_challenge(:a, :c, :t, :m, :d)"),
        {
            "a": staff.email,
            "c": channel,
            "t": now,
            "m": get_settings().login_code_minutes,
            "d": _mail_domain(),
        },
    ).first()
    if row is None:  # deactivated meanwhile
        audit(session, actor=None, action="login:unknown", at=now)
        return CodeRequest()
    code = ""
    if may_act_for_system(session):  # the sender's login reads it; the app's cannot
        context = session.execute(
            text("SELECT context FROM outbox_message WHERE key = :k"), {"k": row.mail_key}
        ).scalar_one_or_none()
        code = str((context or {}).get("code", ""))
    audit(session, actor=staff, action="login:code-sent", at=now, fields=[channel])
    return CodeRequest(staff=staff, challenge_id=row.challenge, code=code, mail_key=row.mail_key)


def normalise_code(code: str) -> str:
    """The digits of a code as typed ("1234 5678", "1234-5678"); refuses any other shape."""
    digits = re.sub(r"[\s-]", "", code or "")
    if not _CODE_SHAPE.fullmatch(digits):
        raise InvalidInput(f"code: type the {CODE_DIGITS}-digit code from the sign-in email")
    return digits


@dataclass(frozen=True)
class Opened:
    """A session just opened: the token is shown to its holder once and stored nowhere here."""

    session_id: str
    token: str
    staff_id: int
    expires_at: datetime


def _end_codes(session: Session, staff_id: int, now: datetime) -> None:
    session.execute(
        update(models.LoginChallenge)
        .where(
            col(models.LoginChallenge.staff_id) == staff_id,
            col(models.LoginChallenge.used_at).is_(None),
            col(models.LoginChallenge.expires_at) > now,
        )
        .values(expires_at=now)
    )


def _live_challenge(session: Session, staff_id: int, now: datetime) -> LoginChallenge | None:
    """The staff member's live code (at most one: a new one ends the others), locked, so
    concurrent tries are counted one after the other."""
    query = (
        select(models.LoginChallenge)
        .where(
            models.LoginChallenge.staff_id == staff_id,
            col(models.LoginChallenge.used_at).is_(None),
            col(models.LoginChallenge.expires_at) > now,
            col(models.LoginChallenge.attempts) < MAX_TRIES,
        )
        .order_by(col(models.LoginChallenge.created_at).desc())
        .limit(1)
        .with_for_update()
    )
    return session.exec(query).first()


def redeem(
    session: Session, *, email: str, code: str, now: datetime, label: str = ""
) -> Opened | None:
    """Open a session for the staff member whose live code is ``code``.

    None for a wrong code, an unknown address, or no live code: the caller commits the counted
    try, then refuses. After ``MAX_TRIES`` wrong tries the code is dead."""
    digits = normalise_code(code)
    if is_postgres(session):
        return _redeemed_in_the_database(session, email, digits, now, label)
    staff = _staff_by_email(session, email)
    if staff is None or staff.id is None:
        _code_hash("0" * 16, digits)  # the work a staff address costs: no answer by timing
        audit(session, actor=None, action="login:refused", at=now)
        return None
    challenge = _live_challenge(session, staff.id, now)
    if challenge is None:
        audit(session, actor=staff, action="login:refused", at=now, fields=["expired"])
        return None
    challenge.attempts += 1
    if not hmac.compare_digest(challenge.code_hash, _code_hash(challenge.id, digits)):
        session.add(challenge)
        audit(session, actor=staff, action="login:refused", at=now, fields=["wrong-code"])
        return None
    challenge.used_at = now
    session.add(challenge)
    token = secrets.token_urlsafe(32)
    opened = StaffSession(
        id=secrets.token_hex(6),
        staff_id=staff.id,
        token_hash=token_hash(token),
        label=label[:80],
        created_at=now,
        expires_at=now + timedelta(hours=get_settings().session_hours),
    )
    session.add(opened)
    audit(session, actor=staff, action="login:signed-in", at=now, fields=[challenge.channel])
    session.flush()
    return Opened(opened.id, token, staff.id, opened.expires_at)


def _redeemed_in_the_database(
    session: Session, email: str, digits: str, now: datetime, label: str
) -> Opened | None:
    """PostgreSQL: ``homeward_redeem_code`` counts the try and makes the session's token."""
    call = text("SELECT * FROM homeward_redeem_code(:a, :c, :l, :t, :h)")
    values = {"a": _address(email), "c": digits, "l": label[:80], "t": now, "h": _hours()}
    row = session.execute(call, values).one()
    if row.outcome == "pending":  # counted; answered only once the count is committed (0036)
        session.commit()
        row = session.execute(call, values).one()
    staff = session.get(StaffMember, row.staff) if row.staff is not None else None
    if row.outcome == "unknown" or staff is None:
        audit(session, actor=None, action="login:refused", at=now)
        return None
    if row.outcome != "signed-in":
        audit(session, actor=staff, action="login:refused", at=now, fields=[row.outcome])
        return None
    audit(session, actor=staff, action="login:signed-in", at=now, fields=[row.channel])
    return Opened(row.session_id, row.token, row.staff, row.expires_at)


def _hours() -> int:
    return get_settings().session_hours


def _live_session(session: Session, row: StaffSession | None, now: datetime) -> StaffSession:
    if row is None:
        raise NotSignedIn(f"session: not signed in; {SIGN_IN_AGAIN}")
    if row.revoked_at is not None:
        raise NotSignedIn(f"session: this session was ended; {SIGN_IN_AGAIN}")
    if utc(row.expires_at) <= now:
        raise NotSignedIn(f"session: this session expired; {SIGN_IN_AGAIN}")
    staff = session.get(StaffMember, row.staff_id)
    if staff is None or not staff.active:
        raise NotSignedIn("session: this staff member is no longer active")
    return row


def _plausible(token: object) -> bool:
    """Whether ``token`` could be one Homeward issued (ASCII, of sane length) before it is
    hashed or checked: anything else (a surrogate from a mis-encoded environment, a megabyte
    of text) is refused as not signed in, never with another error."""
    return (
        isinstance(token, str)
        and 0 < len(token) <= MAX_TOKEN
        and token.isascii()
        and "\x00" not in token  # no text PostgreSQL takes
    )


def session_of(session: Session, token: str, now: datetime) -> StaffSession:
    """The live session whose token is ``token`` (refused: unknown, expired or revoked)."""
    if not _plausible(token):
        raise NotSignedIn(f"session: not signed in; {SIGN_IN_AGAIN}")
    if is_postgres(session):  # read before acting for anyone: the database's function
        found = session.execute(text("SELECT * FROM homeward_session_of(:t)"), {"t": token}).first()
        row = None if found is None else StaffSession(token_hash="", **found._asdict())
        return _live_session(session, row, now)
    row = session.exec(
        select(StaffSession).where(StaffSession.token_hash == token_hash(token))
    ).first()
    return _live_session(session, row, now)


def _serializer() -> URLSafeTimedSerializer:
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(_derived(b"run assertions"), salt=_ASSERTION_SALT)


def issue_assertion(
    session: Session, *, principal: Principal, flow: str, now: datetime
) -> tuple[str, datetime]:
    """A signed assertion for one run of ``flow``, acting for ``principal`` (a signed-in person).

    Returns the token and when it stops being accepted by a run that has not yet used it."""
    if principal.kind != "staff" or principal.session_id is None or principal.staff_id is None:
        raise NotSignedIn(f"session: only a signed-in person gets a run assertion; {SIGN_IN_AGAIN}")
    if not _FLOW_NAME.fullmatch(flow):
        raise InvalidInput("flow: give the flow's name as Prefect shows it, e.g. advance-case")
    minutes = get_settings().assertion_minutes
    expires = now + timedelta(minutes=minutes)
    if is_postgres(session):  # to the session this transaction acts for, and only to it
        grant_id = session.execute(
            text("SELECT homeward_issue_run_grant(:f, :t, :m)"), {"f": flow, "t": now, "m": minutes}
        ).scalar_one()
        return str(_serializer().dumps({"g": grant_id, "f": flow})), expires
    grant = models.RunGrant(
        id=secrets.token_hex(8),
        session_id=principal.session_id,
        staff_id=principal.staff_id,
        flow=flow,
        issued_at=now,
        expires_at=expires,
    )
    session.add(grant)
    session.flush()
    return str(_serializer().dumps({"g": grant.id, "f": flow})), expires


NOT_ISSUED = "assertion: not one Homeward issued; get one with `homeward assertion`"


def _canonical(token: str) -> bool:
    """One assertion, one spelling: base64 decoding skips stray characters and spare bits, so
    the signature is taken only exactly as it was written (the token's text is what was
    issued, not any string that decodes to it)."""
    from itsdangerous import BadData
    from itsdangerous.encoding import base64_decode, base64_encode

    signature = token.rpartition(".")[2]
    try:
        return base64_encode(base64_decode(signature)).decode("ascii") == signature
    except BadData:
        return False


def issued_to(session: Session, token: str, flow_run_id: str) -> int | None:
    """The staff member an assertion Homeward signed was issued to, if run ``flow_run_id`` may
    hold it (no other run has bound it); None for anything else. Nothing is locked or bound:
    this says whose run a run is (the web's wait page), it proves no one."""
    from itsdangerous import BadSignature

    if not _plausible(token) or not _canonical(token):
        return None
    try:
        payload = _serializer().loads(token, max_age=None)
    except BadSignature:
        return None
    grant_id = str(payload.get("g", "")) if isinstance(payload, dict) else ""
    grant = _read_grant(session, grant_id, lock=False) if grant_id else None
    if grant is None or grant.flow_run_id not in (None, flow_run_id):
        return None
    return grant.staff_id


@dataclass(frozen=True)
class _Grant:
    """A run grant as read, with its session's expiry and end."""

    id: str
    session_id: str
    staff_id: int
    flow: str
    expires_at: datetime
    flow_run_id: str | None
    session_expires_at: datetime | None
    session_revoked_at: datetime | None


def _read_grant(session: Session, grant_id: str, *, lock: bool) -> _Grant | None:
    """The grant ``grant_id`` (PostgreSQL: through ``homeward_run_grant``, the app's login
    reads no grant itself; its binding is locked there). SQLite: locked if ``lock``."""
    if is_postgres(session):
        row = session.execute(text("SELECT * FROM homeward_run_grant(:g)"), {"g": grant_id})
        found = row.first()
        return None if found is None else _Grant(grant_id, **found._asdict())
    grant = session.get(models.RunGrant, grant_id, with_for_update=lock)
    if grant is None:
        return None
    held = session.get(StaffSession, grant.session_id)
    return _Grant(
        grant.id,
        grant.session_id,
        grant.staff_id,
        grant.flow,
        grant.expires_at,
        grant.flow_run_id,
        held.expires_at if held else None,
        held.revoked_at if held else None,
    )


def grant_id_of(credential: RunAssertion) -> str:
    """The id of the run grant a well-signed assertion names ("": none). PostgreSQL acts for a
    run with it (``homeward_act_run_grant``, 0036): the run's and session's ids are no secret,
    every history event of the run prints them."""
    from itsdangerous import BadSignature

    if not _plausible(credential.token) or not _canonical(credential.token):
        return ""
    try:
        payload = _serializer().loads(credential.token, max_age=None)
    except BadSignature:
        return ""
    return str(payload.get("g", "")) if isinstance(payload, dict) else ""


def _grant_of(session: Session, credential: RunAssertion) -> _Grant:
    """The grant a well-signed assertion names, locked (two runs racing to bind it wait for
    each other), for this flow and not bound to another run."""
    from itsdangerous import BadSignature

    if not _plausible(credential.token) or not _canonical(credential.token):
        raise NotSignedIn(NOT_ISSUED)
    try:
        payload = _serializer().loads(credential.token, max_age=None)
    except BadSignature:
        raise NotSignedIn(NOT_ISSUED) from None
    grant_id = str(payload.get("g", "")) if isinstance(payload, dict) else ""
    grant = _read_grant(session, grant_id, lock=True) if grant_id else None
    if grant is None or grant.flow != credential.flow:
        raise NotSignedIn(
            f"assertion: not issued for the flow {credential.flow!r}; get one with "
            f"`homeward assertion --flow {credential.flow}`"
        )
    if grant.flow_run_id is not None and grant.flow_run_id != credential.run_id:
        raise NotSignedIn("assertion: already used by another run; get a new one for this run")
    return grant


CLOCK_SKEW_SECONDS = 120
"""How far ahead of this machine's clock a run assertion may have been signed: the machine that
issued it (the web workspace, a CLI) and the worker whose run first presents it keep clocks of
their own, which NTP keeps within far less than this."""


def _fresh(token: str) -> None:
    """Refuse an assertion signed longer ago than it lives, or ahead of this machine's clock by
    more than ``CLOCK_SKEW_SECONDS`` (itsdangerous alone refuses any signature from the future:
    a worker a second behind the issuer would refuse every assertion as expired)."""
    _, signed = _serializer().loads(token, max_age=None, return_timestamp=True)
    age = time.time() - signed.timestamp()
    if age > get_settings().assertion_minutes * 60:
        raise NotSignedIn("assertion: expired before it was used; get a new one")
    if age < -CLOCK_SKEW_SECONDS:
        raise NotSignedIn(
            f"assertion: signed {-age:.0f} s ahead of this machine's clock; set both machines' "
            "clocks right (NTP), then get a new one"
        )


def _bind(session: Session, grant: _Grant, credential: RunAssertion, now: datetime) -> None:
    """A first use: the assertion must be fresh and its session live; the run then holds it
    (PostgreSQL: ``homeward_bind_run_grant`` checks and binds it under a row lock, so of two
    runs racing for it one wins)."""
    _fresh(credential.token)  # the signature's own timestamp, as well as the row's expiry
    if utc(grant.expires_at) <= now:
        raise NotSignedIn("assertion: expired before it was used; get a new one")
    if grant.session_expires_at is None or utc(grant.session_expires_at) <= now:
        raise NotSignedIn(f"assertion: its session expired before it was used; {SIGN_IN_AGAIN}")
    if is_postgres(session):
        bound = session.execute(
            text("SELECT homeward_bind_run_grant(:g, :r, :t)"),
            {"g": grant.id, "r": credential.run_id, "t": now},
        ).scalar_one()
        if not bound:
            raise NotSignedIn("assertion: already used by another run; get a new one for this run")
        return
    session.execute(
        update(models.RunGrant)
        .where(col(models.RunGrant.id) == grant.id)
        .values(flow_run_id=credential.run_id)
    )
    session.flush()


def prove(session: Session, credential: Credential, now: datetime) -> Principal:
    """The principal a credential proves, or ``NotSignedIn`` naming what is wrong.

    A run assertion is bound to the first run that presents it, if its session is live then.
    It stays good for that run (a run paused for an approval resumes days later, after the
    session's expiry) while the session is not ended and the person is active; it is refused
    to any other run."""
    if isinstance(credential, Service):
        return Principal.service(credential.name)
    if isinstance(credential, SessionToken):
        row = session_of(session, credential.token, now)
        return Principal("staff", f"session {row.id}", row.staff_id, row.id)
    grant = _grant_of(session, credential)
    if grant.session_expires_at is None or grant.session_revoked_at is not None:
        raise NotSignedIn("assertion: the session it was issued in has ended; get a new one")
    staff = session.get(StaffMember, grant.staff_id)
    if staff is None or not staff.active:
        raise NotSignedIn("assertion: this staff member is no longer active")
    if grant.flow_run_id is None:
        _bind(session, grant, credential, now)
    proof = f"run {credential.run_id} for session {grant.session_id}"
    return Principal("staff", proof[:120], grant.staff_id, grant.session_id)


def revoke(session: Session, *, staff_id: int, session_id: str, now: datetime) -> StaffSession:
    """End one of ``staff_id``'s own sessions (and the assertions issued in it)."""
    row = session.get(StaffSession, session_id)
    if row is None or row.staff_id != staff_id:
        raise InvalidInput(
            f"session: {session_id!r} is not one of your sessions; see `homeward sessions`"
        )
    if row.revoked_at is None:
        if is_postgres(session):  # the app's login writes no session itself (0032)
            _end_sessions(session, staff_id, session_id, now)
            session.refresh(row)
        else:
            row.revoked_at = now
            session.add(row)
        staff = session.get(StaffMember, staff_id)
        audit(session, actor=staff, action="login:signed-out", at=now)
        session.flush()
    return row


def sessions_of(session: Session, staff_id: int) -> list[StaffSession]:
    """A staff member's sessions, newest first."""
    query = (
        select(StaffSession)
        .where(StaffSession.staff_id == staff_id)
        .order_by(col(StaffSession.created_at).desc())
    )
    return list(session.exec(query))


def revoke_all(session: Session, *, staff_id: int, now: datetime) -> int:
    """End every live session of ``staff_id`` (they left, or a device was lost); their run
    assertions die with them. Returns how many were ended."""
    if is_postgres(session):
        return _end_sessions(session, staff_id, None, now)
    rows = session.exec(
        select(StaffSession).where(
            StaffSession.staff_id == staff_id, col(StaffSession.revoked_at).is_(None)
        )
    ).all()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    session.flush()
    return len(rows)


def _end_sessions(session: Session, staff_id: int, session_id: str | None, now: datetime) -> int:
    """PostgreSQL: ``homeward_end_sessions`` ends one's own session(s) (anyone's in the system
    scope); how many it ended."""
    session.flush()
    ended = session.execute(
        text("SELECT homeward_end_sessions(:s, :i, :t)"), {"s": staff_id, "i": session_id, "t": now}
    ).scalar_one()
    return int(ended)
