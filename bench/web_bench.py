"""What the web workspace's pages cost on the server, with a large caseload (issue 15, point 8).

    .venv/bin/python bench/web_bench.py                          # 100,000 cases, both backends
    .venv/bin/python bench/web_bench.py --cases 5000 --runs 50   # a quick look
    .venv/bin/python bench/web_bench.py --workdir /tmp/wb         # keep (and reuse) the seeded DBs

A caseload of ``--cases`` open cases written by ``bench/scale.py`` (~22 checklist items a case,
a directory of 40 organisations of each kind with a coordinator, a caseworker and a supervisor
each), on an SQLite file and on a throw-away PostgreSQL database (``HOMEWARD_BENCH_PG_URL``,
default ``postgresql://postgres@127.0.0.1:5432/postgres``) seeded as its owner and then used as
the web workspace's own login (a member of ``homeward_app`` only, as ``homeward db roles`` makes
it): row security applies, each transaction acts for the signed-in person's organisation.

Each page is requested ``--runs`` times in-process through the ASGI app (``create_app`` under
``httpx.ASGITransport``, the cookies of a real sign-in through ``/signin/link``), after a few
untimed warm-up requests; the time is the server's (no network, no browser). Beside each, the
same work through the commands layer as the CLI runs it (``commands.runner.run`` with the same
session token, timed the same way), and the ratio page / command: what the page adds (the
viewer's own ``MyProfile`` transaction, cookies, rendering) over the query it shows.

Pages: My work (``/``) for the coordinator of the mission owning the most open items on its own
cases, for IOM Romania's coordinator (a partner in every case: the longest list), for the
caseworker of the NGO owning the most open items, and for the mission's supervisor (who also
sees the closures waiting: three of the measured cases have one); a case page
(``/cases/{ref}``, over several reintegration cases of that coordinator, given the history
``bench/scale.py`` does not write: the opening, each transition, each item done); an item's
deep link (``/items/{id}``, a redirect to its case page); the sign-in page (``/signin``,
signed out; nothing to compare it with but the lightest command, ``whoami``).
Target: p95 < 150 ms with 100,000 cases.

It prints a table and writes it into ``--out`` (default ``bench/RESULTS.md``) between
``<!-- web:start -->`` and ``<!-- web:end -->``, leaving the rest of the file as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from sections import load_average, put_section, taken

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

START, END = "<!-- web:start -->", "<!-- web:end -->"
TARGET_P95_MS = 150.0
PG_ADMIN = os.environ.get(
    "HOMEWARD_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# The workspace's login (a member of homeward_app only), this run's own (a random tag: two
# runs at once never share it), made as ``homeward db roles --apply`` makes it with a system
# login it never uses, both dropped when the run ends, a crashed run's swept once stale
# (tests/logins.py says why: a login left behind is trusted by every Homeward database there).
_TAG = secrets.token_hex(4)
APP_LOGIN, SYSTEM_LOGIN = f"homeward_bench_web_app_{_TAG}", f"homeward_bench_web_system_{_TAG}"
WARM_UP = 5
CASE_PAGES = 10  # the case page and deep link rotate over this many cases
CLOSURES = 3  # of which this many have a closure request waiting


# ---------------------------------------------------------------- the databases


@dataclass
class Database:
    """A seeded database: the owner's URL (to seed and look), the app's (to serve)."""

    kind: str
    owner_url: str
    app_url: str
    cases: int
    seeded_at: str
    seed_seconds: float
    pg_database: str | None = None


def _pg_admin() -> Any:
    from sqlalchemy import create_engine

    from homeward.base.db import normalise_url

    return create_engine(normalise_url(PG_ADMIN), isolation_level="AUTOCOMMIT")


def pg_available() -> bool:
    from sqlalchemy import text

    try:
        admin = _pg_admin()
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
        admin.dispose()
    except Exception:  # noqa: BLE001 (any failure: no PostgreSQL here)
        return False
    return True


def _new_pg_database() -> tuple[str, str, str]:
    """A throw-away database: (name, owner URL, the app's URL: this run's login, made once the
    database is migrated, by ``with_logins``)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = f"homeward_bench_web_{uuid.uuid4().hex[:8]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    owner = make_url(PG_ADMIN).set(database=name)
    app = owner.set(username=APP_LOGIN, password=None)
    return (
        name,
        owner.render_as_string(hide_password=False),
        app.render_as_string(hide_password=False),
    )


