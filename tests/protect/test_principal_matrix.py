"""Every principal x every command of the commands layer (issue 13): nothing is read or written
without a proven principal, and a principal's refusals change nothing.

Principals: each organisation kind x staff role signed in for real; and the ones that must get
nothing: signed out, a made-up token, an expired session, an ended session, a deactivated
member's session, a forged run assertion, a replayed one (bound to another run), one issued
for another flow, a session token presented as an assertion and an assertion presented as a
session token. Commands: every ``Command`` subclass in ``homeward.commands`` (a new command
without a probe here fails ``test_every_command_has_a_probe``). Runs on SQLite and, with
``HOMEWARD_TEST_DB=postgres``, on PostgreSQL as the app's role under row security.
"""

from __future__ import annotations

import importlib
import itertools
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import homeward.commands
from homeward.base.clock import SimulatedClock
from homeward.base.db import system_scope, write_session
from homeward.base.errors import HomewardError, NotSignedIn
from homeward.base.models import StaffRole
from homeward.commands.runner import Command, run
from homeward.protection.identity import Credential, RunAssertion, SessionToken
from homeward.records.directory import StaffIn, add_staff, get_staff, validate
from tests import factories as f
from tests.protect.test_access_matrix import facts
from tests.signin import assertion_for, credential_for

# Every command, role and organisation on the simulated clock (tests/conftest.py): no wall
# clock of ours is read, so CI runs these once, not again at UTC midnight.
pytestmark = pytest.mark.matrix

ROLES = [r.value for r in StaffRole]
SLUGS = [slug for slug, *_ in f.ORGS]
KINDS = {slug: kind for slug, _, kind, _ in f.ORGS}


def all_commands() -> set[type[Command[Any]]]:
    """Every concrete command class of ``homeward.commands``."""
    for module in pkgutil.iter_modules(homeward.commands.__path__):
        importlib.import_module(f"homeward.commands.{module.name}")
    found: set[type[Command[Any]]] = set()
    todo: list[type[Command[Any]]] = [Command]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("homeward.commands.") and "name" in vars(sub):
                found.add(sub)
    return found


@dataclass
class World:
    """Two cases (an adult's shared with partners, a minor's), and the clock."""

    clock: SimulatedClock
    adult: str
    minor: str

    def item(self, ref: str | None = None) -> int:
        found = f.items(ref or self.adult, stage="identified_abroad")[0].id
        assert found is not None
        return found


# One probe per command: how to build it against the world. A probe is an ordinary request a
# user could make; whether it goes through for a principal is up to the engine and its tables.
PROBES: dict[str, Callable[[World], Command[Any]]] = {}


def probe(*names: str) -> Callable[[Callable[[World], Command[Any]]], Callable[[World], Any]]:
    def register(make: Callable[[World], Command[Any]]) -> Callable[[World], Any]:
        for name in names:
            PROBES[name] = make
        return make

    return register


def _load_probes() -> None:
    from homeward.commands import signin

    probe("WhoAmI")(lambda _w: signin.WhoAmI())
    probe("ListSessions")(lambda _w: signin.ListSessions())
    probe("EndSession")(lambda _w: signin.EndSession("0123456789ab"))
    probe("IssueAssertion")(lambda _w: signin.IssueAssertion("advance-case"))
    probe("ProveRun")(lambda _w: signin.ProveRun())
    probe("StartedByReader")(  # the web's wait page: is this run the reader's own?
        lambda _w: signin.StartedByReader(
            "not-an-assertion", "0b6c1c8e-6f5e-4c1e-9a59-2f1d8a7c0a11"
        )
    )
    from homeward.commands import mywork, profile

    probe("MyWork")(lambda w: mywork.MyWork(case=w.adult))

    probe("MyProfile")(lambda _w: profile.MyProfile())
    probe("SetMyLanguage")(lambda _w: profile.SetMyLanguage("ro"))
    from tests.protect import case_command_probes, command_probes

    command_probes.register(probe)  # items, handoffs, reports, import, scheduled sweeps
    case_command_probes.register(probe)  # cases, closures, consent
    for path in sorted(Path(__file__).parent.glob("probes_*.py")):  # issue 16's parts, one each
        importlib.import_module(f"tests.protect.{path.stem}").register(probe)


_load_probes()


def email(org: str, role: str) -> str:
    return f"{role}.p@{org}.example.org"


