"""Tamper evidence an insider holding the database cannot erase (issue 14, point 5).

A real SQLite file built by the real engine (cases, history, consents, notes, a person's data
entered twice) is checkpointed outside the database; then each of 1,000 seeded random tampers,
made with raw SQL on a fresh copy by someone who first drops the append-only triggers, must
be found by ``audit verify``: edited, deleted, forged, swapped, replayed and nulled rows, a cut
or wiped chain, a rewritten head, a case key deleted outside a purge, reordered history.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session

from homeward.base import models
from homeward.base.db import write_session
from homeward.edges.cli.common import state
from homeward.protection import vault
from homeward.records import anchor, seals
from statemachines.cases import get_case
from tests import factories as f
from tests.cli.runner import run_cli
from tests.conftest import BACKEND

NOTE, SKIP = "bed at the Casa Ana shelter", "Zenobia asked to wait a week"
SEALED = list(seals.SEALED)


def _sealed_column(table: str, column: str) -> bool:
    """Whether a seal covers ``column`` (a case's version, its optimistic lock, it does not:
    ``seals.UNSEALED``; changing it alone is no tamper to find)."""
    return column not in seals.UNSEALED.get(table, frozenset())


sqlite_only = pytest.mark.skipif(BACKEND != "sqlite", reason="tampers an SQLite file copy")


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    f.seed()
    monkeypatch.setattr(state, "clock", clock)

    def run(*args: str, stdin: str = ""):
        return run_cli(capsys, monkeypatch, *args, stdin=stdin)

    return run


def _file(db_url: str) -> Path:
    return Path(db_url.removeprefix("sqlite:///"))


def _freeze(source: Path, target: Path) -> Path:
    """A consistent single-file copy (WAL folded in), as an attacker's starting point."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    src.backup(dst)
    dst.execute("PRAGMA journal_mode=DELETE")
    dst.close()
    src.close()
    return target


def _enter_person(case_ref: str, clock, given: str) -> None:
    with write_session() as s:
        case = get_case(s, case_ref=case_ref, actor=f.actor(s))
        person = vault.PersonIn(given_name=given, family_name="Canarycanary", phone="+40 7")
        vault.store_person(s, case=case, person=person, actor=f.actor(s), now=clock.now())


def _build(cli, clock, db_url: str, tmp_path: Path) -> tuple[Path, Path]:
    """Several cases with history, consents, notes; an older copy; then a checkpoint."""
    refs = [f.open_case(clock) for _ in range(3)] + [f.open_case(clock, share=False)]
    for ref in refs[:3]:
        first, second = (item.id for item in f.items(ref)[:2])
        assert cli("--as", f.COORD, "items", "skip", str(first), "--reason", SKIP).code == 0
        assert cli("--as", f.COORD, "items", "done", str(second), "--note", NOTE).code == 0
    f.drive_to(refs[0], "assessed", clock)
    older = _freeze(_file(db_url), tmp_path / "older.db")  # what a replay puts back
    for number, ref in enumerate(refs):
        _enter_person(ref, clock, f"Zenobia{number}")
    f.drive_to(refs[1], "assessed", clock)
    assert cli("audit", "checkpoint").code == 0
    return _freeze(_file(db_url), tmp_path / "base.db"), older


# --- the tampers: each changes something, as raw SQL on the copy -------------------------------

Db = sqlite3.Connection


def _pk(table: str) -> str:
    return next(iter(models.metadata().tables[table].primary_key.columns)).name


def _rows(db: Db, table: str, where: str = "1") -> list[sqlite3.Row]:
    return db.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY 1").fetchall()  # noqa: S608


def _nonempty(db: Db, tables: list[str]) -> list[str]:
    return [t for t in tables if _rows(db, t)]


def _changed(value: object) -> object:
    if value is None:
        return "x"
    if isinstance(value, int):
        return 1 - value if value in (0, 1) else value + 1
    if isinstance(value, bytes):
        return bytes([value[0] ^ 1]) + value[1:]
    text_value = str(value)
    return text_value[:-1] + ("A" if text_value[-1:] != "A" else "B")


