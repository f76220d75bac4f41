"""Signing in and out of the workspace, and choosing the language.

``/signin`` asks for a work email and sends a one-time code and link (the commands layer's
``request_code``/``deliver``: the same answer, after the same time, for any address; rate
limits and audit lines are there). The link (``/signin/link?e=EMAIL&c=CODE``) only shows a
button: a session is opened by the POST it sends, never by a GET (mail scanners open links).
Either way ``next`` (a local path only) is where the person lands afterwards.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from homeward.base.errors import DeliveryFailed, HomewardError, NotSignedIn
from homeward.base.settings import SUPPORTED_LANGUAGES, get_settings
from homeward.commands.profile import SetMyLanguage
from homeward.commands.signin import EndSession, deliver, request_code, sign_in
from homeward.edges.web import deps
from homeward.edges.web.deps import Form, Guest, Problem, Viewer
from homeward.edges.web.i18n import N_

router = APIRouter()

_WHY = {
    "idle": N_("You were signed out after a while without activity. Sign in again to go on."),
    "expired": N_("Your session ended. Sign in again to go on."),
    "out": N_("You are signed out."),
}


def _why(g: Guest, why: str) -> str | None:
    return g._(_WHY[why]) if why in _WHY else None


@router.get("/signin")
def signin_form(request: Request, next: str = "/", why: str = "") -> Response:  # noqa: A002
    """The email form (or, signed in already, straight on to ``next``)."""
    if deps.current_viewer(request) is not None:
        return RedirectResponse(deps.safe_next(next), status_code=303)
    g = deps.guest(request)
    return deps.render(
        request, g, "signin.html", next=deps.safe_next(next), notice=_why(g, why), email=""
    )


def _email(form: Form, g: Guest) -> str:
    email = form.get("email", "").strip()
    if not email or "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        raise Problem.make(
            "invalid",
            N_("email: type your work email address, e.g. name@organisation.org"),
            g.language,
            field="email",
        )
    return email


@router.post("/signin")
def signin_send(
    request: Request, g: Guest = Depends(deps.guest), form: Form = Depends(deps.guest_form)
) -> Response:
    """Send a code and link to the address (if it is staff's), then ask for the code."""
    next_path = deps.safe_next(form.get("next"))
    try:
        email = _email(form, g)
        requested = request_code(email, channel="web", clock=g.clock)
        deliver(requested, clock=g.clock)
    except (Problem, HomewardError) as exc:
        problem = _sending_problem(exc, g)
        return deps.render(
            request,
            g,
            "signin.html",
            next=next_path,
            notice=None,
            email=form.get("email", ""),
            problem=problem,
            status_code=503 if isinstance(exc, DeliveryFailed) else problem.status,
        )
    if next_path != "/":  # the emailed link cannot carry it: this browser keeps it meanwhile
        minutes = get_settings().login_code_minutes
        deps.queue_cookie(request, deps.NEXT_COOKIE, next_path, minutes * 60)
    return deps.render(request, g, "signin_code.html", next=next_path, email=email, sent=True)


def _sending_problem(exc: Exception, g: Guest) -> Problem:
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, DeliveryFailed):
        message = N_("The sign-in email could not be sent now: try again in a few minutes.")
        return Problem.make("refused", message, g.language)
    assert isinstance(exc, HomewardError)  # noqa: S101 (caught as one)
    return Problem.of(exc, g.language)


@router.get("/signin/code")
def signin_code_form(request: Request, email: str = "", next: str = "/") -> Response:  # noqa: A002
    """The code form (the email's address filled in when given)."""
    g = deps.guest(request)
    return deps.render(
        request, g, "signin_code.html", next=deps.safe_next(next), email=email[:254], sent=False
    )


@router.get("/signin/link")
def signin_link(request: Request, e: str = "", c: str = "", next: str = "/") -> Response:  # noqa: A002
    """The emailed link: a button that signs in (by POST), nothing more."""
    g = deps.guest(request)
    return deps.render(
        request, g, "signin_link.html", next=deps.safe_next(next), email=e[:254], code=c[:32]
    )


def _open(request: Request, g: Guest, form: Form, template: str) -> Response:
    """Trade the posted email and code for a session; on to ``next`` (the form's, else the one
    this browser kept when it asked for the email)."""
    next_path = deps.safe_next(form.get("next"))
    if next_path == "/":
        next_path = deps.safe_next(request.cookies.get(deps.NEXT_COOKIE))
    email, code = form.get("email", "").strip(), form.get("code", "")
    try:
        opened = sign_in(email, code, label="web", clock=g.clock)
    except NotSignedIn:
        problem = Problem.make(
            "invalid",
            N_(
                "code: wrong, used or expired code; check the newest sign-in email, "
                "or ask for a new code"
            ),
            g.language,
            field="code",
        )
    except HomewardError as exc:
        problem = Problem.of(exc, g.language)
    else:
        deps.end_previous_session(request, g.clock)
        deps.start_session(request, opened.token, opened.expires_at, g.clock)
        return RedirectResponse(next_path, status_code=303)
    return deps.render(
        request,
        g,
        template,
        next=next_path,
        email=email,
        code="",
        sent=False,
        problem=problem,
        status_code=problem.status,
    )


@router.post("/signin/code")
def signin_code(
    request: Request, g: Guest = Depends(deps.guest), form: Form = Depends(deps.guest_form)
) -> Response:
    return _open(request, g, form, "signin_code.html")


@router.post("/signin/link")
def signin_link_confirm(
    request: Request, g: Guest = Depends(deps.guest), form: Form = Depends(deps.guest_form)
) -> Response:
    return _open(request, g, form, "signin_link.html")


@router.post("/signout")
def signout(
    request: Request, v: Viewer = Depends(deps.viewer), _form: Form = Depends(deps.checked_form)
) -> Response:
    """End this session (``EndSession``) and forget the cookies."""
    try:
        deps.call(v, EndSession())
    except (Problem, deps.SignInNeeded):
        pass  # ended already: signed out all the same
    deps.end_cookies(request)
    return RedirectResponse("/signin?why=out", status_code=303)


@router.get("/language")
def language_form(request: Request, next: str = "/") -> Response:  # noqa: A002
    looker = deps.current_viewer(request) or deps.guest(request)
    return deps.render(request, looker, "language.html", next=deps.safe_next(next))


@router.post("/language")
async def language_set(request: Request) -> Response:
    """Switch language: the signed-in person's profile, or (signed out) a cookie."""
    from starlette.concurrency import run_in_threadpool

    v = await run_in_threadpool(deps.current_viewer, request)
    looker: deps.Looker = v or deps.guest(request)
    form = await deps.read_form(request, looker.csrf)
    language = form.get("language", "")
    next_path = deps.safe_next(form.get("next"))
    if language not in SUPPORTED_LANGUAGES:
        problem = Problem.make(
            "invalid", N_("language: choose English or Română"), looker.language, field="language"
        )
        return deps.render(
            request, looker, "language.html", next=next_path, problem=problem, status_code=400
        )
    if v is not None:
        await run_in_threadpool(deps.call, v, SetMyLanguage(language))
    deps.queue_cookie(request, deps.LANGUAGE_COOKIE, language, 365 * 86_400)
    return RedirectResponse(next_path, status_code=303)
