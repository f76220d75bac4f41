"""A chaos driver: one process moving a set of cases forward through the real engine.

Run as ``python -m tests.faults.driver --refs FILE --ack FILE --plan-seed N --seed N`` from the
repository root, with ``HOMEWARD_DATABASE_URL`` (on PostgreSQL a login that owns nothing) and
``HOMEWARD_KEY_FILE`` in the environment, as the tests set them.

Each case follows a plan drawn from ``--plan-seed`` and its case_ref (the same plan however
often the driver is killed and restarted): the happy path to closure, or a detour through
suspension, lost contact, a withdrawal of consent, or a reopening. Where the plan stands is
read back from the database (the case's transition events), so a restarted driver carries on.

Every step is one write transaction: the case is read with its version, and either one open
blocking item of the current stage is marked done, or the plan's next trigger is fired with
``expected_version``. After the commit the driver appends one acknowledgement line (JSON) to
its ``--ack`` file and fsyncs it; only acknowledged steps are promised to survive a crash.
Another driver may hold the same case: a ``Conflict`` or ``Refused`` just means "read again".
Exits 0 when every case has followed its plan to the end. A write the database refuses whole
("database is locked" past SQLite's busy timeout, a PostgreSQL deadlock victim) is counted in
``ACK.transient`` and retried; the test reports the counts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

import notifications  # noqa: F401  (subscribes the notices, as the CLI and flows do)
from homeward.base.clock import SimulatedClock
from homeward.base.db import read_session, write_session
from homeward.base.errors import Conflict, Refused
from homeward.base.faults import crash_point
from homeward.base.models import Case, CaseEvent, ChecklistItem, ItemStatus
from statemachines.cases import fire, get_case
from tasks import checklist
from tasks.catalog import load_catalog
from tests.factories import COORD, HAPPY_PATH, SUPERVISOR, actor, step_data

MOMENT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # the drivers' clock (guards are date-based)
NEEDS_STAGE_WORK = {*HAPPY_PATH, "resume"}
STUCK_AFTER = 200  # refusals in a row on one case: its plan cannot go on (a bug)


def transient(exc: OperationalError) -> str | None:
    """'database is locked' (SQLite's busy timeout ran out) or 'deadlock detected' (PostgreSQL
    chose this transaction to abort): nothing was written, the step may be retried."""
    for kind in ("database is locked", "deadlock detected"):
        if kind in str(exc):
            return kind
    return None


def plan_for(case_ref: str, plan_seed: int) -> list[str]:
    """The triggers this case goes through, from ``open`` to its final closure."""
    rng = random.Random(f"{plan_seed}:{case_ref}")
    kind = rng.choices(
        ["happy", "suspend", "lose", "withdraw", "reopen"], weights=[50, 15, 10, 12, 13]
    )[0]
    path = list(HAPPY_PATH)
    at = rng.randrange(1, len(HAPPY_PATH) - 1)  # before this happy-path trigger
    if kind == "suspend":
        path[at:at] = ["suspend", "resume"]
    elif kind == "lose":
        path[at:at] = ["lose_contact", "regain_contact"]
    elif kind == "withdraw":
        path = [*path[:at], "withdraw_consent", "close"]
    elif kind == "reopen":
        path += ["reopen", "resume", "close"]
    return path


def data_for(trigger: str, state: str, clock: SimulatedClock) -> dict[str, Any]:
    if trigger == "close" and state != "reintegration":
        return {"reason": "person_chose_to_stop", "approved_by": SUPERVISOR}
    return step_data(trigger, clock)


def transitions(session: Session, case: Case) -> list[CaseEvent]:
    query = (
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id, col(CaseEvent.from_state).is_not(None))
        .order_by(col(CaseEvent.id))
    )
    return list(session.exec(query))


class Driver:
    def __init__(self, refs: list[str], ack_path: str, plan_seed: int, seed: int) -> None:
        self.refs, self.plan_seed = refs, plan_seed
        self.rng = random.Random(seed)
        self.clock = SimulatedClock(MOMENT)
        self.ack = open(ack_path, "a", encoding="utf-8")  # noqa: SIM115 (kept open: appends)
        self.plans = {ref: plan_for(ref, plan_seed) for ref in refs}

    def note_transient(self, kind: str) -> None:
        """Record a write refused whole by the database (``<ack>.transient``, one line each)."""
        with open(self.ack.name + ".transient", "a", encoding="utf-8") as handle:
            handle.write(f"{kind}\n")

    def acknowledge(self, **fields: Any) -> None:
        crash_point("driver-after-commit")  # committed, not yet acknowledged: allowed to be lost
        self.ack.write(json.dumps(fields, separators=(",", ":")) + "\n")
        self.ack.flush()
        os.fsync(self.ack.fileno())

    def step(self, ref: str) -> bool:
        """Take one step on ``ref``; False when its plan is complete."""
        with read_session() as s:
            case = get_case(s, case_ref=ref, actor=actor(s))
            version, state, done = case.version, case.phase, len(transitions(s, case))
            open_items = [item.id or 0 for item in checklist.open_blocking_items(s, case, state)]
        plan = self.plans[ref]
        if done >= len(plan):
            return False
        trigger = plan[done]
        if trigger in NEEDS_STAGE_WORK and open_items:
            self.complete(ref, version, self.rng.choice(open_items))
        else:
            self.fire(ref, version, trigger, state)
        return True

    def complete(self, ref: str, version: int, item_id: int) -> None:
        with write_session() as s:
            case = get_case(s, case_ref=ref, actor=actor(s), for_update=True)
            if case.version != version:
                raise Conflict(f"case {ref} changed")
            item = s.get(ChecklistItem, item_id)
            assert item is not None
            if item.status != ItemStatus.OPEN:
                raise Refused(f"item #{item_id} is already {item.status}")
            spec = load_catalog(case.process_version).spec(item.code)
            done = checklist.mark_done(
                s,
                item_id=item_id,
                actor=actor(s, COORD),
                now=self.clock.now(),
                outcome=spec.outcomes[0] if spec.outcomes else None,
            )
            state = case.phase
        self.acknowledge(
            ref=ref, version=version, trigger="item_done", to_state=state, item_id=done.id
        )

    def fire(self, ref: str, version: int, trigger: str, state: str) -> None:
        with write_session() as s:
            case = fire(
                s,
                case_ref=ref,
                trigger=trigger,
                actor=actor(s),
                data=data_for(trigger, state, self.clock),
                now=self.clock.now(),
                expected_version=version,
            )
            after, to_state = case.version, case.phase
        self.acknowledge(ref=ref, version=after, trigger=trigger, to_state=to_state)

    def run(self) -> dict[str, int]:
        pending, counts = list(self.refs), {"steps": 0, "conflicts": 0, "refused": 0}
        refusals = dict.fromkeys(self.refs, 0)
        while pending:
            ref = self.rng.choice(pending)
            try:
                if not self.step(ref):
                    pending.remove(ref)
                    continue
                counts["steps"] += 1
                refusals[ref] = 0
            except Conflict:
                counts["conflicts"] += 1
            except OperationalError as exc:
                kind = transient(exc)
                if kind is None:
                    raise
                self.note_transient(kind)  # the transaction was rolled back whole: retry
            except Refused as exc:
                counts["refused"] += 1
                refusals[ref] += 1
                if refusals[ref] >= STUCK_AFTER:
                    raise SystemExit(f"stuck on {ref}: {exc}") from None
        return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refs", required=True, help="file with one case_ref per line")
    parser.add_argument("--ack", required=True, help="acknowledgement file (appended to)")
    parser.add_argument("--plan-seed", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    with open(args.refs, encoding="utf-8") as handle:
        refs = [line.strip() for line in handle if line.strip()]
    counts = Driver(refs, args.ack, args.plan_seed, args.seed).run()
    sys.stdout.write(json.dumps(counts) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
