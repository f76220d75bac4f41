"""The benches make the PostgreSQL logins they run under (``tests/logins.py``, as ``homeward db
roles --apply`` does): none relies on a login an earlier pytest run left on the machine.

``bench/scaleout_bench.py`` once signed in through ``tests/conftest.py``'s system login, which
only a pytest session on PostgreSQL makes: on a fresh machine it died with ``role
"homeward_test_system" does not exist``. Here the suite's own logins are renamed to names never
made (``HOMEWARD_TEST_LOGINS``), as on such a machine.

And no login is left on the cluster (a passwordless login in ``homeward_system_scope`` acts as
the system in every Homeward database there): a session makes logins of its own and drops them
at its end, two sessions at once never share them, a crashed run's are swept once stale; the
scale-out bench drops its own.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from homeward.base.db import normalise_url
from tests.conftest import BACKEND, PG_ADMIN_URL
from tests.logins import (
    LOGINS_ENV,
    LONGEST_RUN,
    MADE,
    make_logins,
    sweep_logins,
    takes_system_scope,
)
from tests.wallclock import sitecustomize as wallclock

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="logins are PostgreSQL's")


def _drop_roles(owner_url: str, *roles: str) -> None:
    engine = create_engine(normalise_url(owner_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for role in roles:
            exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
            if exists.first() is not None:
                conn.execute(text(f"DROP OWNED BY {role}"))
                conn.execute(text(f"DROP ROLE {role}"))
    engine.dispose()


@pytest.fixture
def new_names(_template_db: str) -> Iterator[tuple[str, ...]]:
    """Four login names no one made before (dropped again after the test)."""
    tag = uuid.uuid4().hex[:8]
    names = tuple(f"hw_t_{tag}_{kind}" for kind in ("app", "sys", "suite_app", "suite_sys"))
    yield names
    _drop_roles(PG_ADMIN_URL, *names)


def test_make_logins_makes_both_logins_as_db_roles_does(
    _template_db: str, new_names: tuple[str, ...]
) -> None:
    app, system = new_names[:2]
    for _ in range(2):  # again: nothing to add
        make_logins(_template_db, app_login=app, system_login=system)
    engine = create_engine(normalise_url(_template_db))
    with engine.connect() as admin:
        found = admin.execute(
            text(
                "SELECT rolname, rolcanlogin, rolsuper OR rolbypassrls, "
                "pg_has_role(rolname, 'homeward_app', 'MEMBER'), "
                "pg_has_role(rolname, 'homeward_system_scope', 'MEMBER'), "
                "EXISTS (SELECT FROM pg_tables WHERE tableowner = rolname) "
                "FROM pg_roles WHERE rolname IN (:a, :s) ORDER BY rolname = :s"
            ),
            {"a": app, "s": system},
        ).all()
    engine.dispose()
    assert [tuple(r) for r in found] == [
        (app, True, False, True, False, False),
        (system, True, False, True, True, False),
    ]
    for login, may in ((app, False), (system, True)):
        assert takes_system_scope(_template_db, login) is may, login


# In a process of its own, as `bench/run.py --scaleout-runs N` runs it: the scale-out bench's
# database and logins (names given), and a sign-in of its coordinator (what its burst does
# first); the suite's fixtures never loaded.
_BENCH = """
import sys
from pathlib import Path

sys.path.insert(0, str(Path(sys.argv[1]) / "bench"))
import scaleout_bench
from tests import scaleout
from tests.factories import COORD
from tests.signin import assertion_for

name, url = scaleout_bench._homeward_database(
    Path(sys.argv[2]), app_login=sys.argv[3], system_login=sys.argv[4]
)
try:
    assert url.split("://", 1)[1].startswith(sys.argv[4] + "@"), url
    assert assertion_for(COORD, "start-return")
    assert "tests.conftest" not in sys.modules
finally:
    scaleout.drop_database(name)
