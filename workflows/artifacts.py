"""Publishing the dashboard as Prefect artifacts under stable keys (lower case and dashes).

A key names what an artifact shows, so each publication becomes the newest version of the
same artifact. The manager's pinned set all starts with ``homeward-`` (type it in the
artifacts page's search to see only them): ``homeward-overview`` (the landing page: what
needs attention, mail today, the last sweep, the caseload), ``homeward-caseload-by-stage``,
``homeward-caseload-by-owner``, ``homeward-work-waiting`` and ``homeward-stuck-cases``. Beside
them: ``case-rt-7kq2-m9-timeline``, ``report-<name>[-<programme>]-<table>[-part-<n>]`` and
``report-targets-<programme>-chart``, and ``mail-flow`` (the mail's counts, published by
each sweep).

Everything published is counts, codes, case_refs and dates, or an already suppressed report;
tables have headers people read ("Owner organisation", not ``owner_org``) and stage names, and
a table wider than ``MAX_COLUMNS`` is published in parts that fit a screen. Prefect renders
descriptions and markdown artifacts as markdown: a report's title carries a programme's name
and donor as people typed them, so it is escaped there (``for_markdown``); table cells lose
their control characters.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from prefect import get_client
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.settings import PREFECT_UI_URL

from homeward.base.clock import utc
from homeward.base.settings import get_settings
from homeward.base.text import for_markdown, printable
from homeward.commands.mail import MailStats
from homeward.reporting.caseload import Row
from homeward.reporting.overview import Overview
from homeward.reporting.render import progress_svg
from homeward.reporting.tables import Report, Table, fit
from notifications.i18n import stage_label
from notifications.stats import COLUMNS, MailDay
from workflows.timing import timed

_NOT_KEY = re.compile(r"[^a-z0-9]+")
MAIL_FLOW = "mail-flow"
MAX_COLUMNS = 6  # besides the row labels: what Prefect's table shows without scrolling sideways

OVERVIEW = "homeward-overview"
CASELOAD_BY_STAGE = "homeward-caseload-by-stage"
CASELOAD_BY_OWNER = "homeward-caseload-by-owner"
WORK_WAITING = "homeward-work-waiting"
STUCK_CASES = "homeward-stuck-cases"
SWEEP = "sweep-due-items"
PINNED = (OVERVIEW, CASELOAD_BY_STAGE, CASELOAD_BY_OWNER, WORK_WAITING, STUCK_CASES)

HEADERS = {
    "case_ref": "Case",
    "cases": "Cases",
    "closures_waiting": "Closures waiting",
    "days_in_stage": "Days in stage",
    "entered_on": "Entered on",
    "escalated": "Escalated",
    "in_stage_since": "In stage since",
    "organisation": "Organisation",
    "overdue_cases": "Cases with overdue items",
    "overdue_items": "Overdue items",
    "owner_org": "Owner organisation",
    "plans_waiting": "Plans waiting",
    "stage": "Stage",
    "status": "Status",
    "trigger": "Trigger",
}
NAMED = {"stage", "status", "Stage", "Status"}  # columns (row headers) holding stage codes


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key from ``parts``: lower case, dashes, nothing else."""
    return _NOT_KEY.sub("-", "-".join(parts).lower()).strip("-")


def timeline_key(case_ref: str) -> str:
    """The key of a case's timeline, e.g. ``case-rt-7kq2-m9-timeline``."""
    return artifact_key("case", case_ref, "timeline")


def named(code: object) -> object:
    """A stage or status code as people say it (``lost_contact`` -> "Contact lost"); any other
    value as it is. The emails' stage names, which name every status but ``active``."""
    if not isinstance(code, str):
        return code
    return "Active" if code == "active" else stage_label(code, "en")


def human(rows: list[Row]) -> list[Row]:
    """Rows with headers people read and stage names in the stage and status columns."""
    return [
        {HEADERS.get(k, k): named(v) if k in NAMED else v for k, v in row.items()} for row in rows
    ]


async def publish_table(key: str, rows: list[Row], description: str) -> str:
    """Publish ``rows`` as the newest version of table artifact ``key``; return the key."""
    await acreate_table_artifact(table=_cleaned(human(rows)), key=key, description=description)
    return key


def _cleaned(rows: list[Row]) -> list[Row]:
    return [
        {printable(k): printable(v) if isinstance(v, str) else v for k, v in row.items()}
        for row in rows
    ]


async def publish_timeline(case_ref: str, rows: list[Row]) -> str:
    """Publish a case's stages and the days it entered them."""
    with timed("publish-timeline"):
        return await publish_table(
            timeline_key(case_ref), rows, f"Case {case_ref}: stages and the days they were entered"
        )


