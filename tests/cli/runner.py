"""Run the real ``homeward`` entry point in-process and capture what a user would see."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass

import pytest

from homeward.edges.cli import main
from homeward.edges.cli.common import state


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    stdin: str = "",
) -> Result:
    """``homeward ARGS`` with ``stdin`` piped in; returns exit code, stdout and stderr."""
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["homeward", *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    state.actor_email = None
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
