"""What a commit costs with SQLite's own write-ahead-log checkpoints against the checkpoint
thread of a serving process (``homeward.base.checkpoints``), on a fresh SQLite file: commits
of 30 pages each (a stage move's share of the log), the committing thread's CPU and wall time
from the COMMIT sent to the session closed, in alternating rounds.

    .venv/bin/python bench/commit_checkpoint.py --rounds 3 --commits 600

The thread's CPU (``time.thread_time``) is what a loaded machine stretches least: SQLite's own
checkpoint runs in the commit that takes the log past 1,000 pages (one in ~33 here).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROW = b"x" * (4096 * 30)


def child(mode: str, commits: int) -> str:
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import event, text

    from homeward.base import checkpoints
    from homeward.base.db import make_engine, write_session

    folder = Path(tempfile.mkdtemp(prefix="homeward-commit-"))
    engine = make_engine(f"sqlite:///{folder / 'c.db'}")
    with write_session(engine) as session:
        session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)"))
    if mode == "thread":
        checkpoints.in_background()
    sent: dict[str, float] = {}
    event.listen(
        engine, "commit", lambda *_: sent.update(wall=time.perf_counter(), cpu=time.thread_time())
    )
    wall, cpu = [], []
    for n in range(commits + 20):
        with write_session(engine) as session:
            session.execute(text("INSERT INTO t (data) VALUES (:d)"), {"d": ROW})
        if n >= 20:
            wall.append((time.perf_counter() - sent["wall"]) * 1000)
            cpu.append((time.thread_time() - sent["cpu"]) * 1000)
        time.sleep(0.002)  # the rest of a move's work, roughly
    return f"{mode}: commit CPU {_spread(cpu)}; commit wall {_spread(wall)}"


def _spread(times: list[float]) -> str:
    times = sorted(times)
    at = {q: times[min(len(times) - 1, int(len(times) * q))] for q in (0.97, 0.99)}
    return (
        f"p50 {statistics.median(times):.2f}, p97 {at[0.97]:.2f}, p99 {at[0.99]:.2f}, "
        f"max {times[-1]:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commits", type=int, default=600)
    parser.add_argument("--child", choices=["own", "thread"])
    args = parser.parse_args()
    if args.child:
        print(child(args.child, args.commits))  # noqa: T201
        return
    for _ in range(args.rounds):
        for mode in ("own", "thread"):
            command = [sys.executable, __file__, "--child", mode, "--commits", str(args.commits)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
            print(done.stdout.strip(), flush=True)  # noqa: T201


if __name__ == "__main__":
    main()
