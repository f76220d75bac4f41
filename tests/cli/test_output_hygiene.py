"""Typed text is shown as text: rich markup, ANSI escapes and bidi overrides in names, donors,
notes and reasons neither crash a listing nor reach the terminal (issue 14, point 7)."""

from __future__ import annotations

import json

import pytest

from homeward.base.db import write_session
from homeward.edges.cli.common import state
from homeward.records.directory import OrganisationIn, StaffIn, add_org, add_staff, validate
from tests import factories as f
from tests.cli.runner import Result, run_cli

# Each is at least two characters, as every name and donor must be.
HOSTILE = [
    "[/x]",
    "[bold red]x",
    "\x1b[31mred",
    "ab\u202ecd",
    '=HYPERLINK("http://evil.example","x")',
    "+1",
    "-2",
    "@SUM(A1)",
    "<script>alert(1)</script>",
    "**bold** | pipe",
]
# What a terminal must never receive from typed text: escapes, other controls, bidi overrides.
FORBIDDEN = ("\x1b", "\u202e", "\x07")
MANAGER = "mgr@iom-it.example.org"
PERSON = json.dumps({"given_name": "Zenobia", "family_name": "Canarycanary"})


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    f.seed()
    monkeypatch.setattr(state, "clock", clock)

    def run(*args: str, stdin: str = "") -> Result:
        return run_cli(capsys, monkeypatch, *args, stdin=stdin)

    return run


def shown_safely(result: Result) -> str:
    """The output of a listing that worked and carries no terminal control from typed text."""
    assert result.code == 0, result.err
    for bad in FORBIDDEN:
        assert bad not in result.out + result.err
    return result.out


def test_org_and_staff_lists_show_hostile_names_as_text(cli):
    with write_session() as s:
        for n, name in enumerate(HOSTILE):
            org = validate(OrganisationIn, slug=f"hostile-{n}", name=name, kind="ngo", country="RO")
            add_org(session=s, org_in=org)
            staff = validate(
                StaffIn, org=f"hostile-{n}", name=name, email=f"s{n}@h.example.org", role="manager"
            )
            add_staff(session=s, staff_in=staff)
    for listing in (cli("org", "list"), cli("staff", "list")):
        out = shown_safely(listing)
        assert "[/x]" in out and "[bold red]x" in out and "=HYPERLINK(" in out
        assert "[31mred" in out  # the escape's text is shown, its ESC is not


def test_programme_list_and_report_show_hostile_names_and_donors_as_text(cli):
    for n, name in enumerate(HOSTILE):
        added = cli(
            *("--as", MANAGER, "programme", "add", f"prog-{n}", "--name", name),
            *("--donor", HOSTILE[-1 - n], "--from", "2026-01-01", "--to", "2026-12-31"),
            *("--target", "identified=1"),
        )
        assert added.code == 0, added.err
    out = shown_safely(cli("--as", MANAGER, "programme", "list"))
    assert "[/x]" in out and "[bold red]x" in out and "**bold** | pipe" in out
    for n in range(len(HOSTILE)):
        report = cli("--as", MANAGER, "report", "targets", "--programme", f"prog-{n}")
        title = f"{HOSTILE[n]} ({HOSTILE[-1 - n]})"
        title = title.replace("\x1b", "\ufffd").replace("\u202e", "\ufffd")
        assert shown_safely(report).startswith(title)


def test_notes_and_reasons_shown_as_text_in_items_show_and_case_show(cli, clock):
    ref = f.open_case(clock)
    first, second = (item.id for item in f.items(ref)[:2])
    reason, note = " ".join(HOSTILE[:5]), " ".join(HOSTILE[5:] + HOSTILE[2:4])
    assert cli("--as", f.COORD, "items", "skip", str(first), "--reason", reason).code == 0
    assert cli("--as", f.COORD, "items", "done", str(second), "--note", note).code == 0
    skipped = shown_safely(cli("--as", f.COORD, "items", "show", str(first)))
    assert "[/x]" in skipped and "[bold red]x" in skipped
    assert "<script>" in shown_safely(cli("--as", f.COORD, "items", "show", str(second)))
    shown_safely(cli("--as", f.COORD, "case", "show", ref))
    personal = shown_safely(cli("--as", f.COORD, "case", "show", ref, "--personal"))
    assert "[/x]" in personal and "@SUM(A1)" in personal
