"""The database layer on the real backend: schema, pragmas, append-only history, concurrency."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from homeward.base import models
from homeward.base import settings as homeward_settings
from homeward.base.db import make_engine, system_scope, write_session
from homeward.base.errors import Conflict, HomewardError, Refused
from homeward.base.migrate import alembic_head, current_revision, head_revision, shipped_head
from homeward.base.models import CaseEvent
from statemachines.cases import fire
from tests import factories as f
from tests.conftest import BACKEND, SYSTEM_LOGIN


def test_migrations_build_exactly_the_models(engine):
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), models.metadata()
        )
    # row security's and sign-in's (0015, 0028, 0032, 0036), not models: only the database's
    # definer functions read or write them
    machinery = {"homeward_scope", "homeward_db_clock", "homeward_code_mail"}
    machinery |= {"homeward_sign_in_pepper", "homeward_code_try"}

    def ours(change: tuple[Any, ...]) -> bool:
        if change[0] == "remove_table":
            return change[1].name not in machinery
        return change[0] != "remove_index" or change[1].table.name not in machinery

    assert [change for change in diff if ours(change)] == []


def test_the_schema_check_reads_what_alembic_reads(engine):
    """``ensure_schema`` runs before every command without importing Alembic: the head read off
    the migration files' headers and the version read from the table are Alembic's own."""
    from alembic.runtime.migration import MigrationContext

    assert shipped_head() == alembic_head()
    with engine.connect() as conn:
        assert current_revision(engine) == MigrationContext.configure(conn).get_current_revision()


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite pragmas")
def test_sqlite_runs_wal_with_full_sync_foreign_keys_and_busy_timeout(engine):
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000


def test_case_history_is_append_only_in_the_database(engine, clock):
    f.seed()
    f.open_case(clock, share=False)
    for statement in ("UPDATE case_event SET trigger = 'x'", "DELETE FROM case_event"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM case_event")).scalar() == 1


def test_datetimes_come_back_aware_utc(engine, clock):
    f.seed()
    ref = f.open_case(clock)
    case = f.load_case(ref)
    assert case.opened_at == clock.now() and case.opened_at.utcoffset().total_seconds() == 0
    assert all(i.due_at.tzinfo is not None for i in f.items(ref))


def test_stale_expected_version_is_a_conflict_and_changes_nothing(engine, clock):
    f.seed()
    ref = f.open_case(clock)
    before = f.db_snapshot()
    with pytest.raises(Conflict, match="was changed by someone else"), write_session() as s:
        fire(
            s,
            case_ref=ref,
            trigger="suspend",
            actor=f.actor(s),
            now=clock.now(),
            data={"reason": "safety_incident"},
            expected_version=f.load_case(ref).version + 1,
        )
    assert f.db_snapshot() == before


def test_concurrent_triggers_on_one_case_move_it_once(engine, clock):
    """Two coordinators suspend the same case at once: one wins, the other is refused."""
    f.seed()
    ref = f.open_case(clock)
    barrier, outcomes = threading.Barrier(4), []

    def suspend() -> None:
        barrier.wait()
        try:
            with write_session() as s:
                fire(
                    s,
                    case_ref=ref,
                    trigger="suspend",
                    actor=f.actor(s),
                    now=clock.now(),
                    data={"reason": "safety_incident"},
                )
            outcomes.append("moved")
        except HomewardError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=suspend) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == 4 and outcomes.count("moved") == 1
    assert set(outcomes) - {"moved"} <= {Refused.__name__, Conflict.__name__}
    with write_session() as s, system_scope(s):
        suspends = s.exec(select(CaseEvent).where(CaseEvent.trigger == "suspend")).all()
    assert len(suspends) == 1 and f.load_case(ref).phase == "suspended"


def test_a_nested_system_scope_leaves_the_outer_one_acting_for_the_system(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    with write_session() as s, system_scope(s):
        with system_scope(s):  # e.g. the case-history listeners inside a scheduler's command
            pass
        found = s.exec(select(CaseEvent).where(CaseEvent.trigger == "open")).all()  # still system
        assert [e.case_id for e in found] == [f.load_case(ref).id]
    with write_session() as s:
        if BACKEND == "postgres":  # outside every scope: no organisation, no case data
            with pytest.raises(DBAPIError, match="acts for no organisation"):
                s.exec(select(CaseEvent)).all()


def test_a_system_scope_that_commits_last_ends_with_its_transaction(db_url, clock):
    """A sweep's page commits inside its scope: no transaction is begun afterwards only to stop
    the scope, and the next transaction acts for no one until it asks."""
    f.seed()
    f.open_case(clock)
    with write_session() as s:
        with system_scope(s):
            assert s.exec(select(CaseEvent)).all()  # every organisation's events
            s.commit()
        assert not s.in_transaction()
        if BACKEND == "postgres":  # the scope held for the committed transaction only
            with pytest.raises(DBAPIError, match="acts for no organisation"):
                s.exec(select(CaseEvent)).all()


def test_bad_database_url_is_a_clear_error():
    with pytest.raises(HomewardError, match="HOMEWARD_DATABASE_URL"):
        make_engine("not a url at all")


@pytest.mark.skipif(BACKEND != "postgres", reason="roles are PostgreSQL's")
def test_after_an_upgrade_the_app_still_acts_as_its_login(db_url):
    from homeward.base.db import get_engine
    from homeward.base.migrate import upgrade

    engine = get_engine()  # a login that owns nothing; the tables' owner upgraded
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == SYSTEM_LOGIN


def test_a_role_switched_to_from_another_login_is_refused(db_url, monkeypatch):
    """``HOMEWARD_DB_ROLE`` made the owner's login SET ROLE, which RESET ROLE undid."""
    monkeypatch.setenv("HOMEWARD_DB_ROLE", "homeward_app")
    homeward_settings.get_settings.cache_clear()
    with pytest.raises(HomewardError, match="HOMEWARD_DB_ROLE: no longer used"):
        make_engine(db_url)
    monkeypatch.delenv("HOMEWARD_DB_ROLE")
    homeward_settings.get_settings.cache_clear()
