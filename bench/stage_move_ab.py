"""A/B timing of one stage move that creates items (``record_consent``), as ``bench/run.py``'s
stage-move step measures it, for two checkouts of the code in alternating rounds.

    .venv/bin/python bench/stage_move_ab.py --backend sqlite --rounds 4 --count 300 \\
        base=/tmp/homeward_base new=.

Each tree gets its own fresh database (built by that tree's migrations and demo seed); each
round runs ``--count`` moves per tree (after 20 warm-up moves), the trees' order swapped every
round, so a change in the machine's load falls on both. The pooled moves of every round give
each tree's wall p50/p99 and CPU p50. ``--statements`` counts the SQL statements of one move;
``--tail`` shows apart the moves in which a full (generation 2) garbage collection ran and, on
SQLite, those whose commit checkpointed the write-ahead log (what the p99 is made of).

A staff member's move runs as the commands runner runs it: on PostgreSQL under the app's own
login (``homeward_app`` only) acting for the person's session token; a tree whose
``bench/run.py`` predates that (no ``_signed_in``) runs as the system login naming the
organisation (``act_as``), as the bench did before.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


def child(tree: str, count: int, statements: bool) -> dict[str, Any]:
    """In a process whose imports come from ``tree``: ``count`` timed moves (raw times)."""
    sys.path[:0] = [tree, str(Path(tree) / "bench")]
    import run as bench  # the tree's own bench/run.py

    bench._env_ready()
    from sqlalchemy import event

    from homeward.base.db import get_engine, write_session
    from homeward.edges.demo import staff_email
    from statemachines.cases import fire

    engine = get_engine()
    coordinator = staff_email("iom-it", "coordinator")
    warm = 20
    refs = bench._cases_ready_for_consent(engine, coordinator, count + warm)
    if hasattr(bench, "_signed_in"):  # PostgreSQL: the app's login, the person's token
        staff_engine, act = bench._signed_in(coordinator)
    else:  # a tree from before: the system login, naming the organisation (act_as)
        from tests.factories import acting

        staff_engine = engine

        def act(session: Any) -> Any:
            return acting(session=session, email=coordinator)

    if hasattr(bench, "_as_the_workspace_serves"):  # its checkpoint thread, as `homeward web`'s
        bench._as_the_workspace_serves()
    data = {"method": "signed", "language": "ro"}
    seen: list[str] = []
    if statements:
        event.listen(staff_engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    admin = _stats_reset(engine) if os.environ.get("AB_PGSTATS") else None
    tail = _Tail(engine) if os.environ.get("AB_TAIL") else None
    committing: list[float] = []  # when the move's COMMIT was sent (--tail)
    if tail:
        event.listen(staff_engine, "commit", lambda *_: committing.append(time.perf_counter()))
    times, cpu, counts = [], [], []
    for n, ref in enumerate(refs):
        seen.clear()
        if tail:
            tail.before()
        started, started_cpu = time.perf_counter(), time.process_time()
        with write_session(staff_engine) as session:
            actor = act(session)
            fire(
                session,
                case_ref=ref,
                trigger="record_consent",
                actor=actor,
                data=data,
                now=bench.NOW,
            )
        if n >= warm:
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            counts.append(len(seen))
            if tail:
                tail.after()
                tail.commits.append((time.perf_counter() - committing[-1]) * 1000)
    out: dict[str, Any] = {"times": times, "cpu": cpu}
    if tail:
        out["gc2"], out["checkpoint"] = tail.done()
        out["commit"] = tail.commits
    if admin is not None:
        out["functions"] = _function_times(admin, len(refs))
    if statements:
        out["statements"] = statistics.median(counts)
        out["sql"] = list(seen)
    return out


class _Tail:
    """Per timed move: whether a full (generation 2) garbage collection ran in it, and whether
    SQLite's write-ahead log was checkpointed after it (seen by the next write, which restarts
    the log under new salts: the header's bytes 16-24): by its commit, or, where the process
    checkpoints in a thread (``homeward.base.checkpoints``), by the thread beside it."""

    def __init__(self, engine: Any) -> None:
        import gc

        self.wal = None
        if engine.dialect.name == "sqlite":
            self.wal = Path(engine.url.database + "-wal")
        self.full: list[bool] = []
        self.commits: list[float] = []  # ms from the COMMIT sent to the session closed
        self.restarted: list[bool] = []
        self._full = False
        gc.callbacks.append(self._collected)

    def _collected(self, phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            self._full = True

    def _salt(self) -> bytes:
        if self.wal is None:
            return b""
        with self.wal.open("rb") as wal:
            return wal.read(24)[16:24]

    def before(self) -> None:
        self._full, self._start = False, self._salt()

    def after(self) -> None:
        self.full.append(self._full)
        self.restarted.append(self._salt() != self._start)

    def done(self) -> tuple[list[bool], list[bool]]:
        return self.full, [*self.restarted[1:], False]  # the move before the restart


def _stats_reset(engine: Any) -> Any:
    """PostgreSQL: the server's per-function counters from now on (as the superuser)."""
    from run import PG_ADMIN
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(PG_ADMIN).set(database=engine.url.database)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_stat_reset()"))
    return admin


