"""Publishing the dashboard as Prefect artifacts under stable keys (lower case and dashes).

A key names what an artifact shows, so each publication becomes the newest version of the
same artifact: ``caseload-by-stage``, ``overdue-items-by-org``, ``stuck-cases``,
``case-rt-7kq2-m9-timeline``, ``report-<name>[-<programme>]-<table>``,
``report-targets-<programme>-chart`` and ``mail-flow``. Everything published is counts, codes,
case_refs and dates, or an already suppressed report. Prefect renders descriptions and
markdown artifacts as markdown: a report's title carries a programme's name and donor as people
typed them, so it is escaped there (``for_markdown``); table cells lose their control
characters.
"""

from __future__ import annotations

import base64
import re
from html import escape

from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from homeward.base.text import for_markdown, printable
from homeward.commands.mail import MailStats
from homeward.reporting.caseload import Row
from homeward.reporting.render import progress_svg
from homeward.reporting.tables import Report, Table
from notifications.stats import COLUMNS, MailDay

_NOT_KEY = re.compile(r"[^a-z0-9]+")
MAIL_FLOW = "mail-flow"


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key from ``parts``: lower case, dashes, nothing else."""
    return _NOT_KEY.sub("-", "-".join(parts).lower()).strip("-")


def timeline_key(case_ref: str) -> str:
    """The key of a case's timeline, e.g. ``case-rt-7kq2-m9-timeline``."""
    return artifact_key("case", case_ref, "timeline")


async def publish_table(key: str, rows: list[Row], description: str) -> str:
    """Publish ``rows`` as the newest version of table artifact ``key``; return the key."""
    await acreate_table_artifact(table=_cleaned(rows), key=key, description=description)
    return key


def _cleaned(rows: list[Row]) -> list[Row]:
    return [
        {printable(k): printable(v) if isinstance(v, str) else v for k, v in row.items()}
        for row in rows
    ]


async def publish_timeline(case_ref: str, rows: list[Row]) -> str:
    """Publish a case's stages and the days it entered them."""
    return await publish_table(
        timeline_key(case_ref), rows, f"Case {case_ref}: stages and the days they were entered"
    )


def table_rows(table: Table) -> list[Row]:
    """A report table as rows of ``{row header: label, column: cell}`` (cells as published)."""
    return [
        {
            table.row_header: label,
            **{c: ("" if v is None else v) for c, v in zip(table.columns, cells, strict=True)},
        }
        for label, cells in table.rows
    ]


async def publish_report(report: Report, programme: str | None = None) -> list[str]:
    """Publish each table of a suppressed report; for targets also the progress chart."""
    prefix = ["report", report.name, *([programme] if programme else [])]
    keys = []
    for table in report.tables:
        description = report_description(report, table)
        key = artifact_key(*prefix, table.title)
        keys.append(await publish_table(key, table_rows(table), description))
    if report.name == "targets":
        keys.append(await publish_chart(report, artifact_key(*prefix, "chart")))
    return keys


def report_description(report: Report, table: Table) -> str:
    """The markdown description of one of a report's tables: title, table, notes, escaped."""
    return for_markdown(f"{report.title}: {table.title}. {' '.join(report.notes)}")


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