def with_logins(db: Database) -> Database:
    """``db`` served as this run's app login, made on its (migrated) database; a database kept
    from an earlier run named that run's login, dropped since."""
    from sqlalchemy.engine import make_url

    from tests.logins import make_logins, sweep_logins

    sweep_logins(PG_ADMIN)  # a crashed run's, once stale
    make_logins(db.owner_url, app_login=APP_LOGIN, system_login=SYSTEM_LOGIN, temporary=True)
    app = make_url(db.app_url).set(username=APP_LOGIN)
    return replace(db, app_url=app.render_as_string(hide_password=False))


def drop_run_logins() -> None:
    """This run's logins dropped (``with_logins``'s): none left on the cluster."""
    from tests.logins import drop_logins

    drop_logins(PG_ADMIN, APP_LOGIN, SYSTEM_LOGIN)


def drop_pg_database(name: str) -> None:
    from sqlalchemy import text

    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def seed(kind: str, folder: Path, cases: int) -> Database:
    """Schema, directory and ``cases`` open cases (``bench/scale.py``), as the tables' owner."""
    from bench.scale import seed_cases, seed_directory
    from homeward.base.db import make_engine
    from homeward.base.migrate import upgrade

    pg_database = None
    if kind == "sqlite":
        owner_url = app_url = f"sqlite:///{folder / 'web.db'}"
    else:
        pg_database, owner_url, app_url = _new_pg_database()
    engine = make_engine(owner_url)
    upgrade(engine)
    now = datetime.now(UTC)  # sessions are checked by the database's own clock: a real now
    started = time.perf_counter()
    seed_cases(engine, seed_directory(engine), cases=cases, now=now, seed=1)
    seconds = time.perf_counter() - started
    engine.dispose()
    return Database(kind, owner_url, app_url, cases, now.isoformat(), seconds, pg_database)


def database(kind: str, folder: Path, cases: int) -> Database:
    """The seeded database of ``kind`` kept in ``folder`` (reused), or a new one."""
    state = folder / f"{kind}.json"
    if state.exists():
        kept = Database(**json.loads(state.read_text()))
        if kept.cases == cases:
            from homeward.base.db import make_engine
            from homeward.base.migrate import upgrade

            engine = make_engine(kept.owner_url)
            upgrade(engine)  # seeded at an older head: today's migrations, as a deploy runs them
            engine.dispose()
            return kept
        if kept.pg_database:
            drop_pg_database(kept.pg_database)
    made = seed(kind, folder, cases)
    state.write_text(json.dumps(made.__dict__))
    return made


def use(db: Database) -> None:
    """Point the application at ``db`` as its own login, with no cached engine or settings."""
    from homeward.base import db as homeward_db
    from homeward.base import settings
    from homeward.crypt import binding

    os.environ["HOMEWARD_DATABASE_URL"] = db.app_url
    settings.get_settings.cache_clear()
    homeward_db.get_engine.cache_clear()
    binding.forget()


# ---------------------------------------------------------------- who and what is measured


@dataclass
class Subjects:
    coordinator: str
    caseworker: str
    supervisor: str
    case_refs: list[str]
    item_ids: list[int]
    coordinator_items: int  # open items of the coordinator's organisation
    caseworker_items: int
    home: str  # IOM Romania's coordinator: a partner in every case
    home_items: int


