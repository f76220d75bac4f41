"""A real aiosmtpd server for the tests, answering as scripted: temporary (421) or permanent
(550) failures, recipients refused one by one, or a server that disappears mid-batch."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from notifications.sink import LocalSmtpServer, Received, RecordingHandler


@dataclass
class ScriptedHandler(RecordingHandler):
    """Records what it accepts, like the sink, but answers as told:

    - ``rcpt_replies``: address -> reply for RCPT TO (e.g. "550 5.1.1 no such mailbox"),
      each one given kept in ``refusals`` (address, reply);
    - ``data_replies``: replies for the next DATA commands, used up in order (e.g. three
      "421 4.3.2 busy": the server says it and hangs up, as a busy server would);
    - ``vanish_after``: after accepting that many messages the server disappears: it stops
      listening and drops every connection, without a word.
    """

    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    vanish_after: int | None = None
    controller: LocalSmtpServer | None = None
    peers: Counter[str] = field(default_factory=Counter)
    refusals: list[tuple[str, str]] = field(default_factory=list)
    _gone: bool = False
    _connections: set[Any] = field(default_factory=set)
    _script_lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(  # noqa: N802
        self, server: SMTP, _session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        self._connections.add(server)
        if self._gone:
            server.transport.abort()
            return "421 4.3.0 gone"
        envelope.mail_from, envelope.mail_options = address, list(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, _options: Any
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply:
            self.refusals.append((address, reply))
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        with self._script_lock:
            scripted = self.data_replies.pop(0) if self.data_replies else None
        if scripted:
            if scripted.startswith("421"):
                asyncio.get_running_loop().call_soon(server.transport.close)
            return scripted
        self.keep(envelope)
        self.peers[str(session.peer)] += 1
        if self.vanish_after is not None and len(self.received) >= self.vanish_after:
            asyncio.get_running_loop().call_soon(self._vanish)
        return "250 2.0.0 OK: queued"

    def _vanish(self) -> None:
        self._gone = True
        if self.controller is not None and self.controller.server is not None:
            self.controller.server.close()
        for connection in self._connections:
            if connection.transport is not None:
                connection.transport.abort()

    def message_ids(self) -> Counter[str]:
        """How many times each Message-ID arrived."""
        return Counter(str(r.parsed()["Message-ID"]) for r in self.received)


def received_text(received: list[Received]) -> str:
    """Everything received, raw and decoded (every text part), as one searchable string."""
    chunks = []
    for message in received:
        chunks.append(message.data.decode("utf-8", "replace"))
        parsed = message.parsed()
        chunks.extend(str(value) for value in parsed.values())
        for part in parsed.walk():
            if part.get_content_maintype() != "multipart":
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    chunks.append(payload.decode("utf-8", "replace"))
    return "\n".join(chunks)
