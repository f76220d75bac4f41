"""The encrypted store, consent ledger, audit chain and retention on the real database."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from homeward.base.db import write_session
from homeward.base.errors import NotFound, Refused
from homeward.base.models import (
    Beneficiary,
    CaseEvent,
    CaseKey,
    ChecklistItem,
    Consent,
    HandoffStatus,
)
from homeward.crypt.crypto import DecryptionFailed
from homeward.protection import vault
from homeward.protection.retention import purge_due
from homeward.records.auditlog import verify
from statemachines.cases import get_case
from tasks import handoffs
from tasks.consents import withdraw_consent
from tests import factories as f
from tests.cli.runner import run_cli
from tests.conftest import BACKEND


@pytest.fixture
def ref(db_url, clock):
    f.seed()
    return f.open_case(clock)


def _read(case_ref, email, clock):
    with write_session() as s:
        who = f.actor(s, email)
        case = get_case(s, case_ref=case_ref, actor=f.actor(s))
        return vault.read_person(s, case=case, actor=who, now=clock.now())


def test_personal_fields_are_stored_encrypted_with_a_blind_index(ref, engine):
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT given_name, family_name, phone, match_index FROM beneficiary")
        ).one()
    assert all(value.startswith("hw1:") for value in row[:3])
    assert "Zenobia" not in str(row) and len(row.match_index) == 64


def test_owner_reads_everything_partners_what_their_part_needs(ref, clock):
    assert _read(ref, f.COORD, clock)["family_name"] == "Canarycanary"
    assert _read(ref, f.COORD, clock)["phone"] == "+40 700 000 111"
    ngo = _read(ref, "cw@adpare.example.org", clock)  # participant as ngo, with consent
    assert set(ngo) == {"given_name", "family_name", "phone"}
    with pytest.raises(NotFound):
        _read(ref, "mgr@iom-it.example.org", clock)  # managers never see people
    with pytest.raises(NotFound):
        _read(ref, "cw@fmb.example.org", clock)  # no part in the case


def test_without_sharing_consent_a_partner_sees_no_personal_data(db_url, clock):
    f.seed()
    case_ref = f.open_case(clock, share=False)
    with pytest.raises(NotFound):
        _read(case_ref, "cw@adpare.example.org", clock)


def test_every_personal_read_and_write_is_audited_by_field_name(ref, clock):
    _read(ref, f.COORD, clock)
    with f.admin_read() as s:
        entries = s.exec(text("SELECT action, case_ref, fields FROM audit_entry")).all()
        assert verify(s).ok
    actions = [e.action for e in entries]
    assert "personal_write" in actions and "personal_read" in actions
    read = next(e for e in entries if e.action == "personal_read")
    assert read.case_ref == ref and "family_name" in read.fields
    assert not any("Canary" in str(e) for e in entries)


def test_record_consent_fills_the_ledger_and_handoffs_need_sharing_consent(db_url, clock):
    f.seed()
    case_ref = f.open_case(clock, share=False)
    item = f.items(case_ref, stage="identified_abroad")[0]
    with pytest.raises(Refused, match="no consent to share with adpare"), write_session() as s:
        handoffs.propose(
            s, item_id=item.id, to_org_slug="adpare", actor=f.actor(s), now=clock.now()
        )
    f.complete_stage(case_ref, clock)
    f.advance(case_ref, "record_consent", clock)
    with f.admin_read() as s:
        purposes = sorted(c.purpose for c in s.exec(select(Consent)))
    assert purposes == ["data_processing", "return"]


def test_withdrawing_sharing_consent_ends_that_organisations_part(ref, clock):
    item = f.items(ref, stage="identified_abroad")[0]
    with write_session() as s:
        handoffs.propose(
            s, item_id=item.id, to_org_slug="adpare", actor=f.actor(s), now=clock.now()
        )
    with write_session() as s:
        handoffs.accept(
            s, item_id=item.id, actor=f.actor(s, "cw@adpare.example.org"), now=clock.now()
        )
    with write_session() as s:
        case = get_case(s, case_ref=ref, actor=f.actor(s))
        adpare = f.actor(s, "cw@adpare.example.org").org_id
        withdraw_consent(
            s, case=case, purpose="sharing", org_id=adpare, actor=f.actor(s), now=clock.now()
        )
    with f.admin_read() as s:
        moved = s.get(ChecklistItem, item.id)
        events = [e.trigger for e in s.exec(select(CaseEvent))]
        statuses = [h.status for h in s.exec(text("SELECT status FROM handoff"))]
    assert moved.status == "cancelled" and statuses == [HandoffStatus.REVOKED]
    assert "sharing_consent_withdrawn" in events
    with pytest.raises(NotFound):
        _read(ref, "cw@adpare.example.org", clock)


def test_whole_withdrawal_withdraws_every_consent(ref, clock):
    f.advance(ref, "withdraw_consent", clock)
    with f.admin_read() as s:
        assert all(c.withdrawn_on is not None for c in s.exec(select(Consent)))


def test_notes_and_reasons_are_encrypted_and_readable_by_the_owner(ref, clock, engine):
    items = f.items(ref, stage="identified_abroad")
    with write_session() as s:
        from tasks.checklist import mark_skipped

        mark_skipped(
            s,
            item_id=items[0].id,
            actor=f.actor(s),
            now=clock.now(),
            reason="Zenobia asked to wait",
        )
    with engine.connect() as conn:
        note = conn.execute(
            text("SELECT note FROM checklist_item WHERE id = :i"), {"i": items[0].id}
        ).scalar()
        reasons = conn.execute(text("SELECT reason FROM case_event")).scalars().all()
    assert note.startswith("hw1:") and not any(reasons)
    with write_session() as s:
        case = get_case(s, case_ref=ref, actor=f.actor(s))
        shown = vault.reveal_text(
            s,
            case=case,
            table="checklist_item",
            column="note",
            row_id=items[0].id,
            stored=note,
            actor=f.actor(s),
            now=clock.now(),
        )
    assert shown == "Zenobia asked to wait"


def _tamper(conn, rng: random.Random, count: int) -> str:
    victim = rng.randint(1, count)
    match rng.choice(
        [
            "edit_action",
            "edit_case",
            "edit_fields",
            "edit_mac",
            "edit_time",
            "delete",
            "swap",
            "edit_head",
        ]
    ):
        case "edit_action":
            conn.execute(text("UPDATE audit_entry SET action = 'x' WHERE id = :i"), {"i": victim})
        case "edit_case":
            conn.execute(
                text("UPDATE audit_entry SET case_ref = 'RT-ZZZZ-ZZ' WHERE id = :i"), {"i": victim}
            )
        case "edit_fields":
            conn.execute(
                text("UPDATE audit_entry SET fields = fields || ',x' WHERE id = :i"), {"i": victim}
            )
        case "edit_mac":
            conn.execute(
                text("UPDATE audit_entry SET mac = :m WHERE id = :i"), {"i": victim, "m": "f" * 64}
            )
        case "edit_time":
            conn.execute(
                text(
                    "UPDATE audit_entry SET actor_id = NULL, action = action || '!' WHERE id = :i"
                ),
                {"i": victim},
            )
        case "delete":
            conn.execute(text("DELETE FROM audit_entry WHERE id = :i"), {"i": victim})
        case "swap":
            other = victim % count + 1
            conn.execute(text("UPDATE audit_entry SET id = -1 WHERE id = :a"), {"a": victim})
            conn.execute(
                text("UPDATE audit_entry SET id = :a WHERE id = :b"), {"a": victim, "b": other}
            )
            conn.execute(text("UPDATE audit_entry SET id = :b WHERE id = -1"), {"b": other})
        case "edit_head":
            conn.execute(text("UPDATE audit_head SET last_id = last_id - 1"))
    return str(victim)


def _unguard(conn) -> None:
    """An attacker with the database owner's rights first disables the append-only guard."""
    if BACKEND == "sqlite":
        conn.execute(text("DROP TRIGGER audit_entry_no_update"))
        conn.execute(text("DROP TRIGGER audit_entry_no_delete"))
    else:
        conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))


