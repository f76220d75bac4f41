"""SMTP with aiosmtplib: TLS required (clear text only to this machine), a pool of reused
connections with bounded concurrency, and every failure sorted: a 4xx answer or a lost
connection is retried later, a 5xx answer is a dead letter, recipients refused one by one are
recorded one by one. A server that cannot be reached at all opens a circuit: the rest of the
batch is left queued without using up attempts, instead of hammering a dead server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiosmtplib import (
    SMTP,
    SMTPException,
    SMTPRecipientsRefused,
    SMTPResponse,
    SMTPResponseException,
)

from homeward.base.errors import InvalidInput
from homeward.base.settings import Settings, TlsMode
from notifications.outbox import Attempt, Verdict

CIRCUIT_AFTER = 3  # consecutive failures to connect before the batch stops trying


@dataclass(frozen=True)
class Envelope:
    """What goes over the wire: the envelope sender and recipients, and the message bytes."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (localhost, 127.0.0.0/8, ::1)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ensure_safe_transport(settings: Settings) -> None:
    """Refuse settings that would send mail in clear over a network."""
    if settings.smtp_tls is TlsMode.NONE and not is_loopback(settings.smtp_host):
        raise InvalidInput(
            f"HOMEWARD_SMTP_TLS: 'none' would send mail in clear to {settings.smtp_host}; "
            "use starttls or implicit (clear text is allowed only to a loopback host)"
        )


def reply(code: int, message: str) -> str:
    """A server's answer on one short line, e.g. "550 5.1.1 mailbox unavailable"."""
    return " ".join(f"{code} {message}".split())[:200]


def describe(exc: BaseException) -> str:
    """A failure in one line: the SMTP answer when there is one, else the error's kind."""
    if isinstance(exc, SMTPResponseException):
        return reply(exc.code, exc.message)
    if isinstance(exc, SMTPException):
        return " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    return f"{type(exc).__name__} ({'timed out' if isinstance(exc, TimeoutError) else 'network'})"


def client_options(settings: Settings) -> dict[str, Any]:
    """aiosmtplib connection options from the settings (TLS is required, never opportunistic)."""
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return {
        "hostname": settings.smtp_host,
        "port": settings.smtp_port_or_default,
        "use_tls": settings.smtp_tls is TlsMode.IMPLICIT,
        "start_tls": settings.smtp_tls is TlsMode.STARTTLS,
        "username": settings.smtp_username,
        "password": password,
        "cert_bundle": settings.smtp_ca_file,
        "timeout": settings.smtp_timeout_seconds,
        "local_hostname": socket.gethostname(),  # getfqdn() may wait on DNS
    }


def _split_refusals(refusals: dict[str, SMTPResponse]) -> tuple[dict[str, str], dict[str, str]]:
    permanent = {a: reply(r.code, r.message) for a, r in refusals.items() if r.code >= 500}
    temporary = {a: reply(r.code, r.message) for a, r in refusals.items() if r.code < 500}
    return permanent, temporary


async def transact(client: SMTP, envelope: Envelope) -> Attempt:
    """One mail transaction on a connected client, its outcome sorted into an ``Attempt``."""
    try:
        errors, answer = await client.sendmail(
            envelope.sender, list(envelope.recipients), envelope.data
        )
    except SMTPRecipientsRefused as exc:
        refusals = {r.recipient: SMTPResponse(r.code, r.message) for r in exc.recipients}
        permanent, temporary = _split_refusals(refusals)
        verdict = Verdict.RETRY if temporary else Verdict.DEAD
        return Attempt(verdict, refused=permanent, deferred=temporary)
    except SMTPResponseException as exc:
        verdict = Verdict.DEAD if exc.code >= 500 else Verdict.RETRY
        return Attempt(verdict, error=describe(exc))
    except ValueError:
        return Attempt(Verdict.DEAD, error="an address cannot be sent without SMTPUTF8")
    except (SMTPException, OSError) as exc:  # disconnected, timed out: it may come back
        client.close()
        return Attempt(Verdict.RETRY, error=describe(exc))
    permanent, temporary = _split_refusals(errors)
    accepted = tuple(a for a in envelope.recipients if a not in errors)
    return Attempt(
        Verdict.SENT,
        accepted=accepted,
        refused=permanent,
        deferred=temporary,
        reply=reply(250, answer),
    )


class SmtpPool:
    """Up to ``size`` connections, reused from message to message (or, with ``reuse=False``,
    one connection per message: the benchmark's baseline)."""

    def __init__(self, settings: Settings, *, reuse: bool = True, size: int | None = None):
        ensure_safe_transport(settings)
        self._options = client_options(settings)
        self._reuse = reuse
        self._slots = asyncio.Semaphore(size or settings.smtp_pool_size)
        self._idle: list[SMTP] = []
        self._connect_failures = 0
        self.unreachable: str | None = None
        self.connections_opened = 0

    async def __aenter__(self) -> SmtpPool:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Say QUIT on every idle connection."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(client) for client in idle))

    async def connect(self) -> SMTP:
        """A fresh, connected (and, per settings, TLS-protected and logged-in) client."""
        client = SMTP(**self._options)
        await client.connect()
        self.connections_opened += 1
        return client

    async def _checkout(self) -> SMTP:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
        return await self.connect()

    async def send(self, envelope: Envelope) -> Attempt:
        """Send one message on a pooled connection."""
        async with self._slots:
            if self.unreachable:
                return Attempt(Verdict.NOT_TRIED, error=self.unreachable)
            try:
                client = await self._checkout()
            except (SMTPException, OSError) as exc:
                return self._could_not_connect(exc)
            self._connect_failures = 0
            attempt = await transact(client, envelope)
            if self._reuse and client.is_connected:
                self._idle.append(client)
            else:
                await _quit(client)
            return attempt

    def _could_not_connect(self, exc: BaseException) -> Attempt:
        self._connect_failures += 1
        error = f"cannot connect to the mail server: {describe(exc)}"
        if self._connect_failures >= CIRCUIT_AFTER:
            self.unreachable = error
        return Attempt(Verdict.NOT_TRIED, error=error)

    async def send_all(self, envelopes: Sequence[Envelope]) -> list[Attempt]:
        """Send many, at most ``size`` at a time; outcomes in the same order."""
        return list(await asyncio.gather(*(self.send(e) for e in envelopes)))


async def _quit(client: SMTP) -> None:
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (SMTPException, OSError):
        client.close()
