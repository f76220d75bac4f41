"""The sweep's reads and writes as the indexes serve them (0040, issue 19 point 7): a page's
window of due dates is read from the open items' index alone, the page comes in its order
without a sort, and a fired rule's ``reminder`` row has one index to write besides its table.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect

from notifications.reminders import _statements
from tests.conftest import BACKEND


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


def test_a_fired_rule_writes_one_index_besides_its_row(engine: Engine) -> None:
    found = inspect(engine)
    indexes = found.get_indexes("reminder")  # PostgreSQL lists the unique key's too
    assert [i["name"] for i in indexes if "duplicates_constraint" not in i] == []
    assert [u["column_names"] for u in found.get_unique_constraints("reminder")] == [
        ["item_id", "rule", "due_on"]
    ]


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL's plans of a bound id array")
@pytest.mark.parametrize("name", ["cases", "fired", "escalate"])
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
