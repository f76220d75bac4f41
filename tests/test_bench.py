"""The benchmark command of the README runs end to end (tiny sizes; the figures are not
checked here: speed lives in bench/RESULTS.md, never in a test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_and_writes_its_table(tmp_path):
    out = tmp_path / "RESULTS.md"
    command = [sys.executable, str(ROOT / "bench" / "run.py"), "--cases", "150"]
    command += ["--baseline-cases", "0", "--bulk", "100", "--transitions", "20"]
    command += ["--backend", "sqlite", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert "Machine:" in text and "cores" in text
    for row in ("sweep, 150 open cases", "peak memory", "catch-up run", "bulk start, 100 cases"):
        assert row in text
    assert "one transition, 20 runs" in text and "bare one-row commit" in text
    assert "| sqlite |" in done.stdout
