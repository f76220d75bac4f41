"""Benchmark: 10,000 reminder emails to a local SMTP sink, in the same run: the transport alone
(the messages built beforehand, sent over the pool with no database or rendering work, then
over one connection per message: what pooling alone can gain on this sink), the outbox drained
over pooled connections, and drained over one connection per message.

Not a test: run it by hand and read the numbers (``tests/test_bench.py`` runs a tiny one).

    .venv/bin/python bench/mail_bench.py [--messages 10000] [--pool 8] [--starttls | --plain]

By default it measures twice: against a clear-text sink, then against one that requires
STARTTLS (a throwaway self-signed certificate), as a real relay does: every new connection then
pays for a TLS handshake, which is what pooling saves. ``--starttls`` or ``--plain`` measures
one of them. It prints the figures with their targets (the drain at >= 75% of the transport's
rate, and >= 5x one connection per message) and writes a table (with the date, the machine's
cores and its load average) into ``--out`` (default ``bench/RESULTS.md``) between
``<!-- mail:start -->`` and ``<!-- mail:end -->``, leaving the rest of the file as it is.

The sink (a real aiosmtpd server that counts what it accepts) runs in its own process so it has
its own core; the sender is the real ``notifications.sender.drain``: claiming rows, rendering
the templates, building the MIME messages, sending, and recording every outcome in SQLite.
The transport's rate is that of ``SmtpPool.send_all`` (the same pool size, batches of
``notifications.sender.BATCH``) over the same messages, built from the same rows: what the
drain would reach if claiming, rendering and recording cost nothing.
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
from sections import load_average, put_section, taken
from sqlalchemy import update
from sqlmodel import col, select

from homeward.base.clock import SimulatedClock
from homeward.base.db import make_engine, read_session, write_session
from homeward.base.migrate import upgrade
from homeward.base.models import OutboxMessage, OutboxRecipient, OutboxStatus, RecipientStatus
from homeward.base.settings import TlsMode, get_settings
from notifications.contexts import EscalatedGroup, EscalatedItem, EscalationContext
from notifications.outbox import enqueue
from notifications.sender import BATCH, drain, envelope_for
from notifications.sink import LocalSmtpServer
from notifications.smtp import Envelope, SmtpPool

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- mail:start -->", "<!-- mail:end -->"
TRANSPORT, POOLED, NAIVE = "transport alone", "pooled", "one connection per message"
TRANSPORT_NAIVE = "transport, one per message"  # the ceiling of pooled vs naive
TARGETS = {"of_transport": 0.75, "over_naive": 5.0}


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
        .not_valid_before(now - timedelta(days=3))  # tests move the wall clock a day on
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
    """``count`` escalation digests of one overdue item each, as the daily run would queue
    them (one per supervisor and day: here, as many supervisors as messages)."""
    with write_session(engine) as session:
        for n in range(count):
            item = EscalatedItem(
                item_number=n,
                item_title="First counselling session",
                stage="Reception",
                due_on=date(2026, 1, 3),
                days=2,
            )
            context = EscalationContext(
                day=date(2026, 1, 5),
                org_name="ADPARE Bucharest",
                cases=(
                    EscalatedGroup(
                        case_ref=f"RT-{n:04d}-BM", org_name="ADPARE Bucharest", overdue=(item,)
                    ),
                ),
            )
            enqueue(
                session,
                key=f"escalation:bench-{n}:2026-01-05",
                template="escalation",
                to=[f"supervisor{n}@adpare.example.org"],
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


def timed_drain(
    engine: Any, settings: Any, *, reuse: bool, limit: int | None = None
) -> tuple[float, int]:
    clock = SimulatedClock(NOW + timedelta(seconds=1))
    started = time.perf_counter()
    report = asyncio.run(
        drain(engine=engine, clock=clock, settings=settings, reuse_connections=reuse, limit=limit)
    )
    elapsed = time.perf_counter() - started
    assert report.retried == report.dead == 0, report  # noqa: S101
    return elapsed, report.sent


def built_envelopes(engine: Any, settings: Any) -> list[Envelope]:
    """Every queued message in its wire form, built the way the drain builds it."""
    with read_session(engine) as session:
        rows = list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))
    built = [envelope_for(row, settings) for row in rows]
    envelopes = [envelope for envelope in built if isinstance(envelope, Envelope)]
    assert len(envelopes) == len(rows), "a message could not be built"  # noqa: S101
    return envelopes


def timed_transport(
    envelopes: list[Envelope], settings: Any, *, reuse: bool = True
) -> tuple[float, int]:
    """Send pre-built messages over a fresh pool, in the drain's batches, nothing else
    (``reuse=False``: one connection per message, the transport's own naive rate)."""

    async def send() -> int:
        sent = 0
        async with SmtpPool(settings, reuse=reuse) as pool:
            for start in range(0, len(envelopes), BATCH):
                attempts = await pool.send_all(envelopes[start : start + BATCH])
                sent += sum(attempt.accepted != () for attempt in attempts)
        return sent

    started = time.perf_counter()
    sent = asyncio.run(send())
    return time.perf_counter() - started, sent


def measure(mode: str, messages: int, pool: int, naive: int) -> dict[str, float]:
    """Messages per second, pooled and naive, against a fresh sink in ``mode`` (plain or
    starttls), each sink in its own process."""
    with tempfile.TemporaryDirectory(prefix="homeward-bench-") as folder:
        tls = self_signed(Path(folder)) if mode == "starttls" else None
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
                "smtp_pool_size": pool,
                "smtp_username": None,
                "smtp_password": None,
            }
        )
        print(f"sink on 127.0.0.1:{port} ({'STARTTLS required' if tls else 'clear text'})")
        results = compare(Path(folder), settings, (messages, naive), ours)
        ours.send("stop")
        ours.recv()
        sink.join(timeout=10)
    print(
        f"drain at {of_transport(results):.0%} of the transport's rate (target >= "
        f"{TARGETS['of_transport']:.0%}: {verdict(of_transport(results), 'of_transport')}); "
        f"pool of {pool} connections vs one per message: {ratio(results):.1f}x (target >= "
        f"{TARGETS['over_naive']:.0f}x: {verdict(ratio(results), 'over_naive')}; "
        f"the transport alone gets {ceiling(results):.1f}x)"
    )
    return results


