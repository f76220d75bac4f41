"""A/B timing of the day's sweep as ``homeward up`` runs it (``bench/run.py``'s ``sweep_forked``
child: forked warm, beside its own SQL), for two checkouts of the code in alternating rounds,
each run on a fresh copy of one seeded database; and what each run wrote, hashed.

    .venv/bin/python bench/sweep_ab.py --backend postgres --cases 20000 --rounds 4 \\
        base=/tmp/homeward_base new=.

The database is seeded once by the first tree (``--cases`` open cases, yesterday's catch-up
and its sending, as ``bench/run.py --only-catchup`` does); each run copies it, upgrades the
copy with its tree's migrations (a tree with a newer migration gets it; the other's copy is
left as is) and runs the tree's own ``bench/run.py --child sweep_forked``. The trees' order is
swapped every round, so a change in the machine's load falls on both. After each run its
reminders, outbox messages and recipients, escalation marks, row seals, audit head and day's
run row (its counts; not its heartbeat, a clock reading) are hashed: the hashes of every run
must agree. ``--profile FILE`` runs the sweep once more under cProfile (CPU clock), new tree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
# what a run writes, each table ordered by its key; the run row without its clock readings
HASHED = {
    "reminder": "SELECT item_id, rule, due_on, fired_at FROM reminder "
    "ORDER BY item_id, rule, due_on",
    "outbox_message": "SELECT * FROM outbox_message ORDER BY id",
    "outbox_recipient": "SELECT * FROM outbox_recipient ORDER BY id",
    "escalated": "SELECT id, escalated_at FROM checklist_item ORDER BY id",
    "row_seal": "SELECT tbl, row_id, case_id, version, mac FROM row_seal ORDER BY tbl, row_id",
    "audit_head": "SELECT * FROM audit_head",
    "audit_entry": "SELECT * FROM audit_entry ORDER BY id",
    "reminder_run": "SELECT id, day, ran_at, coming_due, due_today, overdue, escalated, queued "
    "FROM reminder_run ORDER BY id",
}


def _bench(tree: str) -> Any:
    sys.path[:0] = [tree, str(Path(tree) / "bench")]
    import run as bench  # the tree's own bench/run.py

    return bench


def _owner(url: str) -> str:
    """``url`` as the tables' owner, whichever login it names (each run's system login is its
    own: ``bench/run.py``)."""
    return re.sub(r"://[^@/]+@", "://postgres@", url, count=1)


def hashes(url: str) -> dict[str, str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(_owner(url))
    out = {}
    with engine.connect() as conn:
        for name, query in HASHED.items():
            rows = conn.execute(text(query)).all()
            digest = hashlib.sha256(repr([tuple(map(str, r)) for r in rows]).encode())
            out[name] = f"{len(rows)}:{digest.hexdigest()[:12]}"
    engine.dispose()
    return out


def upgrade(tree: str, env: dict[str, str]) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from homeward.base.db import get_engine; from homeward.base.migrate import upgrade;"
        "upgrade(get_engine())"
    )
    owner = _owner(env["HOMEWARD_DATABASE_URL"])
    subprocess.run(  # noqa: S603 (our own code)
        [sys.executable, "-c", code, tree],
        env={**os.environ, **env, "HOMEWARD_DATABASE_URL": owner, "PYTHONPATH": tree},
        check=True,
    )


def sweep(tree: str, env: dict[str, str], profile: str = "") -> dict[str, Any]:
    script = str(Path(tree) / "bench" / "run.py")
    command = [sys.executable, script, "--child", "sweep_forked", "[]"]
    extra = {"PYTHONPATH": tree}
    if profile:
        extra["HOMEWARD_SWEEP_PROFILE"] = profile
    done = subprocess.run(  # noqa: S603 (our own script)
        command, env={**os.environ, **env, **extra}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"sweep in {tree} failed")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--profile", default="", help="cProfile stats file (new tree, once)")
    parser.add_argument("--keep", default="", help="seed, keep the database, write its env here")
    parser.add_argument("--reuse", default="", help="a database --keep wrote (no seeding)")
    parser.add_argument("trees", nargs="+", help="label=path, the first seeds the database")
    args = parser.parse_args()
    trees = [tuple(t.split("=", 1)) for t in args.trees]
    trees = [(label, str(Path(path).resolve())) for label, path in trees]
    bench = _bench(trees[0][1])
    folder = Path(tempfile.mkdtemp(prefix="sweep_ab_"))
    from homeward.crypt.keys import init_keyring

    keys = init_keyring(folder / "keys.json") if not args.reuse else Path("unused")
    backend = bench.Backend(args.backend, folder, keys)
    results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in trees}
    try:
        if args.reuse:
            app = json.loads(Path(args.reuse).read_text())
        else:
            build, app = backend.fresh(f"ab{args.cases}")
            print(f"seeding {args.cases:,} cases (load {bench.load_average()})", flush=True)
            bench.run_child("seed", build, args.cases, False)
            bench.run_child("catchup", app)
            bench.run_child("send", app)
            if args.backend == "postgres":
                _analyze(build["HOMEWARD_DATABASE_URL"])
            if args.keep:
                backend.made.clear()  # kept: dropped by hand
                Path(args.keep).write_text(json.dumps(app))
        for number in range(args.rounds):
            order = trees if number % 2 == 0 else trees[::-1]
            for label, tree in order:
                copy = backend.copy(app, f"{label}{number}")
                upgrade(tree, copy)
                load = bench.load_average()
                got = sweep(tree, copy)
                got["load"] = load
                got["hashes"] = hashes(copy["HOMEWARD_DATABASE_URL"])
                results[label].append(got)
                server = got.get("server_cpu_seconds")
                if server is not None:
                    got["load"] += (
                        f"; server CPU {server:.2f} s (SQL {got['sql_server_cpu_seconds']:.2f} s)"
                    )
                print(
                    f"round {number} {label}: {got['seconds']:.3f} s, CPU {got['cpu_seconds']:.3f}"
                    f" s, SQL {got['sql_seconds']:.3f} s (CPU {got['sql_cpu_seconds']:.3f}), "
                    f"{got['fired']} fired, {got['queued']} queued, {got['sql_rows']} rows, "
                    f"load {got['load']}",
                    flush=True,
                )
                if args.backend == "sqlite":
                    path = copy["HOMEWARD_DATABASE_URL"].removeprefix("sqlite:///")
                    for suffix in ("", "-wal", "-shm"):
                        Path(path + suffix).unlink(missing_ok=True)
                else:
                    backend.made.remove(copy["HOMEWARD_DATABASE_URL"].rsplit("/", 1)[-1])
                    _drop(copy["HOMEWARD_DATABASE_URL"])
        if args.profile:
            label, tree = trees[-1]
            copy = backend.copy(app, "profile")
            upgrade(tree, copy)
            sweep(tree, copy, args.profile)
    finally:
        backend.drop_all()
    print()
    print(
        "| tree | sweep (median) | CPU (median / best) | its SQL (median) | ratio | CPU / SQL "
        "| server CPU: sweep / SQL (median) |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, runs in results.items():
        wall = statistics.median(r["seconds"] for r in runs)
        cpu = [r["cpu_seconds"] for r in runs]
        sql = statistics.median(r["sql_seconds"] for r in runs)
        print(
            f"| {label} | {wall:.3f} s | {statistics.median(cpu):.3f} / {min(cpu):.3f} s | "
            f"{sql:.3f} s | {wall / sql:.1f}x | {statistics.median(cpu) / sql:.1f}x | "
            f"{_server(runs)} |"
        )
    seen = {json.dumps(r["hashes"], sort_keys=True) for runs in results.values() for r in runs}
    print("outputs identical in every run:" if len(seen) == 1 else "OUTPUTS DIFFER:")
    for found in seen:
        print(" ", found)


def _server(runs: list[dict[str, Any]]) -> str:
    sweep = [r["server_cpu_seconds"] for r in runs if r.get("server_cpu_seconds") is not None]
    sql = [r["sql_server_cpu_seconds"] for r in runs if r.get("sql_server_cpu_seconds") is not None]
    if not sweep or not sql:
        return "-"
    return f"{statistics.median(sweep):.2f} / {statistics.median(sql):.2f} s"


def _analyze(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def _drop(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    admin = create_engine(
        make_url(url).set(database="postgres", username="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


if __name__ == "__main__":
    main()
