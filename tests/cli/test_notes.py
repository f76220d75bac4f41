"""Notes, skip reasons and handoff reasons can be read back, by those who may, each read
audited (``homeward items show``, ``homeward case show --personal``); never by others."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from homeward.base.models import AuditEntry
from homeward.edges.cli.common import state
from tests import factories as f
from tests.cli.runner import run_cli

PERSON = json.dumps({"given_name": "Zenobia", "family_name": "Canarycanary"})
SKIP, NOTE = "Zenobia asked to wait a week", "bed at the Casa Ana shelter"
MANAGER, ADPARE = "mgr@iom-it.example.org", "cw@adpare.example.org"


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    f.seed()
    monkeypatch.setattr(state, "clock", clock)

    def run(who: str, *args: str):
        return run_cli(capsys, monkeypatch, "--as", who, *args, stdin=PERSON)

    return run


def _reads(email: str) -> int:
    """How many audited reads of free text ``email`` made."""
    with f.admin_read() as s:
        who = f.actor(s, email)
        query = select(AuditEntry).where(
            AuditEntry.action == "note_read", AuditEntry.actor_id == who.id
        )
        return len(list(s.exec(query)))


def _noted_case(cli, clock, *, share: bool) -> tuple[str, int, int]:
    ref = f.open_case(clock, share=share)
    first, second = (item.id for item in f.items(ref)[:2])
    assert cli(f.COORD, "items", "skip", str(first), "--reason", SKIP).code == 0
    assert cli(f.COORD, "items", "done", str(second), "--note", NOTE).code == 0
    return ref, first, second


def test_the_owner_reads_notes_and_skip_reasons_each_read_audited(cli, clock):
    ref, skipped, done = _noted_case(cli, clock, share=False)
    shown = cli(f.COORD, "items", "show", str(skipped))
    assert shown.code == 0, shown.err
    assert "skip reason" in shown.out and SKIP in shown.out and NOTE not in shown.out
    assert _reads(f.COORD) == 1
    assert NOTE in cli(f.COORD, "items", "show", str(done)).out
    assert _reads(f.COORD) == 2
    personal = cli(f.COORD, "case", "show", ref, "--personal")
    assert personal.code == 0, personal.err
    assert SKIP in personal.out and NOTE in personal.out and f"#{skipped}" in personal.out
    assert _reads(f.COORD) == 4
    assert SKIP not in cli(f.COORD, "case", "show", ref).out  # only on request


@pytest.mark.parametrize("share", [False, True])
def test_managers_and_partners_it_does_not_concern_never_read_them(cli, clock, share):
    ref, skipped, done = _noted_case(cli, clock, share=share)
    for who in (MANAGER, ADPARE):  # adpare takes part in the case, but not in these items
        for item in (skipped, done):
            shown = cli(who, "items", "show", str(item))
            assert SKIP not in shown.out + shown.err and NOTE not in shown.out + shown.err
            if who == ADPARE and not share:  # a partner waiting for consent sees no case at all
                assert shown.code == 3 and "not found" in shown.err
                continue
            assert shown.code == 0, shown.err
            assert "private" in shown.out
        personal = cli(who, "case", "show", ref, "--personal")
        assert SKIP not in personal.out + personal.err and NOTE not in personal.out
        assert _reads(who) == 0


def test_a_partner_reads_its_own_items_texts_only_while_sharing_consent_holds(cli, clock):
    ref = f.open_case(clock, share=True)
    item = str(f.items(ref)[0].id)
    handed = cli(f.COORD, "items", "handoff", item, "--to", "adpare", "--reason", "speaks Romanian")
    assert handed.code == 0, handed.err
    assert cli(ADPARE, "items", "accept", item).code == 0
    assert cli(ADPARE, "items", "done", item, "--note", NOTE).code == 0
    shown = cli(ADPARE, "items", "show", item)
    assert NOTE in shown.out and "speaks Romanian" in shown.out and "handoff accepted" in shown.out
    assert _reads(ADPARE) == 2
    withdrawn = cli(f.COORD, "consent", "withdraw", ref, "--purpose", "sharing", "--org", "adpare")
    assert withdrawn.code == 0, withdrawn.err
    after = cli(ADPARE, "items", "show", item)
    assert NOTE not in after.out + after.err and "speaks Romanian" not in after.out + after.err
    assert _reads(ADPARE) == 2