def ratio(results: dict[str, float]) -> float:
    return results[POOLED] / results[NAIVE]


def ceiling(results: dict[str, float]) -> float:
    """What pooling gains for the transport alone (pre-built messages, pooled vs one
    connection per message): the most the drain's pooled vs naive can show on this sink."""
    return results[TRANSPORT] / results[TRANSPORT_NAIVE]


def of_transport(results: dict[str, float]) -> float:
    return results[POOLED] / results[TRANSPORT]


def verdict(found: float, target: str) -> str:
    return "meets" if found >= TARGETS[target] else "MISSES"


def write_section(
    out: Path, args: argparse.Namespace, results: dict[str, dict[str, float]], loads: list[str]
) -> list[str]:
    """The table, also written into ``out`` between the markers (the rest is kept)."""
    rows = [
        "| measurement | sink | transport alone | drain, pooled | drain vs transport "
        f"(>= {TARGETS['of_transport']:.0%}) | one connection per message | pooled vs naive "
        f"(>= {TARGETS['over_naive']:.0f}x) | transport alone: pooled vs naive (the ceiling) |"
    ]
    rows[0] += " sender CPU per message: transport / drain / naive |"
    rows.append("|---|---|---|---|---|---|---|---|---|")
    for mode, found in results.items():
        share, times = of_transport(found), ratio(found)
        count = args.naive_of[mode]
        naive = f" ({count:,} one per connection)" if count < args.messages else ""
        rows.append(
            f"| {args.messages:,} reminder emails{naive}, pool of {args.pool} | {mode} | "
            f"{found[TRANSPORT]:,.0f} msg/s | {found[POOLED]:,.0f} msg/s | "
            f"{share:.0%} {verdict(share, 'of_transport')} | {found[NAIVE]:,.0f} msg/s | "
            f"{times:.1f}x {verdict(times, 'over_naive')} | "
            f"{ceiling(found):.1f}x ({found[TRANSPORT]:,.0f} vs {found[TRANSPORT_NAIVE]:,.0f} "
            "msg/s) | "
            + " / ".join(
                f"{1000 * found[f'{label} cpu']:.2f}" for label in (TRANSPORT, POOLED, NAIVE)
            )
            + " ms |"
        )
    command = (
        f"bench/mail_bench.py --messages {args.messages} --naive-messages {args.naive} "
        f"--pool {args.pool}"
    )
    if args.naive_tls != args.naive and "starttls" in results:
        command += f" --naive-starttls {args.naive_tls}"
    if args.before:
        rows += earlier(args.before, args.before_note)
    how = (
        f"{taken(command)}, "
        f"{'; '.join(loads)} (1, 5 and 15 minutes: other work on the machine slows the "
        "naive STARTTLS run most). The real sender "
        "(`notifications.sender.drain`: claim, render, build, send, record in SQLite) to a "
        "local aiosmtpd sink in its own process; STARTTLS with a self-signed certificate. "
        "The transport alone: the same messages built beforehand and sent over the same pool "
        "(`SmtpPool.send_all`) with no database or rendering work; the same sent one connection "
        "per message (as many as the naive drain) gives the most pooling can gain on this sink, "
        "whatever the drain does (the ceiling beside the 5x target). Sender CPU: the sending "
        "process's CPU time per message (threads included, the sink's not), which other work "
        "on the machine disturbs far less than the rates: the drain's rate can reach at most "
        "transport CPU / drain CPU of the transport's while the sender's core is the limit."
    )
    heading = "Sending mail: the drain against the transport alone and one connection per message"
    put_section(out, START, END, heading, how, rows)
    return rows


