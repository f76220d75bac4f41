"""A large, realistic caseload written straight into the tables, for the benchmarks.

Opening 100,000 cases one by one through the engine would take longer than the benchmark it
feeds, so this writes the rows the engine would have written (cases, participants, checklist
items of every stage a case has passed through, done, and of its current stage, some open)
with bulk inserts. Items come from the shipped catalog, owned by the organisation the catalog
names; due dates follow the catalog's offsets. Cases are spread over the active stages in
proportion to the time a case spends in each (most of a return is the six-month follow-up).

The directory is larger than the demo's: ``orgs_per_kind`` missions, consulates, NGOs and
child-protection directorates, three staff each, so digests have a realistic length.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, text
from sqlmodel import col, select

from homeward.base.caseref import new_case_ref
from homeward.base.db import write_session
from homeward.base.models import (
    Case,
    CaseParticipant,
    ChecklistItem,
    ItemStatus,
    Organisation,
    ParticipantRole,
    StaffMember,
)
from statemachines.return_case import State
from tasks.catalog import CURRENT_VERSION, load_catalog

# Days a case typically spends in each active stage (DOMAIN.md's timeline): the weights.
STAGE_DAYS = {
    State.IDENTIFIED_ABROAD: 7,
    State.CONSENT_OBTAINED: 21,
    State.ASSESSED: 14,
    State.TRAVEL_ARRANGED: 7,
    State.IN_TRANSIT: 1,
    State.RECEIVED: 7,
    State.REINTEGRATION: 180,
}
ORDER = list(STAGE_DAYS)
ROLE_KIND = {
    ParticipantRole.S_IOM: ("iom_mission", "abroad"),
    ParticipantRole.CONS: ("consulate", "abroad"),
    ParticipantRole.R_IOM: ("iom_mission", "home"),
    ParticipantRole.NGO: ("ngo", "home"),
    ParticipantRole.DGASPC: ("dgaspc", "home"),
    ParticipantRole.ANITP: ("anitp", "home"),
    ParticipantRole.LE: ("police", "home"),
}
COUNTRIES = ["IT", "ES", "DE", "FR", "GB", "AT", "BE", "NL", "GR", "CY", "PL", "CZ", "SE"]
CHUNK = 5_000


@dataclass
class Directory:
    """Organisation ids by participant role, to draw each case's participants from."""

    by_role: dict[ParticipantRole, list[int]]


def seed_directory(engine: Engine, orgs_per_kind: int = 40) -> Directory:
    """Organisations of every kind with a coordinator, a caseworker and a supervisor each."""
    orgs: list[dict[str, Any]] = []
    plan = [
        ("iom-abroad", "iom_mission", "abroad", orgs_per_kind),
        ("cons", "consulate", "abroad", orgs_per_kind),
        ("iom-ro", "iom_mission", "home", 1),
        ("ngo", "ngo", "home", orgs_per_kind),
        ("dgaspc", "dgaspc", "home", min(orgs_per_kind, 42)),
        ("anitp", "anitp", "home", 1),
        ("police", "police", "home", 1),
    ]
    now = datetime.now().astimezone()
    for prefix, kind, where, count in plan:
        for n in range(count):
            country = COUNTRIES[n % len(COUNTRIES)] if where == "abroad" else "RO"
            orgs.append(
                {
                    "slug": f"{prefix}-{n}",
                    "name": f"{prefix.upper()} office {n}",
                    "kind": kind,
                    "country": country,
                    "email": f"office@{prefix}-{n}.example.org",
                    "created_at": now,
                }
            )
    with write_session(engine) as s:
        s.execute(insert(Organisation), orgs)
        rows = s.exec(select(Organisation.id, Organisation.kind, Organisation.country)).all()
        staff = [
            {
                "org_id": org_id,
                "name": f"Staff {org_id}-{role}",
                "email": f"{role}-{org_id}@staff.example.org",
                "role": role,
                "language": "ro" if country == "RO" else "en",
                "active": True,
                "created_at": now,
            }
            for org_id, _kind, country in rows
            for role in ("coordinator", "caseworker", "supervisor")
        ]
        s.execute(insert(StaffMember), staff)
    by_role: dict[ParticipantRole, list[int]] = {}
    for role, (kind, where) in ROLE_KIND.items():
        by_role[role] = [
            org_id
            for org_id, org_kind, country in rows
            if org_kind == kind and (country == "RO") == (where == "home") and org_id
        ]
    return Directory(by_role)


