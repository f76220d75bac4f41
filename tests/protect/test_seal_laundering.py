"""A command does not seal over a change made outside Homeward (review F4), on either backend.

Rows are resealed at commit from what the database then holds (``seals._reseal``): a row an
insider changed by plain SQL, then written by any command (a case's version bumped, an item
worked), was sealed as it stood, the change made to look like Homeward's own, and ``audit
verify`` found nothing any more. Now the first write of a sealed row in a transaction checks the
row against its seal first: a row that does not match refuses the command (exit 9, the one line
``audit verify`` gives), nothing written; rows the transaction wrote itself seal as before."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine, text

import notifications  # noqa: F401  (subscribes the notices, as the app does)
from homeward.base.db import write_session
from homeward.base.models import ItemStatus
from homeward.edges.cli.common import state
from statemachines.cases import fire
from tests import factories as f
from tests.cli.runner import run_cli
from tests.conftest import BACKEND


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    f.seed()
    monkeypatch.setattr(state, "clock", clock)

    def run_(*args: str):
        return run_cli(capsys, monkeypatch, *args)

    return run_


def _refused(result, table: str) -> None:
    assert result.code == 9, result.err
    assert result.err.count("\n") == 1, result.err
    assert f"{table} row" in result.err and "does not match its seal" in result.err, result.err
    assert "nothing was written" in result.err and "Zenobia" not in result.err


_CASE_CHANGED = "UPDATE return_case SET legal_hold = NOT legal_hold WHERE case_ref = :ref"
CHANGES = {  # an insider's change by plain SQL, as the tables' owner, and the command after it
    "checklist_item": (
        "UPDATE checklist_item SET blocking = NOT blocking WHERE id = :item",
        ("items", "skip", "{item}", "--reason", "not needed for this person"),
    ),
    "return_case": (_CASE_CHANGED, ("items", "skip", "{item}", "--reason", "not needed now")),
    # a move reads the case locked with its seal and checks it as read (``seals.hold``)
    "return_case moved": (_CASE_CHANGED, ("case", "advance", "{ref}", "lose_contact")),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_command_refuses_a_row_changed_outside_homeward(cli, clock, engine, change):
    ref = f.open_case(clock)
    item = f.items(ref, status=ItemStatus.OPEN)[0]
    assert cli("audit", "verify").code == 0
    sql, argv = CHANGES[change]
    table = change.split()[0]
    with engine.begin() as admin:
        admin.execute(text(sql), {"item": item.id, "ref": ref})
    before = f.db_snapshot()
    done = cli("--as", f.COORD, *(a.format(item=item.id, ref=ref) for a in argv))
    _refused(done, table)
    assert f.db_snapshot() == before  # nothing written, the change not sealed
    verified = cli("audit", "verify")
    assert verified.code == 9 and f"{table} row" in verified.err, verified.err


def test_rows_a_command_writes_twice_still_seal(cli, clock):
    """The control: a skip (the item written, its reason then encrypted under its id: two
    writes of one row), a new case (new rows), then a reopen of the same item."""
    ref = f.open_case(clock)
    item = f.items(ref, status=ItemStatus.OPEN)[0]
    skipped = cli("--as", f.COORD, "items", "skip", str(item.id), "--reason", "not needed now")
    assert skipped.code == 0, skipped.err
    reopened = cli("--as", f.COORD, "items", "reopen", str(item.id), "--reason", "needed again")
    assert reopened.code == 0, reopened.err
    assert cli("audit", "verify").code == 0


@pytest.mark.skipif(BACKEND != "postgres", reason="a FOR UPDATE that waits: PostgreSQL's rows")
def test_a_command_that_waited_for_another_s_commit_is_not_taken_for_tampering(
    db_url, clock, engine
) -> None:
    """Two ordinary commands on one case: B changes the case and holds its lock; A's locked
    read of the case waits, then gets B's row, but the seal joined to it as the statement
    began (READ COMMITTED re-fetches only the locked row). A must go on, not cry tampering
    (found by the review of the held reads: exit 9 for a plain race)."""
    f.seed()
    ref = f.open_case(clock)
    f.complete_stage(ref, clock, stage=None)
    f.advance(ref, "record_consent", clock)
    b_holds, a_waits = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def b() -> None:
        try:
            with write_session() as s:
                data = f.step_data("suspend", clock)
                fire(
                    s, case_ref=ref, trigger="suspend", actor=f.actor(s), data=data, now=clock.now()
                )
                s.flush()  # the case changed, locked, resealed at commit
                b_holds.set()
                a_waits.wait(300)
        except BaseException as exc:  # noqa: BLE001 (the test reports it)
            errors.append(exc)
            b_holds.set()

    thread = threading.Thread(target=b)
    thread.start()
    assert b_holds.wait(300) and not errors, errors
    watch = threading.Thread(target=_until_a_lock_wait, args=(engine, a_waits))
    watch.start()
    try:
        with write_session() as a:
            data = f.step_data("withdraw_consent", clock)
            fire(
                a,
                case_ref=ref,
                trigger="withdraw_consent",
                actor=f.actor(a),
                data=data,
                now=clock.now(),
            )
    finally:
        a_waits.set()
        watch.join(300)
        thread.join(300)
    assert not errors, errors
    assert f.load_case(ref).status == "consent_withdrawn"


def _until_a_lock_wait(admin: Engine, seen: threading.Event) -> None:
    """Sets ``seen`` once a session of this database waits on a lock (A's read of the case)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 300
    while not seen.is_set() and time.monotonic() < deadline:
        with admin.connect() as conn:
            if conn.execute(query).scalar():
                break
        time.sleep(0.01)
    seen.set()
