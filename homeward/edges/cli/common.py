"""What the CLI modules share: consoles, the acting staff member, sessions, time display."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import typer
from sqlmodel import Session

from homeward.base.clock import SYSTEM_CLOCK, Clock
from homeward.base.errors import NotSignedIn
from homeward.base.models import CaseStatus, ItemStatus
from homeward.base.settings import get_settings
from homeward.commands.runner import transaction
from homeward.edges.cli import session_store
from homeward.edges.cli.consoles import console as console
from homeward.edges.cli.consoles import err_console as err_console
from homeward.edges.cli.consoles import for_terminal as for_terminal
from homeward.protection.identity import SessionToken
from homeward.records.idempotency import given_key


@dataclass
class CliState:
    clock: Clock = SYSTEM_CLOCK


state = CliState()


@contextmanager
def reading() -> Iterator[Session]:
    with transaction(writes=False) as session:
        yield session


@contextmanager
def writing() -> Iterator[Session]:
    """A write transaction whose standard output appears only once it has committed.

    What a command prints inside it is held back until the commit: a reader that stops early
    (``homeward case start ... | head -1``) or a failing write can no longer make the command
    print a case_ref and then roll the case back, and a refused command prints nothing.
    """
    with console.capture() as held:
        with transaction(writes=True) as session:
            session.info["proof"] = operator_proof()  # server commands act for no staff member
            yield session
    console.file.write(held.get())
    console.file.flush()


def operator_proof() -> str:
    """How a server-side command without a staff member is recorded: the operator's account
    on this machine (org, staff, keys, retention, mail and backup commands need the key file)."""
    return f"operator {getpass.getuser()}@{socket.gethostname()}"[:120]


def credential() -> SessionToken:
    """The signed-in user's session token (``homeward login``); refused if there is none."""
    token = session_store.read()
    if not token:
        raise NotSignedIn("session: not signed in; run `homeward login`")
    return SessionToken(token)


def now() -> datetime:
    return state.clock.now()


def where_now(phase: str) -> str:
    """Where a case is after a move, in words: "in stage assessed", or "suspended"."""
    return phase if phase in set(CaseStatus) else f"in stage {phase}"


def local(moment: datetime | None) -> str:
    """A moment in the configured timezone, to the minute."""
    if moment is None:
        return ""
    return moment.astimezone(get_settings().tz).strftime("%Y-%m-%d %H:%M")


def local_day(moment: datetime | date | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        return moment.astimezone(get_settings().tz).strftime("%Y-%m-%d")
    return moment.isoformat()


def _given_key(value: str | None) -> str | None:
    return given_key(value)


def request_id_option() -> Any:
    """``--request-id KEY``: retrying the command with the same key does not do it twice."""
    return typer.Option(
        None,
        "--request-id",
        envvar="HOMEWARD_REQUEST_ID",
        callback=_given_key,
        help="idempotency key (8-100 of A-Z a-z 0-9 . _ : -, e.g. a UUID; no personal data): "
        "a retry with the same key prints the first result and does nothing again",
    )


def expect_version_option() -> Any:
    """``--expect-version N``: refuse if the case changed since the user read version N."""
    return typer.Option(
        None,
        "--expect-version",
        "--expected-version",
        help="refuse (exit 5) if the case changed since this version (`homeward case show`)",
    )


class _Listed(Protocol):
    """An item as stored or as a command's view lists it."""

    @property
    def status(self) -> str: ...
    @property
    def outcome(self) -> str | None: ...
    @property
    def partner_needed(self) -> str | None: ...


def item_status(item: _Listed) -> str:
    """An item's status as listed: its outcome, and the partner it waits for."""
    text = item.status + (f" ({item.outcome})" if item.outcome else "")
    if item.partner_needed and item.status == ItemStatus.OPEN:
        text += f", partner needed: {item.partner_needed}"
    return text
