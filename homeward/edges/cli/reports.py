"""``homeward programme``, ``homeward report`` and ``homeward export``: programmes and targets,
suppressed aggregate reports, and the audited case-level HTCDS export."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from homeward.base.errors import InvalidInput
from homeward.base.files import write_private
from homeward.commands import reports as cmd
from homeward.commands.runner import run
from homeward.edges.cli.cases import parse_pairs
from homeward.edges.cli.common import console, credential, state
from homeward.records.directory import validate
from homeward.reporting import programmes, render
from homeward.reporting.htcds import FIELDS

programme_app = typer.Typer(help="Programmes (grants) and their targets.", no_args_is_help=True)
report_app = typer.Typer(help="Aggregate reports, small cells suppressed.", no_args_is_help=True)
export_app = typer.Typer(help="Case-level exports (audited).", no_args_is_help=True)


@programme_app.command("add")
def programme_add(
    code: str,
    name: str = typer.Option(..., help="the programme's name"),
    donor: str = typer.Option(..., help="who funds it"),
    starts_on: str = typer.Option(..., "--from", help="first day, YYYY-MM-DD"),
    ends_on: str = typer.Option(..., "--to", help="last day, YYYY-MM-DD"),
    target: list[str] = typer.Option([], help="indicator=number, e.g. --target returned=25"),
) -> None:
    """Register a programme run by your organisation, with its targets."""
    goals = {key: _int(value, "--target") for key, value in parse_pairs(target, "--target").items()}
    programme_in = validate(
        programmes.ProgrammeIn,
        code=code,
        name=name,
        donor=donor,
        starts_on=starts_on,
        ends_on=ends_on,
        targets=goals,
    )
    made = run(cmd.AddProgramme(programme_in), credential(), clock=state.clock)
    console.print(f"programme {made.code} added ({made.targets} target(s))")


def _int(value: str, option: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{option}: {value!r} is not a whole number") from None


@programme_app.command("list")
def programme_list() -> None:
    """Your organisation's programmes and their targets."""
    found = run(cmd.ListProgrammes(), credential(), clock=state.clock)
    table = Table("code", "name", "donor", "period", "targets", "cases")
    for p in found:
        goals = ", ".join(f"{k}={v}" for k, v in p.targets.items())
        period = f"{p.starts_on} to {p.ends_on}"
        table.add_row(p.code, p.title, p.donor, period, goals, str(p.cases))
    console.print(table)


@programme_app.command("enrol")
def programme_enrol(code: str, case_refs: list[str]) -> None:
    """Count cases towards a programme (cases your organisation takes part in)."""
    done = run(cmd.EnrolCases(code, tuple(case_refs)), credential(), clock=state.clock)
    added = done.added
    console.print(f"{len(added)} case(s) enrolled in {code}: {', '.join(added) or 'none new'}")


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option}: use a date like 2026-01-31") from None


def _report(
    name: str,
    programme: str | None,
    start: str | None,
    end: str | None,
    fmt: str,
    out: Path | None,
    k: int | None,
    chart: Path | None = None,
) -> None:
    if fmt not in render.FORMATS:
        raise InvalidInput(f"--format: use one of {', '.join(render.FORMATS)}")
    if fmt == "xlsx" and out is None:
        raise InvalidInput("--out: an xlsx report needs a file, e.g. --out report.xlsx")
    asked = cmd.RunReport(name, programme, _day(start, "--from"), _day(end, "--to"), k)
    report = run(asked, credential(), clock=state.clock)
    render.write(report, fmt, out, console)
    if chart is not None:
        write_private(chart, render.progress_svg(report))
    if out is not None:
        console.print(f"{name} report written to {out}")


PROGRAMME = typer.Option(None, "--programme", help="programme code (default: your org's cases)")
FROM = typer.Option(None, "--from", help="first day counted, YYYY-MM-DD")
TO = typer.Option(None, "--to", help="last day counted, YYYY-MM-DD")
FORMAT = typer.Option("table", "--format", help="table, csv, json or xlsx")
OUT = typer.Option(None, "--out", help="write to this file")
K = typer.Option(None, "--k", help="suppress counts under k (default and minimum: settings)")


@report_app.command("targets")
def report_targets(
    programme: str = typer.Option(..., "--programme", help="programme code"),
    start: str = FROM,
    end: str = TO,
    fmt: str = FORMAT,
    out: Path = OUT,
    k: int = K,
    chart: Path = typer.Option(None, "--chart", help="also draw progress as SVG to this file"),
) -> None:
    """Progress against each target, by sex, age band, exploitation and country."""
    _report("targets", programme, start, end, fmt, out, k, chart)


# The reports on the common options, in the order they were registered (services and
# sustainability last, as when plan.py and visits.py added them, issue 16): name and help.
COMMON_REPORTS = {
    "stages": "Median and 90th-percentile days spent in each stage.",
    "overdue": "Overdue checklist items per organisation: where work is stuck.",
    "closures": "Closure reasons, by sex, age band, exploitation and country.",
    "services": "Services delivered by type and provider; budget planned vs spent (per programme).",
    "sustainability": (
        "Sustainability scores at 3 and 6 months after arrival (IOM RSS, simplified)."
    ),
}


def _add_common_reports() -> None:
    for name, help_text in COMMON_REPORTS.items():
        _add_common_report(name, help_text)


def _add_common_report(name: str, help_text: str) -> None:
    def command(
        programme: str = PROGRAMME,
        start: str = FROM,
        end: str = TO,
        fmt: str = FORMAT,
        out: Path = OUT,
        k: int = K,
    ) -> None:
        _report(name, programme, start, end, fmt, out, k)

    command.__name__ = command.__qualname__ = f"report_{name}"
    command.__doc__ = help_text
    report_app.command(name)(command)


_add_common_reports()


@export_app.command("htcds")
def export_htcds_cmd(
    out: Path = typer.Option(..., "--out", help="CSV file to write"),
) -> None:
    """Your organisation's cases in the HTCDS layout (supervisors and managers; audited)."""
    rows = run(cmd.ExportHtcds(), credential(), clock=state.clock)
    write_private(out, render.rows_to_csv(rows, FIELDS))
    console.print(f"{len(rows)} case(s) exported to {out} (HTCDS layout)")
