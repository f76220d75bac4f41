"""What every page shares: who is looking (``Viewer``), rendering in their language, CSRF-checked
forms and running a command with a refusal shown in place (``call``).

A page handler is a plain (sync) FastAPI function:

    @router.post("/items/{item_id}/done")
    def done(item_id: int, request: Request, v: Viewer = Depends(viewer),
             form: Form = Depends(checked_form)) -> Response:
        try:
            call(v, MarkDone(item_id, form.get("outcome", "")), key=form.get("key"))
        except Problem as problem:
            return render(request, v, "item.html", problem=problem, status_code=problem.status)
        return see_other(f"/items/{item_id}")

Sessions: the cookie ``hw_session`` holds the identity session token (HttpOnly, SameSite=Strict,
Secure on https); ``hw_seen`` holds the moment of the last request, signed with the token
(HMAC), so that a browser left alone ``web_idle_minutes`` is signed out (the session is ended
through ``EndSession``) without a table of its own. A missing or forged ``hw_seen`` counts as
idle. The CSRF token of a form is an HMAC of the session token (or, signed out, of the random
``hw_pre`` cookie): never stored, never guessable without the HttpOnly cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from homeward.base.clock import Clock
from homeward.base.errors import (
    Conflict,
    HomewardError,
    InvalidInput,
    NotFound,
    NotSignedIn,
    TooMany,
)
from homeward.base.settings import SUPPORTED_LANGUAGES, get_settings
from homeward.commands.profile import MyProfile, Profile
from homeward.commands.runner import Command, run
from homeward.commands.signin import EndSession
from homeward.edges.web import casework, i18n
from homeward.edges.web.engine_messages import ROLES
from homeward.edges.web.i18n import N_
from homeward.protection.identity import SessionToken
from homeward.records.idempotency import given_key

V = TypeVar("V")

SESSION_COOKIE = "hw_session"
SEEN_COOKIE = "hw_seen"
PRE_COOKIE = "hw_pre"
LANGUAGE_COOKIE = "hw_lang"
NEXT_COOKIE = "hw_next"  # where to go after signing in with the emailed link
CSRF_FIELD = "csrf"
TEMPLATES = Path(__file__).parent / "templates"

Form = dict[str, str]


def _mac(key: str, purpose: str, message: str = "") -> str:
    return hmac.new(key.encode(), f"{purpose}:{message}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Guest:
    """Someone not signed in (the sign-in pages): a language and a pre-session CSRF token."""

    language: str
    csrf: str
    clock: Clock
    who: None = None

    @property
    def tz(self) -> ZoneInfo:
        return get_settings().tz

    def _(self, message: str) -> str:
        return i18n.gettext(self.language, message)


@dataclass(frozen=True)
class Viewer:
    """The signed-in person looking at a page: their credential, their profile (``who``: name,
    email, organisation, role, language, timezone), the CSRF token of their forms and the
    clock the app runs on."""

    credential: SessionToken
    who: Profile
    csrf: str
    clock: Clock

    @property
    def language(self) -> str:
        return self.who.language

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.who.timezone)

    def _(self, message: str) -> str:
        """``message`` in the viewer's language."""
        return i18n.gettext(self.language, message)


Looker = Viewer | Guest


# -- Problems: a refusal or bad input, shown in place in the viewer's language -----------------

_STATUS = {
    "invalid": 400,
    "not_found": 404,
    "refused": 409,
    "conflict": 409,
    "too_many": 429,
    "forbidden": 403,
}
_LEADS = {
    "invalid": N_("Please check this value."),
    "not_found": N_("Not found."),
    "refused": N_("Not allowed now."),
    "conflict": N_("Someone else changed this first: reload the page and try again."),
    "too_many": N_("Too many attempts: wait a while, then try again."),
    "forbidden": N_("This form has expired: reload the page and try again."),
}
_FIELD = re.compile(r"^([a-z][a-z0-9_ .\-]{0,40}): (.+)$", re.DOTALL)
_VALUE = re.compile(r"RT-[A-Z0-9-]+|'[^']*'|`[^`]*`|\b\d+(?:[.:]\d+)*\b")