def _stage_for(rng: random.Random) -> State:
    return rng.choices(ORDER, weights=list(STAGE_DAYS.values()))[0]


def _case_plan(
    rng: random.Random, now: datetime
) -> tuple[State, datetime, datetime, dict[State, datetime]]:
    """A case's current stage, when it was opened, when it entered its stage, and when it
    entered each stage it went through."""
    stage = _stage_for(rng)
    in_stage = timedelta(days=rng.uniform(0, 1.5 * STAGE_DAYS[stage]))
    entered: dict[State, datetime] = {}
    moment = now - in_stage
    for earlier in reversed(ORDER[: ORDER.index(stage) + 1]):
        entered[earlier] = moment
        moment -= timedelta(days=rng.uniform(0.5, 1.5) * STAGE_DAYS[earlier])
    return stage, moment, now - in_stage, entered


def _items(
    case_id: int,
    stage: State,
    entered: dict[State, datetime],
    owners: dict[str, int],
    rng: random.Random,
    now: datetime,
) -> Iterator[dict[str, Any]]:
    catalog = load_catalog(CURRENT_VERSION)
    arrival = entered.get(State.RECEIVED, now + timedelta(days=30))
    departure = entered.get(State.IN_TRANSIT, now + timedelta(days=10))
    for passed, at in entered.items():
        for spec in catalog.items_for(passed, is_minor=False):
            anchor = {"stage_entered": at, "arrival": arrival, "departure": departure}[
                spec.due.anchor.value
            ]
            due = spec.due.apply(anchor)
            done = passed != stage or (due < now and rng.random() < 0.85)
            yield {
                "case_id": case_id,
                "stage": passed.value,
                "code": spec.code,
                "title_key": spec.title_key,
                "owner_org_id": owners[spec.owner],
                "due_at": due,
                "blocking": spec.blocking,
                "status": ItemStatus.DONE if done else ItemStatus.OPEN,
                "completed_at": min(due, now) if done else None,
                "created_at": at,
            }


def seed_cases(
    engine: Engine, directory: Directory, *, cases: int, now: datetime, seed: int
) -> int:
    """Write ``cases`` active cases with their items; returns the number of items written."""
    rng = random.Random(seed)
    written, refs, drawn = 0, list[str](), set[str]()
    with write_session(engine) as s:
        start = s.exec(select(Case.id).order_by(col(Case.id).desc())).first() or 0
    for base in range(0, cases, CHUNK):
        size = min(CHUNK, cases - base)
        plans = [_case_plan(rng, now) for _ in range(size)]
        participants = [
            {role: rng.choice(ids) for role, ids in directory.by_role.items() if ids}
            for _ in range(size)
        ]
        while len(refs) < base + size:  # 100,000 draws from 887 million do collide
            ref = new_case_ref()
            if ref not in drawn:
                drawn.add(ref)
                refs.append(ref)
        fresh = refs[base : base + size]
        case_rows = [
            {
                "id": start + base + n + 1,
                "case_ref": fresh[n],
                "state": plan[0].value,
                "stage_entered_at": plan[2],
                "process_version": CURRENT_VERSION,
                "is_minor": False,
                "owner_org_id": parts[ParticipantRole.S_IOM],
                "host_country": "IT",
                "destination_country": "RO",
                "opened_at": plan[1],
                "version": 1,
            }
            for n, (plan, parts) in enumerate(zip(plans, participants, strict=True))
        ]
        part_rows: list[dict[str, Any]] = []
        item_rows: list[dict[str, Any]] = []
        for row, plan, parts in zip(case_rows, plans, participants, strict=True):
            part_rows += [
                {"case_id": row["id"], "role": role.value, "org_id": org}
                for role, org in parts.items()
            ]
            owners = {role.value: org for role, org in parts.items()}
            owners["case_owner"] = parts[ParticipantRole.S_IOM]
            item_rows += _items(row["id"], plan[0], plan[3], owners, rng, now)
        with write_session(engine) as s:
            s.execute(insert(Case), case_rows)
            s.execute(insert(CaseParticipant), part_rows)
            s.execute(insert(ChecklistItem), item_rows)
        written += len(item_rows)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))  # fresh statistics, as a live database would have
    return written