def subjects(db: Database) -> Subjects:
    """The busiest mission's coordinator, the busiest NGO's caseworker, and cases to open."""
    from sqlalchemy import text

    from homeward.base.db import make_engine

    engine = make_engine(db.owner_url)  # the owner sees every row (the bench's own look)
    with engine.connect() as conn:
        mission, owned = conn.execute(
            text(
                "SELECT i.owner_org_id, count(*) FROM checklist_item i JOIN return_case c "
                "ON c.id = i.case_id AND c.owner_org_id = i.owner_org_id "
                "WHERE i.status = 'open' GROUP BY i.owner_org_id ORDER BY count(*) DESC LIMIT 1"
            )
        ).one()
        home_org = text("SELECT id FROM organisation WHERE slug = 'iom-ro-0'")
        home = conn.execute(home_org).scalar_one()
        home_items = conn.execute(
            text("SELECT count(*) FROM checklist_item WHERE status = 'open' AND owner_org_id = :o"),
            {"o": home},
        ).scalar_one()
        ngo, ngo_items = conn.execute(
            text(
                "SELECT i.owner_org_id, count(*) FROM checklist_item i JOIN organisation o "
                "ON o.id = i.owner_org_id WHERE i.status = 'open' AND o.kind = 'ngo' "
                "GROUP BY i.owner_org_id ORDER BY count(*) DESC LIMIT 1"
            )
        ).one()
        refs = [
            r
            for (r,) in conn.execute(
                text(
                    "SELECT case_ref FROM return_case WHERE owner_org_id = :org AND state = "
                    "'reintegration' ORDER BY id LIMIT :n"
                ),
                {"org": mission, "n": CASE_PAGES},
            )
        ]
        items = [
            i
            for (i,) in conn.execute(
                text(
                    "SELECT min(i.id) FROM checklist_item i JOIN return_case c "
                    "ON c.id = i.case_id WHERE c.case_ref IN (SELECT case_ref FROM return_case "
                    "WHERE owner_org_id = :org AND state = 'reintegration' ORDER BY id LIMIT :n) "
                    "AND i.status = 'open' GROUP BY c.id"
                ),
                {"org": mission, "n": CASE_PAGES},
            )
        ]
    engine.dispose()
    if not refs:  # a tiny caseload: any of the mission's cases
        with make_engine(db.owner_url).connect() as conn:
            refs = [
                r
                for (r,) in conn.execute(
                    text("SELECT case_ref FROM return_case WHERE owner_org_id = :org LIMIT :n"),
                    {"org": mission, "n": CASE_PAGES},
                )
            ]
    if not items:
        with make_engine(db.owner_url).connect() as conn:
            items = [
                i
                for (i,) in conn.execute(
                    text(
                        "SELECT i.id FROM checklist_item i JOIN return_case c ON c.id = i.case_id "
                        "WHERE c.owner_org_id = :org LIMIT :n"
                    ),
                    {"org": mission, "n": CASE_PAGES},
                )
            ]
    give_history(db, refs, f"coordinator-{mission}@staff.example.org")
    return Subjects(
        f"coordinator-{mission}@staff.example.org",
        f"caseworker-{ngo}@staff.example.org",
        f"supervisor-{mission}@staff.example.org",
        refs,
        items,
        owned,
        ngo_items,
        f"coordinator-{home}@staff.example.org",
        home_items,
    )


STEPS = [  # the trigger that moved a case into each stage after the first
    "record_consent",
    "complete_assessment",
    "arrange_travel",
    "depart",
    "confirm_arrival",
    "start_reintegration",
]