def update_field(db: Db, rng: random.Random, _old: Db) -> None:
    table = rng.choice(_nonempty(db, [*SEALED, "audit_entry"]))
    row = rng.choice(_rows(db, table))
    columns = [c for c in row.keys() if c != _pk(table) and _sealed_column(table, c)]  # noqa: SIM118
    column = rng.choice(columns)
    db.execute(
        f"UPDATE {table} SET {column} = ? WHERE {_pk(table)} = ?",  # noqa: S608
        (_changed(row[column]), row[_pk(table)]),
    )


def delete_row(db: Db, rng: random.Random, _old: Db) -> None:
    table = rng.choice(_nonempty(db, [*SEALED, "audit_entry"]))
    row = rng.choice(_rows(db, table))
    db.execute(f"DELETE FROM {table} WHERE {_pk(table)} = ?", (row[_pk(table)],))  # noqa: S608


def insert_forged(db: Db, rng: random.Random, _old: Db) -> None:
    kind = rng.choice(["consent_event", "copy", "audit"])
    if kind == "consent_event":  # a consent that was never given, in the case history
        case_id = rng.choice(_rows(db, "return_case"))["id"]
        db.execute(
            "INSERT INTO case_event (case_id, at, trigger, data) VALUES (?, ?, ?, ?)",
            (case_id, "2026-01-06 10:00:00.000000", "consent_given", '{"purpose": "sharing"}'),
        )
    elif kind == "copy":
        table = rng.choice(_nonempty(db, ["case_event", "consent", "checklist_item"]))
        row = dict(rng.choice(_rows(db, table)))
        row["id"] = db.execute(f"SELECT max(id) + 1 FROM {table}").fetchone()[0]  # noqa: S608
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        db.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(row.values()))  # noqa: S608
    else:
        last = _rows(db, "audit_entry")[-1]
        db.execute(
            "INSERT INTO audit_entry (id, at, action, fields, prev_mac, mac) "
            "VALUES (?, ?, 'personal_read', '', ?, ?)",
            (last["id"] + 1, last["at"], last["mac"], f"{rng.getrandbits(256):064x}"),
        )


def _swap(db: Db, table: str, column: str, a: sqlite3.Row, b: sqlite3.Row) -> None:
    key = _pk(table)
    db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (a[column], b[key]))  # noqa: S608
    db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (b[column], a[key]))  # noqa: S608


def swap_ciphertexts(db: Db, rng: random.Random, _old: Db) -> None:
    table, column = rng.choice(
        [
            ("beneficiary", "given_name"),
            ("beneficiary", "phone"),
            ("beneficiary", "family_name"),
            ("checklist_item", "note"),
            ("return_case", "case_ref"),
            ("case_key", "wrapped"),
        ]
    )
    rows = [r for r in _rows(db, table) if r[column] is not None]
    a, b = rng.sample(rows, 2)
    if table == "return_case":  # unique: through a placeholder
        db.execute("UPDATE return_case SET case_ref = 'RT-TMP' WHERE id = ?", (a["id"],))
        db.execute("UPDATE return_case SET case_ref = ? WHERE id = ?", (a["case_ref"], b["id"]))
        db.execute("UPDATE return_case SET case_ref = ? WHERE id = ?", (b["case_ref"], a["id"]))
        return
    if table == "checklist_item" and rng.random() < 0.5:  # or moved to an item without one
        b = rng.choice([r for r in _rows(db, table) if r[column] is None])
    _swap(db, table, column, a, b)


def replay_old(db: Db, rng: random.Random, old: Db) -> None:
    """An older value of the same field put back; half the time with its older seal too."""
    candidates = []
    for table in ("beneficiary", "return_case", "checklist_item", "case_key", "consent"):
        now = {r[_pk(table)]: r for r in _rows(db, table)}
        for row in _rows(old, table):
            current = now.get(row[_pk(table)])
            sealed = [c for c in row.keys() if _sealed_column(table, c)]  # noqa: SIM118
            if current is not None and [current[c] for c in sealed] != [row[c] for c in sealed]:
                candidates.append((table, row))
    table, row = rng.choice(candidates)
    key = _pk(table)
    if rng.random() < 0.5:
        current = _rows(db, table, f"{key} = {row[key]}")[0]
        column = rng.choice(
            [c for c in row.keys() if row[c] != current[c] and _sealed_column(table, c)]  # noqa: SIM118
        )
        db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (row[column], row[key]))  # noqa: S608
        return
    sets = ", ".join(f"{c} = ?" for c in row.keys())  # noqa: SIM118
    db.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", (*row, row[key]))  # noqa: S608
    seal = old.execute(
        "SELECT version, mac FROM row_seal WHERE tbl = ? AND row_id = ?", (table, row[key])
    ).fetchone()
    db.execute(
        "UPDATE row_seal SET version = ?, mac = ? WHERE tbl = ? AND row_id = ?",
        (*seal, table, row[key]),
    )


