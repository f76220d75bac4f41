"""``homeward mail``: preview templates, look at the outbox and at each email's recipients,
retry or redirect the recipients refused for good, send, count.

Sending goes through the outbox and the pooled SMTP sender (``HOMEWARD_SMTP_*``); ``send-test``
is the one email sent directly, to check the settings. Reading and sending are the operator's
(the key file); retrying and redirecting a refused recipient are a signed-in staff member's
(``homeward.commands.mail``), audited. ``stats`` is the operator's view of the mail (counts per
day and kind, and whether it has stopped), through the commands layer as the service
``operator``: the key file proves the operator, as for the other ``mail`` commands.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

import typer
from rich.table import Table
from sqlmodel import Session

from homeward.base.errors import InvalidInput
from homeward.base.faults import crash_point
from homeward.base.models import OutboxMessage, RecipientStatus
from homeward.base.settings import get_settings
from homeward.commands.mail import MailStats, ReadMailStats, RedirectMail, RetryMail
from homeward.commands.runner import run
from homeward.edges.cli.common import (
    console,
    credential,
    err_console,
    local,
    now,
    reading,
    request_id_option,
    state,
    writing,
)
from homeward.protection.identity import Service
from notifications.i18n import check_language
from notifications.outbox import list_messages, recipients_of
from notifications.redelivery import Refusal, get_message, refused, refused_count
from notifications.reminders import queue_reminders
from notifications.render import render, template_names
from notifications.rules import load_rules
from notifications.samples import sample_context
from notifications.sender import drain, send_test
from notifications.smtp import ensure_safe_transport
from notifications.stats import COLUMNS
from notifications.urgency import waiting_for
from notifications.workdays import Calendars

OPERATOR = Service("operator")  # at the server, with the key file (no staff session)
mail_app = typer.Typer(
    help="Email reminders and notices: preview, outbox, sending.", no_args_is_help=True
)


@mail_app.command("preview")
def mail_preview(
    template: str = typer.Argument(..., help=f"one of: {', '.join(template_names())}"),
    lang: str = typer.Option(None, "--lang", help="en or ro (default: HOMEWARD_DEFAULT_LANGUAGE)"),
    html: bool = typer.Option(False, "--html", help="print the HTML part instead of the text"),
) -> None:
    """Render a template with made-up sample data (no database needed)."""
    language = check_language(lang or get_settings().default_language)
    moment = now()
    context = sample_context(template, language, moment.astimezone(get_settings().tz).date())
    rendered = render(template, language, context, stamp=moment)
    console.print(f"Subject: {rendered.subject}", markup=False, soft_wrap=True)
    for attachment in rendered.attachments:
        console.print(
            f"Attachment: {attachment.filename} ({attachment.maintype}/{attachment.subtype})",
            markup=False,
        )
    console.print("")
    console.print(rendered.html if html else rendered.text, markup=False, soft_wrap=True)


@mail_app.command("rules")
def mail_rules() -> None:
    """Show when reminders, overdue mentions and escalations are sent, per item kind
    (``notifications/rules.json``)."""
    rules = load_rules()
    table = Table(
        "item kind",
        "days before",
        "due day",
        "overdue: mentioned on days late",
        "supervisors from day",
        title="reminder rules (escalations: one digest per supervisor a day)",
    )
    named = [("(every other kind)", rules.defaults), *sorted(rules.items.items())]
    for code, rule in named:
        table.add_row(
            code,
            ", ".join(map(str, reversed(rule.before_days))) or "-",
            "yes" if rule.on_due_day else "no",
            rule.cadence_text(),
            str(rule.escalate_after_days),
        )
    console.print(table)


@mail_app.command("outbox")
def mail_outbox(
    dead: bool = typer.Option(
        False, "--dead", help="show only the recipients refused for good (dead letters)"
    ),
    dropped: bool = typer.Option(
        False, "--dropped", help="show mail not sent on purpose (e.g. consent withdrawn)"
    ),
    limit: int = typer.Option(50, min=1, help="show at most this many"),
) -> None:
    """List queued (or dropped) emails, oldest first, and every recipient refused for good. A
    queued email says when it goes, on its readers' clock, and why it waits when they are in
    quiet hours (a weekend, a public holiday, before or after working hours)."""
    with reading() as session:
        if not dead:
            _print_messages(session, list_messages(session, dropped=dropped, limit=limit), dropped)
        if dropped:
            return
        refusals = refused(session, limit=limit)
        if refusals:
            _print_refused(refusals, refused_count(session))
        elif dead:
            console.print("no dead letters: no recipient is refused")


def _print_messages(session: Session, rows: list[OutboxMessage], dropped: bool) -> None:
    title = "dropped emails" if dropped else "queued emails"
    table = Table(
        "#",
        "template",
        "lang",
        "to",
        "status",
        "tries",
        "goes at (readers' time)",
        "waits for",
        "last error",
        title=title,
    )
    calendars, moment = Calendars(session), now()
    for row in rows:
        calendar = calendars.of(row.org_id)
        table.add_row(
            str(row.id),
            row.template,
            row.language,
            ", ".join(row.to_addrs),
            row.status,
            str(row.attempts),
            "" if dropped else calendar.local(row.next_attempt_at),
            "" if dropped else waiting_for(row.template, row.next_attempt_at, calendar, moment),
            row.last_error or "",
        )
    console.print(table)
    if not rows:
        console.print("no dropped emails" if dropped else "the outbox is empty")


def _print_refused(refusals: list[Refusal], total: int) -> None:
    table = Table(
        "#", "template", "recipient", "answer", "tries", "when", title="refused recipients"
    )
    for refusal in refusals:
        table.add_row(
            str(refusal.message_id),
            refusal.template,
            refusal.address,
            refusal.reply or "",
            str(refusal.attempts),
            local(refusal.at),
        )
    console.print(table)
    console.print(
        f"{total} recipient{'s' if total != 1 else ''} refused for good: "
        "`homeward mail show N` says why; `homeward mail retry N` or "
        "`homeward mail redirect N --recipient ADDRESS --to ADDRESS` sends it again"
    )


@mail_app.command("show")
def mail_show(message: int = typer.Argument(..., help="the outbox message's number")) -> None:
    """One email: its state, and each recipient's (delivered, refused and why, waiting)."""
    with reading() as session:
        row = get_message(session, message)
        console.print(
            f"#{row.id} {row.template} ({row.language}): {row.status}, "
            f"{row.attempts} attempt{'s' if row.attempts != 1 else ''}; "
            f"queued {local(row.created_at)}, first delivered {local(row.sent_at) or '-'}",
            soft_wrap=True,
        )
        if row.last_error:
            console.print(f"problem: {row.last_error}", soft_wrap=True)
        table = Table("recipient", "status", "answer", "tries", "next try / when", "now sent to")
        for r in recipients_of(session, row.id or 0):
            waiting = r.status in (RecipientStatus.PENDING, RecipientStatus.DEFERRED)
            moment = r.next_attempt_at if waiting else r.updated_at
            table.add_row(
                r.address,
                r.status,
                r.reply or "",
                str(r.attempts),
                local(moment),
                r.redirected_to or "",
            )
        console.print(table)


