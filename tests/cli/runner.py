"""Run the real ``homeward`` entry point in-process and capture what a user would see."""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from typing import IO

import pytest

from homeward.edges.cli import main
from homeward.edges.cli.common import state
from tests.signin import token_for


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    stdin: str | IO[str] = "",
) -> Result:
    """``homeward ARGS`` with ``stdin`` piped in (text, or a file that a test answers from,
    e.g. with the code of a sign-in email); returns exit code, stdout and stderr.

    ``--as EMAIL`` first in ARGS (a test's shorthand, not an option of ``homeward``) runs the
    command signed in as that staff member: a real session, opened as ``homeward login`` opens
    one, handed over in ``HOMEWARD_SESSION`` for this call only. Without it the command runs
    as the environment says (signed out, unless the test set ``HOMEWARD_SESSION`` itself)."""
    capsys.readouterr()
    previous = os.environ.get("HOMEWARD_SESSION")
    if args[:1] == ("--as",):
        os.environ["HOMEWARD_SESSION"] = token_for(args[1], state.clock.now())
        args = args[2:]
    monkeypatch.setattr(sys, "argv", ["homeward", *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin) if isinstance(stdin, str) else stdin)
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        if previous is None:
            os.environ.pop("HOMEWARD_SESSION", None)
        else:
            os.environ["HOMEWARD_SESSION"] = previous
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