def null_field(db: Db, rng: random.Random, _old: Db) -> None:
    choices = []
    for table in SEALED:
        for column in models.metadata().tables[table].columns:
            if column.nullable and not column.primary_key:
                found = _rows(db, table, f"{column.name} IS NOT NULL")
                choices += [(table, column.name, r[_pk(table)]) for r in found]
    table, column, row_id = rng.choice(choices)
    db.execute(f"UPDATE {table} SET {column} = NULL WHERE {_pk(table)} = ?", (row_id,))  # noqa: S608


def truncate_chain(db: Db, rng: random.Random, _old: Db) -> None:
    """The newest entries cut off; the head moved back to match, or left as it was."""
    last = _rows(db, "audit_entry")[-1]["id"]
    keep = rng.choice([0, rng.randint(1, last - 1), last - rng.randint(1, 5)])
    db.execute("DELETE FROM audit_entry WHERE id > ?", (keep,))
    if rng.random() < 0.7:
        kept = _rows(db, "audit_entry", f"id = {keep}")
        mac = kept[0]["mac"] if kept else "0" * 64
        db.execute("UPDATE audit_head SET last_id = ?, last_mac = ?", (keep, mac))


def rewrite_head(db: Db, rng: random.Random, old: Db) -> None:
    match rng.choice(["older_head", "wipe", "seal_count", "no_mac", "no_head", "rollback"]):
        case "older_head":  # an older, genuinely signed head, the chain cut to match it
            head = _rows(old, "audit_head")[0]
            db.execute("DELETE FROM audit_entry WHERE id > ?", (head["last_id"],))
            db.execute("DELETE FROM audit_head")
            names = ", ".join(head.keys())
            marks = ", ".join("?" for _ in head.keys())
            db.execute(f"INSERT INTO audit_head ({names}) VALUES ({marks})", tuple(head))  # noqa: S608
        case "wipe":  # every case, its seals, the chain and its head: gone
            for table in ("row_seal", "audit_entry", "audit_head", "reminder", *reversed(SEALED)):
                db.execute(f"DELETE FROM {table}")  # noqa: S608
        case "seal_count":
            db.execute("UPDATE audit_head SET seal_count = seal_count - 1")
        case "no_mac":
            db.execute("UPDATE audit_head SET mac = NULL")
        case "no_head":
            db.execute("DELETE FROM audit_head")
        case "rollback":  # the whole database replaced by the older copy
            for table in ("row_seal", "audit_entry", "audit_head", *reversed(SEALED)):
                db.execute(f"DELETE FROM {table}")  # noqa: S608
                db.execute(f"INSERT INTO {table} SELECT * FROM old.{table}")  # noqa: S608


def delete_case_key(db: Db, rng: random.Random, _old: Db) -> None:
    case_id = rng.choice(_rows(db, "case_key"))["case_id"]
    match rng.choice(["row", "row_and_seal", "fake_purge"]):
        case "row":
            db.execute("DELETE FROM case_key WHERE case_id = ?", (case_id,))
        case "row_and_seal":
            db.execute("DELETE FROM case_key WHERE case_id = ?", (case_id,))
            db.execute("DELETE FROM row_seal WHERE tbl = 'case_key' AND row_id = ?", (case_id,))
        case "fake_purge":  # shredded to look purged, without the purge command
            db.execute(
                "UPDATE case_key SET wrapped = NULL, destroyed_at = '2026-02-01 00:00:00.000000' "
                "WHERE case_id = ?",
                (case_id,),
            )