def table_rows(table: Table) -> list[Row]:
    """A report table as rows of ``{row header: label, column: cell}`` (cells as published;
    stage codes as stage names)."""
    return [
        {
            table.row_header: named(label) if table.row_header in NAMED else label,
            **{c: ("" if v is None else v) for c, v in zip(table.columns, cells, strict=True)},
        }
        for label, cells in table.rows
    ]


async def publish_report(report: Report, programme: str | None = None) -> list[str]:
    """Publish each table of a suppressed report (a wide one in parts, ``...-part-2``); for
    targets also the progress chart."""
    prefix = ["report", report.name, *([programme] if programme else [])]
    keys = []
    for table in report.tables:
        parts = fit(table, MAX_COLUMNS)
        for number, part in enumerate(parts, 1):
            suffix = [f"part-{number}"] if len(parts) > 1 else []
            description = report_description(report, part, (number, len(parts)))
            key = artifact_key(*prefix, table.title, *suffix)
            keys.append(await publish_table(key, table_rows(part), description))
    if report.name == "targets":
        keys.append(await publish_chart(report, artifact_key(*prefix, "chart")))
    return keys


def report_description(report: Report, table: Table, part: tuple[int, int] = (1, 1)) -> str:
    """The markdown description of one of a report's tables: title, table, notes, escaped."""
    which = f" (part {part[0]} of {part[1]})" if part[1] > 1 else ""
    return for_markdown(f"{report.title}: {table.title}{which}. {' '.join(report.notes)}")


def chart_markdown(report: Report) -> str:
    """The progress chart's markdown: an escaped heading over the SVG as a data URL."""
    encoded = base64.b64encode(progress_svg(report).encode("utf-8")).decode("ascii")
    image = f"![progress against targets](data:image/svg+xml;base64,{encoded})"
    return f"## {for_markdown(report.title)}\n\n{image}\n"


async def publish_chart(report: Report, key: str) -> str:
    """The progress-against-targets chart as an SVG image inside a markdown artifact."""
    await acreate_markdown_artifact(
        markdown=chart_markdown(report), key=key, description=for_markdown(report.title)
    )
    return key


def _markdown_table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _counts(row: MailDay) -> list[str]:
    return [str(getattr(row, column)) for column in COLUMNS]


def mail_flow_markdown(found: MailStats) -> str:
    """The ``mail-flow`` artifact: whether mail is stopped, the days' totals, a chart of queued
    against sent, and the days by kind (template names): counts only, nothing about anyone."""
    # The line is ours alone (counts, times, the configured zone's IANA name): not escaped.
    said = f"**{found.stopped.line()}**" if found.stopped else "Mail is flowing."
    days = [[row.day.isoformat(), *_counts(row)] for row in found.totals]
    kinds = [[row.day.isoformat(), row.kind, *_counts(row)] for row in found.rows]
    encoded = base64.b64encode(mail_svg(found.totals).encode("utf-8")).decode("ascii")
    return "\n".join(
        [
            f"## Mail queued {found.first_day} to {found.last_day}",
            "",
            said,
            "",
            *_markdown_table(["day", *COLUMNS], days),
            "",
            f"![mail queued and sent per day](data:image/svg+xml;base64,{encoded})",
            "",
            "### By kind",
            "",
            *(_markdown_table(["day", "kind", *COLUMNS], kinds) if kinds else ["No mail."]),
            "",
            "Each email counts on the day it was queued: queued = sent + waiting + dead + "
            "dropped; refused: emails with a recipient refused for good.",
            "",
        ]
    )