@mail_app.command("retry")
def mail_retry(
    message: int = typer.Argument(
        None, help="the message's number (default: every refused recipient you may act on)"
    ),
    recipient: str = typer.Option(
        None, "--recipient", help="only this refused recipient of the message"
    ),
    request_id: str = request_id_option(),
) -> None:
    """Queue refused recipients again (signed in); `homeward mail send` then sends to them."""
    if recipient is not None and message is None:
        raise InvalidInput(
            "--recipient: give the message's number too, e.g. `mail retry 12 --recipient a@b.org`"
        )
    command = RetryMail(message, recipient)
    done = run(command, credential(), key=request_id, clock=state.clock)
    plural = "s" if done.count != 1 else ""
    where = f"message #{done.message_id}: " if done.message_id is not None else ""
    whom = f" ({', '.join(done.addresses)})" if done.addresses else ""
    console.print(f"{where}{done.count} refused recipient{plural} queued again{whom}")


@mail_app.command("redirect")
def mail_redirect(
    message: int = typer.Argument(..., help="the message's number (`homeward mail outbox`)"),
    recipient: str = typer.Option(..., "--recipient", help="the refused address"),
    to: str = typer.Option(
        ..., "--to", help="another address of the same organisation: staff or its mailbox"
    ),
    request_id: str = request_id_option(),
) -> None:
    """Send a message refused for one recipient to another address instead (signed in)."""
    command = RedirectMail(message, recipient, to)
    done = run(command, credential(), key=request_id, clock=state.clock)
    console.print(
        f"message #{done.message_id}: redirected from {done.address} to {done.to}; "
        "`homeward mail send` sends it"
    )


