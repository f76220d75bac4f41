"""``--request-id`` and ``--expect-version`` at the CLI: a retried command prints what the first
one did and does nothing again; a change based on an old version exits 5 and changes nothing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import ClassVar

import pytest
from sqlalchemy import func
from sqlmodel import select

import notifications  # noqa: F401  (subscribes the notices: a handoff queues an email)
from homeward.base.errors import Conflict
from homeward.base.models import (
    AuditEntry,
    Case,
    CaseEvent,
    Handoff,
    ItemStatus,
    OutboxMessage,
    RequestKey,
    StaffMember,
)
from homeward.commands.runner import Command, Context, run
from tasks.catalog import load_catalog
from tests import factories as f
from tests.cli.runner import run_cli
from tests.signin import credential_for

PERSON = json.dumps({"given_name": "Zenobia", "family_name": "Canarycanary"})
AS = ("--as", f.COORD)


@pytest.fixture
def cli(db_url, capsys, monkeypatch):
    f.seed()

    def run(*args: str, stdin: str = ""):
        return run_cli(capsys, monkeypatch, *AS, *args, stdin=stdin)

    return run


def _count(model, *where) -> int:
    with f.admin_read() as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())


def _outcome(item) -> tuple[str, ...]:
    outcomes = load_catalog("v1").spec(item.code).outcomes
    return ("--outcome", outcomes[0]) if outcomes else ()


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0]


def test_case_start_retried_with_its_request_id_prints_the_same_case(cli) -> None:
    args = ("case", "start", "--person", "-", "--request-id", "open-2026-0001")
    first = cli(*args, stdin=PERSON)
    again = cli(*args, stdin=PERSON)

    assert first.code == again.code == 0, first.err + again.err
    assert _first_line(again.out) == _first_line(first.out)
    assert _first_line(first.out).startswith("case RT-")
    assert _count(Case) == 1 and _count(CaseEvent, CaseEvent.trigger == "open") == 1
    assert cli("case", "start", "--person", "-", stdin=PERSON).code == 0  # no key: a new case
    assert _count(Case) == 2


def test_the_request_id_may_come_from_the_environment(cli, monkeypatch) -> None:
    monkeypatch.setenv("HOMEWARD_REQUEST_ID", "env-key-000042")
    first = cli("case", "start", "--person", "-", stdin=PERSON)
    again = cli("case", "start", "--person", "-", stdin=PERSON)
    assert first.code == again.code == 0
    assert _first_line(again.out) == _first_line(first.out) and _count(Case) == 1


def test_a_retried_transition_returns_its_result_instead_of_a_refusal(cli, clock) -> None:
    ref = f.open_case(clock)
    f.complete_stage(ref, clock)
    args = ("case", "advance", ref, "record_consent", "--set", "method=signed")
    args = (*args, "--set", "language=ro", "--request-id", "advance-0001")
    first, again = cli(*args), cli(*args)
    assert first.code == again.code == 0, first.err + again.err
    assert again.out == first.out == f"case {ref} is now in stage consent_obtained\n"
    assert _count(CaseEvent, CaseEvent.trigger == "record_consent") == 1
    without_key = cli(*args[:-2])
    assert without_key.code == 4 and "cannot record_consent" in without_key.err


def test_item_done_skip_and_handoff_retried_happen_once(cli, clock) -> None:
    ref = f.open_case(clock)
    done, skipped, handed = f.items(ref, status=ItemStatus.OPEN)[:3]
    commands = [
        ("items", "done", str(done.id), *_outcome(done), "--request-id", "done-000001"),
        ("items", "skip", str(skipped.id), "--reason", "not needed", "--request-id", "skip-0001"),
        ("items", "handoff", str(handed.id), "--to", "fmb", "--request-id", "handoff-0001"),
    ]
    for command in commands:
        first, again = cli(*command), cli(*command)
        assert first.code == again.code == 0, first.err + again.err
        assert again.out == first.out
    for trigger in ("item_done", "item_skipped", "handoff_proposed"):
        assert _count(CaseEvent, CaseEvent.trigger == trigger) == 1, trigger
    assert _count(Handoff) == 1
    with f.admin_read() as s:
        event = s.exec(select(CaseEvent).where(CaseEvent.trigger == "handoff_proposed")).one()
        mails = s.exec(select(OutboxMessage)).all()
    assert [m for m in mails if f":event-{event.id}:" in m.key] != []
    assert len([m for m in mails if f":event-{event.id}:" in m.key]) == 1
    assert _count(RequestKey) == 3


def test_a_request_id_used_for_another_command_exits_5_and_changes_nothing(cli, clock) -> None:
    ref = f.open_case(clock)
    item = f.items(ref, status=ItemStatus.OPEN)[0]
    assert (
        cli("case", "start", "--person", "-", "--request-id", "shared-0001", stdin=PERSON).code == 0
    )
    before = f.db_snapshot()
    reused = cli(
        "items", "skip", str(item.id), "--reason", "not needed", "--request-id", "shared-0001"
    )
    assert reused.code == 5
    assert reused.err.count("\n") == 1 and "already used for a different request" in reused.err
    assert "shared-0001" not in reused.err
    assert f.db_snapshot() == before
    # the refusal is in the audit log: the command, the case named, who; never the key
    with f.admin_read() as s:
        noted = s.exec(
            select(AuditEntry).where(AuditEntry.action == "key_refused:items skip")
        ).all()
        coordinator = s.exec(select(StaffMember.id).where(StaffMember.email == f.COORD)).one()
    assert [(e.actor_id, e.case_ref, e.fields) for e in noted] == [(coordinator, None, "staff")]
    assert all("shared-0001" not in repr(e) for e in noted)


@pytest.mark.parametrize("key", ["short", "Ana Pop 1990-01-01", "x" * 101, "flow:0b1f3c9e:start"])
def test_a_malformed_request_id_is_one_line_naming_the_option(cli, key) -> None:
    before = f.db_snapshot()
    bad = cli("case", "start", "--person", "-", "--request-id", key, stdin=PERSON)
    assert bad.code == 2 and bad.err.count("\n") == 1
    assert bad.err.startswith("error: --request-id:") and key not in bad.err
    assert f.db_snapshot() == before


def test_case_show_prints_the_version_to_pass_back(cli, clock) -> None:
    ref = f.open_case(clock)
    shown = cli("case", "show", ref)
    assert shown.code == 0
    assert re.search(rf"\bversion\W+{f.load_case(ref).version}\b", shown.out), shown.out


@pytest.mark.parametrize("command", ["advance", "done", "handoff"])
def test_a_stale_expect_version_exits_5_with_the_reload_hint_and_changes_nothing(
    cli, clock, command
) -> None:
    ref = f.open_case(clock)
    f.complete_stage(ref, clock)
    seen = f.load_case(ref).version
    f.advance(ref, "record_consent", clock)  # someone else moves the case meanwhile
    item = f.items(ref, status=ItemStatus.OPEN)[0]
    args = {
        "advance": ("case", "advance", ref, "suspend", "--set", "reason=safety_incident"),
        "done": ("items", "done", str(item.id), *_outcome(item)),
        "handoff": ("items", "handoff", str(item.id), "--to", "fmb"),
    }[command]
    before = f.db_snapshot()
    stale = cli(*args, "--expect-version", str(seen))
    now = f.load_case(ref).version
    assert stale.code == 5
    assert stale.err == (
        f"error: case {ref} was changed by someone else (version {now}, you had {seen}); "
        f"reload it with `homeward case show {ref}` and retry\n"
    )
    assert f.db_snapshot() == before
    assert cli(*args, "--expected-version", str(now)).code == 0  # with the version shown: done


@dataclass(frozen=True)
class _Probed:
    staff_id: int


@dataclass(frozen=True)
class _Probe(Command[_Probed]):
    """A write command whose case field holds whatever a form sent (here, a person's name)."""

    name: ClassVar[str] = "probe"
    ref: str
    note: str

    def execute(self, ctx: Context) -> _Probed:
        return _Probed(ctx.staff.id or 0)


def test_a_reused_key_names_no_case_it_was_not_given_as_a_case_ref(engine, clock) -> None:
    """The audit line of a reused key names the request's case only if it has a case_ref's
    shape: a name typed where the reference belongs never reaches the log."""
    f.seed()
    credential = credential_for(f.COORD, clock.now())
    assert run(_Probe("Ana Pop", "first"), credential, key="probe-0001", clock=clock).staff_id
    with pytest.raises(Conflict):
        run(_Probe("Ana Pop", "second"), credential, key="probe-0001", clock=clock)
    with f.admin_read() as s:
        noted = s.exec(select(AuditEntry).where(AuditEntry.action == "key_refused:probe")).all()
    assert [(e.case_ref, e.fields) for e in noted] == [(None, "staff")]
    assert all("Ana Pop" not in repr(e) for e in noted)
