"""``create_app()``: the staff web workspace as one FastAPI application.

Pages are server-rendered (Jinja2, plain forms, no script needed). Each answer carries strict
security headers (no framing, no referrer, nothing cached: pages may show case details) and
the cookies queued while answering (``deps.queue_cookie``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from homeward.base.clock import SYSTEM_CLOCK, Clock
from homeward.edges.web import deps
from homeward.edges.web.deps import CsrfRefused, Problem, SignInNeeded
from homeward.edges.web.i18n import N_

STATIC = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def create_app(*, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    """The workspace (``clock``: a simulated one in tests and the demo)."""
    from homeward.edges.web import (  # the pages, after deps
        adhoc,
        assessments,
        cases,
        family,
        journal,
        mywork,
        plan,
        referral,
        signin,
        start,
        visits,
    )

    app = FastAPI(
        title="Homeward workspace",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # a staff tool, not an API: nothing to browse
    )
    app.state.clock = clock
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(signin.router)
    app.include_router(mywork.router)
    app.include_router(cases.router)
    app.include_router(start.router)
    for casework in (plan, visits, journal, adhoc, family, referral, assessments):  # issue 16
        app.include_router(casework.router)

    @app.middleware("http")
    async def _headers_and_cookies(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        deps.apply_cookies(request, response)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        deps.end_cookies(request) if exc.why else None
        if request.method == "GET":
            next_path = exc.next_path or deps.local_path(request)
        else:
            next_path = exc.next_path or _referer_path(request)
        target = deps.signin_url(deps.safe_next(next_path), exc.why)
        if request.method == "GET" and request.headers.get("sec-fetch-site") == "cross-site":
            # From an email or another site, a SameSite=Strict cookie is not sent: go on from
            # a page of ours, which sends it (signed in already, /signin takes one on).
            return deps.render(request, deps.guest(request), "bounce.html", target=target)
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused) -> Response:
        looker = await _looker(request)
        problem = Problem.make(
            "forbidden", N_("The form was not sent from this page."), looker.language
        )
        return deps.render(request, looker, "problem.html", error=problem, status_code=403)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        looker = await _looker(request)
        return deps.render(request, looker, "problem.html", error=exc, status_code=exc.status)

    @app.exception_handler(404)
    async def _not_found(request: Request, _exc: Exception) -> Response:
        looker = await _looker(request)
        problem = Problem.make("not_found", N_("There is no such page."), looker.language)
        return deps.render(request, looker, "problem.html", error=problem, status_code=404)

    @app.get("/healthz", include_in_schema=False)
    def _health() -> HTMLResponse:
        return HTMLResponse("ok")

    return app


def _referer_path(request: Request) -> str:
    """Where a POST came from, as a local path (for coming back after signing in)."""
    referer = request.headers.get("referer", "")
    base = str(request.base_url).rstrip("/")
    return referer[len(base) :] if referer.startswith(base + "/") else "/"


async def _looker(request: Request) -> deps.Looker:
    """Whoever is looking at an error page (signed in or not)."""
    return await run_in_threadpool(deps.current_viewer, request) or deps.guest(request)
