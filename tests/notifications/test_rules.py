"""The rule table alone: the overdue cadence (1, 3, 7, then every 7 days late), when
supervisors join in, catching up a missed day, and rules that cannot be written."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from notifications.rules import ItemRule, ReminderRules, Section, load_rules


def fired(rule: ItemRule, late: int, ago: int | None = None) -> list[tuple[str, Section]]:
    return [(f.rule, f.section) for f in rule.firings(days_left=-late, escalated_days_ago=ago)]


def test_the_shipped_default_is_1_3_7_then_every_7_days_late():
    rule = load_rules().defaults
    assert rule.cadence(60) == [1, 3, 7, 14, 21, 28, 35, 42, 49, 56]
    assert rule.cadence_text() == "1, 3, 7, then every 7 days late"


def test_each_day_of_the_cadence_fires_its_own_mention_and_escalation():
    rule = ItemRule()
    names = {late: [name for name, _ in fired(rule, late)] for late in (1, 2, 3, 7, 13, 14, 21)}
    assert names[1] == ["overdue_1d", "escalation_1d"]
    assert names[2] == names[1]  # the same rule: already fired yesterday, so nothing new
    assert names[3] == ["overdue_3d", "escalation_3d"]
    assert names[7] == ["overdue_7d", "escalation_7d"] == names[13]
    assert names[14] == ["overdue_14d", "escalation_14d"]
    assert names[21] == ["overdue_21d", "escalation_21d"]


def test_supervisors_join_from_escalate_after_days():
    rule = ItemRule(escalate_after_days=7)
    assert fired(rule, 1) == [("overdue_1d", Section.OVERDUE)]
    assert fired(rule, 3) == [("overdue_3d", Section.OVERDUE)]
    assert fired(rule, 7) == [
        ("overdue_7d", Section.OVERDUE),
        ("escalation_7d", Section.ESCALATION),
    ]


def test_a_missed_day_fires_the_latest_mention_and_a_late_one_sets_the_pace():
    rule = ItemRule()
    assert [name for name, _ in fired(rule, 5)] == ["overdue_3d", "escalation_3d"]
    # Day 7's mention: not two days after a late day-3 mention sent on day 5 (the gap is 4)...
    assert fired(rule, 7, ago=2) == []
    assert fired(rule, 9, ago=4) == [  # ...but four days after it
        ("overdue_7d", Section.OVERDUE),
        ("escalation_7d", Section.ESCALATION),
    ]
    assert fired(rule, 14, ago=7) != []  # on time, the cadence holds


def test_the_table_knows_its_shortest_gap_and_where_the_steady_repeat_begins():
    rules = ReminderRules.model_validate(
        {
            "defaults": {"overdue_days": [1, 3, 7], "repeat_every_days": 7},
            "items": {"slow": {"overdue_days": [2, 10], "escalate_after_days": 10}},
        }
    )
    assert rules.shortest_gap() == 2  # the default's 1 -> 3
    assert rules.for_item("slow").gaps_after_escalation() == 7  # only the repeat is left
    assert rules.steady_from() == 17  # 10 + 7: from then on, every mention is a week apart


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"escalate_after_days": 5}, "escalate_after_days: 5 is not a day the item is mentioned"),
        ({"overdue_days": []}, "overdue_days: give at least one day"),
        ({"overdue_days": [3, 3]}, "distinct whole numbers"),
        ({"overdue_days": [0, 3]}, "distinct whole numbers"),
        ({"repeat_every_days": 0}, "greater than or equal to 1"),
    ],
)
def test_a_rule_that_cannot_work_is_refused_saying_why(fields, words):
    with pytest.raises(ValidationError, match=words):
        ItemRule(**fields)