@pytest.fixture
def world(db_url: str, clock: SimulatedClock) -> World:
    f.seed()
    with write_session() as s:
        for org, role in itertools.product(SLUGS, ROLES):
            staff_in = validate(StaffIn, org=org, name="Matrix", email=email(org, role), role=role)
            add_staff(session=s, staff_in=staff_in)
    adult = f.open_case(clock, share=False)
    f.give_sharing(adult, clock, "iom-ro", "adpare")
    minor = f.open_case(clock, minor=True, ngo="fmb")
    return World(clock, adult, minor)


def test_every_command_has_a_probe() -> None:
    names = {cls.__name__ for cls in all_commands()}
    assert names, "no command found"
    assert names - set(PROBES) == set(), "commands without a probe in the principal matrix"


def _bad_credentials(world: World) -> dict[str, Credential]:
    """Credentials that prove nobody, each as an attacker would try it."""
    now = world.clock.now()
    victim = email("iom-it", "coordinator")
    expired = credential_for(email("iom-it", "supervisor"), now - timedelta(hours=13))
    ended = credential_for(email("iom-ro", "coordinator"), now)
    run(_end(), ended, clock=world.clock)
    leaver = credential_for(email("adpare", "caseworker"), now)
    with write_session() as s, system_scope(s):  # the directory (0031)
        staff = get_staff(session=s, email=email("adpare", "caseworker"))
        staff.active = False
        s.add(staff)
    real = assertion_for(victim, "advance-case", now)
    run(_prove(), RunAssertion(real, "advance-case", "run-of-someone-else"), clock=world.clock)
    fresh = assertion_for(victim, "advance-case", now)
    session = credential_for(victim, now)
    flipped = real[:-3] + ("AAA" if not real.endswith("AAA") else "BBB")
    return {
        "signed out": SessionToken(""),
        "made-up token": SessionToken("x" * 43),
        "expired session": expired,
        "ended session": ended,
        "deactivated member": leaver,
        "forged assertion": RunAssertion(flipped, "advance-case", "run-1"),
        "replayed assertion": RunAssertion(real, "advance-case", "run-2"),
        "assertion for another flow": RunAssertion(fresh, "record-checklist-item", "run-3"),
        "session token as assertion": RunAssertion(session.token, "advance-case", "run-4"),
        "assertion as session token": SessionToken(fresh),
    }


def _end() -> Command[Any]:
    from homeward.commands.signin import EndSession

    return EndSession()


def _prove() -> Command[Any]:
    from homeward.commands.signin import ProveRun

    return ProveRun()


def test_no_command_reads_or_writes_without_a_proven_principal(world: World) -> None:
    bad = _bad_credentials(world)
    before = f.db_snapshot()
    commands = {name: make(world) for name, make in sorted(PROBES.items())}
    for (who, credential), (name, command) in itertools.product(bad.items(), commands.items()):
        with pytest.raises(NotSignedIn) as refused:
            run(command, credential, clock=world.clock)
        message = str(refused.value)
        assert "\n" not in message and message.split(":")[0] in {"session", "assertion"}, (
            who,
            name,
            message,
        )
    assert f.db_snapshot() == before, "a refused principal changed the database"


def test_each_kind_and_role_gets_through_only_what_the_engine_allows(world: World) -> None:
    """Every signed-in kind x role x command: either a view, or one line and nothing changed.

    Which of them go through is the permission table's and the access rules' business
    (tests/protect/test_permission_matrix.py and test_access_matrix.py check those cells);
    here: a refusal never leaves a trace, and an organisation that takes no part in a case
    never gets a view of it."""
    outsiders = set(SLUGS) - facts(world.adult)["visible"]  # take no part in the adult's case
    assert outsiders, "the world must have organisations outside the adult's case"
    for org, role in itertools.product(SLUGS, ROLES):
        credential = credential_for(email(org, role), world.clock.now())
        for name, make in sorted(PROBES.items()):
            if name == "EndSession":
                continue  # ends nothing of theirs: covered in tests/protect/test_identity.py
            command = make(world)
            before = f.db_snapshot()
            try:
                view = run(command, credential, clock=world.clock)
            except HomewardError as exc:
                assert "\n" not in str(exc), (org, role, name)
                assert f.db_snapshot() == before, (org, role, name, str(exc))
                continue
            ref = getattr(command, "ref", None)
            if ref == world.adult and org in outsiders:
                pytest.fail(f"{org} {role} got {name} on a case it takes no part in: {view!r}")
            if org in outsiders and world.adult in repr(view):
                pytest.fail(f"{org} {role}: {name} names a case it takes no part in: {view!r}")
