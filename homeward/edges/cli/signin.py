"""``homeward login``, ``logout``, ``whoami``, ``sessions`` and ``assertion``: proving who you are.

Staff sign in with a one-time code sent to their staff email; the session token is kept in
the user's config directory (mode 0600), and signing in again ends the session it replaces.
Every other staff command acts as the signed-in person: there is no way to act as somebody
else by typing their address.
"""

from __future__ import annotations

import contextlib
import getpass
import socket

import typer
from rich.table import Table

from homeward.base.errors import InvalidInput, NotSignedIn
from homeward.commands import signin
from homeward.commands.runner import run
from homeward.edges.cli import session_store
from homeward.edges.cli.common import console, credential, local, state
from homeward.protection.identity import SessionToken

sessions_app = typer.Typer(help="Your sessions: list them, end one.", no_args_is_help=True)


def login(
    email: str = typer.Argument(None, help="your staff email (asked for if not given)"),
    code: str = typer.Option(
        None, "--code", help="the code from the sign-in email (asked for if not given)"
    ),
) -> None:
    """Sign in: a one-time code is sent to your staff email; type it to open a session."""
    email = (email or typer.prompt("staff email")).strip()
    if "@" not in email:
        raise InvalidInput("email: give your staff email address, e.g. ana@iom-it.example.org")
    session_store.check()  # refuse an unsafe token file before a code is used up
    if code is None:
        requested = signin.request_code(email, clock=state.clock)
        signin.deliver(requested, clock=state.clock)
        console.print(
            f"If {email} is a staff address, a sign-in code was sent to it; it works once, "
            f"for {requested.minutes} minutes."
        )
        code = typer.prompt("code")
    label = f"cli {getpass.getuser()}@{socket.gethostname()}"
    opened = signin.sign_in(email, code, label=label, clock=state.clock)
    replaced = session_store.stored()
    path = session_store.store(opened.token)
    if replaced:  # its token is no longer kept anywhere here: end the session too
        with contextlib.suppress(NotSignedIn):
            run(signin.EndSession(), SessionToken(replaced), clock=state.clock)
    console.print(
        f"signed in as {email.lower()}: session {opened.session_id} until "
        f"{local(opened.expires_at)} (kept in {path})"
    )


def logout() -> None:
    """End this session here and on the server."""
    try:
        ended = run(signin.EndSession(), credential(), clock=state.clock)
    except NotSignedIn:
        session_store.forget()  # ended, expired or unknown already: drop the dead token too
        raise
    session_store.forget()
    console.print(f"signed out: session {ended.session_id} ended")


def whoami() -> None:
    """Who you are signed in as."""
    me = run(signin.WhoAmI(), credential(), clock=state.clock)
    console.print(
        f"{me.email} ({me.name}), {me.role} at {me.org}; session {me.session_id} until "
        f"{local(me.expires_at)}"
    )


@sessions_app.command("list")
def sessions_list() -> None:
    """Your sessions, newest first: where each was opened and until when it lasts."""
    lines = run(signin.ListSessions(), credential(), clock=state.clock)
    table = Table("session", "opened", "until", "where", "state")
    for line in lines:
        status = "ended" if line.ended else ("this one" if line.current else "open")
        table.add_row(
            line.session_id, local(line.created_at), local(line.expires_at), line.label, status
        )
    console.print(table)


@sessions_app.command("end")
def sessions_end(session_id: str = typer.Argument(..., help="a session id from the list")) -> None:
    """End one of your sessions (a lost laptop, a shared machine)."""
    ended = run(signin.EndSession(session_id), credential(), clock=state.clock)
    console.print(f"session {ended.session_id} ended")


def assertion(
    flow: str = typer.Option(..., "--flow", help="the flow to run, e.g. record-consent"),
) -> None:
    """A signed assertion for one Prefect run of FLOW: paste it into the run's `assertion`
    field. It acts for you, works for one run, and must be used within minutes."""
    issued = run(signin.IssueAssertion(flow), credential(), clock=state.clock)
    console.print(issued.token, soft_wrap=True)
    console.print(f"for one run of {issued.flow}, used by {local(issued.expires_at)}", style="dim")


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("whoami")(whoami)
    app.command("assertion")(assertion)
    app.add_typer(sessions_app, name="sessions")
