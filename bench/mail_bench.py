"""Benchmark: 10,000 reminder emails through the outbox to a local SMTP sink, sent over pooled
connections and then over one connection per message, in the same run.

Not a test: run it by hand and read the numbers.

    .venv/bin/python bench/mail_bench.py [--messages 10000] [--pool 8] [--starttls]

With ``--starttls`` the sink requires STARTTLS (a throwaway self-signed certificate), as a real
relay does: every new connection then pays for a TLS handshake, which is what pooling saves.

The sink (a real aiosmtpd server that counts what it accepts) runs in its own process so it has
its own core; the sender is the real ``notifications.sender.drain``: claiming rows, rendering
the templates, building the MIME messages, sending, and recording every outcome in SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import multiprocessing
import ssl
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import update

from homeward.base.clock import SimulatedClock
from homeward.base.db import make_engine, write_session
from homeward.base.migrate import upgrade
from homeward.base.models import OutboxMessage, OutboxRecipient, OutboxStatus, RecipientStatus
from homeward.base.settings import TlsMode, get_settings
from notifications.contexts import EscalationContext
from notifications.outbox import enqueue
from notifications.sender import drain
from notifications.sink import LocalSmtpServer

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


class CountingHandler:
    """Accepts every message and only counts it (the sink must not be the bottleneck)."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, _server: Any, _session: Any, _envelope: Any) -> str:  # noqa: N802
        self.count += 1
        return "250 2.0.0 OK"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem"


def run_sink(pipe: Connection, tls: tuple[Path, Path] | None = None) -> None:
    """The sink process: serve until asked, answering each request with the count so far."""
    handler = CountingHandler()
    options: dict[str, Any] = {}
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*map(str, tls))
        options = {"tls_context": context, "require_starttls": True}
    with LocalSmtpServer(handler, **options) as server:
        pipe.send(server.port)
        while pipe.recv() != "stop":
            pipe.send(handler.count)
        pipe.send(handler.count)


def queue_reminders_by_hand(engine: Any, count: int) -> None:
    """``count`` escalation reminders, as the daily run would queue them."""
    with write_session(engine) as session:
        for n in range(count):
            context = EscalationContext(
                case_ref=f"RT-{n:04d}-BM",
                stage="Reception",
                item_number=n,
                item_title="First counselling session",
                org_name="ADPARE Bucharest",
                due_on=date(2026, 1, 3),
                days=2,
            )
            enqueue(
                session,
                key=f"escalation:item-{n}:due-2026-01-03:en",
                template="escalation",
                to=[f"supervisor{n % 50}@adpare.example.org"],
                language="en",
                context=context,
                now=NOW,
            )


def requeue_all(engine: Any) -> None:
    with write_session(engine) as session:
        session.execute(
            update(OutboxMessage).values(
                status=OutboxStatus.QUEUED,
                attempts=0,
                next_attempt_at=NOW,
                sent_at=None,
                last_error=None,
            )
        )
        session.execute(
            update(OutboxRecipient).values(
                status=RecipientStatus.PENDING,
                attempts=0,
                next_attempt_at=NOW,
                code=None,
                reply=None,
            )
        )


def timed_drain(engine: Any, settings: Any, *, reuse: bool) -> tuple[float, int]:
    clock = SimulatedClock(NOW + timedelta(seconds=1))
    started = time.perf_counter()
    report = asyncio.run(
        drain(engine=engine, clock=clock, settings=settings, reuse_connections=reuse)
    )
    elapsed = time.perf_counter() - started
    assert report.retried == report.dead == 0, report  # noqa: S101
    return elapsed, report.sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--pool", type=int, default=8, help="concurrent connections")
    parser.add_argument("--starttls", action="store_true", help="the sink requires STARTTLS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="homeward-bench-") as folder:
        tls = self_signed(Path(folder)) if args.starttls else None
        ours, theirs = multiprocessing.Pipe()
        sink = multiprocessing.Process(target=run_sink, args=(theirs, tls), daemon=True)
        sink.start()
        port = ours.recv()
        settings = get_settings().model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_tls": TlsMode.STARTTLS if tls else TlsMode.NONE,
                "smtp_ca_file": str(tls[0]) if tls else None,
                "smtp_pool_size": args.pool,
                "smtp_username": None,
                "smtp_password": None,
            }
        )
        print(f"sink on 127.0.0.1:{port} ({'STARTTLS required' if tls else 'clear text'})")
        results = compare(Path(folder), settings, args.messages, ours)
        ours.send("stop")
        ours.recv()
        sink.join(timeout=10)
    ratio = results["pooled"] / results["one connection per message"]
    print(f"pool of {args.pool} connections vs one per message: {ratio:.1f}x")


def compare(folder: Path, settings: Any, messages: int, sink: Connection) -> dict[str, float]:
    """Queue ``messages`` reminders, send them pooled, queue them again, send them unpooled."""
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    started = time.perf_counter()
    queue_reminders_by_hand(engine, messages)
    print(f"queued {messages} reminder emails in {time.perf_counter() - started:.1f} s")
    results = {}
    for label, reuse in (("pooled", True), ("one connection per message", False)):
        if not reuse:
            requeue_all(engine)
        sink.send("count")
        before = sink.recv()
        elapsed, sent = timed_drain(engine, settings, reuse=reuse)
        sink.send("count")
        received = sink.recv() - before
        assert sent == received == messages, (sent, received)  # noqa: S101
        results[label] = sent / elapsed
        print(
            f"{label:>28}: {sent} sent in {elapsed:6.2f} s = {sent / elapsed:7.0f} msg/s "
            f"(sink received {received})"
        )
    engine.dispose()
    return results


if __name__ == "__main__":
    main()
