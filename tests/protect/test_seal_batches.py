"""Seals made together for rows just written (``seals._Sealer.macs``, the bulk import's) are
the seals ``row_mac`` makes one row at a time, whatever the rows hold (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from homeward.crypt.keys import load_keyring
from homeward.records import seals

MOMENTS = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(timezone(timedelta(hours=2))),
    ),
)
JSONS = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
EVENTS = st.fixed_dictionaries(
    {
        "case_id": st.integers(1, 3),
        "actor_id": st.one_of(st.none(), st.integers(1, 5), st.booleans()),
        "at": MOMENTS,
        "trigger": st.sampled_from(["import", "ünïcode \u202e", 'quote " \\ back']),
        "from_state": st.one_of(st.none(), st.text(max_size=6)),
        "to_state": st.one_of(st.none(), st.sampled_from(["a", "b"])),
        "reason": st.one_of(st.none(), st.text(max_size=20)),
        "data": JSONS,
        "proof": st.one_of(st.none(), st.just("passkey")),
    }
)


@settings(max_examples=60)
@given(st.lists(EVENTS, min_size=1, max_size=12))
def test_seals_made_together_are_the_seals_of_each_row(events):
    keyring = load_keyring()
    rows = [{"id": n, **event} for n, event in enumerate(events, start=1)]
    together = seals._sealer(keyring, "case_event").macs(rows, 1)
    assert together == [seals.row_mac(keyring, "case_event", row, 1) for row in rows]  # type: ignore[arg-type]


def test_the_two_instants_of_a_repeated_wall_time_are_sealed_apart():
    """Two instants an hour apart that ``==`` takes as equal (a wall time repeated when clocks
    go back: ``fold`` 0 and 1) are sealed as themselves when sealed together."""
    keyring = load_keyring()
    first = datetime(2026, 10, 25, 3, 30, tzinfo=ZoneInfo("Europe/Bucharest"))
    row = {"case_id": 1, "actor_id": None, "trigger": "t", "from_state": None}
    row |= {"to_state": None, "reason": None, "data": {}, "proof": None}
    rows = [{"id": 1, **row, "at": first}, {"id": 2, **row, "at": first.replace(fold=1)}]
    together = seals._sealer(keyring, "case_event").macs(rows, 1)
    assert together == [seals.row_mac(keyring, "case_event", r, 1) for r in rows]  # type: ignore[arg-type]
