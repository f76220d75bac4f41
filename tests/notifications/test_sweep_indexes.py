"""The sweep's reads and writes as the indexes serve them (0040, issue 19 point 7): a page's
window of due dates is read from the open items' index alone, the page comes in its order
without a sort, each item's case by its primary key within the page's query, and a fired rule's
``reminder`` row has one index to write besides its table, the one that tells the insert what
fired before.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine, event, inspect

from homeward.base.db import get_engine
from notifications.reminders import _statements
from tests import factories as f
from tests.conftest import BACKEND
from tests.notifications.helpers import WORKING_MONDAY, remind


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's plan (PostgreSQL's follows its stats)")
def test_a_page_is_read_in_the_index_s_order_its_window_from_the_index_alone(
    engine: Engine,
) -> None:
    page = _statements(postgres=False).pages[1].compile(dialect=engine.dialect)
    moment = "2026-06-16 00:00:00.000000"  # as SQLite stores one (any will do for a plan)
    params = {"limit": 250, "after_id": 0}
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {page.string}",
            tuple(params.get(name, moment) for name in page.positiontup or ()),
        ).all()
    steps = [row[-1] for row in plan]
    assert any("COVERING INDEX ix_checklist_item_open_due" in step for step in steps), steps
    assert not any("TEMP B-TREE" in step for step in steps), steps  # no sort of the page
    assert any("return_case USING INTEGER PRIMARY KEY" in step for step in steps), steps


def test_a_page_is_read_with_its_cases_and_what_fired_is_known_by_the_insert(
    db_url: str, clock: Any
) -> None:
    """A page of the day's run is its query, which brings each item's case, and one insert of
    the rules due, which leaves out what fired before and returns what it inserted: no query
    of the page's cases by id, and no read of ``reminder`` apart from the insert (each was one
    more statement a page, its ids bound and its rows matched to the items in Python)."""
    f.seed()
    clock.current = WORKING_MONDAY
    f.open_case(clock)
    remind(clock)  # the first day: rules fire
    clock.advance(days=1)
    sent: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = " ".join(statement.split()).lower() + " "
        if words.startswith("insert") or "from checklist_item " in words:
            return  # the reminders' insert, and the page (its cases looked up within)
        for table in ("reminder", "return_case"):
            sent[table] += f"from {table} " in words

    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        report = remind(clock)  # the second day: more fire, and some fired before
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)
    assert report.overdue and report.escalated
    assert +sent == Counter(), sent


def test_a_fired_rule_writes_one_index_besides_its_row(engine: Engine) -> None:
    found = inspect(engine)
    indexes = found.get_indexes("reminder")  # PostgreSQL lists the unique key's too
    assert [i["name"] for i in indexes if "duplicates_constraint" not in i] == []
    assert [u["column_names"] for u in found.get_unique_constraints("reminder")] == [
        ["item_id", "rule", "due_on"]
    ]


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL's plans of a bound id array")
@pytest.mark.parametrize("name", ["escalate"])
def test_a_pages_ids_are_joined_never_searched_row_by_row(engine: Engine, name: str) -> None:
    """A page's ids (up to 1,000) bound as one array literal: ``= ANY(CAST(literal))`` is no
    constant to the planner, so it was searched element by element for every row; on a table
    whose statistics said small (``reminder`` while a catch-up filled it, before autovacuum's
    ANALYZE) the plan was a whole scan with that search as its filter: 130-230 ms a page, the
    sweep over 10,000 cases 0.2 -> 1.5 s. As rows (``unnest``) they are hashed or drive an
    index, whatever the statistics say."""
    statement = getattr(_statements(postgres=True), name).compile(dialect=engine.dialect)
    ids = "{" + ",".join(str(n) for n in range(1, 2001, 2)) + "}"  # a page's 1,000 ids
    values = {"ids": ids, "at": "2026-06-16 00:00:00+00"}
    with engine.begin() as conn:
        for table in ("reminder", "checklist_item", "return_case"):
            conn.exec_driver_sql(f"ANALYZE {table}")  # as small as the tests' tables are
        plan = "\n".join(
            row[0]
            for row in conn.exec_driver_sql(
                f"EXPLAIN {statement.string}", {**statement.params, **values}
            )
        )
    assert "= ANY" not in plan, plan


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL's plan (SQLite's: above)")
def test_a_pages_cases_are_looked_up_for_its_items_never_hashed_whole(engine: Engine) -> None:
    """Each item's case is a lateral lookup, kept apart by its OFFSET: as a plain join the
    planner, misjudging how many items a page holds, hashed every case for each page."""
    page = _statements(postgres=True).pages[1].compile(dialect=engine.dialect)
    moment = "2026-06-16 00:00:00+00"
    given = {name: moment if value is None else value for name, value in page.params.items()}
    values = given | {"limit": 250, "after_id": 0}
    with engine.begin() as conn:
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {page.string}", values))
    assert "Nested Loop Left Join" in plan and "Hash" not in plan, plan
