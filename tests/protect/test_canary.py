"""A canary person put through the whole demo leaves no trace outside the encrypted store.

Searched for, in raw, lower-case, upper-case, base64, hex and JSON-escaped forms: every row of
every table, the SQLite database file and its WAL, an online backup of it, every log record
and everything the CLI printed.
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlmodel import select

from homeward.base import models
from homeward.base.clock import SimulatedClock
from homeward.base.db import get_engine, system_scope, write_session
from homeward.base.models import ChecklistItem
from homeward.edges.demo import (
    Journey,
    Texts,
    adult_journey,
    internal_journey,
    minor_journey,
    seed,
    staff_email,
)
from homeward.protection import vault
from notifications.reminders import queue_reminders
from notifications.sink import LocalSmtpServer, Received
from statemachines.cases import CaseIn, get_case
from tasks import handoffs
from tests.cli.runner import run_cli
from tests.conftest import BACKEND
from tests.factories import acting
from tests.notifications.conftest import point_mail_at, run_drain
from tests.notifications.smtp_server import ScriptedHandler, received_text

CANARY = vault.PersonIn(
    given_name="Zenobia",
    family_name="Canarycanary",
    birth_date="1999-09-09",
    sex="female",
    phone="+40 700 123 987",
    home_address="Strada Canarului 13, Brasov",
    notes="trafficked via Canaryport by a cousin",
)
SECRETS = ["Zenobia", "Canarycanary", "700 123 987", "Strada Canarului", "Canaryport"]
# The canary in every free text the journeys write: the daughter's name, a journal note and a
# risk assessment's notes, plan goals, who attended a visit, a hearing's new date's reason and a
# signed consent's content.
CANARY_TEXTS = Texts(
    child=vault.DependantIn(
        relation="child",
        given_name="Zenobia",
        family_name="Canarycanary",
        birth_date="2018-11-14",
        sex="female",
    ),
    note="Zenobia Canarycanary was met at Strada Canarului",
    goal="Zenobia finds work far from Canaryport",
    attended="Zenobia Canarycanary and her daughter",
    reason="the court in Canaryport moved Zenobia's hearing",
    document=b"%PDF-1.4\n% consent of Zenobia Canarycanary, Strada Canarului\n%%EOF\n",
)


def forms(secret: str) -> set[bytes]:
    """The encodings a leak could take."""
    raw = secret.encode()
    found = {
        raw,
        secret.lower().encode(),
        secret.upper().encode(),
        raw.hex().encode(),
        raw.hex().upper().encode(),
        json.dumps(secret, ensure_ascii=True)[1:-1].encode(),
    }
    for pad in range(3):  # base64 of the secret at each alignment, minus the unstable edges
        encoded = base64.b64encode(b"x" * pad + raw).decode()
        found.add(encoded[4:-4].encode())
    return {f for f in found if len(f) >= 5}


def assert_clean(blob: bytes, where: str) -> None:
    for secret in SECRETS:
        for form in forms(secret):
            assert form not in blob, f"{secret!r} leaked into {where} as {form!r}"


def test_canary_through_the_whole_demo_leaves_no_trace(
    db_url, tmp_path, caplog, capsys, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    engine = get_engine()
    seed(engine)
    adult = adult_journey(
        Journey(engine, SimulatedClock(datetime(2026, 1, 5, 9, tzinfo=UTC))), CANARY, CANARY_TEXTS
    )
    minor_journey(Journey(engine, SimulatedClock(datetime(2026, 1, 9, 9, tzinfo=UTC))), CANARY)
    internal = internal_journey(
        Journey(engine, SimulatedClock(datetime(2026, 1, 19, 9, tzinfo=UTC))), CANARY, CANARY_TEXTS
    )
    _exercise_reads_and_notes(engine, adult.case_ref)
    coordinator = staff_email("iom-ro", "coordinator")
    printed = "".join(
        run_cli(capsys, monkeypatch, "--as", coordinator, *argv).out
        for argv in (
            ["case", "list"],
            ["case", "show", adult.case_ref],
            ["case", "history", adult.case_ref],
            ["items", "list", "--status", "all"],
            ["consent", "list", adult.case_ref],
            ["visit", "list", adult.case_ref],
            ["assess", "list", adult.case_ref],
            ["document", "list", adult.case_ref],
            ["items", "adhoc", internal.case_ref],
            ["case", "history", internal.case_ref],
        )
    )
    assert adult.case_ref in printed
    printed += _reports_exports_and_import(tmp_path, capsys, monkeypatch)
    assert_clean(printed.encode(), "CLI output")
    assert_clean(_all_rows(engine).encode(), "database rows")
    if BACKEND == "sqlite":
        database = Path(engine.url.database or "")
        for path in (database, database.with_name(database.name + "-wal")):
            if path.exists():
                assert_clean(path.read_bytes(), path.name)
        backup = tmp_path / "backup.db"
        with sqlite3.connect(database) as source, sqlite3.connect(backup) as target:
            source.backup(target)
        assert_clean(backup.read_bytes(), "an online backup")
    emails = _deliver_everything(monkeypatch)
    assert emails, "the demo should have sent emails"
    for message in emails:
        assert_clean(message.data, "an email")
        assert_clean(received_text([message]).encode(), "a decoded email")
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert_clean(logged.encode(), "log records")


def _deliver_everything(monkeypatch) -> list[Received]:
    """Queue the day's reminders and drain the whole outbox into a real SMTP server."""
    handler = ScriptedHandler()
    with LocalSmtpServer(handler) as server:
        handler.controller = server
        point_mail_at(monkeypatch, server.port)
        later = SimulatedClock(datetime(2027, 3, 1, 10, tzinfo=UTC))
        with write_session() as s:
            queue_reminders(s, now=later.now())
        run_drain(later)
    return list(handler.received)


