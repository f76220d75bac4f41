"""The benchmark command of the README runs end to end (tiny sizes; the figures are not
checked here: speed lives in bench/RESULTS.md, never in a test)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKEND

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.bench,
    # every bench here runs on its own SQLite files (``--backend sqlite``): the PostgreSQL
    # run of the suite would repeat the SQLite run's minutes for nothing
    pytest.mark.skipif(BACKEND == "postgres", reason="the benches here run on SQLite"),
]


def test_bench_runs_and_writes_its_table(tmp_path):
    out = tmp_path / "RESULTS.md"
    command = [sys.executable, str(ROOT / "bench" / "run.py"), "--cases", "150"]
    command += ["--baseline-cases", "0", "--bulk", "100", "--transitions", "20"]
    command += ["--backend", "sqlite", "--person-runs", "0", "--out", str(out), "--cli-runs", "2"]
    command += ["--catchup", "150", "--mail-messages", "40"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert "Machine:" in text and "cores" in text
    for row in ("`python -c pass`, 2 runs", "`homeward --help`, 2 runs", "`homeward case show"):
        assert row in text  # bench/cli_bench.py's section
    assert "load average" in text
    for row in ("sweep, 150 open cases", "peak memory", "catch-up run", "bulk start, 100 cases"):
        assert row in text
    assert re.search(r"bulk start, 100 cases \(import\) \| sqlite \| .* \| >= 5,000/s \|", text)
    assert "one transition, 20 runs" in text and "bare one-row commit" in text
    assert "one stage move that creates items (record_consent), 20 runs" in text
    assert re.search(r"CPU p50 [\d.]+ ms; load [\d.]+ [\d.]+ [\d.]+ \| p99 < 5 ms", text)
    assert "| sqlite |" in done.stdout
    assert "Catch-up run in batches" in text
    assert "sweep as `homeward up` runs it, forked warm" in text  # and a fresh process's beside
    assert "| sqlite | 150 |" in text  # one size here; a full run shows two (linear?)
    assert "40 reminder emails (20 one per connection), pool of 8 | plain" in text  # mail_bench
    assert "| starttls |" in text


def test_the_identity_bench_runs_and_writes_its_section(tmp_path):
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\nthe scale table\n")
    command = [sys.executable, str(ROOT / "bench" / "identity.py"), "--runs", "3"]
    for _ in range(2):  # the second run replaces its section
        done = subprocess.run(  # noqa: S603
            [*command, "--out", str(out)], capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert text.startswith("# Benchmark results\n\nthe scale table\n")
    assert text.count("<!-- identity:start -->") == 1 and text.count("<!-- identity:end -->") == 1
    for row in (
        "sign-in: request a code, then redeem it",
        "read command (whoami) through the runner",
        "write command (assertion: one row) through the runner",
        "the same, bare",
    ):
        assert row in text
    assert re.search(r"p50 [\d.]+ ms, p99 [\d.]+ ms", text)


def test_the_web_bench_times_every_page_against_its_command(tmp_path):
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\nthe scale table\n")
    command = [sys.executable, str(ROOT / "bench" / "web_bench.py"), "--cases", "150"]
    command += ["--runs", "3", "--backend", "sqlite", "--out", str(out)]
    for _ in range(2):  # the second run replaces its section
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
        assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert text.startswith("# Benchmark results\n\nthe scale table\n")
    assert text.count("<!-- web:start -->") == 1 and text.count("<!-- web:end -->") == 1
    assert "load average" in text and "150 open cases" in text
    for page, command_name in (
        ("My work, mission coordinator", "my work"),
        ("My work, NGO caseworker", "my work"),
        ("My work, IOM Romania coordinator", "my work"),
        ("My work, mission supervisor", "my work"),
        ("case page", "case page"),
        ("item deep link", "items where"),
        ("sign-in page", "whoami"),
    ):
        (row,) = [line for line in text.splitlines() if line.startswith(f"| {page}")]
        assert f"`{command_name}`" in row and "| sqlite |" in row
        assert re.search(r"[\d.]+ / [\d.]+ ms \| `", row)  # page p50 / p95
        assert re.search(r"\| [\d.]+x / [\d.]+x \|", row)  # the ratios


def test_the_mail_bench_sends_by_transport_alone_pooled_and_naive_plain_and_starttls(tmp_path):
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\nthe scale table\n")
    command = [sys.executable, str(ROOT / "bench" / "mail_bench.py"), "--messages", "30"]
    command += ["--pool", "2", "--out", str(out)]
    for _ in range(2):  # the second run replaces its section
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
        assert done.returncode == 0, done.stderr[-2000:]
    assert "(sink received 30;" in done.stdout and "STARTTLS required" in done.stdout
    assert "transport alone" in done.stdout and "of the transport's rate" in done.stdout
    assert "the transport alone gets" in done.stdout
    text = out.read_text()
    assert text.startswith("# Benchmark results\n\nthe scale table\n")
    assert text.count("<!-- mail:start -->") == 1 and text.count("<!-- mail:end -->") == 1
    assert "load average" in text and "cores" in text
    for sink in ("plain", "starttls"):
        (row,) = [line for line in text.splitlines() if f"| {sink} |" in line]
        rates = r"\| [\d,]+ msg/s \| [\d,]+ msg/s \| \d+% (meets|MISSES) \| [\d,]+ msg/s \| "
        cpu = r"[\d.]+ / [\d.]+ / [\d.]+ ms \|$"  # sender CPU: transport / drain / naive
        ceiling = r"[\d.]+x \([\d,]+ vs [\d,]+ msg/s\) \| "  # the transport alone's own ratio
        assert re.search(rates + r"[\d.]+x (meets|MISSES) \| " + ceiling + cpu, row), row


def test_the_bulk_bench_writes_its_section_and_a_before_after_one(tmp_path):
    out, kept = tmp_path / "RESULTS.md", tmp_path / "before.json"
    command = [sys.executable, str(ROOT / "bench" / "bulk_bench.py"), "--sizes", "20,40"]
    command += ["--backend", "sqlite", "--out", str(out)]
    done = subprocess.run(  # noqa: S603
        [*command, "--save", str(kept)], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert "## Bulk start (issue 19 point 1)" in text and "| sqlite | 40 |" in text
    assert "flat? rate at 40 / rate at 20" in text and "load" in text
    command[3] = "20"  # one size is enough for the after
    again = subprocess.run(  # noqa: S603
        [*command, "--before", str(kept)], capture_output=True, text=True, timeout=600, check=False
    )
    assert again.returncode == 0, again.stderr[-2000:]
    text = out.read_text()
    assert "## Bulk start, before and after a change" in text
    assert "| before | sqlite | 40 |" in text and "| after | sqlite | 20 |" in text