def give_history(db: Database, refs: list[str], coordinator: str) -> None:
    """The timeline ``bench/scale.py`` does not write, for the measured cases: the opening,
    each transition and each item done, by the owner's coordinator (as the engine records
    them), so their case pages show a lived-in history. Once per case."""
    from sqlalchemy import func, insert
    from sqlmodel import Session, col, select

    from bench.scale import ORDER
    from homeward.base.db import make_engine
    from homeward.base.models import Case, CaseEvent, ChecklistItem, StaffMember

    stages = [s.value for s in ORDER]
    engine = make_engine(db.owner_url)
    with Session(engine) as session:
        actor = session.exec(select(StaffMember.id).where(StaffMember.email == coordinator)).one()
        for case in session.exec(select(Case).where(col(Case.case_ref).in_(refs))).all():
            had = select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id)
            if session.exec(had).one():
                continue
            reached = stages[: stages.index(case.state) + 1]
            query = select(ChecklistItem).where(ChecklistItem.case_id == case.id)
            items = session.exec(query.order_by(col(ChecklistItem.id))).all()
            entered: dict[str, Any] = {}
            for item in items:
                entered.setdefault(item.stage, item.created_at)
            proof = f"session {uuid.uuid4().hex[:8]}"
            base: dict[str, Any] = {
                "case_id": case.id,
                "actor_id": actor,
                "proof": proof,
                "data": {},
            }
            rows: list[dict[str, Any]] = [
                {**base, "at": case.opened_at, "trigger": "open", "to_state": reached[0]}
            ]
            rows += [
                {
                    **base,
                    "at": entered.get(after, case.opened_at),
                    "trigger": trigger,
                    "from_state": before,
                    "to_state": after,
                }
                for before, after, trigger in zip(reached, reached[1:], STEPS, strict=False)
            ]
            rows += [
                {
                    **base,
                    "at": item.completed_at,
                    "trigger": "item_done",
                    "data": {"item_id": item.id, "code": item.code, "outcome": None},
                }
                for item in items
                if item.completed_at is not None
            ]
            if case.case_ref in refs[:CLOSURES]:  # a closure asked, waiting for a supervisor
                last = max(row["at"] for row in rows)
                rows.append(
                    {
                        **base,
                        "at": last,
                        "trigger": "closure_requested",
                        "reason": "support_period_ended",
                    }
                )
            rows.sort(key=lambda row: row["at"])
            session.execute(
                insert(CaseEvent),
                [{"from_state": None, "to_state": None, "reason": None, **r} for r in rows],
            )
        session.commit()
    engine.dispose()


