"""A local SMTP sink: a real aiosmtpd server on 127.0.0.1 and a free port, in its own thread,
keeping what it receives. ``homeward demo`` shows the emails it would send through it; the
tests and the benchmark use it as the other end of a real SMTP conversation.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    def parsed(self) -> EmailMessage:
        """The message, parsed the way a mail client would."""
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)  # noqa: S101 (policy.default makes these)
        return parsed


@dataclass
class RecordingHandler:
    """Accepts every message and keeps it (thread-safe: the server runs in its own thread)."""

    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def keep(self, envelope: Envelope) -> None:
        data = envelope.original_content or b""
        with self._lock:
            self.received.append(
                Received(str(envelope.mail_from), tuple(map(str, envelope.rcpt_tos)), data)
            )

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, _server: SMTP, _session: Session, envelope: Envelope
    ) -> str:
        self.keep(envelope)
        return "250 2.0.0 OK: queued"


class LocalSmtpServer(Controller):
    """aiosmtpd's threaded controller on 127.0.0.1, port 0 (the system picks a free one) unless
    told otherwise; ``port`` is the real one once started. Use it as a context manager."""

    def __init__(self, handler: Any, *, port: int = 0, **smtp_options: Any) -> None:
        super().__init__(handler, hostname=LOOPBACK, port=port, **smtp_options)

    def _create_server(self) -> Awaitable[Any]:
        return self._bind()

    async def _bind(self) -> Any:
        server = await self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
        )
        self.port = server.sockets[0].getsockname()[1]
        return server

    def __enter__(self) -> LocalSmtpServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