def _reports_exports_and_import(tmp_path, capsys, monkeypatch) -> str:
    """Import the canary from a spreadsheet, then every report, format and export over it."""
    source = tmp_path / "caseload.csv"
    source.write_text(
        "external_id,given_name,family_name,birth_date,sex,phone,home_address,exploitation_form\n"
        f"C-1,{CANARY.given_name},{CANARY.family_name},1999-09-09,female,{CANARY.phone},"
        f'"{CANARY.home_address}",labour\n'
    )
    supervisor = staff_email("iom-it", "supervisor")
    runs = [
        ["import", "cases", str(source)],
        *(["report", name] for name in ("stages", "overdue", "closures")),
        ["report", "closures", "--format", "json"],
        ["report", "stages", "--format", "csv"],
        ["report", "closures", "--format", "xlsx", "--out", str(tmp_path / "c.xlsx")],
        ["export", "htcds", "--out", str(tmp_path / "htcds.csv")],
    ]
    printed = ""
    for argv in runs:
        result = run_cli(capsys, monkeypatch, "--as", supervisor, *argv)
        assert result.code == 0, result.err
        printed += result.out + result.err
    with zipfile.ZipFile(tmp_path / "c.xlsx") as book:  # compressed: look at what is inside
        assert_clean(b"".join(book.read(n) for n in book.namelist()), "the xlsx report")
    assert_clean((tmp_path / "htcds.csv").read_bytes(), "the HTCDS export")
    assert "RT-" in (tmp_path / "htcds.csv").read_text()
    return printed


def _exercise_reads_and_notes(engine, case_ref: str) -> None:
    """Reads the person back and writes free text mentioning them: both must stay sealed."""
    with write_session() as s:
        owner = acting(session=s, email=staff_email("iom-ro", "coordinator"))
        case = get_case(s, case_ref=case_ref, actor=owner)
        assert (
            vault.read_person(s, case=case, actor=owner, now=datetime.now(UTC))["family_name"]
            == "Canarycanary"
        )
        vault.store_person(
            s,
            case=case,
            actor=owner,
            now=datetime.now(UTC),
            person=CANARY.model_copy(update={"notes": "met Zenobia"}),
        )
    fresh = Journey(engine, SimulatedClock()).open("iom-it", CaseIn(), CANARY)
    fresh.consent("iom-it", "adpare")
    fresh.skip("iom-it", "rights_informed", "Zenobia Canarycanary moved to Strada Canarului")
    with write_session() as s:
        coordinator = acting(session=s, email=staff_email("iom-it", "coordinator"))
        item = s.exec(
            select(ChecklistItem).where(
                ChecklistItem.code == "basic_needs_met", ChecklistItem.status == "open"
            )
        ).first()
        assert item is not None and item.id is not None
        handoffs.propose(
            s,
            item_id=item.id,
            to_org_slug="adpare",
            actor=coordinator,
            now=datetime.now(UTC),
            reason="Zenobia needs a shelter near Canaryport",
        )


def _all_rows(engine) -> str:
    chunks = []
    with engine.connect() as conn, system_scope(conn):
        for table in models.metadata().sorted_tables:
            for row in conn.execute(text(f'SELECT * FROM "{table.name}"')):
                chunks.append(repr(tuple(row)))
    return "\n".join(chunks)


def test_the_search_would_see_a_leak():
    """Negative control: each encoding of a secret is caught."""
    leaked = base64.b64encode(b"...Canarycanary...") + b"|" + b"Zenobia".hex().encode()
    for blob in (leaked, b'{"n": "canarycanary"}', json.dumps("Strada Canarului").encode()):
        try:
            assert_clean(blob, "control")
        except AssertionError:
            continue
        raise AssertionError(f"missed a leak in {blob!r}")