def reorder(db: Db, rng: random.Random, _old: Db) -> None:
    if rng.random() < 0.3:  # two audit entries trade places
        ids = [r["id"] for r in _rows(db, "audit_entry")]
        a, b = rng.sample(ids, 2)
        db.execute("UPDATE audit_entry SET id = -1 WHERE id = ?", (a,))
        db.execute("UPDATE audit_entry SET id = ? WHERE id = ?", (a, b))
        db.execute("UPDATE audit_entry SET id = ? WHERE id = -1", (b,))
        return
    events = _rows(db, "case_event")
    a = rng.choice(events)
    b = rng.choice([e for e in events if e["at"] != a["at"] or e["trigger"] != a["trigger"]])
    column = rng.choice(["at", "trigger"]) if a["at"] != b["at"] else "trigger"
    if a[column] == b[column]:
        column = "at" if column == "trigger" else "trigger"
    _swap(db, "case_event", column, a, b)


TAMPERS: dict[str, Callable[[Db, random.Random, Db], None]] = {
    "update a field": update_field,
    "delete a row": delete_row,
    "insert a forged row": insert_forged,
    "swap ciphertexts": swap_ciphertexts,
    "replay an older ciphertext": replay_old,
    "null a field": null_field,
    "truncate the chain": truncate_chain,
    "rewrite the head": rewrite_head,
    "delete a case key": delete_case_key,
    "reorder": reorder,
}


def _tamper(work: Path, older: Path, kind: str, rng: random.Random) -> None:
    db = sqlite3.connect(work, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA synchronous=OFF")  # a scratch copy: no need to survive a power cut
    db.execute("PRAGMA journal_mode=MEMORY")
    db.execute("ATTACH DATABASE ? AS old", (str(older),))
    old = sqlite3.connect(older)
    old.row_factory = sqlite3.Row
    triggers = db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for (name,) in triggers:  # the insider's first step: no append-only guard stays
        db.execute(f'DROP TRIGGER "{name}"')
    db.execute("BEGIN")
    for _attempt in range(50):  # a tamper the schema's constraints refuse is drawn again
        db.execute("SAVEPOINT tamper")
        try:
            TAMPERS[kind](db, rng, old)
            break
        except sqlite3.IntegrityError:
            db.execute("ROLLBACK TO tamper")
        finally:
            db.execute("RELEASE tamper")
    db.execute("COMMIT")
    db.execute("DETACH DATABASE old")
    db.close()
    old.close()


def _verdict(path: Path) -> str:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with Session(engine) as session:
            verdict, _checkpoint = anchor.verify_anchored(session)
            return verdict.problem
    finally:
        engine.dispose()


def _run_tampers(base: Path, older: Path, tmp_path: Path, count: int, seed: int) -> Counter[str]:
    rng, missed, tried = random.Random(seed), Counter[str](), Counter[str]()
    work = tmp_path / "work.db"
    for _ in range(count):
        kind = rng.choice(list(TAMPERS))
        shutil.copyfile(base, work)
        _tamper(work, older, kind, rng)
        tried[kind] += 1
        missed[kind] += not _verdict(work)
    detected = {kind: f"{tried[kind] - missed[kind]}/{tried[kind]}" for kind in TAMPERS}
    print(f"\ndetected {count - sum(missed.values())}/{count}: {json.dumps(detected)}")  # noqa: T201
    return missed


@sqlite_only
def test_1000_random_tampers_of_a_real_database_are_all_detected(cli, clock, db_url, tmp_path):
    base, older = _build(cli, clock, db_url, tmp_path)
    assert _verdict(base) == ""  # the untouched copy verifies clean, checkpoint included
    missed = _run_tampers(base, older, tmp_path, 1000, seed=20261206)
    assert sum(missed.values()) == 0, dict(missed)


@sqlite_only
@pytest.mark.slow
def test_10000_random_tampers_are_all_detected(cli, clock, db_url, tmp_path):
    base, older = _build(cli, clock, db_url, tmp_path)
    missed = _run_tampers(base, older, tmp_path, 10_000, seed=7)
    assert sum(missed.values()) == 0, dict(missed)