def translate_error(language: str, text: str) -> str:
    """An engine message in ``language``: the catalog holds engine messages with their values
    (case references, numbers, quoted words) written ``{0}``, ``{1}``...; a message the
    catalog does not hold stays as the engine wrote it."""
    values: list[str] = []

    def hole(match: re.Match[str]) -> str:
        values.append(match.group(0))
        return f"{{{len(values) - 1}}}"

    shape = _VALUE.sub(hole, text)
    translated = i18n.gettext(language, shape)
    if translated == shape:
        return text
    with suppress(IndexError, KeyError, ValueError):
        return translated.format(*values)
    return text


@dataclass
class Problem(Exception):
    """What went wrong, for the page: ``kind`` (invalid, not_found, refused, conflict,
    too_many, forbidden), the ``field`` named by the engine (or None), ``lead`` (a short
    translated sentence for the kind) and ``message`` (the engine's message, translated)."""

    kind: str
    message: str
    lead: str
    field: str | None = None

    @property
    def status(self) -> int:
        return _STATUS.get(self.kind, 400)

    @classmethod
    def of(cls, error: HomewardError, language: str) -> Problem:
        kinds = ((InvalidInput, "invalid"), (NotFound, "not_found"), (Conflict, "conflict"))
        kind = next((name for base, name in kinds if isinstance(error, base)), "refused")
        kind = "too_many" if isinstance(error, TooMany) else kind
        text = str(error)
        matched = _FIELD.match(text)
        field_name = matched.group(1) if matched else None
        return cls(
            kind=kind,
            message=translate_error(language, text),
            lead=i18n.gettext(language, _LEADS[kind]),
            field=field_name,
        )

    @classmethod
    def make(cls, kind: str, message: str, language: str, field: str | None = None) -> Problem:
        """A problem found by the page itself (``message`` in English, a catalog msgid)."""
        lead = i18n.gettext(language, _LEADS[kind])
        return cls(kind=kind, message=i18n.gettext(language, message), lead=lead, field=field)


class SignInNeeded(Exception):
    """Raised where a page needs a signed-in person: the app answers with the sign-in page,
    coming back to ``next`` (default: the page asked for) afterwards. ``why``: "idle",
    "expired" or "" (never signed in)."""

    def __init__(self, why: str = "", next_path: str | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.next_path = next_path


# -- Cookies -----------------------------------------------------------------------------------


def is_https(request: Request) -> bool:
    """Cookies are Secure when the page or the workspace's public address is https."""
    public = get_settings().mail_base_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def queue_cookie(
    request: Request, name: str, value: str | None, max_age: int | None = None
) -> None:
    """Set (``value``) or clear (None) a cookie on whatever response this request gets (the
    app's middleware applies them): HttpOnly, SameSite=Strict, path /, Secure on https."""
    cookies: dict[str, tuple[str | None, int | None]] = _cookie_queue(request)
    cookies[name] = (value, max_age)


def _cookie_queue(request: Request) -> dict[str, tuple[str | None, int | None]]:
    if not hasattr(request.state, "hw_cookies"):
        request.state.hw_cookies = {}
    queue: dict[str, tuple[str | None, int | None]] = request.state.hw_cookies
    return queue


def apply_cookies(request: Request, response: Response) -> None:
    """Write the queued cookies onto ``response`` (called by the app's middleware)."""
    secure = is_https(request)
    for name, (value, max_age) in _cookie_queue(request).items():
        if value is None:
            response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="strict")
        else:
            response.set_cookie(
                name,
                value,
                max_age=max_age,
                path="/",
                secure=secure,
                httponly=True,
                samesite="strict",
            )


def start_session(request: Request, token: str, expires_at: datetime, clock: Clock) -> None:
    """Give the browser its session (after a code or a link was accepted)."""
    now = clock.now()
    max_age = max(60, int((expires_at - now).total_seconds()))
    queue_cookie(request, SESSION_COOKIE, token, max_age)
    queue_cookie(request, SEEN_COOKIE, _seen_stamp(token, now), max_age)
    queue_cookie(request, PRE_COOKIE, None)
    queue_cookie(request, NEXT_COOKIE, None)


