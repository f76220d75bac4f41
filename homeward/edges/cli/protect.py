"""``homeward keys``, ``homeward audit``, ``homeward consent`` and ``homeward retention``."""

from __future__ import annotations

from datetime import datetime

import typer
from pydantic import ValidationError
from rich.table import Table

from homeward.base.db import get_engine, read_session
from homeward.base.migrate import ensure_schema
from homeward.commands import consent
from homeward.commands.runner import run
from homeward.crypt import backup_keys, binding
from homeward.crypt import keys as keyring
from homeward.edges.cli.common import console, credential, local, now, reading, state, writing
from homeward.protection import consent as ledger
from homeward.protection.leftovers import scrub
from homeward.protection.retention import purge_due
from homeward.protection.rotation import rotate
from homeward.records import anchor
from homeward.records.directory import first_error

keys_app = typer.Typer(
    help="Encryption keys (keep the key file backed up offline).", no_args_is_help=True
)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
consent_app = typer.Typer(help="The person's consents, per purpose.", no_args_is_help=True)
retention_app = typer.Typer(help="Purging closed cases' personal data.", no_args_is_help=True)


@keys_app.command("init")
def keys_init() -> None:
    """Create the keyring (refuses to overwrite an existing one)."""
    path = keyring.init_keyring()
    console.print(
        f"keyring created at {path}; back it up offline now: without it no personal "
        "data can ever be read again"
    )


@keys_app.command("status")
def keys_status() -> None:
    """Which master keys exist and which is active, the keyring's fingerprint and whether
    the database was sealed with it (never the keys themselves)."""
    ring = keyring.load_keyring()
    console.print(
        f"keyring {keyring.key_file()}: active {ring.active}; "
        f"master keys {', '.join(sorted(ring.master_keys))}"
    )
    ensure_schema()
    with read_session() as session:
        found = binding.status(session, ring)
    if found.database is None:
        verdict = "not yet recorded in the database (its first write records it)"
    elif found.matches:
        verdict = "matches the database"
    else:
        verdict = f"does NOT match the database's ({binding.short(found.database)})"
    console.print(f"fingerprint {found.keyring}: {verdict}")
    if not found.matches:
        assert found.database is not None  # noqa: S101 (unbound always matches)
        raise binding.refusal(found.database)


@keys_app.command("rotate")
def keys_rotate(
    batch: int = typer.Option(200, min=1, help="case keys re-wrapped per commit"),
) -> None:
    """Re-wrap every case key under a new master key; safe to rerun after an interruption."""
    report = rotate(get_engine(), batch=batch)
    console.print(
        f"rotation to {report.active}: {report.rewrapped} case keys re-wrapped; "
        f"retired {', '.join(report.retired) or 'nothing'}"
    )


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain, its head, every case-data row's seal and the newest checkpoint
    outside the database; names the first thing that does not hold (exit 9)."""
    with reading() as session:
        verdict, checkpoint = anchor.verify_anchored(session)
    if not verdict.ok:
        raise anchor.broken(verdict)
    against = (
        f"; matches the checkpoint of {checkpoint.when} ({checkpoint.entries} entries)"
        if checkpoint
        else f"; no checkpoint yet in {anchor.anchor_file()} (run `homeward audit checkpoint`)"
    )
    console.print(f"audit log intact: {verdict.checked} entries, case data sealed{against}")


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Verify everything, then append the signed chain head to HOMEWARD_AUDIT_ANCHOR_FILE
    (outside the database); the scheduler does this daily."""
    with reading() as session:
        made = anchor.checkpoint(session, now=now())
    console.print(
        f"checkpoint written to {anchor.anchor_file()}: {made.entries} entries, "
        f"{made.seal_count} sealed rows"
    )


@consent_app.command("give")
def consent_give(
    case_ref: str,
    purpose: str = typer.Option(..., help="return, data_processing or sharing"),
    org: str = typer.Option(None, help="for sharing: the organisation's slug"),
    method: str = typer.Option(..., help="signed, oral or proxy"),
    language: str = typer.Option(..., help="ISO 639 code of the language, e.g. ro"),
    interpreter: bool = typer.Option(False, "--interpreter", help="an interpreter was used"),
    given_on: str = typer.Option(None, help="YYYY-MM-DD (default today)"),
    representative: str = typer.Option(
        None,
        help="a minor's case: who consents for them (parent, legal_guardian, dgaspc_guardian, "
        "special_representative), with --method proxy; never their name",
    ),
) -> None:
    """Record one consent of the person (the owner's coordinators and supervisors; for a
    minor, given by their representative)."""
    try:
        given = ledger.ConsentIn.model_validate(
            {
                "purpose": purpose,
                "org": org,
                "method": method,
                "language": language,
                "interpreter": interpreter,
                "given_on": given_on,
                "representative": representative,
            }
        )
    except ValidationError as exc:
        raise first_error(exc) from None
    done = run(consent.GiveConsent(case_ref, given), credential(), clock=state.clock)
    console.print(f"{done.purpose} consent recorded on case {done.case_ref}")


@consent_app.command("withdraw")
def consent_withdraw(
    case_ref: str,
    purpose: str = typer.Option(
        ..., help="data_processing or sharing (return: advance withdraw_consent)"
    ),
    org: str = typer.Option(None, help="for sharing: the organisation's slug"),
) -> None:
    """Withdraw a consent; sharing: that organisation's open items end and it is told."""
    done = run(consent.WithdrawConsent(case_ref, purpose, org), credential(), clock=state.clock)
    console.print(f"{done.purpose} consent withdrawn on case {done.case_ref}")


@consent_app.command("list")
def consent_list(case_ref: str) -> None:
    """The case's consent ledger."""
    table = Table("purpose", "organisation", "method", "by", "language", "given", "withdrawn")
    for row in run(consent.ListConsents(case_ref), credential(), clock=state.clock):
        table.add_row(
            row.purpose,
            row.org or "",
            row.method,
            row.representative or "",
            row.language + (" +interpreter" if row.interpreter else ""),
            row.given_on.isoformat(),
            row.withdrawn_on.isoformat() if row.withdrawn_on else "",
        )
    console.print(table)


@retention_app.command("run")
def retention_run(
    dry_run: bool = typer.Option(False, "--dry-run", help="only show what would be purged"),
) -> None:
    """Purge the personal data of cases closed longer than the retention period.

    Their keys are destroyed and the database's leftovers scrubbed; backups made before the
    purge stay readable until their backup keys expire (the output says when).
    """
    with writing() as session:
        purged = purge_due(session, now=now(), dry_run=dry_run, actor=None)
        table = Table("case_ref", "closed", "reason")
        for case in purged:
            table.add_row(case.case_ref, local(case.closed_at), case.closure_reason or "")
        console.print(table)
        verb = "would be purged" if dry_run else "purged"
        console.print(f"{len(purged)} case(s) {verb} (as of {local(now())})")
    if dry_run:
        return
    backup_keys.expire(now())
    console.print(scrub(get_engine()), soft_wrap=True)  # also what an earlier run could not
    console.print(backups_line(backup_keys.last_expiry(now())), soft_wrap=True)


def backups_line(until: datetime | None) -> str:
    """What a purge leaves in the backups, and for how long (never a person's data)."""
    if until is None:
        return "no backup key is alive: no backup made so far can be read"
    return (
        f"backups made before now can be read until {local(until)}, when their backup keys "
        "expire; after that no backup opens a purged case"
    )