def earlier(path: Path, note: str | None) -> list[str]:
    """The table of an earlier run of this bench (its section in ``path``), with how and when
    it was taken: the "before" beside this run's figures."""
    text = path.read_text(encoding="utf-8")
    section = text[text.index(START) : text.index(END)].splitlines()
    how = next(line for line in section if line.startswith("`bench/mail_bench.py"))
    table = [line for line in section if line.startswith("|")]
    when = how.split(" (1, 5 and 15 minutes")[0]
    return ["", f"Before{f' ({note})' if note else ''}: {when}.", "", *table]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--naive-messages",
        dest="naive",
        type=int,
        default=None,
        help="how many of them to send one connection per message (default: all; fewer keeps "
        "the slow naive STARTTLS run short on a busy machine)",
    )
    parser.add_argument(
        "--naive-starttls",
        dest="naive_tls",
        type=int,
        default=None,
        help="the same for the STARTTLS sink (default: as --naive-messages)",
    )
    parser.add_argument("--pool", type=int, default=8, help="concurrent connections")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--starttls", action="store_true", help="only the STARTTLS sink")
    only.add_argument("--plain", action="store_true", help="only the clear-text sink")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument(
        "--before",
        type=Path,
        default=None,
        help="a file this bench wrote earlier (e.g. before a change): its table is added below",
    )
    parser.add_argument("--before-note", default=None, help="what the earlier run measured")
    args = parser.parse_args()
    args.naive = min(args.naive or args.messages, args.messages)
    args.naive_tls = min(args.naive_tls or args.naive, args.messages)
    args.naive_of = {"plain": args.naive, "starttls": args.naive_tls}
    modes = ["starttls"] if args.starttls else ["plain"] if args.plain else ["plain", "starttls"]
    results, loads = {}, []
    for mode in modes:
        before = f"load average {load_average(' / ')}"
        results[mode] = measure(mode, args.messages, args.pool, args.naive_of[mode])
        loads.append(f"{mode}: {before} before, load average {load_average(' / ')} after")
    rows = write_section(args.out, args, results, loads)
    print("\n".join(rows))
    print(f"written to {args.out}")


def compare(
    folder: Path, settings: Any, counts: tuple[int, int], sink: Connection
) -> dict[str, float]:
    """Queue ``messages`` reminders; send them pre-built over the pool (the transport alone),
    then drain them pooled, then queue them again and drain ``naive`` of them unpooled."""
    messages, naive = counts
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    started = time.perf_counter()
    queue_reminders_by_hand(engine, messages)
    print(f"queued {messages} reminder emails in {time.perf_counter() - started:.1f} s")
    envelopes = built_envelopes(engine, settings)
    results = {}
    for label in (TRANSPORT, TRANSPORT_NAIVE, POOLED, NAIVE):
        if label == NAIVE:
            requeue_all(engine)
        sink.send("count")
        before, cpu = sink.recv(), time.process_time()
        if label == TRANSPORT:
            elapsed, sent = timed_transport(envelopes, settings)
        elif label == TRANSPORT_NAIVE:
            elapsed, sent = timed_transport(envelopes[:naive], settings, reuse=False)
        else:
            pooled = label == POOLED
            elapsed, sent = timed_drain(
                engine, settings, reuse=pooled, limit=None if pooled else naive
            )
        sink.send("count")
        received = sink.recv() - before
        expected = naive if label in (NAIVE, TRANSPORT_NAIVE) else messages
        assert sent == received == expected, (sent, received)  # noqa: S101
        results[label], results[f"{label} cpu"] = sent / elapsed, (time.process_time() - cpu) / sent
        print(
            f"{label:>28}: {sent} sent in {elapsed:6.2f} s = {sent / elapsed:7.0f} msg/s, "
            f"sender CPU {1000 * results[f'{label} cpu']:.2f} ms/msg "
            f"(sink received {received}; load average {load_average(' / ')})"
        )
    engine.dispose()
    return results


if __name__ == "__main__":
    main()