class _Fields(HTMLParser):
    """The hidden inputs of the first form posting to ``/signin/link``."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self._in = found.get("action") == "/signin/link" and not self.fields
        elif tag == "input" and self._in and found.get("name"):
            self.fields[found["name"] or ""] = found.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in = False


async def sign_in(client: Any, db: Database, email: str) -> str:
    """Sign ``email`` in as a person does with the emailed link (the code read off the outbox
    row as the sender would, no SMTP); the client keeps the cookies. Returns the token."""
    from sqlalchemy import text

    from homeward.base.db import make_engine
    from homeward.commands.signin import request_code

    engine = make_engine(db.owner_url)
    with engine.begin() as conn:  # the bench signs in more often than the hourly limit allows
        conn.execute(text("DELETE FROM login_request"))
    requested = await asyncio.to_thread(request_code, email, channel="web")
    with engine.connect() as conn:
        context = conn.execute(
            text("SELECT context FROM outbox_message WHERE key = :k"), {"k": requested.mail_key}
        ).scalar_one()
    engine.dispose()
    code = (json.loads(context) if isinstance(context, str) else context)["code"]
    page = await client.get("/signin/link", params={"e": email, "c": code})
    parser = _Fields()
    parser.feed(page.text)
    answer = await client.post("/signin/link", data=parser.fields)
    if answer.status_code != 303:
        raise SystemExit(f"sign-in of {email} failed: {answer.status_code} {answer.text[:500]}")
    return str(client.cookies["hw_session"])


# ---------------------------------------------------------------- timing


@dataclass
class Timing:
    times: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(self.times)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def timed_async(work: Callable[[int], Awaitable[None]], runs: int) -> Timing:
    for n in range(WARM_UP):
        await work(n)
    timing = Timing()
    for n in range(runs):
        started = time.perf_counter()
        await work(n)
        timing.times.append((time.perf_counter() - started) * 1000)
    return timing


def timed(work: Callable[[int], object], runs: int) -> Timing:
    for n in range(WARM_UP):
        work(n)
    timing = Timing()
    for n in range(runs):
        started = time.perf_counter()
        work(n)
        timing.times.append((time.perf_counter() - started) * 1000)
    return timing


@dataclass
class Row:
    page: str
    url: str
    page_timing: Timing
    command: str
    command_timing: Timing


def _page(client: Any, url: Callable[[int], str], expect: int) -> Callable[[int], Awaitable[None]]:
    async def get(n: int) -> None:
        answer = await client.get(url(n))
        if answer.status_code != expect:
            raise SystemExit(f"GET {url(n)}: {answer.status_code} {answer.text[:800]}")

    return get


def _command(make: Callable[[int], Any], token: str) -> Callable[[int], object]:
    from homeward.commands.runner import run
    from homeward.protection.identity import SessionToken

    credential = SessionToken(token)
    return lambda n: run(make(n), credential)


def _my_work_command() -> Any:
    """The command the My work page shows (web-core's ``MyWork``; before it exists, the CLI's
    ``items list`` of the organisation's open items, as ``homeward items list`` runs it)."""
    try:
        from homeward.commands.mywork import MyWork  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from homeward.commands.items import ListItems

        return ListItems(), "items list"
    return MyWork(), "my work"


async def measure(db: Database, runs: int) -> list[Row]:
    import httpx

    from homeward.commands.case_page import CasePage, FindItem
    from homeward.commands.signin import WhoAmI
    from homeward.edges.web.app import create_app

    use(db)
    who = subjects(db)
    app = create_app()
    transport = httpx.ASGITransport(app=app)
    rows: list[Row] = []
    refs, items = who.case_refs, who.item_ids
    work, work_name = _my_work_command()
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as coordinator,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as caseworker,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as supervisor,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as receiver,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as visitor,
    ):
        token = await sign_in(coordinator, db, who.coordinator)
        partner = await sign_in(caseworker, db, who.caseworker)
        boss = await sign_in(supervisor, db, who.supervisor)
        receiving = await sign_in(receiver, db, who.home)
        plans: list[tuple[str, str, Any, int, str, Callable[[int], Any], str]] = [
            (
                f"My work, mission coordinator ({who.coordinator_items:,} open items)",
                "/",
                coordinator,
                200,
                work_name,
                lambda _n: work,
                token,
            ),
            (
                f"My work, NGO caseworker ({who.caseworker_items:,} open items)",
                "/",
                caseworker,
                200,
                work_name,
                lambda _n: work,
                partner,
            ),
            (
                "My work, mission supervisor (its items and the closures waiting)",
                "/",
                supervisor,
                200,
                work_name,
                lambda _n: work,
                boss,
            ),
            (
                f"My work, IOM Romania coordinator, a partner in every case "
                f"({who.home_items:,} open items)",
                "/",
                receiver,
                200,
                work_name,
                lambda _n: work,
                receiving,
            ),
            (
                f"case page ({len(refs)} cases in turn)",
                "/cases/{ref}",
                coordinator,
                200,
                "case page",
                lambda n: CasePage(refs[n % len(refs)]),
                token,
            ),
            (
                "item deep link (303 to its case page)",
                "/items/{id}",
                coordinator,
                303,
                "items where",
                lambda n: FindItem(items[n % len(items)]),
                token,
            ),
            (
                "sign-in page (signed out)",
                "/signin",
                visitor,
                200,
                "whoami",
                lambda _n: WhoAmI(),
                token,
            ),
        ]
        for name, pattern, client, status, command, make, credential in plans:

            def url(n: int, pattern: str = pattern) -> str:
                return pattern.format(ref=refs[n % len(refs)], id=items[n % len(items)])

            page = await timed_async(_page(client, url, status), runs)
            cmd = await asyncio.to_thread(timed, _command(make, credential), runs)
            rows.append(Row(name, pattern, page, command, cmd))
            print(  # noqa: T201
                f"[{db.kind}] {name}: page p50 {page.p50:.1f} p95 {page.p95:.1f} ms; "
                f"{command} p50 {cmd.p50:.1f} p95 {cmd.p95:.1f} ms",
                flush=True,
            )
    return rows