def _function_times(admin: Any, moves: int) -> list[str]:
    """Calls and self time per move of each function (trigger, policy, scope), the busiest first."""
    from sqlalchemy import text

    time.sleep(0.7)  # the statistics collector reports at most every 500 ms
    query = text(
        "SELECT funcname, calls, self_time, total_time FROM pg_stat_user_functions "
        "ORDER BY self_time DESC"
    )
    with admin.connect() as conn:
        return [
            f"{name}: {calls / moves:.1f} calls, self {own / moves:.3f} ms, total "
            f"{total / moves:.3f} ms a move"
            for name, calls, own, total in conn.execute(query)
        ]


def run_in(tree: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    command = [sys.executable, str(HERE), "--child", tree, *args]
    full = {**os.environ, **env, "PYTHONPATH": tree}
    done = subprocess.run(command, env=full, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"child failed in {tree}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def prepare(tree: str, env: dict[str, str]) -> None:
    command = [sys.executable, str(Path(tree) / "bench" / "run.py"), "--child", "prepare", "[]"]
    full = {**os.environ, **env, "PYTHONPATH": tree}
    subprocess.run(command, env=full, check=True, capture_output=True)  # noqa: S603


_FLAGS = {"gc2": "full garbage collection", "checkpoint": "WAL checkpoint (commit or thread)"}


def summary(
    times: list[float], cpu: list[float], commit: list[float] | None = None, **flags: list[bool]
) -> str:
    line = _percentiles(times) + f", CPU p50 {statistics.median(cpu):.2f} ms"
    if commit:  # the commit alone: where SQLite's own checkpoint runs
        line += f"; commit {_percentiles(commit).split(' ', 1)[1]}"
    for name, flagged in flags.items():
        hit = [t for t, f in zip(times, flagged, strict=True) if f]
        rest = [t for t, f in zip(times, flagged, strict=True) if not f]
        if hit and rest:
            median = statistics.median(hit)
            line += f"; {len(hit)} moves with a {_FLAGS[name]} (median {median:.2f} ms), "
            line += f"the others {_percentiles(rest)}"
    return line


def _percentiles(times: list[float]) -> str:
    times = sorted(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return (
        f"n={len(times)} wall p50 {statistics.median(times):.2f} ms, p99 {p99:.2f} ms "
        f"(max {times[-1]:.1f})"
    )


def _track_functions(build: dict[str, str]) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(build["HOMEWARD_DATABASE_URL"], isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        name = conn.execute(text("SELECT current_database()")).scalar()
    engine.dispose()
    from run import PG_ADMIN

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"ALTER DATABASE \"{name}\" SET track_functions = 'all'"))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--statements", action="store_true")
    parser.add_argument(
        "--pgstats", action="store_true", help="PostgreSQL: time per function (trigger, policy)"
    )
    parser.add_argument(
        "--tail",
        action="store_true",
        help="the moves with a full garbage collection, and (SQLite) a WAL checkpoint, apart",
    )
    parser.add_argument("--child")
    parser.add_argument("trees", nargs="*")
    args = parser.parse_args()
    if args.child:
        result = child(args.child, int(args.trees[0]), args.trees[1] == "1")
        print(json.dumps(result))  # noqa: T201
        return
    trees = dict(t.split("=", 1) for t in args.trees)
    trees = {k: str(Path(v).resolve()) for k, v in trees.items()}
    sys.path[:0] = [str(HERE.parent.parent), str(HERE.parent)]
    from run import Backend
    from sections import load_average

    from homeward.crypt.keys import init_keyring

    with tempfile.TemporaryDirectory(prefix="homeward-ab-") as name:
        folder = Path(name)
        keys = init_keyring(folder / "keys.json")
        backend = Backend(args.backend, folder, keys)
        try:
            apps = {}
            for label, tree in trees.items():
                build, apps[label] = backend.fresh(f"ab_{label}")
                prepare(tree, build)
                if args.pgstats:
                    _track_functions(build)
                    apps[label]["AB_PGSTATS"] = "1"
                if args.tail:
                    apps[label]["AB_TAIL"] = "1"
            kept = ["times", "cpu", *(["gc2", "checkpoint", "commit"] if args.tail else [])]
            pooled: dict[str, dict[str, list[Any]]] = {k: {n: [] for n in kept} for k in trees}
            order = list(trees)
            for r in range(args.rounds):
                for label in order:
                    flag = "1" if args.statements else "0"
                    got = run_in(trees[label], apps[label], str(args.count), flag)
                    for key in kept:
                        pooled[label][key] += got[key]
                    line = f"round {r} {label}: {summary(**{k: got[k] for k in kept})}"
                    if "functions" in got:
                        print("\n".join(got["functions"]))  # noqa: T201
                    if args.statements:
                        line += f", {got['statements']} statements"
                        Path(folder.parent / f"ab_sql_{args.backend}_{label}.json").write_text(
                            json.dumps(got["sql"], indent=1)
                        )
                    print(f"{line}; load {load_average()}", flush=True)  # noqa: T201
                order.reverse()
            for label in trees:
                print(f"{args.backend} {label}: {summary(**pooled[label])}")  # noqa: T201
        finally:
            backend.drop_all()


if __name__ == "__main__":
    main()
