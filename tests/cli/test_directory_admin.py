"""Directory changes are acts of proven administrators (issue 14, point 2).

Before, ``homeward org add`` and ``homeward staff add`` needed only the key file: anyone who
could run them added themselves as a supervisor anywhere. Now an organisation's ``admin`` keeps
its staff and mailbox, a ``platform_admin`` every organisation's, the operator makes the first
platform_admin once (``homeward admin init``), and every change is audited with its actor.
Runs on SQLite and, with ``HOMEWARD_TEST_DB=postgres``, on PostgreSQL.
"""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from homeward.base.db import write_session
from homeward.base.models import AuditEntry, StaffMember
from homeward.edges.cli.common import state
from homeward.records.directory import OrganisationIn, add_org
from tests import factories as f
from tests.cli.runner import Result, run_cli

INTRUDER = ["--org", "iom-it", "--name", "Eve Intruder", "--email", "eve@mail.example.org"]
FIRST = ["--org", "iom-ro", "--org-name", "IOM Romania", "--kind", "iom_mission", "--country"]
FIRST += ["RO", "--name", "Mara Ene", "--email", "mara@iom-ro.example.org"]


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    monkeypatch.setattr(state, "clock", clock)

    def run(*args: str) -> Result:
        return run_cli(capsys, monkeypatch, *args)

    return run


@pytest.fixture
def seeded(cli):
    f.seed()
    return cli


def add(org: str, email: str, role: str) -> list[str]:
    """``staff add`` of a made-up person."""
    return ["staff", "add", "--org", org, "--name", "Made Up", "--email", email, "--role", role]


def refused(cli, code: int, *args: str) -> str:
    """Run ``args``; it must fail with ``code``, one line, and change nothing."""
    before = f.db_snapshot()
    result = cli(*args)
    assert result.code == code, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert f.db_snapshot() == before, "a refused directory change changed the database"
    return lines[0]


def staff_row(email: str) -> StaffMember | None:
    with f.admin_read() as s:
        return s.exec(select(StaffMember).where(StaffMember.email == email)).first()


def audited(action: str) -> list[AuditEntry]:
    with f.admin_read() as s:
        query = select(AuditEntry).where(col(AuditEntry.action).startswith(action))
        return list(s.exec(query))


def actor_id(email: str) -> int:
    row = staff_row(email)
    assert row is not None and row.id is not None
    return row.id


def test_nobody_adds_themselves_as_a_supervisor_anywhere(seeded):
    """The finding: with the key file and no session, or as anyone but an administrator of
    IOM Italy or a platform_admin, adding oneself as IOM Italy's supervisor fails."""
    add = ["staff", "add", *INTRUDER, "--role", "supervisor"]
    line = refused(seeded, 12, *add)  # the key file alone: not signed in
    assert "administrator" in line and "homeward login" in line
    for who in (f.COORD, f.SUPERVISOR, "cw@adpare.example.org", f.ADPARE_ADMIN):
        line = refused(seeded, 4, "--as", who, *add)
        assert "ask an admin of IOM Italy (iom-it) or a platform_admin" in line, line
    assert staff_row("eve@mail.example.org") is None


def test_a_coordinator_adds_no_organisation_and_no_staff(seeded):
    org = ["org", "add", "--slug", "shadow", "--name", "Shadow", "--kind", "ngo", "--country", "RO"]
    line = refused(seeded, 4, "--as", f.COORD, *org)
    assert line.startswith("error: a coordinator of IOM Italy (iom-it) cannot add organisations")
    assert "ask a platform_admin" in line
    refused(seeded, 4, "--as", f.COORD, "staff", "add", *INTRUDER, "--role", "caseworker")
    refused(seeded, 4, "--as", f.COORD, "org", "mailbox", "iom-it", "--email", "x@example.org")
    refused(seeded, 4, "--as", f.COORD, "staff", "deactivate", f.SUPERVISOR)
    refused(seeded, 4, "--as", f.COORD, "staff", "change", f.COORD, "--role", "admin")


def test_an_organisation_admin_keeps_its_own_staff_only(seeded):
    as_admin = ("--as", f.ADPARE_ADMIN)
    new = ["--name", "Ion Dinu", "--email", "ion@adpare.example.org", "--role", "caseworker"]
    added = seeded(*as_admin, "staff", "add", "--org", "adpare", *new)
    assert added.code == 0, added.err
    assert "ion@adpare.example.org added to adpare as caseworker" in added.out
    changed = seeded(*as_admin, "staff", "change", "ion@adpare.example.org", "--language", "ro")
    assert changed.code == 0 and "(language changed)" in changed.out, changed.err
    promoted = seeded(*as_admin, "staff", "change", "ion@adpare.example.org", "--role", "admin")
    assert promoted.code == 0, promoted.err
    mailbox = seeded(*as_admin, "org", "mailbox", "adpare", "--email", "Office@ADPARE.example.org")
    assert mailbox.code == 0 and "office@adpare.example.org" in mailbox.out, mailbox.err
    line = refused(seeded, 4, *as_admin, *add("iom-it", "ion2@iom-it.example.org", "caseworker"))
    assert "an admin of ADPARE (adpare) cannot add staff of IOM Italy (iom-it)" in line
    refused(seeded, 4, *as_admin, "staff", "deactivate", f.COORD)
    refused(seeded, 4, *as_admin, "staff", "change", f.COORD, "--language", "ro")
    refused(seeded, 4, *as_admin, "org", "mailbox", "iom-it", "--email", "x@example.org")
    gone = seeded(*as_admin, "staff", "deactivate", "cw@adpare.example.org")
    assert gone.code == 0, gone.err
    assert staff_row("cw@adpare.example.org").active is False  # type: ignore[union-attr]


