"""``homeward org genitive`` and ``org add --name-genitive``: an organisation's administrator
(or a platform_admin) stores the Romanian genitive of its name, which Romanian emails use
("punctele Asociației ADPARE"); others are refused, bad input is one line and changes nothing.
Runs on SQLite and, with ``HOMEWARD_TEST_DB=postgres``, on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import select

from homeward.base.models import Organisation
from homeward.edges.cli.common import state
from tests import factories as f
from tests.cli.runner import Result, run_cli
from tests.cli.test_directory_admin import actor_id, audited, refused


@pytest.fixture
def seeded(db_url, capsys, monkeypatch, clock):
    monkeypatch.setattr(state, "clock", clock)
    f.seed()

    def run(*args: str) -> Result:
        return run_cli(capsys, monkeypatch, *args)

    return run


def genitive_of(slug: str) -> str | None:
    with f.admin_read() as s:
        return s.exec(select(Organisation.name_genitive).where(Organisation.slug == slug)).one()


def test_an_organisation_admin_sets_and_clears_its_genitive(seeded):
    as_admin = ("--as", f.ADPARE_ADMIN)
    done = seeded(*as_admin, "org", "genitive", "adpare", "  Asociației ADPARE ")
    assert done.code == 0, done.err
    assert done.out.strip() == "organisation adpare: genitive Asociației ADPARE"
    assert genitive_of("adpare") == "Asociației ADPARE"
    listed = seeded("org", "list")
    assert "Asociației ADPARE" in listed.out, listed.out
    (line,) = audited("org_genitive:adpare")
    assert line.actor_id == actor_id(f.ADPARE_ADMIN) and line.fields == "name_genitive"
    cleared = seeded(*as_admin, "org", "genitive", "adpare")
    assert cleared.code == 0 and "organizației ADPARE" in cleared.out, cleared.err
    assert genitive_of("adpare") is None


def test_a_platform_admin_adds_an_organisation_with_its_genitive(seeded):
    org = ["org", "add", "--slug", "p2p", "--name", "Asociația People to People", "--kind"]
    org += ["ngo", "--country", "RO", "--name-genitive", "Asociației People to People"]
    done = seeded("--as", f.PLATFORM_ADMIN, *org)
    assert done.code == 0, done.err
    assert genitive_of("p2p") == "Asociației People to People"


def test_others_and_bad_forms_are_refused_in_one_line_changing_nothing(seeded):
    line = refused(seeded, 4, "--as", f.ADPARE_ADMIN, "org", "genitive", "iom-it", "OIM Italia")
    assert "cannot set the genitive name of IOM Italy (iom-it)" in line
    refused(seeded, 4, "--as", f.COORD, "org", "genitive", "iom-it", "OIM Italia")
    line = refused(seeded, 2, "--as", f.ADPARE_ADMIN, "org", "genitive", "adpare", "A")
    assert line.startswith("error: name_genitive:"), line
    refused(seeded, 2, "--as", f.ADPARE_ADMIN, "org", "genitive", "adpare", "x" * 201)
    line = refused(seeded, 3, "--as", f.ADPARE_ADMIN, "org", "genitive", "nowhere", "Nimănui")
    assert "nowhere" in line
