"""What the CLI prints is true: output appears only after the write committed, and repeated
keys in ``--with`` / ``--set`` / ``--target`` are refused instead of silently dropped."""

from __future__ import annotations

import errno
import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from homeward.base.clock import SYSTEM_CLOCK
from homeward.base.models import Case, ChecklistItem
from homeward.edges.cli.common import console, state
from tests import factories as f
from tests.cli.runner import run_cli
from tests.signin import token_for

PERSON = json.dumps({"given_name": "Zenobia", "family_name": "Canarycanary"})
HOMEWARD = Path(sys.executable).parent / "homeward"


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    f.seed()
    monkeypatch.setattr(state, "clock", clock)
    # rich goes quiet for good after a broken pipe: give the next tests their output back
    monkeypatch.setattr(console, "quiet", False)

    def run(*args: str, stdin: str = ""):
        return run_cli(capsys, monkeypatch, *args, stdin=stdin)

    yield run
    # ...and the text it could not write: a command printing straight to the console (not
    # through a held capture) leaves it in rich's buffer, for the next test's first print
    del console._buffer[:]


class ClosedPipe(io.StringIO):
    """Standard output whose reader has gone away (``| head -1`` after its line)."""

    def write(self, _text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def _case_refs() -> list[str]:
    with f.admin_read() as s:
        return list(s.exec(select(Case.case_ref)))


def test_case_start_keeps_the_case_when_stdout_fails(cli, monkeypatch):
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    started = cli("--as", f.COORD, "case", "start", "--person", "-", stdin=PERSON)
    assert started.code != 0  # it could not say so...
    assert len(_case_refs()) == 1  # ...but the case it opened is there


def test_items_done_stays_done_when_stdout_fails(cli, clock, monkeypatch):
    ref = f.open_case(clock)
    item = f.items(ref)[0]
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    cli("--as", f.COORD, "items", "done", str(item.id))
    with f.admin_read() as s:
        assert s.get(ChecklistItem, item.id).status == "done"


def test_case_start_piped_into_head_prints_a_case_that_exists(cli, tmp_path):
    person = tmp_path / "person.json"
    person.write_text(PERSON, encoding="utf-8")
    command = f"{shlex.quote(str(HOMEWARD))} case start --person {person} | head -1"
    signed_in = {"HOMEWARD_SESSION": token_for(f.COORD, SYSTEM_CLOCK.now())}
    done = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        env=dict(os.environ) | signed_in,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.split()[1]
    assert printed.startswith("RT-") and _case_refs() == [printed]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (
            ["case", "start", "--with", "ngo=adpare", "--with", "ngo=fmb", "--person", "-"],
            ["--with: ngo is given twice", "one organisation per part", "items handoff"],
        ),
        (
            ["case", "advance", "REF", "record_consent"]
            + ["--set", "method=signed", "--set", "language=ro", "--set", "method=oral"],
            ["--set: method is given twice"],
        ),
    ],
)
def test_a_repeated_key_is_refused_in_one_line(cli, clock, argv, words):
    ref = f.open_case(clock)
    f.complete_stage(ref, clock)
    before = f.db_snapshot()
    argv = [ref if a == "REF" else a for a in argv]
    refused = cli("--as", f.COORD, *argv, stdin=PERSON)
    assert refused.code == 2 and refused.err.count("\n") == 1
    assert all(word in refused.err for word in words), refused.err
    assert f.db_snapshot() == before
