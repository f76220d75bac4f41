"""Test fixtures: a real database per test (SQLite file, or PostgreSQL when selected).

Select the backend with ``HOMEWARD_TEST_DB=sqlite|postgres``. PostgreSQL is reached at
``HOMEWARD_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``); one fresh
database is created per test session and emptied between tests. With ``CI=true`` an unreachable
PostgreSQL fails the run instead of skipping. ``HOMEWARD_TEST_WALL_CLOCK=2026-12-03T22:30:00Z``
runs the suite, and the processes it starts, under a wall clock starting at that moment.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

# Before anything imports Prefect: the test server (tests/workflows) sends no analytics, and
# flushes logs and events quickly so the tests can read them back.
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL", "0.5")
os.environ.setdefault("PREFECT_LOGGING_TO_API_BATCH_INTERVAL", "0.5")
# aiosmtpd gives a mail server 5 s to start and answer its first connection, else TimeoutError
# ("the system is too busy"): 0.1-0.2 s at load 22, but every test mail server (and the
# ``homeward demo`` process's) starts on two cores shared with the other suite. A guard only:
# a server that is up goes on at once.
os.environ.setdefault("AIOSMTPD_CONTROLLER_TIMEOUT", "60")

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text

from homeward.base import db as homeward_db
from homeward.base import models
from homeward.base import settings as homeward_settings
from homeward.base.clock import SimulatedClock
from homeward.base.migrate import upgrade
from homeward.crypt import binding
from homeward.crypt.keys import init_keyring
from tests import signin
from tests.logins import (
    APP_LOGIN,
    OWN_LOGINS,
    SYSTEM_LOGIN,
    drop_logins,
    login_url,
    make_logins,
    sweep_logins,
)
from tests.wallclock import sitecustomize as wallclock


def _fix_wall_clock() -> None:
    """``HOMEWARD_TEST_WALL_CLOCK`` (ISO moment, naive = UTC): the suite's wall clock starts there.

    Its subprocesses follow through ``PYTHONPATH`` (see tests/wallclock/sitecustomize.py).
    """
    wanted = os.environ.get("HOMEWARD_TEST_WALL_CLOCK")
    if not wanted or os.environ.get(wallclock.OFFSET_ENV):  # unset, or set by a parent process
        return
    moment = datetime.fromisoformat(wanted)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    offset = moment.timestamp() - time.time()
    os.environ[wallclock.OFFSET_ENV] = repr(offset)
    site = str(Path(wallclock.__file__).parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [site, os.environ.get("PYTHONPATH")]))
    wallclock.start(offset)


_fix_wall_clock()

# Property tests judge what code gives, not how fast: on a shared 2-core machine an example's
# first call (a keyring read, a first compile) can pass Hypothesis's 200 ms deadline, which
# it reports as a failure. Time is the benchmarks' (bench/).
hypothesis_settings.register_profile(
    "homeward", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("homeward")

BACKEND = os.environ.get("HOMEWARD_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "HOMEWARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _reset_caches() -> None:
    homeward_settings.get_settings.cache_clear()
    homeward_db.get_engine.cache_clear()
    binding.forget()  # a test's database is new (on PostgreSQL: the same one, emptied)


def _pg_admin() -> Engine:
    url = homeward_db.normalise_url(PG_ADMIN_URL)
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session", autouse=True)
def keyring_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One throw-away keyring for the whole session (``HOMEWARD_KEY_FILE``)."""
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    init_keyring(path)
    previous = os.environ.get("HOMEWARD_KEY_FILE")
    os.environ["HOMEWARD_KEY_FILE"] = str(path)
    _reset_caches()
    yield path
    if previous is None:
        os.environ.pop("HOMEWARD_KEY_FILE", None)
    else:
        os.environ["HOMEWARD_KEY_FILE"] = previous
    _reset_caches()


