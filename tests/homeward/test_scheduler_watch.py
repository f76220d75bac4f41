"""The scheduler watch of ``homeward up`` reads a real failing server's log and keeps warning.

``data/prefect-server-sqlalchemy-2.1.log`` is the start of a real ``server.log``: Prefect 3.8.8
on SQLAlchemy 2.1.9, its scheduler failing every pass.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from homeward.edges.scheduler_watch import (
    RECOVERED,
    Alarm,
    LogTail,
    Served,
    Signs,
    WatchTimes,
    scheduler_failures,
    stalled,
    watch,
)

FAILING_LOG = Path(__file__).parent / "data" / "prefect-server-sqlalchemy-2.1.log"
BULK_DML = (
    "sqlalchemy.exc.InvalidRequestError: Can't evaluate bulk DML statement; "
    "please supply a bulk_dml decorated function"
)
TIMES = WatchTimes(check=15, repeat=300, log_window=150, api_grace=180)


def failing_lines() -> list[str]:
    return FAILING_LOG.read_text(encoding="utf-8").splitlines()


def failed_pass() -> str:
    """The log record of one failed pass: its line and traceback, as the server wrote them."""
    return "\n".join(failing_lines()[16:47]) + "\n"


def banner() -> list[str]:
    """The server's start banner, as a healthy log has it (no record line at all)."""
    lines = failing_lines()
    return lines[: next(i for i, line in enumerate(lines) if " | ERROR " in line)]


def test_a_failing_schedulers_log_gives_one_failure_per_pass_with_its_exception() -> None:
    assert scheduler_failures(failing_lines()) == [BULK_DML] * 3
    assert scheduler_failures(banner()) == []


def test_other_services_errors_and_warnings_are_not_scheduler_failures() -> None:
    first = next(line for line in failing_lines() if " | ERROR " in line)
    other = first.replace("schedule_deployments()", "mark_late_runs()")
    warned = first.replace("| ERROR   |", "| WARNING |")
    assert scheduler_failures([other, "Traceback (most recent call last):", BULK_DML]) == []
    assert scheduler_failures([warned, BULK_DML]) == []
    assert scheduler_failures([first]) == [first.split(" - ", 1)[1]]  # no traceback: its message


def test_the_log_tail_reads_complete_new_lines_and_starts_over_on_a_new_file(
    tmp_path: Path,
) -> None:
    log, lines = tmp_path / "server.log", failing_lines()
    tail = LogTail(log)
    assert tail.read_new() == []  # not there yet
    log.write_text("\n".join(lines[:20]) + "\n" + lines[20][:10], encoding="utf-8")
    assert tail.read_new() == lines[:20]
    with log.open("a", encoding="utf-8") as more:
        more.write(lines[20][10:] + "\n")
    assert tail.read_new() == [lines[20]]
    assert tail.read_new() == []
    log.write_text("\n".join(banner()[:3]) + "\n", encoding="utf-8")  # a restarted server's
    assert tail.read_new() == banner()[:3]


def test_the_warning_repeats_while_failures_are_logged_and_recovery_is_said_once(
    tmp_path: Path,
) -> None:
    log = tmp_path / "server.log"
    log.write_text("\n".join(banner()) + "\n", encoding="utf-8")
    tail, signs, alarm = LogTail(log), Signs(TIMES, started=0.0), Alarm(TIMES.repeat)
    said: dict[float, str | None] = {}
    for now in range(0, 1200, 15):  # a look every 15 s for 20 minutes
        if 60 <= now < 600 and now % 60 == 0:  # a failed pass every minute, for 9 minutes
            with log.open("a", encoding="utf-8") as server:
                server.write(failed_pass())
        signs.saw_log(tail.read_new(), float(now))
        said[now] = alarm.update(signs.reason(float(now)), float(now), str(log))
    spoken = {now: line for now, line in said.items() if line}
    assert [now for now, line in spoken.items() if line != RECOVERED] == [60, 360, 660]
    assert spoken[60].startswith("WARNING: Prefect's scheduler is failing (its log reports: ")
    assert BULK_DML in spoken[60] and "constraints.txt" in spoken[60] and str(log) in spoken[60]
    assert [now for now, line in spoken.items() if line == RECOVERED] == [690]  # 540 + 150


def test_a_deployment_on_schedule_without_runs_ahead_counts_only_after_the_grace() -> None:
    served = [
        Served("sweep-due-items", on_schedule=True, runs_ahead=0),
        Served("caseload-report", on_schedule=True, runs_ahead=3),
        Served("start-return", on_schedule=False, runs_ahead=0),
    ]
    assert stalled(served) == ["sweep-due-items"]
    signs = Signs(TIMES, started=100.0)
    signs.saw_api(served, 100.0 + TIMES.api_grace - 1)
    assert signs.reason(100.0 + TIMES.api_grace - 1) is None
    signs.saw_api(served, 100.0 + TIMES.api_grace)
    assert signs.reason(100.0 + TIMES.api_grace) == "no scheduled run ahead for sweep-due-items"
    signs.saw_api([served[1]], 100.0 + TIMES.api_grace + 15)
    assert signs.reason(100.0 + TIMES.api_grace + 15) is None


@contextmanager
def _dead_api() -> Iterator[str]:
    """An API address that refuses every connection for as long as the block lasts: the port is
    held bound (never listening), so no other server of a busy test run can take it and answer
    (a released port was once reused, and the watch then never saw the API as down)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}/api"


async def _until(said: list[str], predicate: str, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if any(predicate in line for line in said):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never said {predicate!r}: {said}")


def test_watch_keeps_warning_from_the_log_and_says_when_it_recovers(tmp_path: Path) -> None:
    """The loop itself, on short intervals, with a server API that does not answer."""
    log, said = tmp_path / "server.log", []
    # A logged failure counts 5 s. The watch stamps a failure when it reads the log and judges
    # it after asking the API, and that pass (a new httpx client, refused) took 0.3-1.1 s at
    # load 15: with 0.5 s the failures were stale when judged, and the watch said nothing at
    # all (1 run in 8 at load 14). 5 s is also 50 gaps between two failed passes, so a
    # stretched sleep cannot make it say "recovered" in the middle of the failures.
    times = WatchTimes(check=0.05, repeat=0.3, log_window=5.0, api_grace=0)

    def warned() -> int:
        return sum(line.startswith("WARNING: Prefect's scheduler") for line in said)

    async def scenario() -> None:
        log.write_text("\n".join(banner()) + "\n", encoding="utf-8")
        with _dead_api() as api:
            task = asyncio.create_task(watch(api, log, ["sweep-due-items"], said.append, times))
            # a failed pass every 0.1 s, at least 12 of them, until the watch has warned twice
            # (a guard against a watch that never repeats, not a speed check)
            for passes in range(1200):
                if passes >= 12 and warned() >= 2:
                    break
                with log.open("a", encoding="utf-8") as server:
                    server.write(failed_pass())
                await asyncio.sleep(0.1)
            await _until(said, RECOVERED, seconds=60.0)  # 5 s idle; a loaded CI is slower
            task.cancel()

    asyncio.run(scenario())
    warnings = [line for line in said if line.startswith("WARNING: Prefect's scheduler")]
    assert len(warnings) >= 2, said  # repeated while it lasts, not once
    assert said[-1] == RECOVERED and said.count(RECOVERED) == 1
