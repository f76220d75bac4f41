"""The manager's overview (issue 18, point 4) on a real database: the caseload by stage and
status and by owner and status suppressed alike, the work waiting per organisation (closure
requests as the case history holds them), mail queued today; and wide tables in parts that
fit a screen."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import Engine, text

from homeward.base import settings as homeward_settings
from homeward.base.clock import SimulatedClock
from homeward.base.db import write_session
from homeward.commands.reports import Caseload, ReadCaseload
from homeward.commands.runner import run
from homeward.protection.identity import Service
from homeward.reporting.overview import STATUSES
from homeward.reporting.tables import Table, fit
from statemachines.cases import get_case
from statemachines.closure_requests import request_closure
from tests import factories as f


@pytest.fixture
def small_k(monkeypatch: pytest.MonkeyPatch) -> None:
    """Suppression with k = 3, so that small tables show both numbers and hidden cells."""
    monkeypatch.setenv("HOMEWARD_REPORT_K", "3")
    homeward_settings.get_settings.cache_clear()


def _read(clock: SimulatedClock) -> Caseload:
    return run(ReadCaseload(), Service("scheduler"), clock=clock)


def test_the_overview_counts_cases_work_and_mail_and_hides_small_cells(
    db_url: str, engine: Engine, clock: SimulatedClock, small_k: None
) -> None:
    f.seed()
    refs = [f.open_case(clock) for _ in range(4)]
    f.advance(refs[0], "suspend", clock)
    with write_session() as s:
        who = f.actor(s, f.COORD)
        case = get_case(s, case_ref=refs[1], actor=who)
        request_closure(s, case=case, actor=who, reason=None, flow_run_id=None, now=clock.now())
    clock.advance(days=5)  # the first stage's items are overdue by now
    with engine.begin() as conn:  # two emails queued today: one sent, one refused and dead
        for n, status, recipient, code in ((1, "sent", "delivered", 250), (2, "dead", "dead", 550)):
            conn.execute(
                text(
                    "INSERT INTO outbox_message (id, key, template, language, to_addrs, context, "
                    "message_id, status, attempts, next_attempt_at, created_at) VALUES "
                    "(:id, :key, 'digest', 'en', '[]', '{}', :mid, :status, 1, :at, :at)"
                ),
                {"id": n, "key": f"k{n}", "mid": f"<{n}@x>", "status": status, "at": clock.now()},
            )
            conn.execute(
                text(
                    "INSERT INTO outbox_recipient (message_id, address, status, code, attempts, "
                    "next_attempt_at, updated_at) VALUES (:id, 'a@x.example', :status, :code, "
                    "1, :at, :at)"
                ),
                {"id": n, "status": recipient, "code": code, "at": clock.now()},
            )

    found = _read(clock).overview

    stage = found.by_stage
    assert stage.row_header == "Stage" and stage.columns == [*STATUSES, "Total"]
    rows = dict(stage.rows)
    # the one suspended case is under k; the active count is withheld too ("x"), or 4 - 3
    # would give it away
    assert rows["identified_abroad"] == rows["All"] == ["x", "<3", 0, 0, 0, 4]
    assert dict(found.by_owner.rows)["iom-it"] == rows["All"]
    work = {row["organisation"]: row for row in found.attention}
    assert work["iom-it"]["closures_waiting"] == 1 and work["iom-it"]["overdue_items"] > 0
    assert found.waiting("closures_waiting") == 1 and found.waiting("plans_waiting") == 0
    assert found.waiting("overdue_items") == sum(row["overdue_items"] for row in work.values())
    assert (found.mail.queued, found.mail.sent, found.mail.dead, found.mail.refused) == (2, 1, 1, 1)
    assert found.reminders_ran_at is None  # the sweep never ran here
    homeward_settings.get_settings.cache_clear()


def test_a_wide_table_is_published_in_parts_that_each_keep_labels_and_total() -> None:
    columns = [f"c{n}" for n in range(10)] + ["Total"]
    table = Table("By age band", "Indicator", columns, [("Identified", [*range(10), 45])])

    parts = fit(table, 6)

    assert [p.columns for p in parts] == [
        ["c0", "c1", "c2", "c3", "c4", "Total"],
        ["c5", "c6", "c7", "c8", "c9", "Total"],
    ]
    assert [p.rows for p in parts] == [
        [("Identified", [0, 1, 2, 3, 4, 45])],
        [("Identified", [5, 6, 7, 8, 9, 45])],
    ]
    assert fit(parts[0], 6) == [parts[0]]  # one that fits is left whole
    assert Counter(c for p in parts for c in p.columns)["Total"] == 2
