"""A racer: many of these (threads and processes) work on ONE case at the same moment.

First every racer tries to mark each of the given open items done (each item can be done once);
then it loops: read the case's version and stage, fire ``lose_contact`` (from an active stage)
or ``regain_contact`` (from lost contact) with ``expected_version``. Every outcome is recorded:
success (with the version read and the version after), ``Conflict``, ``Refused``, or anything
else by type and message (which the test treats as a failure: e.g. "database is locked").

As a process: ``python -m tests.faults.racer --ref REF --items 1,2 --attempts N --out FILE
--go FILE`` with the tests' environment; it writes FILE.ready, waits for the go file, races,
and writes its outcomes as JSON lines to FILE.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from homeward.base.clock import SimulatedClock
from homeward.base.db import make_engine, read_session, write_session
from homeward.base.errors import Conflict, Refused
from homeward.base.models import Case
from homeward.base.settings import get_settings
from statemachines.cases import fire, get_case
from tasks import checklist
from tests.factories import actor

ACTIVE_TOGGLE = {"lost_contact": "regain_contact"}


def race(
    engine: Engine, ref: str, items: list[int], attempts: int, seed: int, who: str
) -> list[dict[str, Any]]:
    """Race on ``ref``; returns one outcome per attempt."""
    rng, clock, outcomes = random.Random(seed), SimulatedClock(), []
    for item_id in rng.sample(items, len(items)):
        outcomes.append(_attempt(who, "item", lambda i=item_id: _mark(engine, i, clock)))
    for _ in range(attempts):
        outcomes.append(_attempt(who, "fire", lambda: _toggle(engine, ref, clock)))
    return outcomes


def _attempt(who: str, kind: str, step: Any) -> dict[str, Any]:
    try:
        return {"who": who, "kind": kind, "outcome": "ok", **step()}
    except Conflict:
        return {"who": who, "kind": kind, "outcome": "conflict"}
    except Refused:
        return {"who": who, "kind": kind, "outcome": "refused"}
    except Exception as exc:  # noqa: BLE001 (anything else is what the test looks for)
        error = " ".join(str(exc).split())[:300]
        return {
            "who": who,
            "kind": kind,
            "outcome": "error",
            "error": f"{type(exc).__name__}: {error}",
        }


def _mark(engine: Engine, item_id: int, clock: SimulatedClock) -> dict[str, Any]:
    with write_session(engine) as s:
        item = checklist.mark_done(s, item_id=item_id, actor=actor(s), now=clock.now())
        case = s.get(Case, item.case_id)
        after = case.version if case else None  # an item change moves the case's version too
    return {"item_id": item_id, "after": after}


def _toggle(engine: Engine, ref: str, clock: SimulatedClock) -> dict[str, Any]:
    with read_session(engine) as s:
        case = get_case(s, case_ref=ref, actor=actor(s))
        version, state = case.version, case.phase
    trigger = ACTIVE_TOGGLE.get(state, "lose_contact")
    with write_session(engine) as s:
        case = fire(
            s,
            case_ref=ref,
            trigger=trigger,
            actor=actor(s),
            now=clock.now(),
            expected_version=version,
        )
        after = case.version
    return {"trigger": trigger, "version": version, "after": after}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True)
    parser.add_argument("--items", default="")
    parser.add_argument("--attempts", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--go", required=True)
    args = parser.parse_args(argv)
    items = [int(i) for i in args.items.split(",") if i]
    engine = make_engine(get_settings().database_url)
    with engine.connect():
        pass  # connect (and on PostgreSQL set the role) before the start
    Path(args.out + ".ready").touch()
    while not Path(args.go).exists():
        time.sleep(0.005)
    outcomes = race(engine, args.ref, items, args.attempts, args.seed, f"process-{args.seed}")
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(o) + "\n" for o in outcomes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
