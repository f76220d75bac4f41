"""Idempotency keys: a create or a transition retried with its key returns what the first
attempt did, instead of doing it again.

The caller names a request with a key (``--request-id`` at the CLI, the flow run's id and step
in a flow). Inside the write transaction of the change, ``once`` first claims the key with an
insert the database keeps unique (on PostgreSQL a concurrent retry waits there for the first
attempt to commit or roll back; SQLite writers queue anyway), then makes the change and
records its result: codes and ids only. A key found recorded for the same command, actor and
arguments returns that result and changes nothing; the same key for anything else is refused
(``Conflict``; the runner writes the refusal, never the key, in the audit log). A request that
fails rolls its claim back with everything else, so it can be
retried with the same key. Keys and fingerprints never hold personal data: the fingerprint
covers only the non-personal arguments, and a refused key is never echoed. A service (the
scheduler, no person) keys its requests too: its keys are claimed and read for the system
(row security's system scope), as it acts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlmodel import Session

from homeward.base import models
from homeward.base.db import insert_for, system_scope
from homeward.base.errors import Conflict, InvalidInput
from homeward.base.models import StaffMember

KEY_SHAPE = re.compile(r"[A-Za-z0-9._:-]{8,100}")
LONGEST_KEY = 100
Result = dict[str, str | int | bool | None]


def check_key(key: str | None, field: str = "--request-id") -> str | None:
    """``key`` if it has the shape of a request key (8-100 of ``A-Z a-z 0-9 . _ : -``)."""
    if key is None:
        return None
    if not KEY_SHAPE.fullmatch(key):
        raise InvalidInput(
            f"{field}: use 8 to 100 characters of letters, digits and . _ : - "
            "(e.g. a UUID); never names or other personal details"
        )
    return key


# A flow run's own keys (``flow_key``): no key a person gives may take this form, or a staff
# member could claim a run's key before the run does (its id shows in Prefect), and the run,
# its fingerprint another's, would then be refused as a conflict.
FLOW_PREFIX = "flow:"


def given_key(key: str | None, field: str = "--request-id") -> str | None:
    """``key`` as a person gives it (the CLI's ``--request-id``, a page's form, a flow's
    ``request_id``): a request key's shape, and not a flow run's own form (``FLOW_PREFIX``)."""
    if key is not None and key.lower().startswith(FLOW_PREFIX):
        raise InvalidInput(
            f"{field}: keys starting with {FLOW_PREFIX!r} are a flow run's own; "
            "use another (e.g. a UUID)"
        )
    return check_key(key, field)


def flow_key(run_id: str | None, step: str, given: str | None = None) -> str | None:
    """A flow's request key: the one given, else the flow run's id and the step (so a retry or
    re-run of the same flow run repeats nothing), else none (called outside a flow run)."""
    if given is not None:
        return given_key(given, "request_id")
    return check_key(f"{FLOW_PREFIX}{run_id}:{step}") if run_id else None


def step_key(key: str | None, step: str) -> str | None:
    """The key of one more command of the request ``key`` names (a flow run that files a
    closure request, then records its answer): ``key:step``, or, when that would be too long,
    a hash of ``key`` in its place. None without ``key``."""
    if key is None:
        return None
    whole = f"{key}:{step}"
    if len(whole) <= LONGEST_KEY:
        return whole
    return f"{hashlib.sha256(key.encode('utf-8')).hexdigest()}:{step}"[:LONGEST_KEY]


def fingerprint(command: str, actor: StaffMember | None, args: Mapping[str, Any]) -> str:
    """A hash of what the request asks for (never give it personal data); ``actor`` None: a
    service."""
    who = actor.id if actor is not None else None
    text = json.dumps({"command": command, "actor": who, "args": args}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class KeyReused(Conflict):
    """A request key recorded for another request (command, actor or arguments): refused, and
    the runner notes the refusal in the audit log (``homeward.commands.runner``)."""


def _table() -> Table:
    # named here, not at the top: a command without a request key never defines its table
    table: Table = models.RequestKey.__table__  # type: ignore[attr-defined]
    return table


@contextmanager
def _scope(session: Session, actor: StaffMember | None) -> Iterator[None]:
    """Where a key is claimed and read: a person's own rows, or, for a service, the system's."""
    with system_scope(session) if actor is None else nullcontext():
        yield


def _claim(
    session: Session, key: str, command: str, print_: str, actor: StaffMember | None, now: datetime
) -> bool:
    insert = insert_for(session)
    statement = (
        insert(_table())
        .values(
            key=key,
            command=command,
            fingerprint=print_,
            actor_id=actor.id if actor is not None else None,
            result={},
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(_table().c.id)
    )
    return session.execute(statement).scalar_one_or_none() is not None


def _earlier(session: Session, key: str, command: str, print_: str) -> Result:
    row = session.execute(
        select(_table().c.command, _table().c.fingerprint, _table().c.result).where(
            _table().c.key == key
        )
    ).one_or_none()  # PostgreSQL shows an actor only its own keys: another's is not here
    if row is None or row.command != command or row.fingerprint != print_ or not row.result:
        raise KeyReused(
            "request id: already used for a different request (another command, actor or "
            "arguments); use a new request id for this one"
        )
    result: Result = dict(row.result)
    return result


def _checked(result: Mapping[str, Any]) -> Result:
    for name, value in result.items():
        if value is not None and not isinstance(value, str | int | bool):
            raise TypeError(f"request result {name}: codes and ids only")  # programming error
    return dict(result)


def once(
    session: Session,
    *,
    key: str | None,
    command: str,
    actor: StaffMember | None,
    args: Mapping[str, Any],
    now: datetime,
    run: Callable[[], Mapping[str, Any]],
) -> tuple[Result, bool]:
    """Run ``run`` once per ``key``: returns its result and False, or, when the key was used
    before for the same request, the recorded result and True (nothing else is done).

    Without a key, ``run`` simply runs. ``args`` are the request's non-personal arguments;
    ``actor`` None: a service asks.
    """
    if key is None:
        return _checked(run()), False
    print_ = fingerprint(command, actor, args)
    with _scope(session, actor):
        if not _claim(session, key, command, print_, actor, now):
            return _earlier(session, key, command, print_), True
    result = _checked(run())
    case_id = result.get("case_id")
    with _scope(session, actor):
        session.execute(
            update(_table())
            .where(_table().c.key == key)
            .values(result=result, case_id=case_id if isinstance(case_id, int) else None)
        )
    return result, False