@pytest.fixture(autouse=True)
def _signed_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts signed out: no session in the environment, a session file of its own
    (a backup keyring and an audit checkpoint file of its own)."""
    signin.forget_all()
    monkeypatch.delenv("HOMEWARD_SESSION", raising=False)
    monkeypatch.setenv("HOMEWARD_SESSION_FILE", str(tmp_path / "config" / "session"))
    monkeypatch.setenv("HOMEWARD_BACKUP_KEY_FILE", str(tmp_path / "config" / "backup-keys.json"))
    monkeypatch.setenv("HOMEWARD_AUDIT_ANCHOR_FILE", str(tmp_path / "audit-checkpoints.log"))
    _reset_caches()


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database made once per session: an SQLite file, or a PostgreSQL database."""
    if BACKEND == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        engine = homeward_db.make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        yield str(path)
        return
    name = f"homeward_test_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - report any connection failure the same way
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = homeward_db.make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:  # sessions issued on a simulated clock are live to the database
        conn.execute(text("INSERT INTO homeward_db_clock VALUES (1, '-100 years')"))
    engine.dispose()
    if OWN_LOGINS:  # a crashed run's logins, left on the cluster: dropped once stale
        sweep_logins(PG_ADMIN_URL)
    # as `homeward db roles --apply` makes them: neither owns a table; this run's own
    make_logins(url, temporary=OWN_LOGINS)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    if OWN_LOGINS:  # not left on the cluster, where any Homeward database trusts their groups
        drop_logins(PG_ADMIN_URL, APP_LOGIN, SYSTEM_LOGIN)


@pytest.fixture
def as_the_owner(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's database as its tables' owner (PostgreSQL: the tests' superuser), as backups,
    restores and a purge's ``VACUUM FULL`` need; SQLite has one user."""
    if BACKEND == "postgres":
        request.getfixturevalue("db_url")
        monkeypatch.setenv("HOMEWARD_DATABASE_URL", request.getfixturevalue("_template_db"))
        _reset_caches()


@pytest.fixture
def db_url(_template_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, migrated, empty database for this test; ``HOMEWARD_DATABASE_URL`` points at it."""
    if BACKEND == "sqlite":
        target = tmp_path / "homeward.db"
        shutil.copy(_template_db, target)
        url = f"sqlite:///{target}"
    else:
        _truncate_all(_template_db)
        login = APP_LOGIN if os.environ.get("HOMEWARD_TEST_PG_LOGIN") == "app" else SYSTEM_LOGIN
        url = login_url(_template_db, login)  # not the owner: row security applies
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", url)
    _reset_caches()
    yield url
    homeward_db.get_engine().dispose()
    _reset_caches()


def _truncate_all(url: str) -> None:
    engine = create_engine(homeward_db.normalise_url(url))  # as the owner
    tables = ", ".join(f'"{t.name}"' for t in models.metadata().sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(  # the sign-in emails the database counted (migration 0028)
            text(
                "DO $$ BEGIN IF to_regclass('public.homeward_code_mail') IS NOT NULL THEN "
                "TRUNCATE homeward_code_mail; END IF; END $$"
            )
        )
        # A test that played the insider turning a guard off (``DISABLE TRIGGER``) leaves it
        # off in this shared database: every test starts with every guard on again.
        conn.execute(
            text(
                "DO $$ DECLARE t record; BEGIN FOR t IN SELECT DISTINCT c.relname"
                " FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
                " AND NOT g.tgisinternal AND g.tgenabled = 'D' LOOP"
                " EXECUTE format('ALTER TABLE public.%I ENABLE TRIGGER USER', t.relname);"
                " END LOOP; END $$"
            )
        )
    engine.dispose()


@pytest.fixture
def engine(db_url: str, _template_db: str) -> Iterator[Engine]:
    """An administrator's engine on this test's database, for looking under the hood.

    On PostgreSQL it connects as the superuser, which row security does not restrict; the app
    itself (``homeward.base.db.get_engine``) logs in as a login that owns nothing.
    """
    if BACKEND == "sqlite":
        yield homeward_db.get_engine()
        return
    admin = create_engine(homeward_db.normalise_url(_template_db))
    yield admin
    admin.dispose()


@pytest.fixture
def clock() -> SimulatedClock:
    """A simulated clock starting Monday 2026-01-05 09:00 UTC."""
    return SimulatedClock()


@pytest.fixture
def own_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A keyring of this test's own, for tests that rotate or destroy keys."""
    path = init_keyring(tmp_path / "own-keys.json")
    monkeypatch.setenv("HOMEWARD_KEY_FILE", str(path))
    homeward_settings.get_settings.cache_clear()
    yield path
    homeward_settings.get_settings.cache_clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak and chaos tests (marker ``slow``) are opt-in: skipped unless selected with
    ``-m slow``; their small versions run with the default suite."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow (sizes: see the test)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