def mail_svg(totals: list[MailDay], height: int = 160) -> str:
    """A small bar chart: per day, the mail queued (grey) and, over it, the mail sent (blue)."""
    top = max([row.queued for row in totals] + [1])
    step, bottom = 44, height - 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{20 + step * len(totals)}" '
        f'height="{height}" font-family="sans-serif" font-size="11">'
    ]
    for i, row in enumerate(totals):
        x = 20 + i * step
        for value, colour, inset in ((row.queued, "#dde3ea", 0), (row.sent, "#2e6da4", 6)):
            h = round((bottom - 16) * value / top)
            tip = f"<title>{escape(f'{row.day}: {value}')}</title>"
            parts.append(
                f'<rect x="{x + inset}" y="{bottom - h}" width="{30 - 2 * inset}" height="{h}" '
                f'fill="{colour}">{tip}</rect>'
            )
        parts.append(f'<text x="{x}" y="{height - 8}">{row.day:%m-%d}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


async def publish_mail_flow(found: MailStats) -> str:
    """Publish the mail's counts as the newest version of the ``mail-flow`` artifact."""
    description = "Mail queued, sent, refused and dead per day and kind; whether it has stopped"
    await acreate_markdown_artifact(
        markdown=mail_flow_markdown(found), key=MAIL_FLOW, description=description
    )
    return MAIL_FLOW


async def publish_markdown(key: str, markdown: str, description: str) -> str:
    """Publish ``markdown`` (built from our own words and counts) under ``key``."""
    await acreate_markdown_artifact(markdown=markdown, key=key, description=description)
    return key


def markdown_table(table: Table) -> list[str]:
    """A suppressed table as markdown lines (row labels and columns as stage names)."""
    head = [table.row_header, *(str(named(c)) for c in table.columns)]
    lines = [_line(head), "|" + "---|" * len(head)]
    for label, cells in table.rows:
        lines.append(_line([str(named(label)), *("" if c is None else str(c) for c in cells)]))
    return lines


def _line(cells: list[Any]) -> str:
    return "| " + " | ".join(for_markdown(c) for c in cells) + " |"


def suppressed_rows(table: Table) -> list[Row]:
    """A suppressed table as table-artifact rows, stage and status codes named."""
    return [
        {
            table.row_header: named(label),
            **{str(named(c)): v for c, v in zip(table.columns, cells, strict=True)},
        }
        for label, cells in table.rows
    ]


# -- the landing overview ---------------------------------------------------------------------


@dataclass(frozen=True)
class SweepSeen:
    """The latest ``sweep-due-items`` run that ended: when, and in which state."""

    at: datetime
    state: str


async def last_sweep() -> SweepSeen | None:
    """The latest ended run of the hourly sweep, as Prefect recorded it; None if it never ran."""
    ended = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]
    async with get_client() as client:
        found = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[SWEEP])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ended))
            ),
            sort=FlowRunSort.END_TIME_DESC,
            limit=1,
        )
    if not found or found[0].end_time is None:
        return None
    return SweepSeen(found[0].end_time, found[0].state_name or "?")


def _when(moment: datetime | None) -> str:
    return f"{utc(moment).astimezone(get_settings().tz):%Y-%m-%d %H:%M}" if moment else "never"


def _link(key: str, title: str) -> str:
    ui = PREFECT_UI_URL.value()
    return f"[{title}]({ui.rstrip('/')}/artifacts/key/{key})" if ui else f"{title} (`{key}`)"


def overview_markdown(
    found: Overview, *, stuck: int, stuck_after_days: int, sweep: SweepSeen | None
) -> str:
    """The ``homeward-overview`` artifact: what needs attention, mail today, the scheduled
    runs, the caseload by stage and status, and links to the rest of the pinned set."""
    mail, k = found.mail, found.k
    sweep_said = f"{_when(sweep.at)}, {sweep.state}" if sweep else "never"
    lines = [
        "# Homeward overview",
        "",
        f"Counts at {_when(found.at)} ({get_settings().timezone}), every organisation. "
        f"Cases are counted, never described: caseload counts under {k} show as `<{k}`, and "
        "`x` is withheld so that a small count cannot be worked out.",
        "",
        "## Needs attention",
        "",
        "| What | Count |",
        "|---|---|",
        f"| Overdue checklist items | {found.waiting('overdue_items')} |",
        f"| Overdue and escalated to a supervisor | {found.waiting('escalated')} |",
        f"| Closures waiting for a supervisor | {found.waiting('closures_waiting')} |",
        f"| Reintegration plans waiting for approval | {found.waiting('plans_waiting')} |",
        f"| Cases in one stage for more than {stuck_after_days} days | {stuck} |",
        "",
        "## Mail today",
        "",
        "| Queued | Sent | Waiting | Refused | Dead |",
        "|---|---|---|---|---|",
        f"| {mail.queued} | {mail.sent} | {mail.waiting} | {mail.refused} | {mail.dead} |",
        "",
        "## Scheduled runs",
        "",
        "| Run | Last |",
        "|---|---|",
        f"| Sweep of due items (hourly) | {sweep_said} |",
        f"| Reminders worked out (once a day) | {_when(found.reminders_ran_at)} |",
        "",
        "## Caseload by stage and status",
        "",
        *markdown_table(found.by_stage),
        "",
        "## More",
        "",
        *(f"- {_link(key, title)}" for key, title in PINNED_TITLES.items()),
        "",
    ]
    return "\n".join(lines)


PINNED_TITLES = {
    CASELOAD_BY_STAGE: "Caseload by stage and status",
    CASELOAD_BY_OWNER: "Caseload by owner organisation and status",
    WORK_WAITING: "Work waiting, per organisation",
    STUCK_CASES: "Cases stuck in a stage",
}
