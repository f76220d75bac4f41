"""The PostgreSQL logins the tests and the benches run under, made as ``homeward db roles
--apply`` makes them (``homeward.base.roles.apply_roles``), on whatever cluster they are given.

Shared by ``tests/conftest.py`` (the suite's ``APP_LOGIN`` and ``SYSTEM_LOGIN``), by
``tests/signin.py`` and by the benches (``bench/scaleout_bench.py`` makes logins of its own
names): nothing here imports pytest or the suite's fixtures, and nothing assumes a login that
an earlier run on the same machine left behind.

Logins are the cluster's, not a database's: a passwordless login left behind is a member of
``homeward_app`` and ``homeward_system_scope``, groups every Homeward database on the cluster
trusts, and on a server that trusts local connections anyone could sign in as it and act as
the system in any of them. So each run makes logins of its own (``run_logins``: a random tag),
drops them when it ends (``drop_logins``), and drops those a crashed run left (``sweep_logins``:
each made here carries a comment with its time of making, and none lives longer than a run
can). Two runs at once on one cluster never share (nor drop) each other's.

``HOMEWARD_TEST_LOGINS=app,system`` names the suite's two logins otherwise: a run given names
neither drops nor sweeps them (``tests/test_bench_logins.py`` gives names never made, as on a
machine where the suite never ran on PostgreSQL). A run that makes its own puts their names in
that variable, so the processes it starts use the same ones.
"""

from __future__ import annotations

import os
import secrets
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from homeward.base.db import normalise_url
from homeward.base.roles import apply_roles

LOGINS_ENV = "HOMEWARD_TEST_LOGINS"
# What a login made here says of itself (``COMMENT ON ROLE``), with its time of making; one
# older than ``LONGEST_RUN`` is a crashed run's (a PostgreSQL run of the whole suite: ~30 min).
MADE = "homeward test login, made "
LONGEST_RUN = timedelta(hours=6)


def run_logins(prefix: str = "homeward_test") -> tuple[str, str, bool]:
    """This run's app and system logins: ``HOMEWARD_TEST_LOGINS``'s if given (not ours to
    drop: False), else ``<prefix>_app_<tag>`` and ``<prefix>_system_<tag>``, a random tag of
    this run's, put in that variable for the processes it starts (ours: True)."""
    given = os.environ.get(LOGINS_ENV)
    if given:
        app, system = given.split(",")
        return app, system, False
    tag = secrets.token_hex(4)
    app, system = f"{prefix}_app_{tag}", f"{prefix}_system_{tag}"
    os.environ[LOGINS_ENV] = f"{app},{system}"
    return app, system, True


APP_LOGIN, SYSTEM_LOGIN, OWN_LOGINS = run_logins()


def login_url(url: str, login: str) -> str:
    """``url`` with ``login`` as its user (no password: the test server trusts 127.0.0.1)."""
    return make_url(url).set(username=login, password=None).render_as_string(hide_password=False)


def takes_system_scope(url: str, login: str) -> bool:
    """Whether ``login``, connected to ``url``'s database, may enter the system scope
    (``homeward_system(true)``): the system login may, the app's login never."""
    import psycopg

    plain = login_url(url, login).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn, conn.cursor() as cursor:
        try:
            cursor.execute(b"SELECT homeward_system(true)")
        except psycopg.Error:
            return False
    return True


def make_logins(
    owner_url: str,
    *,
    app_login: str = APP_LOGIN,
    system_login: str = SYSTEM_LOGIN,
    temporary: bool = False,
) -> None:
    """The app login and the system login on ``owner_url``'s cluster, with their grants on its
    database (migrated: the groups are its migrations'), issued as that URL's user, the tables'
    owner. Roles are the cluster's: a suite or bench making the same ones at the same moment
    may collide on the catalog (``tuple concurrently updated``, a duplicate role): every
    statement may be issued again, so the whole is tried again. ``temporary``: logins of this
    run's own, marked with their time of making (``sweep_logins`` drops them once stale)."""

    def made(conn: Connection) -> None:
        apply_roles(conn, app_login=app_login, system_login=system_login)
        if temporary:
            at = conn.execute(text("SELECT now()")).scalar_one()
            for login in (app_login, system_login):
                conn.execute(text(f"COMMENT ON ROLE {login} IS '{MADE}{at.isoformat()}'"))

    _retried(owner_url, made)


def drop_logins(owner_url: str, *logins: str) -> None:
    """Drop these logins (those that exist) from ``owner_url``'s cluster, as that URL's user
    (a superuser, or a login with CREATEROLE); whatever they hold in that database first."""

    def dropped(conn: Connection) -> None:
        for login in logins:
            if conn.execute(_EXISTS, {"r": login}).first() is not None:
                conn.execute(text(f"DROP OWNED BY {login}"))
                conn.execute(text(f"DROP ROLE {login}"))

    _retried(owner_url, dropped)


_EXISTS = text("SELECT FROM pg_roles WHERE rolname = :r")
_MARKED = text(
    "SELECT r.rolname, d.description FROM pg_roles r JOIN pg_shdescription d "
    "ON d.objoid = r.oid AND d.classoid = 'pg_authid'::regclass WHERE d.description LIKE :made"
)


def sweep_logins(owner_url: str) -> list[str]:
    """Drop the logins a run made here (``make_logins(temporary=True)``) more than
    ``LONGEST_RUN`` ago: a crashed run's, which never dropped them. Which it dropped."""
    engine = create_engine(normalise_url(owner_url))
    try:
        with engine.connect() as conn:
            now = conn.execute(text("SELECT now()")).scalar_one()
            marked = conn.execute(_MARKED, {"made": MADE + "%"}).tuples().all()
    finally:
        engine.dispose()
    dropped = []
    for name in (name for name, said in marked if _made_at(said) < now - LONGEST_RUN):
        try:
            drop_logins(owner_url, name)
        except DBAPIError as exc:  # (something of another database holds it): said, not fatal
            warnings.warn(f"a stale test login {name} was not dropped: {exc}", stacklevel=2)
        else:
            dropped.append(name)
    return dropped


def _made_at(description: str) -> datetime:
    try:
        return datetime.fromisoformat(description.removeprefix(MADE))
    except ValueError:  # not ours after all: never stale
        return datetime.max.replace(tzinfo=UTC)


def _retried(owner_url: str, step: Callable[[Connection], None]) -> None:
    """``step`` in a transaction of ``owner_url``'s user, tried again (up to 5 times) when the
    catalog collides with another run's roles at the same moment."""
    engine = create_engine(normalise_url(owner_url))
    try:
        for attempt in range(5):
            try:
                with engine.begin() as conn:
                    step(conn)
                return
            except DBAPIError:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
    finally:
        engine.dispose()
