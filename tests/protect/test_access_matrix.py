"""Every organisation x role x command x case: nothing unauthorised is read or written.

Each probe is a command that, once authorised, stops at a harmless known refusal (so the
database never changes), while an unauthorised actor is stopped by access control first.
The expected outcome comes from the access rules, stated once below.
"""

from __future__ import annotations

import itertools

import pytest
from sqlmodel import select

from homeward.base.db import write_session
from homeward.base.models import CaseParticipant, StaffRole
from homeward.protection.consent import ledger
from homeward.records.directory import StaffIn, add_staff, orgs_by_id, validate
from tests import factories as f
from tests.cli.runner import run_cli

# Every command, role and organisation on the simulated clock (tests/conftest.py): no wall
# clock of ours is read, so CI runs these once, not again at UTC midnight.
pytestmark = pytest.mark.matrix

ROLES = [r.value for r in StaffRole]
STEERING, WORKING = {"coordinator", "supervisor"}, {"coordinator", "supervisor", "caseworker"}
SLUGS = [slug for slug, *_ in f.ORGS]


def email(org: str, role: str) -> str:
    return f"{role}.m@{org}.example.org"


@pytest.fixture
def world(db_url, clock):
    """Two cases: an adult's shared with three partners, a minor's shared with all."""
    f.seed()
    with write_session() as s:
        for org, role in itertools.product(SLUGS, ROLES):
            add_staff(
                session=s,
                staff_in=validate(
                    StaffIn, org=org, name="Matrix staff", email=email(org, role), role=role
                ),
            )
    adult = f.open_case(clock, share=False)
    f.give_sharing(adult, clock, "iom-ro", "adpare")
    minor = f.open_case(clock, minor=True, ngo="fmb")
    return {"adult": adult, "minor": minor}


def facts(ref: str) -> dict[str, object]:
    """Who takes part in the case, who owns which item, who has sharing consent."""
    with f.admin_read() as s:
        case = f.load_case(ref)
        slugs = {o.id: o.slug for o in orgs_by_id(s).values()}
        parts = {
            slugs[p.org_id]
            for p in s.exec(select(CaseParticipant).where(CaseParticipant.case_id == case.id))
            if p.status == "live"  # a partner waiting for sharing consent sees nothing
        }
        items = f.items(ref, stage="identified_abroad")
        sharing = {slugs[c.org_id] for c in ledger(s, case) if c.org_id}
    owner = slugs[case.owner_org_id]
    return {
        "owner": owner,
        "parts": parts,
        "sharing": sharing,
        "visible": {owner} | parts | {slugs[i.owner_org_id] for i in items},
        "items": [(i.id, slugs[i.owner_org_id]) for i in items],
        "minor": case.is_minor,
    }


def expected(probe: str, org: str, role: str, fx: dict, item_owner: str | None) -> int:
    """The outcome the access rules demand (0 = through, else the exit code)."""
    visible = org in fx["visible"]
    if not visible:
        return 3
    match probe:
        case "show" | "history" | "items" | "consents":
            return 0
        case "personal":
            may = role in WORKING and (
                org == fx["owner"] or (org in fx["parts"] and org in fx["sharing"])
            )
            return 0 if may else 3
        case "advance" | "consent":  # the owner steers (homeward.protection.permissions)
            steers = org == fx["owner"] and role in STEERING
            return (4 if probe == "advance" else 5) if steers else 4
        case "transfer":
            return 4
        case "done" | "handoff":
            works = (org == item_owner and role in WORKING) or (
                org == fx["owner"] and role in STEERING
            )
            return (2 if probe == "done" else 4) if works else 4
    raise AssertionError(probe)


def argv(probe: str, ref: str, fx: dict, item: int | None, item_owner: str | None) -> list[str]:
    return {
        "show": ["case", "show", ref],
        "history": ["case", "history", ref],
        "items": ["items", "list", "--case", ref],
        "consents": ["consent", "list", ref],
        "personal": ["case", "show", ref, "--personal"],
        "advance": ["case", "advance", ref, "depart"],
        "transfer": ["case", "handoff", ref, "--to", fx["owner"]],
        "consent": [
            "consent",
            "give",
            ref,
            "--purpose",
            "sharing",
            "--org",
            "iom-ro",
            "--language",
            "ro",
            # a minor's consent is given by a representative (issue 12)
            *(
                ["--method", "proxy", "--representative", "parent"]
                if fx["minor"]
                else ["--method", "oral"]
            ),
        ],
        "done": ["items", "done", str(item), "--outcome", "bogus"],
        "handoff": ["items", "handoff", str(item), "--to", str(item_owner)],
    }[probe]


# The harmless refusal an authorised actor meets, per probe (checked to tell it from a denial).
THROUGH = {
    "advance": "allowed here",
    "transfer": "already belongs",
    "consent": "already has",
    "done": "outcome",
    "handoff": "already belongs",
}
AUDITED = {"personal"}


def test_access_matrix(world, capsys, monkeypatch):
    checked = 0
    for which, ref in world.items():
        fx = facts(ref)
        item_probes = [
            (p, item, owner) for p in ("done", "handoff") for item, owner in fx["items"][:2]
        ]
        probes = [
            (p, None, None)
            for p in (
                "show",
                "history",
                "items",
                "consents",
                "personal",
                "advance",
                "transfer",
                "consent",
            )
        ]
        for (probe, item, owner), org, role in itertools.product(
            probes + item_probes, SLUGS, ROLES
        ):
            want = expected(probe, org, role, fx, owner)
            before = f.db_snapshot()
            result = run_cli(
                capsys, monkeypatch, "--as", email(org, role), *argv(probe, ref, fx, item, owner)
            )
            where = f"{which} {probe} as {role} of {org}: {result.err.strip()}"
            assert result.code == want, where
            if probe in THROUGH and want in (2, 4, 5) and _authorised(probe, org, role, fx, owner):
                assert THROUGH[probe] in result.err, where
            after = f.db_snapshot()
            if probe in AUDITED and want == 0:
                before.pop("audit_entry"), after.pop("audit_entry")
            assert after == before, where
            checked += 1
    assert checked > 400


def _authorised(probe: str, org: str, role: str, fx: dict, item_owner: str | None) -> bool:
    if org not in fx["visible"]:
        return False
    if probe in ("advance", "consent", "transfer"):
        return org == fx["owner"] and role in STEERING
    return (org == item_owner and role in WORKING) or (org == fx["owner"] and role in STEERING)
