"""``homeward import cases``: bring an existing caseload in from a CSV or XLSX file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from homeward.base.bulk import collection_paused
from homeward.base.clock import local_date
from homeward.commands.imports import ImportCases
from homeward.commands.runner import run
from homeward.edges.cli.common import console, credential, err_console, state
from homeward.intake.load import BadRows
from homeward.intake.rows import read_rows, validate_rows
from homeward.protection.identity import SessionToken

import_app = typer.Typer(help="Import existing cases.", no_args_is_help=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        transient=True,
    )


@import_app.command("cases")
def import_cases(
    file: Path = typer.Argument(..., help="a .csv or .xlsx file, header in the first row"),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="import the good rows anyway"),
) -> None:
    """Validate every row, then import them all (or, with --skip-bad, the good ones).

    Re-running with the same file imports nothing twice: rows are matched by external_id.
    """
    signed_in = credential()  # signed out: refused before the file is read
    with collection_paused():  # from the file's cells to the commit (``bulk``: why)
        _import(file, signed_in, skip_bad)


def _import(file: Path, signed_in: SessionToken, skip_bad: bool) -> None:
    header, numbered = read_rows(file)  # a file that is no table: one line, before any bar
    with _progress() as bar:
        checking = bar.add_task("checking rows", total=None)
        today = local_date(state.clock.now())
        good, bad = validate_rows(
            header, numbered, today=today, on_row=lambda: bar.advance(checking)
        )
        saving = bar.add_task("importing", total=len(good))
        step = ImportCases(good, bad, skip_bad, lambda n: bar.advance(saving, n))
        try:
            outcome = run(step, signed_in, clock=state.clock)
        except BadRows as exc:
            bar.stop()
            for problem in exc.rows:
                err_console.print(str(problem), markup=False, highlight=False)
            raise
    for problem in outcome.skipped:
        err_console.print(f"skipped {problem}", markup=False, highlight=False)
    console.print(
        f"{len(outcome.imported)} case(s) imported, {outcome.already} already imported, "
        f"{len({b.row for b in outcome.skipped})} bad row(s) skipped"
    )
