"""The one runner every edge calls: it owns the transaction, the proven principal, the request
key, the audit line and the returned view.

An edge (the CLI, a Prefect flow, the web workspace) builds a typed request (a ``Command``),
hands it to ``run`` with the caller's credential, and prints or returns the view it gets back.
Inside one transaction ``run`` checks the keyring is the database's own
(``homeward.crypt.binding``), proves the credential (``homeward.protection.identity``), acts
for the principal's organisation (row security), stamps the principal's proof on every history
event the command writes, claims the request key (``homeward.records.idempotency``), runs the
command and writes one audit line. A command that fails changes nothing, key claim included; a
request repeated with its key writes nothing at all (the first attempt's audit line stands). A
key reused for another request is refused and leaves one audit line of its own
(``key_refused:<command>``: who, the case named, never the key nor the arguments), so a
replay with another payload is seen.
The engine's own rules (permissions, the procedure) stay in the engine the command calls.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, fields, is_dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from homeward.base.caseref import looks_like_ref
from homeward.base.clock import SYSTEM_CLOCK, Clock
from homeward.base.db import act_for_run, act_for_token, read_session, write_session
from homeward.base.errors import HomewardError, NotSignedIn, Refused
from homeward.base.migrate import ensure_schema
from homeward.base.models import StaffMember
from homeward.crypt.binding import check_keyring
from homeward.crypt.keys import load_keyring
from homeward.protection.identity import (
    Credential,
    Principal,
    RunAssertion,
    SessionToken,
    grant_id_of,
    prove,
)
from homeward.records.auditlog import audit
from homeward.records.idempotency import KeyReused, check_key, once

log = logging.getLogger(__name__)

V = TypeVar("V")


@dataclass
class Context:
    """What a command runs with: the transaction, who acts, and the moment."""

    session: Session
    principal: Principal
    actor: StaffMember | None
    now: datetime

    @property
    def staff(self) -> StaffMember:
        """The signed-in person acting (a service identity cannot act for one)."""
        if self.actor is None:
            raise NotSignedIn(
                f"session: {self.principal.proof} cannot do this; a signed-in person must"
            )
        return self.actor

    def ensure_service(self, what: str) -> None:
        """Refuse unless a named service acts: sweeps are the scheduler's, not a person's."""
        if self.principal.kind != "service":
            raise Refused(f"session: {what} is done by `homeward up` (the scheduler), not by staff")


class Command(Generic[V]):
    """One action: a frozen dataclass of its inputs, with ``execute`` returning its view.

    ``name`` is the command as users know it ("items done"); ``writes`` False runs it in a
    read-only transaction; ``args`` are the inputs a request key's fingerprint covers (never
    personal data or free text); ``case_ref`` names the case for the audit line."""

    name: ClassVar[str]
    writes: ClassVar[bool] = True

    def execute(self, ctx: Context) -> V:
        raise NotImplementedError

    def args(self) -> Mapping[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)} if is_dataclass(self) else {}

    def case_ref(self) -> str | None:
        return getattr(self, "ref", None)


@contextmanager
def transaction(*, writes: bool, engine: Engine | None = None) -> Iterator[Session]:
    """The transaction every command, sign-in and operator command works in: refused without
    keys, on a database at another schema, or under a keyring other than the one the database
    was sealed with (a write records it if none is yet), before anything is read or written."""
    load_keyring()  # no keys, no work at all
    ensure_schema(engine)
    if writes:
        _listen()
    opener = write_session if writes else read_session
    with opener(engine) as session:
        check_keyring(session, bind=writes)
        yield session


def _listen() -> None:
    """Subscribe the case history's listeners (notices, calendar invitations) before any write,
    whichever edge runs it: a change and the emails it causes commit together. Imported here
    rather than at the top, so that a read (``homeward case show``) does not load the mail
    templates and the calendar (the CLI loads only the modules a command needs)."""
    import notifications  # noqa: F401  (subscribes on import)


def _act(session: Session, credential: Credential, principal: Principal) -> None:
    """Row security (PostgreSQL): the database checks the credential again and acts for the
    person's organisation; the app's login cannot name an organisation itself."""
    if isinstance(credential, SessionToken):
        act_for_token(session, credential.token)
    elif isinstance(credential, RunAssertion) and principal.session_id is not None:
        act_for_run(session, credential.run_id, grant_id_of(credential))


def run(
    command: Command[V],
    credential: Credential,
    *,
    key: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
    engine: Engine | None = None,
) -> V:
    """Prove ``credential``, then run ``command`` in one transaction; return its view.

    With ``key``, a retry of the same request returns the first result and does nothing again,
    not even an audit line (the view must then be a dataclass of plain values). ``engine``:
    another database than the configured one (the demo's)."""
    key = check_key(key)
    try:
        return _run(command, credential, key, clock, engine)
    except KeyReused:
        _note_reused_key(command, credential, clock, engine)
        raise


def _note_reused_key(
    command: Command[Any], credential: Credential, clock: Clock, engine: Engine | None
) -> None:
    """The refusal of a request key reused for another request, in the audit log, in a
    transaction of its own (the refused one rolled back): the command, the case it named and
    who asked; never the key nor the arguments. A credential no longer live by now leaves none
    (its refusal is the answer either way). The case is named only if what the request gave
    has a case_ref's shape (a name typed into the field never reaches the log), and no failure
    here replaces the conflict the person is answered: it is logged by its type alone."""
    named = command.case_ref()
    ref = named if isinstance(named, str) and looks_like_ref(named) else None
    try:
        with suppress(HomewardError), transaction(writes=True, engine=engine) as session:
            now = clock.now()
            principal = prove(session, credential, now)
            actor = session.get(StaffMember, principal.staff_id) if principal.staff_id else None
            if actor is not None:
                _act(session, credential, principal)
            audit(
                session,
                actor=actor,
                action=f"key_refused:{command.name}"[:48],
                at=now,
                case_ref=ref.strip().upper() if ref else None,
                fields=[principal.kind],
            )
    except Exception as exc:  # noqa: BLE001 (the audit line is best effort; the conflict stands)
        log.warning("a reused request key's audit line was not written: %s", type(exc).__name__)


def _run(
    command: Command[V],
    credential: Credential,
    key: str | None,
    clock: Clock,
    engine: Engine | None,
) -> V:
    with transaction(writes=command.writes, engine=engine) as session:
        now = clock.now()
        principal = prove(session, credential, now)
        actor = session.get(StaffMember, principal.staff_id) if principal.staff_id else None
        if actor is not None:
            _act(session, credential, principal)
        session.info["proof"] = principal.proof
        ctx = Context(session, principal, actor, now)
        if not command.writes:
            return command.execute(ctx)
        if key is None:
            view = command.execute(ctx)
        else:
            view, replayed = _once(command, ctx, key)
            if replayed:
                return view
        audit(
            session,
            actor=actor,
            action=f"cmd:{command.name}"[:48],
            at=now,
            case_ref=command.case_ref(),
            fields=[principal.kind],
        )
        return view


def _once(command: Command[V], ctx: Context, key: str) -> tuple[V, bool]:
    """Run a keyed command once: the view is kept as plain values and rebuilt on a retry
    (then True). A service keys its commands as a person does (``ctx.actor`` None)."""
    kept: dict[str, type[Any]] = {}

    def first() -> Mapping[str, Any]:
        view = command.execute(ctx)
        if not is_dataclass(view) or isinstance(view, type):
            raise TypeError(f"{command.name}: a keyed command returns a dataclass view")
        kept["type"] = type(view)
        return asdict(view)

    result, replayed = once(
        ctx.session,
        key=key,
        command=command.name,
        actor=ctx.actor,
        args=_keyed_args(command, ctx),
        now=ctx.now,
        run=first,
    )
    view_type = kept.get("type") or _view_type(command)
    # A field the view has dropped since this result was kept is left out (``CaseOpened``
    # no longer counts other organisations' cases, and a retry must not bring the count back).
    kept_now = {k: v for k, v in result.items() if k in {f.name for f in fields(view_type)}}
    return view_type(**kept_now), replayed


def _keyed_args(command: Command[Any], ctx: Context) -> Mapping[str, Any]:
    """What a key's fingerprint covers: the command's arguments and, for a service (no
    person), which service (the scheduler's key is not the operator's)."""
    if ctx.actor is not None:
        return command.args()
    return {**command.args(), "service": ctx.principal.proof}


def _view_type(command: Command[Any]) -> type[Any]:
    view = getattr(type(command), "view", None)
    if view is None:
        raise TypeError(f"{command.name}: a keyed command names its view class (``view = ...``)")
    return view  # type: ignore[no-any-return]