def test_1000_random_single_row_edits_and_deletions_are_all_detected(ref, clock, engine):
    f.drive_to(ref, "assessed", clock)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM audit_entry")).scalar()
    assert count > 30
    rng, detected = random.Random(20261122), 0
    with engine.connect() as conn:
        for _ in range(1000):
            outer = conn.begin()
            _unguard(conn)
            _tamper(conn, rng, count)
            verdict = verify(Session(bind=conn))
            detected += not verdict.ok
            outer.rollback()
        assert verify(Session(bind=conn)).ok
    assert detected == 1000


def test_audit_verify_cli_names_the_first_bad_row(ref, engine, capsys, monkeypatch):
    assert run_cli(capsys, monkeypatch, "audit", "verify").code == 0
    with engine.begin() as conn:
        _unguard(conn)
        conn.execute(text("UPDATE audit_entry SET fields = 'x' WHERE id = 3"))
    result = run_cli(capsys, monkeypatch, "audit", "verify")
    assert result.code == 9 and "entry 3" in result.err


def test_retention_purges_closed_cases_destroys_the_key_and_keeps_legal_holds(
    db_url, clock, engine, tmp_path
):
    f.seed()
    kept_ref, purged_ref = f.open_case(clock), f.open_case(clock)
    for case_ref in (kept_ref, purged_ref):
        f.drive_to(case_ref, "closed", clock)
    with write_session() as s:
        held = get_case(s, case_ref=kept_ref, actor=f.actor(s))
        held.legal_hold = True
        s.add(held)
    clock.advance(days=6 * 365)
    with write_session() as s:
        assert [c.case_ref for c in purge_due(s, now=clock.now(), dry_run=True, actor=None)] == [
            purged_ref
        ]
    with write_session() as s:
        purge_due(s, now=clock.now(), dry_run=False, actor=None)
    with f.admin_read() as s:
        assert s.exec(select(Beneficiary)).all().__len__() == 1
        purged = get_case(s, case_ref=purged_ref, actor=f.actor(s))
        assert s.get(CaseKey, purged.id).wrapped is None and purged.purged_at is not None
    with pytest.raises(NotFound):
        _read(purged_ref, f.COORD, clock)
    assert _read(kept_ref, f.COORD, clock)["given_name"] == "Zenobia"


def test_unknown_ciphertext_from_another_case_fails(ref, clock, engine):
    other = f.open_case(clock)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT id, given_name FROM beneficiary ORDER BY id")).all()
        conn.execute(
            text("UPDATE beneficiary SET given_name = :g WHERE id = :i"),
            {"g": rows[1].given_name, "i": rows[0].id},
        )
    with pytest.raises(DecryptionFailed):
        _read(ref, f.COORD, clock)
    assert _read(other, f.COORD, clock)["given_name"] == "Zenobia"