# ---------------------------------------------------------------- the table


def table(results: dict[str, tuple[Database, list[Row], str]]) -> list[str]:
    rows = [
        "| page | backend | page p50 / p95 | command (as the CLI runs it) p50 / p95 "
        "| ratio p50 / p95 | target p95 < 150 ms |",
        "|---|---|---|---|---|---|",
    ]
    for kind, (_db, measured, _load) in results.items():
        for r in measured:
            p, c = r.page_timing, r.command_timing
            verdict = "meets" if p.p95 < TARGET_P95_MS else "MISSES"
            rows.append(
                f"| {r.page} `GET {r.url}` | {kind} | {p.p50:.1f} / {p.p95:.1f} ms | "
                f"`{r.command}` {c.p50:.1f} / {c.p95:.1f} ms | "
                f"{p.p50 / c.p50:.2f}x / {p.p95 / c.p95:.2f}x | {verdict} |"
            )
    return rows


def write_section(
    out: Path, args: argparse.Namespace, results: dict[str, tuple[Database, list[Row], str]]
) -> list[str]:
    rows = table(results)
    seeded = "; ".join(
        f"{kind}: seeded in {db.seed_seconds:.0f} s, measured under {measured_load}"
        for kind, (db, _rows, measured_load) in results.items()
    )
    how = (
        f"{taken(f'bench/web_bench.py --cases {args.cases} --runs {args.runs}')}, "
        f"SQLite {sqlite3.sqlite_version}; {seeded}. "
        f"{args.cases:,} open cases (`bench/scale.py`); server time in-process through the ASGI "
        f"app, {args.runs} requests a page after {WARM_UP} warm-up ones; the command is the "
        "page's own query through `commands.runner.run` with the same session token, as the CLI "
        "runs it; PostgreSQL as the workspace's own login (`homeward_app`, row security)."
    )
    put_section(out, START, END, "The web workspace's pages (issue 15, point 8)", how, rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200, help="requests timed per page")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument(
        "--workdir", type=Path, help="keep the seeded databases and keyring here (and reuse them)"
    )
    parser.add_argument(
        "--seed-only",
        action="store_true",
        help="with --workdir: seed the databases, measure nothing",
    )
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in kinds and not pg_available():
        print("PostgreSQL not reachable at HOMEWARD_BENCH_PG_URL: SQLite only", file=sys.stderr)  # noqa: T201
        kinds.remove("postgres")
    with tempfile.TemporaryDirectory(prefix="homeward-bench-web-") as scratch:
        folder = args.workdir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        from homeward.crypt.keys import init_keyring

        keys = folder / "keys.json"
        if not keys.exists():
            init_keyring(keys)
        os.environ["HOMEWARD_KEY_FILE"] = str(keys)
        os.environ["HOMEWARD_SESSION_FILE"] = str(folder / "session")
        os.environ.setdefault("HOMEWARD_LOGIN_ANSWER_SECONDS", "0")
        results: dict[str, tuple[Database, list[Row], str]] = {}
        made: list[str] = []
        logins = False  # this run's logins made (PostgreSQL)
        try:
            for kind in kinds:
                print(f"[{kind}] {args.cases:,} open cases ...", flush=True)  # noqa: T201
                db = database(kind, folder, args.cases)
                if db.pg_database and not args.workdir:
                    made.append(db.pg_database)
                if db.pg_database:
                    logins, db = True, with_logins(db)
                if args.seed_only:
                    continue
                results[kind] = (
                    db,
                    asyncio.run(measure(db, args.runs)),
                    f"load average {load_average(' / ')}",
                )
        finally:
            for name in made:
                drop_pg_database(name)
            if logins:
                drop_run_logins()
    if args.seed_only:
        return
    rows = write_section(args.out, args, results)
    print("\n".join(rows))  # noqa: T201
    print(f"written to {args.out}")  # noqa: T201


if __name__ == "__main__":
    main()
