"""The bulk start alone (issue 19 point 1): cases imported per second at several sizes, on
SQLite and on PostgreSQL as the application (a system login that owns nothing: row security
applies), each size on a fresh database, with the load average at each figure.

    .venv/bin/python bench/bulk_bench.py                          # 1k, 10k, 100k, both backends
    .venv/bin/python bench/bulk_bench.py --sizes 1000,10000 --backend postgres
    .venv/bin/python bench/bulk_bench.py --sizes 1000 --profile /tmp/prof   # cProfile stats

Each import runs in its own process (``bench/run.py``'s ``bulk`` child: a CSV read, checked and
imported in one transaction as ``homeward import cases`` does). The rate is flat when the rate
at the largest size is close to the rate at the smallest. Targets: >= 2,000 cases/s on
PostgreSQL, >= 5,000 on SQLite. The figures go to their own section of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from run import ROOT, Backend, machine, pg_available, run_child
from sections import load_average, replace_section

TARGETS = {"postgres": 2000.0, "sqlite": 5000.0}
START, END = "<!-- bulk:start -->", "<!-- bulk:end -->"
BEFORE_AFTER = (
    "<!-- bulk-before-after:start -->",
    "<!-- bulk-before-after:end -->",
    "Bulk start, before and after a change (issue 19 point 1)",
)


def measure(kind: str, sizes: list[int], folder: Path, keys: Path, profile: str) -> list[Any]:
    """One import per size, each on a fresh database (dropped before the next)."""
    backend = Backend(kind, folder, keys)
    got = []
    try:
        for size in sizes:
            build, app = backend.fresh(f"bulk{size}")
            run_child("prepare", build)
            print(f"[{kind}] bulk start of {size:,} cases (load {load_average()})", flush=True)
            where = f"{profile}/{kind}-{size}.prof" if profile else ""
            got.append(run_child("bulk", app, size, str(folder), where))
            last = got[-1]
            print(
                f"[{kind}]   {last['per_second']:,.0f} cases/s, {last['seconds']:.2f} s, "
                f"client CPU {last['cpu_seconds']:.2f} s, server CPU {_server(last)} "
                f"(load {last['load']})",
                flush=True,
            )
            backend.drop_all()  # one database at a time: 100,000 imported cases are large
    finally:
        backend.drop_all()
    return got


def _per_thousand(bulk: dict[str, Any], key: str) -> str:
    value = bulk.get(key)
    return "n/a" if value is None else f"{value * 1000 / bulk['cases']:.2f} s"


def _server(bulk: dict[str, Any]) -> str:
    value = bulk.get("server_cpu_seconds")
    return "n/a" if value is None else f"{value:.2f} s"


def rows(results: dict[str, list[Any]], label: str = "") -> list[str]:
    """A table row per backend and size, and the flatness (largest size's rate over smallest's).
    ``label``: a first column naming the code measured (before / after)."""
    first = "| | " if label else "| "
    out = [
        f"{first}backend | cases | cases/s | seconds | client CPU per 1,000 | "
        "server CPU per 1,000 | target | load |",
        "|---" * (9 if label else 8) + "|",
    ]
    lead = f"| {label} | " if label else "| "
    for kind, got in results.items():
        for bulk in got:
            ok = "met" if bulk["per_second"] >= TARGETS[kind] else "NOT met"
            out.append(
                f"{lead}{kind} | {bulk['cases']:,} | {bulk['per_second']:,.0f} | "
                f"{bulk['seconds']:.2f} | {_per_thousand(bulk, 'cpu_seconds')} | "
                f"{_per_thousand(bulk, 'server_cpu_seconds')} | "
                f">= {TARGETS[kind]:,.0f}/s: {ok} | {bulk['load']} |"
            )
        if len(got) > 1:
            ratio = got[-1]["per_second"] / got[0]["per_second"]
            out.append(
                f"{lead}{kind} | flat? rate at {got[-1]['cases']:,} / rate at {got[0]['cases']:,} "
                f"| {ratio:.2f} | | | | | |"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--profile", default="", help="a folder for cProfile stats per import")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--save", type=Path, help="also keep the figures there (JSON)")
    parser.add_argument(
        "--before",
        type=Path,
        help="figures an earlier run kept (--save) of the code before a change: written beside "
        "these in the before/after section instead of the bulk section",
    )
    args = parser.parse_args()
    sizes = [int(part.replace("_", "")) for part in args.sizes.split(",") if part.strip()]
    kinds = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in kinds and not pg_available():
        print("PostgreSQL not reachable at HOMEWARD_BENCH_PG_URL: SQLite only", file=sys.stderr)
        kinds.remove("postgres")
    started = time.perf_counter()
    results: dict[str, list[Any]] = {}
    with tempfile.TemporaryDirectory(prefix="homeward-bulk-") as name:
        folder = Path(name)
        sys.path.insert(0, str(ROOT))
        from homeward.crypt.keys import init_keyring

        keys = init_keyring(folder / "keys.json")
        for kind in kinds:
            results[kind] = measure(kind, sizes, folder, keys, args.profile)
    if args.save:
        args.save.write_text(json.dumps(results, indent=1), encoding="utf-8")
    how = (
        f"`{' '.join(['bench/bulk_bench.py', *sys.argv[1:]])}`, {datetime.now(UTC):%Y-%m-%d %H:%M}"
        f" UTC, {time.perf_counter() - started:.0f} s in all. Machine: {machine()}; at the end,"
        f" load {load_average()}."
    )
    table = rows(results)
    print("\n".join(table))
    if args.before:
        before = json.loads(args.before.read_text(encoding="utf-8"))
        compared = rows(before, "before") + rows(results, "after")[2:]
        print("\n".join(compared))
    if args.no_write:
        return
    heading = "Bulk start (issue 19 point 1)"
    replace_section(args.out, START, END, [START, f"## {heading}", "", how, "", *table, END])
    if args.before:  # and beside the figures of the code before the change
        start, end, heading = BEFORE_AFTER
        how += f" Before: the figures in {args.before.name}, taken just before on the same machine."
        replace_section(args.out, start, end, [start, f"## {heading}", "", how, "", *compared, end])
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