def test_an_organisation_admin_cannot_make_anyone_platform_admin(seeded):
    as_admin = ("--as", f.ADPARE_ADMIN)
    line = refused(
        seeded, 4, *as_admin, "staff", "change", f.ADPARE_ADMIN, "--role", "platform_admin"
    )
    assert "cannot appoint a platform_admin; ask a platform_admin" in line
    refused(seeded, 4, *as_admin, *add("adpare", "eve@adpare.example.org", "platform_admin"))
    assert staff_row(f.ADPARE_ADMIN).role == "admin"  # type: ignore[union-attr]


def test_only_a_platform_admin_touches_a_platform_admin(seeded):
    as_platform = ("--as", f.PLATFORM_ADMIN)
    made = seeded(*as_platform, *add("iom-ro", "radu@iom-ro.example.org", "admin"))
    assert made.code == 0, made.err
    as_ro_admin = ("--as", "radu@iom-ro.example.org")  # an admin of the platform_admin's org
    refused(seeded, 4, *as_ro_admin, "staff", "deactivate", f.PLATFORM_ADMIN)
    refused(seeded, 4, *as_ro_admin, "staff", "change", f.PLATFORM_ADMIN, "--role", "caseworker")
    line = refused(seeded, 4, *as_platform, "staff", "deactivate", f.PLATFORM_ADMIN)
    assert "last active platform_admin; appoint another first" in line
    refused(seeded, 4, *as_platform, "staff", "change", f.PLATFORM_ADMIN, "--role", "admin")
    org = ["org", "add", "--slug", "p2p", "--name", "People to People", "--kind", "ngo"]
    assert seeded(*as_platform, *org, "--country", "RO").code == 0
    anywhere = seeded(*as_platform, *add("p2p", "ana@p2p.example.org", "platform_admin"))
    assert anywhere.code == 0, anywhere.err
    assert seeded("--as", "ana@p2p.example.org", "staff", "deactivate", f.PLATFORM_ADMIN).code == 0


def test_the_first_platform_admin_is_made_once(cli):
    line = refused(
        cli,
        12,
        "org",
        "add",
        "--slug",
        "iom-it",
        "--name",
        "IOM Italy",
        "--kind",
        "iom_mission",
        "--country",
        "IT",
    )
    assert "`homeward admin init`" in line
    first = cli("admin", "init", *FIRST)
    assert first.code == 0, first.err
    assert staff_row("mara@iom-ro.example.org").role == "platform_admin"  # type: ignore[union-attr]
    again = ["--org", "iom-ro", "--name", "Eve Intruder", "--email", "eve@iom-ro.example.org"]
    line = refused(cli, 4, "admin", "init", *again)
    assert "already has a platform_admin" in line and "homeward login" in line
    refused(cli, 12, *add("iom-ro", "eve@mail.example.org", "admin"))  # the key file alone
    as_mara = ("--as", "mara@iom-ro.example.org")
    org = ["org", "add", "--slug", "iom-it", "--name", "IOM Italy", "--kind", "iom_mission"]
    assert cli(*as_mara, *org, "--country", "IT").code == 0
    (init,) = audited("admin_init")
    assert init.actor_id is None  # the operator, recorded as such, not as a staff member


def test_a_new_organisation_needs_its_details_at_bootstrap(cli):
    bare = ["--org", "iom-ro", "--name", "Mara Ene", "--email", "mara@iom-ro.example.org"]
    line = refused(cli, 2, "admin", "init", *bare)
    assert line.startswith("error: --org: iom-ro is not registered; give --org-name")
    line = refused(cli, 2, "admin", "init", *bare, "--kind", "iom_mission")
    assert line.startswith("error: --org-name: a new organisation needs --org-name, --kind")
    with write_session() as s:  # a directory from before administrators: iom-ro, no admin
        org_in = OrganisationIn(slug="iom-ro", name="IOM Romania", kind="iom_mission", country="RO")
        add_org(session=s, org_in=org_in)
    line = refused(cli, 5, "admin", "init", *FIRST)
    assert line.startswith("error: --org: iom-ro is already registered; leave out --org-name")
    assert cli("admin", "init", *bare).code == 0  # its first platform_admin


def test_every_directory_change_is_audited_with_its_actor(seeded):
    as_platform = ("--as", f.PLATFORM_ADMIN)
    org = ["org", "add", "--slug", "p2p", "--name", "People to People", "--kind", "ngo"]
    assert seeded(*as_platform, *org, "--country", "RO").code == 0
    ion = "ion@p2p.example.org"
    assert seeded(*as_platform, *add("p2p", ion, "caseworker")).code == 0
    assert seeded(*as_platform, "staff", "change", ion, "--role", "coordinator").code == 0
    mailbox = ["org", "mailbox", "p2p", "--email", "office@p2p.example.org"]
    assert seeded(*as_platform, *mailbox).code == 0
    assert seeded("--as", f.ADPARE_ADMIN, "staff", "deactivate", "cw@adpare.example.org").code == 0
    platform, adpare = actor_id(f.PLATFORM_ADMIN), actor_id(f.ADPARE_ADMIN)
    expected = {
        "org_add:p2p": platform,
        "cmd:org add": platform,
        "staff_add:": platform,
        "cmd:staff add": platform,
        "staff_change:": platform,
        "cmd:staff change": platform,
        "org_mailbox:p2p": platform,
        "cmd:org mailbox": platform,
        "staff_deactivated:": adpare,
        "cmd:staff deactivate": adpare,
    }
    for action, actor in expected.items():
        lines = audited(action)
        if action == "staff_add:":  # the seed's own lines (below the commands) have no actor
            lines = [line for line in lines if line.actor_id is not None]
        assert [line.actor_id for line in lines] == [actor], action
    (change,) = audited("staff_change:")
    assert change.fields == "role"