print("signed in")
"""


def test_the_scaleout_bench_makes_its_own_logins(
    tmp_path: Path, new_names: tuple[str, ...]
) -> None:
    """The suite's logins renamed to ones never made: the bench must not reach for them."""
    app, system, suite_app, suite_system = new_names
    # the bench runs on the real clock, as the database's (no test shift in its database): not
    # on the suite's chosen wall clock (HOMEWARD_TEST_WALL_CLOCK, which CI sets hours away)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOMEWARD_", "PREFECT_")) and k != wallclock.OFFSET_ENV
    }
    env |= {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "HOMEWARD_TEST_PG_URL": PG_ADMIN_URL,
        LOGINS_ENV: f"{suite_app},{suite_system}",
    }
    command = [sys.executable, "-c", _BENCH, str(ROOT), str(tmp_path), app, system]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "signed in" in done.stdout


# A PostgreSQL session of the suite's own (no logins named: it makes its own), one test that
# writes down the logins it ran under; they exist while it runs.
_PROBE_ENV = "HOMEWARD_TEST_LOGINS_PROBE"


@pytest.mark.skipif(not os.environ.get(_PROBE_ENV), reason="run by the test below, in a session")
def test_a_sessions_own_logins(db_url: str) -> None:
    from tests.logins import APP_LOGIN, OWN_LOGINS, SYSTEM_LOGIN

    assert OWN_LOGINS and db_url.split("://", 1)[1].startswith(SYSTEM_LOGIN + "@")
    engine = create_engine(normalise_url(PG_ADMIN_URL))
    with engine.connect() as admin:
        found = admin.execute(
            text("SELECT count(*) FROM pg_roles WHERE rolname IN (:a, :s)"),
            {"a": APP_LOGIN, "s": SYSTEM_LOGIN},
        ).scalar_one()
    engine.dispose()
    assert found == 2
    Path(os.environ[_PROBE_ENV]).write_text(f"{APP_LOGIN},{SYSTEM_LOGIN}")


def _session(probe: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != LOGINS_ENV}
    env |= {_PROBE_ENV: str(probe), "HOMEWARD_TEST_DB": "postgres"}
    test = f"{Path(__file__).relative_to(ROOT)}::test_a_sessions_own_logins"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def test_two_sessions_at_once_make_and_drop_logins_of_their_own(tmp_path: Path) -> None:
    """Two PostgreSQL sessions of the suite at once, on one cluster: each signs in as logins of
    its own (neither drops the other's), and drops them when it ends: none is left behind."""
    probes = [tmp_path / "first", tmp_path / "second"]
    sessions = [_session(probe) for probe in probes]
    for session in sessions:
        out, _ = session.communicate(timeout=600)
        assert session.returncode == 0, out[-3000:]
    logins = [probe.read_text().split(",") for probe in probes]
    assert not set(logins[0]) & set(logins[1])
    engine = create_engine(normalise_url(PG_ADMIN_URL))
    with engine.connect() as admin:
        left = admin.execute(
            text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:n)"),
            {"n": logins[0] + logins[1]},
        ).all()
    engine.dispose()
    assert left == []


