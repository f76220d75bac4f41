"""The reintegration plan through the CLI and the commands, as users reach it: versions,
approval by another supervisor, services becoming their providers' items (and My work),
services started, delivered and cancelled, budget totals, review, refusals that change nothing,
and no free text anywhere it should not be."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from homeward.base.db import write_session
from homeward.base.models import (
    ChecklistItem,
    ItemStatus,
    PlanService,
    ReintegrationPlan,
)
from homeward.commands import mywork
from homeward.commands.runner import run
from homeward.crypt import crypto
from homeward.edges.cli.common import state
from homeward.protection import vault
from homeward.records.directory import StaffIn, add_staff, validate
from statemachines.cases import get_case
from tasks import plans
from tests import factories as f
from tests.cli.runner import run_cli
from tests.signin import credential_for

SUP2, FMB, ADPARE = "sup2@iom-it.example.org", "cw@fmb.example.org", "cw@adpare.example.org"
CW = "cw@iom-it.example.org"
SUMMARY = "Zenobia Canarycanary plan summary"
GOAL = "Zenobia Canarycanary goal: a job in Brasov"
NOTE = "Zenobia Canarycanary service note"
REASON = "Zenobia Canarycanary rejection reason"
CANCEL = "Zenobia Canarycanary cancellation"
SECRETS = (SUMMARY, GOAL, NOTE, REASON, CANCEL, "Canarycanary")


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    f.seed()
    with write_session() as s:
        add_staff(
            session=s,
            staff_in=validate(StaffIn, org="iom-it", name="Sup Two", email=SUP2, role="supervisor"),
        )
    monkeypatch.setattr(state, "clock", clock)

    def run_as(who: str, *args: str):
        return run_cli(capsys, monkeypatch, "--as", who, *args)

    return run_as


def _ok(result):
    assert result.code == 0, result.err + result.out
    return result


def _received(clock) -> str:
    ref = f.open_case(clock)
    f.drive_to(ref, "received", clock)
    return ref


def _approved_plan(cli, ref: str) -> None:
    _ok(cli(CW, "plan", "draft", ref, "--summary", SUMMARY))
    _ok(cli(CW, "plan", "add-goal", ref, "--dimension", "economic", "--text", GOAL))
    _ok(
        cli(
            CW,
            *("plan", "add-service", ref, "--type", "vocational_training", "--provider", "fmb"),
            *("--start", "2026-03-01", "--end", "2026-06-30", "--budget", "1200.50"),
            *("--currency", "EUR", "--note", NOTE),
        )
    )
    _ok(
        cli(
            CW,
            *("plan", "add-service", ref, "--type", "housing", "--provider", "adpare"),
            *("--start", "2026-02-01", "--budget", "3000", "--currency", "ron"),
        )
    )
    _ok(cli(f.COORD, "plan", "submit", ref))
    _ok(cli(f.SUPERVISOR, "plan", "approve", ref))


def _services(ref: str) -> list[PlanService]:
    with f.admin_read() as s:
        plan = s.exec(select(ReintegrationPlan).where(ReintegrationPlan.status == "approved")).one()
        assert get_case(s, case_ref=ref, actor=f.actor(s)).id == plan.case_id
        return plans.services_of(s, plan)


def test_draft_submit_approve_turns_services_into_provider_items(cli, clock):
    ref = _received(clock)
    _approved_plan(cli, ref)
    services = _services(ref)
    assert [s.status for s in services] == ["approved", "approved"]
    assert [s.budget_minor for s in services] == [120050, 300000]
    assert [s.currency for s in services] == ["EUR", "RON"]
    with f.admin_read() as s:
        items = [s.get(ChecklistItem, sv.item_id) for sv in services]
    assert [i.code for i in items] == ["service_vocational_training", "service_housing"]
    assert all(not i.blocking and i.status == ItemStatus.OPEN for i in items)
    assert all(i.stage == "received" for i in items)
    # the provider sees the case and the item in My work, with a generic title
    work = run(mywork.MyWork(), credential_for(FMB, clock.now()), clock=clock)
    lines = [*work.overdue, *work.today, *work.upcoming]
    assert [(w.case_ref, w.title) for w in lines] == [(ref, "Plan service: vocational training")]
    shown = _ok(cli(FMB, "plan", "show", ref))
    assert "vocational_training" in shown.out and NOTE in shown.out  # the note concerns fmb
    assert GOAL not in shown.out and "(not shown to you)" in shown.out
    owner_view = _ok(cli(f.COORD, "plan", "show", ref)).out
    assert SUMMARY in owner_view and GOAL in owner_view
    assert "total: budget 1200.50 EUR, spent 0.00 EUR" in owner_view
    assert "total: budget 3000.00 RON, spent 0.00 RON" in owner_view


def test_only_another_supervisor_of_the_owner_approves(cli, clock):
    ref = _received(clock)
    _ok(cli(f.SUPERVISOR, "plan", "draft", ref))
    _ok(cli(f.SUPERVISOR, "plan", "add-goal", ref, "--dimension", "social", "--text", GOAL))
    _ok(cli(f.SUPERVISOR, "plan", "submit", ref))
    before = f.db_snapshot()
    own = cli(f.SUPERVISOR, "plan", "approve", ref)
    assert own.code != 0 and "cannot approve it" in own.err
    coord = cli(f.COORD, "plan", "approve", ref)
    assert coord.code != 0 and "cannot approve or reject" in coord.err
    partner = cli(ADPARE, "plan", "approve", ref)
    assert partner.code != 0
    for refused in (own, coord, partner):
        assert len(refused.err.strip().splitlines()) == 1 and "Traceback" not in refused.err
    assert f.db_snapshot() == before
    rejected = _ok(cli(SUP2, "plan", "reject", ref, "--reason", REASON))
    assert "rejected" in rejected.out and REASON not in rejected.out
    _ok(cli(f.SUPERVISOR, "plan", "draft", ref))  # a new version copies the rejected one
    _ok(cli(f.SUPERVISOR, "plan", "submit", ref))
    _ok(cli(SUP2, "plan", "approve", ref))
    shown = _ok(cli(f.COORD, "plan", "show", ref)).out
    assert "version 2 (approved)" in shown and "version 1 (rejected)" in shown
    assert shown.count(GOAL) == 2 and REASON in shown


def test_a_new_version_copies_goals_and_services_and_supersedes_on_approval(cli, clock):
    ref = _received(clock)
    _approved_plan(cli, ref)
    first = _services(ref)
    _ok(cli(CW, "plan", "draft", ref))
    again = cli(CW, "plan", "draft", ref)
    assert again.code != 0 and "already has a plan version in draft" in again.err
    _ok(
        cli(
            CW,
            *("plan", "add-service", ref, "--type", "medical", "--provider", "adpare"),
            *("--start", "2026-04-01", "--budget", "100"),
        )
    )
    _ok(cli(CW, "plan", "submit", ref))
    _ok(cli(SUP2, "plan", "approve", ref))
    second = _services(ref)
    assert [s.service_type for s in second] == ["vocational_training", "housing", "medical"]
    assert [s.item_id for s in second[:2]] == [s.item_id for s in first]  # the same items
    with f.admin_read() as s:
        statuses = [p.status for p in s.exec(select(ReintegrationPlan))]
        assert sorted(statuses) == ["approved", "superseded"]
        assert s.get(ChecklistItem, second[2].item_id).code == "service_medical"
        copied = s.get(PlanService, second[0].id)
        key = vault.case_key(s, get_case(s, case_ref=ref, actor=f.actor(s)))
        text = crypto.decrypt_field(
            key, copied.note, table="plan_service", column="note", row_id=copied.id
        )
        assert text == NOTE


def test_services_started_delivered_cancelled_and_totals(cli, clock):
    ref = _received(clock)
    _approved_plan(cli, ref)
    training, housing = _services(ref)
    outsider = cli("cw@dgaspc-bv.example.org", "plan", "service-started", str(training.id))
    assert outsider.code != 0 and len(outsider.err.strip().splitlines()) == 1
    other = cli(ADPARE, "plan", "service-started", str(training.id))  # not adpare's service
    assert other.code != 0 and "cannot record service" in other.err
    future = cli(FMB, "plan", "service-started", str(training.id), "--on", "2026-03-02")
    assert future.code != 0 and "--on" in future.err
    _ok(cli(FMB, "plan", "service-started", str(training.id), "--on", "2026-01-08"))
    wrong = cli(
        FMB, "plan", "service-delivered", str(training.id), "--cost", "980", "--currency", "RON"
    )
    assert wrong.code != 0 and "--currency" in wrong.err
    done = _ok(cli(FMB, "plan", "service-delivered", str(training.id), "--cost", "980"))
    assert "delivered" in done.out
    cancelled = _ok(cli(f.COORD, "plan", "service-cancelled", str(housing.id), "--reason", CANCEL))
    assert CANCEL not in cancelled.out
    training, housing = _services(ref)
    assert (training.status, training.cost_minor) == ("delivered", 98000)
    assert str(training.actual_start_on) == "2026-01-08"
    assert housing.status == "cancelled"
    with f.admin_read() as s:
        assert s.get(ChecklistItem, training.item_id).status == ItemStatus.DONE
        assert s.get(ChecklistItem, housing.item_id).status == ItemStatus.CANCELLED
    shown = _ok(cli(f.COORD, "plan", "show", ref)).out
    assert "total: budget 1200.50 EUR, spent 980.00 EUR" in shown
    assert "total: budget 3000.00 RON" not in shown  # the cancelled service counts no more


def test_plan_item_done_on_approval_and_review_after_a_visit(cli, clock):
    ref = _received(clock)
    f.complete_stage(ref, clock)
    f.advance(ref, "start_reintegration", clock)
    [plan_item] = [i for i in f.items(ref, status="open") if i.code == "reintegration_plan"]
    _approved_plan(cli, ref)
    with f.admin_read() as s:
        item = s.get(ChecklistItem, plan_item.id)
        plan = s.exec(select(ReintegrationPlan)).one()
        assert (
            item.status == ItemStatus.DONE and item.completed_by_id == f.actor(s, f.SUPERVISOR).id
        )
        follow = plans.next_follow_up(s, get_case(s, case_ref=ref, actor=f.actor(s)))
        assert plan.review_due_on == follow
    assert "plan review due" not in _ok(cli(f.COORD, "plan", "show", ref)).out
    with write_session() as s:
        plans.mark_review_due(s, get_case(s, case_ref=ref, actor=f.actor(s)), clock.now())
    assert "plan review due" in _ok(cli(f.COORD, "plan", "show", ref)).out


def test_no_plan_before_the_person_is_received(cli, clock):
    ref = f.open_case(clock)
    before = f.db_snapshot()
    refused = cli(CW, "plan", "draft", ref, "--summary", SUMMARY)
    assert refused.code != 0 and "once the person is received" in refused.err
    assert SUMMARY not in refused.err + refused.out
    assert f.db_snapshot() == before


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--type", "spa", "--provider", "fmb", "--start", "2026-03-01"), "--type"),
        (("--type", "legal", "--provider", "fmb", "--start", "next week"), "--start"),
        (("--type", "legal", "--provider", "nobody", "--start", "2026-03-01"), "--provider"),
        (
            ("--type", "legal", "--provider", "fmb", "--start", "2026-03-01", "--budget", "12,3.4"),
            "--budget",
        ),
        (
            ("--type", "legal", "--provider", "fmb", "--start", "2026-03-01", "--budget", "-5"),
            "--budget",
        ),
        (
            ("--type", "legal", "--provider", "fmb", "--start", "2026-03-01", "--currency", "XYZ"),
            "--currency",
        ),
        (
            (
                "--type",
                "legal",
                "--provider",
                "fmb",
                "--start",
                "2026-03-01",
                "--end",
                "2026-02-01",
            ),
            "--end",
        ),
    ],
)
def test_bad_service_input_says_one_line_and_changes_nothing(cli, clock, args, says):
    ref = _received(clock)
    _ok(cli(CW, "plan", "draft", ref))
    before = f.db_snapshot()
    result = cli(CW, "plan", "add-service", ref, *args, "--note", NOTE)
    assert result.code != 0
    assert says in result.err and len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err and NOTE not in result.err
    assert f.db_snapshot() == before


def test_bad_goal_and_a_missing_or_hidden_case_answer_alike(cli, clock):
    ref = _received(clock)
    _ok(cli(CW, "plan", "draft", ref))
    bad = cli(CW, "plan", "add-goal", ref, "--dimension", "spiritual", "--text", GOAL)
    assert bad.code != 0 and "--dimension" in bad.err and GOAL not in bad.err
    hidden = cli("cw@dgaspc-bv.example.org", "plan", "show", ref)
    missing = cli("cw@dgaspc-bv.example.org", "plan", "show", "RT-0000-00")
    assert hidden.code == missing.code != 0
    assert hidden.err.replace(ref, "REF") == missing.err.replace("RT-0000-00", "REF")


def test_canary_free_text_stays_sealed(cli, clock, caplog):
    caplog.set_level(logging.DEBUG)
    ref = _received(clock)
    _ok(cli(CW, "plan", "draft", ref, "--summary", SUMMARY))
    _ok(cli(CW, "plan", "add-goal", ref, "--dimension", "psychosocial", "--text", GOAL))
    _ok(
        cli(
            CW,
            "plan",
            *("add-service", ref, "--type", "legal", "--provider", "fmb"),
            *("--start", "2026-03-01", "--note", NOTE),
        )
    )
    _ok(cli(CW, "plan", "submit", ref))
    _ok(cli(f.SUPERVISOR, "plan", "reject", ref, "--reason", REASON))
    _ok(cli(CW, "plan", "draft", ref))
    _ok(cli(CW, "plan", "submit", ref))
    _ok(cli(SUP2, "plan", "approve", ref))
    [service] = _services(ref)
    printed = _ok(cli(FMB, "plan", "service-cancelled", str(service.id), "--reason", CANCEL)).out
    printed += _ok(cli(FMB, "items", "list", "--mine")).out
    rows = repr(f.db_snapshot()).encode()
    from tests.protect.test_canary import forms

    for secret in SECRETS:
        for form in forms(secret):
            assert form not in rows, f"{secret!r} in the database as {form!r}"
            assert form.decode(errors="ignore") not in printed
            assert form.decode(errors="ignore") not in caplog.text


def test_reminders_name_a_service_item_by_its_generic_title_only(cli, clock, monkeypatch):
    from notifications.reminders import queue_reminders
    from notifications.sink import LocalSmtpServer
    from tests.notifications.conftest import point_mail_at, run_drain
    from tests.notifications.smtp_server import ScriptedHandler, received_text

    ref = _received(clock)
    _approved_plan(cli, ref)
    with write_session() as s:
        f.actor(s, FMB).language = "ro"
    handler = ScriptedHandler()
    with LocalSmtpServer(handler) as server:
        handler.controller = server
        point_mail_at(monkeypatch, server.port)
        clock.advance(days=60)  # past both services' planned starts
        with write_session() as s:
            queue_reminders(s, now=clock.now())
        run_drain(clock)
    mail = received_text(list(handler.received))
    assert "Serviciu din plan: formare profesională" in mail  # fmb's item, in Romanian
    assert "Plan service: housing" in mail or "Serviciu din plan: locuință" in mail
    for secret in SECRETS:
        assert secret not in mail