@mail_app.command("send-test")
def mail_send_test(
    to: str = typer.Option(..., "--to", help="the address to send the test email to"),
    lang: str = typer.Option(None, "--lang", help="en or ro (default: HOMEWARD_DEFAULT_LANGUAGE)"),
) -> None:
    """Send one test email right away, to check the HOMEWARD_SMTP_* settings."""
    language = check_language(lang or get_settings().default_language)
    attempt = asyncio.run(send_test(to=to, language=language))
    settings = get_settings()
    console.print(
        f"test email accepted by {settings.smtp_host}:{settings.smtp_port_or_default} "
        f"for {', '.join(attempt.accepted)}",
        markup=False,
    )


@mail_app.command("send")
def mail_send(
    limit: int = typer.Option(None, min=1, help="send at most this many queued emails"),
) -> None:
    """Queue today's reminders (once a day, from HOMEWARD_MAIL_DIGEST_HOUR) and send what is due."""
    settings = get_settings()
    ensure_safe_transport(settings)  # refuse before anything is written
    moment = now()
    with writing() as session:
        reminders = queue_reminders(session, now=moment)
    console.print(
        f"reminders: {reminders.coming_due} coming due, {reminders.due_today} due today, "
        f"{reminders.overdue} overdue, {reminders.escalated} escalated; "
        f"{reminders.queued} emails queued"
    )
    crash_point("after-commit-before-mail")
    report = asyncio.run(drain(limit=limit, clock=state.clock))
    console.print(
        f"sent {report.sent}, retried later {report.retried}, dead {report.dead}, "
        f"recipients refused {report.refused}"
    )
    if report.refused:
        err_console.print(
            f"warning: {report.refused} recipient{'s' if report.refused != 1 else ''} refused "
            "for good; see `homeward mail outbox --dead`",
            markup=False,
        )
    if report.retried and not report.sent:
        err_console.print(
            "warning: nothing could be sent; the emails stay queued. Check the server with "
            "`homeward mail send-test --to you@example.org` and `homeward mail outbox`",
            markup=False,
        )


@mail_app.command("stats")
def mail_stats(
    days: int = typer.Option(7, "--days", help="the last N local days, today included"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
) -> None:
    """Mail queued per day and kind, and what became of it: sent, refused, dead (counts only)."""
    found = run(ReadMailStats(days), OPERATOR, clock=state.clock)
    if as_json:
        console.file.write(json.dumps(_plain(found), default=_iso, indent=2) + "\n")
        return
    console.print(_table(found, by_kind=False))
    if found.rows:
        console.print(_table(found, by_kind=True))
    console.print(found.stopped.line() if found.stopped else "mail is flowing")


def _iso(value: date | datetime) -> str:
    return value.isoformat()


def _plain(found: MailStats) -> dict[str, Any]:
    plain = asdict(found)
    plain["stopped"] = found.stopped and {**plain["stopped"], "line": found.stopped.line()}
    return plain


def _table(found: MailStats, *, by_kind: bool) -> Table:
    title = f"mail queued {found.first_day} to {found.last_day}" + (" by kind" if by_kind else "")
    table = Table("day", *(["kind"] if by_kind else []), *COLUMNS, title=title)
    for row in found.rows if by_kind else found.totals:
        counts = [str(getattr(row, column)) for column in COLUMNS]
        table.add_row(row.day.isoformat(), *([row.kind] if by_kind else []), *counts)
    return table