def end_previous_session(request: Request, clock: Clock) -> None:
    """Signing in again in this browser (as someone else, say) ends the session it had."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with suppress(HomewardError):
            run(EndSession(), SessionToken(token), clock=clock)


def end_cookies(request: Request) -> None:
    queue_cookie(request, SESSION_COOKIE, None)
    queue_cookie(request, SEEN_COOKIE, None)


def _seen_stamp(token: str, now: datetime) -> str:
    stamp = str(int(now.timestamp()))
    return f"{stamp}.{_mac(token, 'seen', stamp)}"


def _seen_at(value: str | None, token: str) -> datetime | None:
    stamp, _, mac = (value or "").partition(".")
    if not stamp.isdigit() or not hmac.compare_digest(mac, _mac(token, "seen", stamp)):
        return None
    return datetime.fromtimestamp(int(stamp), UTC)


# -- Who is looking ----------------------------------------------------------------------------


def app_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def current_viewer(request: Request) -> Viewer | None:
    """The signed-in person, or None (no cookie, or a session ended, expired or idle too
    long: an idle session is ended through ``EndSession``). Refreshes ``hw_seen``."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    clock = app_clock(request)
    now = clock.now()
    credential = SessionToken(token)
    seen = _seen_at(request.cookies.get(SEEN_COOKIE), token)
    idle = timedelta(minutes=get_settings().web_idle_minutes)
    if seen is None or now - seen > idle:
        with suppress(HomewardError):
            run(EndSession(), credential, clock=clock)
        end_cookies(request)
        request.state.hw_why = "idle"
        return None
    try:
        who = run(MyProfile(), credential, clock=clock)
    except NotSignedIn:
        end_cookies(request)
        request.state.hw_why = "expired"
        return None
    expires = who.expires_at or now + timedelta(hours=1)
    queue_cookie(
        request, SEEN_COOKIE, _seen_stamp(token, now), max(60, int((expires - now).total_seconds()))
    )
    return Viewer(credential=credential, who=who, csrf=_mac(token, "csrf"), clock=clock)


def viewer(request: Request) -> Viewer:
    """FastAPI dependency: the signed-in person; anyone else is sent to sign in and back."""
    found = current_viewer(request)
    if found is None:
        raise SignInNeeded(getattr(request.state, "hw_why", ""))
    return found


def guest(request: Request) -> Guest:
    """FastAPI dependency for the signed-out pages: language (``hw_lang`` cookie, else the
    browser's Accept-Language, else the default) and a pre-session CSRF token."""
    pre = request.cookies.get(PRE_COOKIE)
    if not pre or len(pre) < 32:
        pre = secrets.token_urlsafe(32)
        queue_cookie(request, PRE_COOKIE, pre)
    return Guest(language=guest_language(request), csrf=_mac(pre, "csrf"), clock=app_clock(request))


def guest_language(request: Request) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in SUPPORTED_LANGUAGES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in SUPPORTED_LANGUAGES:
            return code
    return get_settings().default_language


# -- Forms ---------------------------------------------------------------------------------------


class CsrfRefused(Exception):
    """A POST without this browser's form token (or from another site)."""


def same_origin(request: Request) -> bool:
    """Whether the browser says the POST came from this site. ``Sec-Fetch-Site`` first: with
    the pages' ``Referrer-Policy: no-referrer`` Chromium sends ``Origin: null`` even on this
    site's own forms, so a "null" (or missing) Origin proves nothing either way and the CSRF
    token decides."""
    site = request.headers.get("sec-fetch-site")
    if site:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return True
    parts = urlsplit(origin)
    return parts.netloc == request.url.netloc


async def read_form(request: Request, csrf: str) -> Form:
    """The posted fields (text only), refused (``CsrfRefused``) unless the form carries
    ``csrf`` and, if the browser says where it came from, came from this site."""
    data = await request.form()
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    given = fields.pop(CSRF_FIELD, "")
    if not same_origin(request) or not hmac.compare_digest(given.encode(), csrf.encode()):
        raise CsrfRefused
    return fields


