"""Withdrawing sharing consent with a partner: its queued mail about the case is dropped (and
the outbox says why), and its staff get a notice without personal data, through a real SMTP
server, read back with the ``email`` package."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest
from sqlmodel import select

from homeward.base.db import write_session
from homeward.base.models import Organisation, OutboxStatus
from notifications.reminders import BatchDone, queue_reminders
from notifications.visits import schedule_follow_ups
from statemachines.cases import get_case
from tasks.consents import withdraw_consent
from tests import factories as f
from tests.cli.runner import run_cli
from tests.notifications.conftest import run_drain
from tests.notifications.helpers import outbox, remind

ADPARE = "cw@adpare.example.org"


def withdraw_sharing(ref: str, slug: str, clock) -> None:
    with write_session() as s:
        case = get_case(s, case_ref=ref, actor=f.actor(s))
        org = s.exec(select(Organisation).where(Organisation.slug == slug)).one()
        withdraw_consent(
            s, case=case, purpose="sharing", org_id=org.id, actor=f.actor(s), now=clock.now()
        )


def received_by(smtp, address: str) -> list[EmailMessage]:
    found = []
    for got in smtp.received:
        if address in got.rcpt_tos:
            message = email.message_from_bytes(got.data, policy=policy.default)
            assert isinstance(message, EmailMessage)
            found.append(message)
    return found


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


ADPARE_CW = "cw@adpare.example.org"


def in_reintegration(clock, *, late: bool = False) -> str:
    """A case in reintegration. ADPARE takes part once the person consents to sharing with it:
    ``late``, at reception, where its items waiting for it are handed over with a notice."""
    ref = f.open_case(clock, share=False)
    f.give_sharing(ref, clock, "iom-ro", "cons-rome", *([] if late else ["adpare"]))
    f.drive_to(ref, "received", clock)
    if late:
        f.give_sharing(ref, clock, "adpare")
    f.complete_stage(ref, clock)
    f.advance(ref, "start_reintegration", clock)
    return ref


def test_the_partner_gets_a_notice_and_no_more_mail_about_the_case(
    db_url, clock, smtp, capsys, monkeypatch
):
    f.seed()
    ref, other = in_reintegration(clock, late=True), in_reintegration(clock)
    clock.advance(days=8)  # the two-week visits are coming due: each case is in the digest
    remind(clock)
    (digest,) = [m for m in outbox("digest") if m.to_addrs == [ADPARE]]
    assert {line["case_ref"] for line in digest.context["coming_due"]} == {ref, other}
    queued_about_ref = [
        m for m in outbox() if ADPARE in m.to_addrs and m.context.get("case_ref") == ref
    ]
    assert [m.template for m in queued_about_ref] == ["partner_joined"]
    withdraw_sharing(ref, "adpare", clock)
    for message in queued_about_ref:
        (row,) = [m for m in outbox() if m.id == message.id]
        assert row.status == OutboxStatus.DROPPED
        assert row.last_error == f"dropped: sharing consent for adpare withdrawn on case {ref}"
    run_drain(clock)
    got = received_by(smtp, ADPARE)
    notices = [m for m in got if ref in m["Subject"] and "Sharing withdrawn" in m["Subject"]]
    assert len(notices) == 1
    body = text_of(notices[0])
    assert ref in body and "Follow-up" in body  # the cancelled visits are named
    assert "Canarycanary" not in notices[0].as_string() and "Zenobia" not in body
    assert "homeward case show" not in body  # it can no longer open the case
    digests = [m for m in got if m is not notices[0] and ref not in m["Subject"]]
    everything_else = "".join(text_of(m) for m in digests)
    assert other in everything_else and ref not in everything_else
    assert not any(ref in m.as_string() for m in got if m is not notices[0])
    monkeypatch.setattr("homeward.edges.cli.common.state.clock", clock)
    listed = run_cli(capsys, monkeypatch, "mail", "outbox", "--dropped")
    assert listed.code == 0 and "sharing consent for adpare withdrawn" in listed.out


def test_a_withdrawal_committed_while_the_sweep_builds_its_digests_leaves_them_too(db_url, clock):
    """The sweep builds its digests outside any transaction, after its pages of items are
    committed: sharing withdrawn in between (here, right after the first page) must still take
    the case out of the partner's digest it then queues."""
    f.seed()
    ref, other = in_reintegration(clock, late=True), in_reintegration(clock)
    clock.advance(days=8)  # the two-week visits are coming due: each case would be listed
    withdrawn: list[str] = []

    def between(done: BatchDone) -> None:
        if not withdrawn and done.emails == 0:  # the items are read; no email queued yet
            withdraw_sharing(ref, "adpare", clock)
            withdrawn.append(ref)

    with write_session() as s:
        queue_reminders(s, now=clock.now(), on_batch=between)
    assert withdrawn == [ref]
    (digest,) = [m for m in outbox("digest") if m.to_addrs == [ADPARE]]
    listed = {line["case_ref"] for line in digest.context["coming_due"]}
    assert listed == {other}, digest.context


def test_sharing_withdrawn_and_given_again_while_the_sweep_runs_leaves_the_case_listed(
    db_url, clock
):
    """The sweep drops what sharing withdrawn during its run would not have listed; sharing
    given again since stands: the partner's digest still lists the case."""
    f.seed()
    ref, other = in_reintegration(clock, late=True), in_reintegration(clock)
    clock.advance(days=8)
    again: list[str] = []

    def between(done: BatchDone) -> None:
        if not again and done.emails == 0:
            withdraw_sharing(ref, "adpare", clock)
            f.give_sharing(ref, clock, "adpare")
            again.append(ref)

    with write_session() as s:
        queue_reminders(s, now=clock.now(), on_batch=between)
    assert again == [ref]
    (digest,) = [m for m in outbox("digest") if m.to_addrs == [ADPARE]]
    listed = {line["case_ref"] for line in digest.context["coming_due"]}
    assert listed == {ref, other}, digest.context


@pytest.mark.usefixtures("any_day")
def test_withdrawn_sharing_still_takes_the_visits_out_of_the_partners_calendars(
    db_url, clock, smtp
):
    """Security review: the partner's visit invitations are cancelled when the person withdraws
    consent to share with it, and those CANCELs must go (dropping the partner's mail about the
    case dropped them too, leaving case refs and visit times in its staff's calendars)."""
    f.seed()
    ref = f.open_case(clock)
    f.drive_to(ref, "reintegration", clock)
    with write_session() as s:
        schedule_follow_ups(s, now=clock.now())
    run_drain(clock)
    invited = {m.id for m in outbox("visit") if m.to_addrs == [ADPARE_CW]}
    assert invited
    clock.advance(hours=1)
    with write_session() as s:
        case = get_case(s, case_ref=ref, actor=f.actor(s))
        org = s.exec(select(Organisation).where(Organisation.slug == "adpare")).one()
        withdraw_consent(
            s, case=case, purpose="sharing", org_id=org.id, actor=f.actor(s), now=clock.now()
        )
    cancels = [
        m for m in outbox("visit") if m.to_addrs == [ADPARE_CW] and m.context.get("cancelled")
    ]
    assert len(cancels) == len(invited)
    assert run_drain(clock).sent >= len(cancels)
    assert all(m.status == "sent" for m in outbox("visit") if m.context.get("cancelled"))
