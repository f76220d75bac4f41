"""Publishing the dashboard as Prefect artifacts under stable keys (lower case and dashes).

A key names what an artifact shows, so each publication becomes the newest version of the
same artifact: ``caseload-by-stage``, ``overdue-items-by-org``, ``stuck-cases``,
``case-rt-7kq2-m9-timeline``, ``report-<name>[-<programme>]-<table>`` and
``report-targets-<programme>-chart``. Everything published is counts, codes, case_refs and
dates, or an already suppressed report. Prefect renders descriptions and markdown artifacts
as markdown: a report's title carries a programme's name and donor as people typed them, so
it is escaped there (``for_markdown``); table cells lose their control characters.
"""

from __future__ import annotations

import base64
import re

from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from homeward.base.text import for_markdown, printable
from homeward.reporting.caseload import Row
from homeward.reporting.render import progress_svg
from homeward.reporting.tables import Report, Table

_NOT_KEY = re.compile(r"[^a-z0-9]+")


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