async def checked_form(request: Request, v: Viewer = Depends(viewer)) -> Form:
    """FastAPI dependency: the signed-in person's posted form, CSRF-checked."""
    return await read_form(request, v.csrf)


async def guest_form(request: Request, g: Guest = Depends(guest)) -> Form:
    """FastAPI dependency: a signed-out form (sign in), CSRF-checked against ``hw_pre``."""
    return await read_form(request, g.csrf)


# -- Commands --------------------------------------------------------------------------------


def call(v: Viewer, command: Command[V], key: str | None = None) -> V:
    """Run ``command`` as the viewer. A refusal, bad input, not-found, conflict or throttle
    raises ``Problem`` (translated, for the page to show in place); a session that ended
    meanwhile raises ``SignInNeeded``."""
    try:
        return run(command, v.credential, key=given_key(key, "key"), clock=v.clock)
    except NotSignedIn as exc:
        raise SignInNeeded("expired") from exc
    except HomewardError as exc:
        raise Problem.of(exc, v.language) from exc


def act(
    v: Viewer,
    make: Callable[[], Command[V]],
    key: str | None,
    *,
    refused: Callable[[Problem], Response],
    then: Callable[[V], str],
) -> Response:
    """A page's form action: build the command (bad input found while reading the form is a
    ``Problem`` too) and run it as the viewer; then to ``then(view)``, or, refused, the page
    ``refused(problem)`` renders with the problem in place."""
    try:
        try:
            command = make()
        except HomewardError as exc:
            raise Problem.of(exc, v.language) from exc
        done = call(v, command, key=key)
    except Problem as problem:
        return refused(problem)
    return see_other(then(done))


# -- Pages -----------------------------------------------------------------------------------


@lru_cache(maxsize=len(SUPPORTED_LANGUAGES))
def environment(language: str) -> Environment:
    """The templates, with gettext (``_``, ``{% trans %}``) in ``language``."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def render(
    request: Request, v: Looker, template: str, *, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    """``template`` for ``v`` (a Viewer, or a Guest on the sign-in pages). The context has
    ``viewer`` (``viewer.who`` is None for a guest), ``csrf`` (the hidden field's value),
    ``day(value)`` and ``when(value)`` (dates in the viewer's timezone and language),
    ``path`` (this page's path and query, for a ``next``) and whatever is passed."""
    ctx.setdefault("active", "")
    ctx.setdefault("parts", casework.ordered())
    ctx.setdefault("problem", None)
    language = v.language
    tz = v.tz
    helpers: dict[str, Callable[..., str]] = {
        "day": lambda value: i18n.short_date(value, language, tz),
        "when": lambda value: i18n.moment(value, language, tz),
        "csrf_field": lambda: Markup('<input type="hidden" name="csrf" value="%s">') % v.csrf,
        "role_label": lambda role: i18n.gettext(language, ROLES.get(role) or role),
    }
    html = (
        environment(language)
        .get_template(template)
        .render(
            request=request,
            viewer=v,
            language=language,
            csrf=v.csrf,
            path=ctx.pop("path", None) or local_path(request),
            **helpers,
            **ctx,
        )
    )
    return HTMLResponse(html, status_code=status_code)


def see_other(url: str) -> RedirectResponse:
    """After a POST: go to ``url`` (a local path) with GET."""
    return RedirectResponse(safe_next(url), status_code=303)


# -- Where to go next (no open redirect) -----------------------------------------------------

_SAFE_PATH = re.compile(r"^/(?![/\\])[\x21-\x7e]*$")


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site ("/cases/RT-2026-0001?x=1#item-3"), else
    ``default``: no scheme, no host, no "//" or "/\\" (which browsers read as another host),
    no control characters or spaces."""
    if not target or not _SAFE_PATH.match(target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def local_path(request: Request) -> str:
    """This request's path and query (what ``next`` carries back after signing in)."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def signin_url(next_path: str, why: str = "") -> str:
    url = "/signin"
    params = []
    if next_path and next_path != "/":
        params.append(f"next={quote(next_path, safe='/')}")
    if why:
        params.append(f"why={why}")
    return url + ("?" + "&".join(params) if params else "")
