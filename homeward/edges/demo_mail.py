"""``homeward demo``, the email part: each simulated day's reminder run, then every email the
journeys would send, delivered over real SMTP to a local sink and shown in English and
Romanian. An edge module, like ``homeward.edges.demo``: it drives ``notifications`` from outside.
"""

from __future__ import annotations

import asyncio
from dataclasses import astuple
from datetime import datetime

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from sqlalchemy import Engine
from sqlmodel import func, select

from homeward.base.clock import SimulatedClock, local_date, utc
from homeward.base.db import read_session, write_session
from homeward.base.models import OutboxMessage, OutboxStatus
from homeward.base.settings import TlsMode, get_settings
from notifications.reminders import queue_reminders
from notifications.sender import DrainReport, drain
from notifications.sink import LOOPBACK, LocalSmtpServer, Received, RecordingHandler


def sweep(engine: Engine, now: datetime) -> None:
    """The day's reminder run, as the scheduled sweep would do it."""
    with write_session(engine) as session:
        queue_reminders(session, now=now)


PASSES = 100  # a sink that stops answering must not hold the demo for ever


def deliver_to_sink(engine: Engine, now: datetime) -> tuple[DrainReport, list[Received]]:
    """Drain the outbox over SMTP to an in-process sink on 127.0.0.1, at ``now`` and then at
    each later moment held mail may go (its readers' next working morning); return what
    arrived."""
    handler = RecordingHandler()
    with LocalSmtpServer(handler) as server:
        settings = get_settings().model_copy(
            update={
                "smtp_host": LOOPBACK,
                "smtp_port": server.port,
                "smtp_tls": TlsMode.NONE,  # allowed: the sink is on this machine
                "smtp_username": None,
                "smtp_password": None,
            }
        )
        report, moment = DrainReport(), now
        for _ in range(PASSES):
            part = asyncio.run(
                drain(engine=engine, clock=SimulatedClock(moment), settings=settings)
            )
            totals = zip(astuple(report), astuple(part), strict=True)
            report = DrainReport(*(a + b for a, b in totals))
            later = _next_queued(engine)
            if later is None:
                break
            moment = later
    return report, handler.received


def _next_queued(engine: Engine) -> datetime | None:
    """When the first message still queued may go, if any is."""
    with read_session(engine) as session:
        query = select(func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == OutboxStatus.QUEUED
        )
        found = session.exec(query).one()
    return utc(found) if found is not None else None


def _templates(engine: Engine) -> dict[str, str]:
    with read_session(engine) as session:
        rows = session.exec(select(OutboxMessage.message_id, OutboxMessage.template))
        return dict(rows.all())


def emails_table(received: list[Received], templates: dict[str, str]) -> Table:
    """One line per email: when, in which language, to whom, what about."""
    table = Table("date", "lang", "kind", "to", "subject", title="emails sent to the local sink")
    for item in received:
        message = item.parsed()
        table.add_row(
            local_date(message["Date"].datetime).isoformat(),
            str(message["Content-Language"]),
            templates.get(str(message["Message-ID"]), "?"),
            ", ".join(item.rcpt_tos),
            str(message["Subject"]),
        )
    return table


def samples(received: list[Received]) -> Group:
    """The first digest (or first email) in each language, as its reader sees the text part."""
    panels = []
    for language in ("en", "ro"):
        mine = [r.parsed() for r in received if r.parsed()["Content-Language"] == language]
        digests = [m for m in mine if "digest" in m["Subject"] or "rezumat" in m["Subject"]]
        if not (digests or mine):
            continue
        message = (digests or mine)[0]
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        title = f"{language}: {message['Subject']}  (to {message['To']})"
        panels.append(Panel(text.replace("\r\n", "\n").strip(), title=title, expand=False))
    return Group(*panels)


def show_emails(engine: Engine, console: Console, now: datetime) -> DrainReport:
    """Send everything queued to the sink and print it: a table, then one email per language."""
    report, received = deliver_to_sink(engine, now)
    console.print(emails_table(received, _templates(engine)))
    console.print(
        f"{report.sent} emails delivered over SMTP to a sink on {LOOPBACK}, "
        f"{report.retried} left queued, {report.dead} dead letters"
    )
    console.print(samples(received))
    return report