def test_a_crashed_runs_logins_are_swept_once_stale(
    _template_db: str, new_names: tuple[str, ...]
) -> None:
    """A run that never reached its end left its logins: the next run drops those made more
    than ``LONGEST_RUN`` ago; a fresh one (another run's, still going) and a login not made
    by a run (an operator's, or one given by name) stay."""
    fresh, stale, given, _ = new_names
    make_logins(_template_db, app_login=fresh, system_login=stale, temporary=True)
    make_logins(_template_db, app_login=given, system_login=new_names[3])
    engine = create_engine(normalise_url(_template_db))
    with engine.begin() as admin:  # made before the longest run, by the database's clock
        old = admin.execute(
            text("SELECT now() - :longest - interval '5 minutes'"), {"longest": LONGEST_RUN}
        ).scalar_one()
        admin.execute(text(f"COMMENT ON ROLE {stale} IS '{MADE}{old.isoformat()}'"))
    assert sweep_logins(_template_db) == [stale]
    with engine.connect() as admin:
        left = (
            admin.execute(
                text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:n) ORDER BY rolname"),
                {"n": list(new_names)},
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert sorted(left) == sorted([fresh, given, new_names[3]])


def test_a_leftover_login_with_more_rights_is_made_plain(
    _template_db: str, new_names: tuple[str, ...]
) -> None:
    """A login of the name found already (a crashed run's), made a superuser and able to
    bypass row security since: made again, it is a plain login."""
    app, system = new_names[:2]
    engine = create_engine(normalise_url(_template_db))
    with engine.begin() as admin:
        admin.execute(text(f"CREATE ROLE {system} LOGIN SUPERUSER BYPASSRLS CREATEROLE"))
    make_logins(_template_db, app_login=app, system_login=system)
    with engine.connect() as admin:
        found = admin.execute(
            text(
                "SELECT rolsuper OR rolbypassrls OR rolcreaterole FROM pg_roles WHERE rolname = :s"
            ),
            {"s": system},
        ).scalar_one()
    engine.dispose()
    assert found is False
    assert takes_system_scope(_template_db, system)


def _made_here(*logins: str) -> list[str]:
    """Which of ``logins`` exist, each marked as made by a run (``make_logins(temporary=True)``,
    so a crashed run's are swept)."""
    engine = create_engine(normalise_url(PG_ADMIN_URL))
    with engine.connect() as admin:
        found = admin.execute(
            text(
                "SELECT r.rolname FROM pg_roles r JOIN pg_shdescription d ON d.objoid = r.oid "
                "WHERE r.rolname = ANY(:n) AND d.description LIKE :made ORDER BY 1"
            ),
            {"n": list(logins), "made": MADE + "%"},
        )
        names = list(found.scalars())
    engine.dispose()
    return names


def _bench_module(name: str) -> Any:
    sys.path[:0] = [str(ROOT / "bench")]
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "bench"))


def test_the_benches_databases_are_served_as_logins_of_the_runs_own_dropped_with_them(
    tmp_path: Path,
) -> None:
    """``bench/run.py``'s databases (its own, the bulk bench's, the A/B benches'): the sweeps
    and a staff member's steps run as this run's logins, made with the first database and
    dropped with the last; made again for a database made after."""
    bench = _bench_module("run")
    logins = sorted([bench.APP_LOGIN, bench.SYSTEM_LOGIN])
    backend = bench.Backend("postgres", tmp_path, tmp_path / "keys.json")
    try:
        for _ in range(2):  # dropped between (the bulk bench: one database at a time)
            _, app = backend.fresh("logins")
            assert f"://{bench.SYSTEM_LOGIN}@" in app["HOMEWARD_DATABASE_URL"]
            assert f"://{bench.APP_LOGIN}@" in app["HOMEWARD_BENCH_APP_URL"]
            assert _made_here(*logins) == logins
            backend.drop_all()
            assert _made_here(*logins) == []
    finally:
        backend.drop_all()


def test_the_web_bench_serves_as_a_login_of_its_own_and_drops_it(tmp_path: Path) -> None:
    """``bench/web_bench.py``: the workspace runs as this run's app login (a database kept
    from an earlier run, in ``--workdir``, is served as this run's too), dropped at its end."""
    web = _bench_module("web_bench")
    logins = sorted([web.APP_LOGIN, web.SYSTEM_LOGIN])
    name, owner, app = web._new_pg_database()
    try:
        kept = web.Database("postgres", owner, app.replace(web.APP_LOGIN, "earlier_run"), 0, "", 0)
        served = web.with_logins(kept)
        assert f"://{web.APP_LOGIN}@" in served.app_url
        assert _made_here(*logins) == logins
    finally:
        web.drop_run_logins()
        web.drop_pg_database(name)
    assert _made_here(*logins) == []
