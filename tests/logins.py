"""The PostgreSQL logins the tests and the benches run under, made as ``homeward db roles
--apply`` makes them (``homeward.base.roles.apply_roles``), on whatever cluster they are given.

Shared by ``tests/conftest.py`` (the suite's ``APP_LOGIN`` and ``SYSTEM_LOGIN``), by
``tests/signin.py`` and by the benches (``bench/scaleout_bench.py`` makes logins of its own
names): nothing here imports pytest or the suite's fixtures, and nothing assumes a login that
an earlier run on the same machine left behind.

``HOMEWARD_TEST_LOGINS=app,system`` names the suite's two logins otherwise (default
``homeward_test_app,homeward_test_system``): ``tests/test_bench_logins.py`` gives names never
made, as on a machine where the suite never ran on PostgreSQL.
"""

from __future__ import annotations

import os
import time

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from homeward.base.db import normalise_url
from homeward.base.roles import apply_roles

LOGINS_ENV = "HOMEWARD_TEST_LOGINS"
APP_LOGIN, SYSTEM_LOGIN = os.environ.get(
    LOGINS_ENV, "homeward_test_app,homeward_test_system"
).split(",")


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
    owner_url: str, *, app_login: str = APP_LOGIN, system_login: str = SYSTEM_LOGIN
) -> None:
    """The app login and the system login on ``owner_url``'s cluster, with their grants on its
    database (migrated: the groups are its migrations'), issued as that URL's user, the tables'
    owner. Roles are the cluster's: a suite or bench making the same ones at the same moment
    may collide on the catalog (``tuple concurrently updated``, a duplicate role): every
    statement may be issued again, so the whole is tried again."""
    engine = create_engine(normalise_url(owner_url))
    try:
        for attempt in range(5):
            try:
                with engine.begin() as conn:
                    apply_roles(conn, app_login=app_login, system_login=system_login)
                return
            except DBAPIError:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
    finally:
        engine.dispose()
