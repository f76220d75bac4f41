"""``homeward mail``: preview templates, look at the outbox, retry dead letters, send, count.

Sending goes through the outbox and the pooled SMTP sender (``HOMEWARD_SMTP_*``); ``send-test``
is the one email sent directly, to check the settings. ``stats`` is the operator's view of the
mail (counts per day and kind, and whether it has stopped), through the commands layer as the
service ``operator``: the key file proves the operator, as for the other ``mail`` commands.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

import typer
from rich.table import Table

from homeward.base.faults import crash_point
from homeward.base.settings import get_settings
from homeward.commands.mail import MailStats, ReadMailStats
from homeward.commands.runner import run
from homeward.edges.cli.common import console, err_console, now, reading, state, writing
from homeward.protection.identity import Service
from notifications.i18n import check_language
from notifications.outbox import list_messages, retry_dead
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
    dead: bool = typer.Option(False, "--dead", help="show dead letters instead of queued mail"),
    dropped: bool = typer.Option(
        False, "--dropped", help="show mail not sent on purpose (e.g. consent withdrawn)"
    ),
    limit: int = typer.Option(50, min=1, help="show at most this many"),
) -> None:
    """List queued (or dead, or dropped) emails, oldest first. A queued email says when it
    goes, on its readers' clock, and why it waits when they are in quiet hours (a weekend, a
    public holiday, before or after working hours)."""
    with reading() as session:
        rows = list_messages(session, dead=dead, dropped=dropped, limit=limit)
        title = "dead letters" if dead else "dropped emails" if dropped else "queued emails"
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
            queued = not (dead or dropped)
            table.add_row(
                str(row.id),
                row.template,
                row.language,
                ", ".join(row.to_addrs),
                row.status,
                str(row.attempts),
                calendar.local(row.next_attempt_at) if queued else "",
                waiting_for(row.template, row.next_attempt_at, calendar, moment) if queued else "",
                row.last_error or "",
            )
        console.print(table)
        if not rows:
            console.print(f"no {title}" if dead or dropped else "the outbox is empty")


@mail_app.command("retry")
def mail_retry(
    message: int = typer.Argument(None, help="the dead letter's number (default: all of them)"),
) -> None:
    """Queue dead letters again; `homeward mail send` then sends them."""
    with writing() as session:
        count = retry_dead(session, now=now(), message_id=message)
    console.print(f"{count} dead letter{'s' if count != 1 else ''} queued again")


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
    console.print(f"sent {report.sent}, retried later {report.retried}, dead {report.dead}")
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
