"""How long a person waits for the ``homeward`` command line: whole processes, start to exit.

    .venv/bin/python bench/cli_bench.py              # 20 runs of each
    .venv/bin/python bench/cli_bench.py --runs 5     # a quick look

On a fresh SQLite file with its own keyring, one organisation, one signed-in coordinator and one
case, each command runs ``--runs`` times as a new process (after one untimed warm-up run, which
also leaves Python's bytecode cache as any first run does), in turn, so a drift of the
machine's speed touches every command alike:

1. ``python -c pass``: the interpreter alone, the floor;
2. ``homeward --help``: the command tree, nothing else;
3. ``homeward case show REF``: a read through the commands layer, as the coordinator.

Median and maximum wall time in milliseconds, and the median CPU time (user + system) of the
child, which a busy machine disturbs less; the load average is printed before and after. Target
(issue 19): ``--help`` and ``case show`` under 400 ms median. Most of a command's time is
imports: ``tests/cli/test_imports.py`` holds each command to the modules it needs.

It prints a table and writes it into ``--out`` (default ``bench/RESULTS.md``) between
``<!-- cli:start -->`` and ``<!-- cli:end -->``, leaving the rest of the file as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import identity
from sections import load_average, put_section, taken

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- cli:start -->", "<!-- cli:end -->"
TARGET_MS = 400.0
PERSON = {"given_name": "Bench", "family_name": "Person", "phone": "+40 700 000 000"}


def homeward_command() -> list[str]:
    """The installed console script beside this interpreter, as a person runs it; else the
    same entry point through ``-c``."""
    script = Path(sys.executable).parent / "homeward"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from homeward.edges.cli import main; main()"]


def setup(folder: Path) -> dict[str, str]:
    """identity.py's fresh database, keyring and coordinator, signed in, and one case; the
    children's environment."""
    identity.setup(folder)
    from homeward.base.clock import SYSTEM_CLOCK

    env = dict(os.environ)
    # Python caches each module's compiled bytecode beside it (an installed package has it from
    # the install, an editable one from its first run): a person's command never compiles
    # Homeward's sources again. Without the cache (PYTHONDONTWRITEBYTECODE, as in some CI and
    # sandboxes) every run compiled about 65 modules, ~150 ms of CPU that nobody waits for.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["HOMEWARD_SESSION"] = identity.sign_in(SYSTEM_CLOCK)
    started = subprocess.run(  # noqa: S603 (our own command)
        [*homeward_command(), "case", "start", "--person", "-"],
        input=json.dumps(PERSON),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    env["BENCH_CASE_REF"] = started.stdout.split()[1]
    return env


def one_run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) milliseconds of one run of ``command``; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)  # noqa: S603
    wall = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def measure(env: dict[str, str], runs: int) -> list[tuple[str, list[float], list[float]]]:
    homeward = homeward_command()
    commands = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("homeward --help", [*homeward, "--help"]),
        ("homeward case show REF", [*homeward, "case", "show", env["BENCH_CASE_REF"]]),
    ]
    walls: dict[str, list[float]] = {name: [] for name, _ in commands}
    cpus: dict[str, list[float]] = {name: [] for name, _ in commands}
    for _, command in commands:  # warm-up: file caches
        one_run(command, env)
    for _ in range(runs):
        for name, command in commands:
            wall, cpu = one_run(command, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return [(name, walls[name], cpus[name]) for name, _ in commands]


def write_section(
    out: Path, runs: int, results: list[tuple[str, list[float], list[float]]], loads: str
) -> list[str]:
    """The table, also written into ``out`` between the markers (the rest is kept)."""
    rows = ["| command | median wall | max wall | median CPU | target | |", "|" + "---|" * 6]
    for name, walls, cpus in results:
        median = statistics.median(walls)
        timed = name.startswith("homeward")
        target = f"< {TARGET_MS:.0f} ms" if timed else "-"
        ok = ("meets" if median < TARGET_MS else "MISSES") if timed else ""
        rows.append(
            f"| `{name}`, {runs} runs | {median:.0f} ms | {max(walls):.0f} ms | "
            f"{statistics.median(cpus):.0f} ms | {target} | {ok} |"
        )
    how = f"{taken(f'bench/cli_bench.py --runs {runs}')}, load average {loads}."
    put_section(out, START, END, "The command line: start to exit", how, rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="homeward-bench-cli-") as name:
        env = setup(Path(name))
        before = load_average()
        results = measure(env, args.runs)
        loads = f"{before} before, {load_average()} after"
    rows = write_section(args.out, args.runs, results, loads)
    print(f"load average: {loads}")  # noqa: T201
    print("\n".join(rows))  # noqa: T201
    print(f"written to {args.out}")  # noqa: T201


if __name__ == "__main__":
    main()
