"""``homeward visit``: record a follow-up visit with its monitoring form, list a case's visits,
show one (texts and answers, each read audited), print the form's questions; and
``homeward report sustainability`` (scores at 3 and 6 months, small cells suppressed)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from homeward.base.errors import InvalidInput
from homeward.commands import visits as cmd
from homeward.commands.runner import run
from homeward.edges.cli import texts
from homeward.edges.cli.common import (
    console,
    credential,
    expect_version_option,
    for_terminal,
    local_day,
    request_id_option,
    state,
)
from homeward.edges.cli.items import parse_day
from homeward.edges.cli.notes import shown
from tasks.sustainability import DECLINED, QUESTIONS

visit_app = typer.Typer(help="Follow-up visits and their monitoring form.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``homeward visit ...``."""
    app.add_typer(visit_app, name="visit")


def _answers(path: str | None, pairs: list[str]) -> tuple[tuple[str, str], ...]:
    """The answers from ``--answers FILE.json`` (an object) and ``--answer key=code``."""
    given: dict[str, str] = {}
    if path is not None:
        try:
            loaded = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            raise InvalidInput(
                "--answers: cannot read it as a JSON object of question: answer; "
                "see `homeward visit questions`"
            ) from None
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise InvalidInput("--answers: give a JSON object of question: answer (both text)")
        given.update(loaded)
    for pair in pairs:
        key, sep, code = pair.partition("=")
        if not sep:
            raise InvalidInput("--answer: write it as question=answer, e.g. food_security=never")
        given[key.strip()] = code.strip()
    return tuple(sorted(given.items()))


def _text(name: str, inline: str | None, file: str | None) -> str | None:
    return texts.FreeText(name, inline, file, False).read()


@visit_app.command("record")
def visit_record(
    case_ref: str,
    on: str = typer.Option(..., "--on", help="the visit's day, YYYY-MM-DD (not in the future)"),
    mode: str = typer.Option(..., "--mode", help="home, office or phone"),
    attended: str | None = typer.Option(None, help="who attended (stored encrypted)"),
    attended_file: str | None = texts.file_option("attended"),
    safety_concern: bool = typer.Option(
        False, "--safety-concern/--no-safety-concern", help="a safety concern came up"
    ),
    safety_note: str | None = typer.Option(None, help="what the concern is (stored encrypted)"),
    safety_note_file: str | None = texts.file_option("safety-note"),
    progress: str | None = typer.Option(
        None, help="the plan's progress: on_track, partly, off_track or no_plan"
    ),
    progress_note: str | None = typer.Option(None, help="about the progress (stored encrypted)"),
    progress_note_file: str | None = texts.file_option("progress-note"),
    answers: str | None = typer.Option(
        None, "--answers", help="a JSON file of question: answer (`homeward visit questions`)"
    ),
    answer: list[str] = typer.Option([], "--answer", help="one answer, question=answer"),
    item: int | None = typer.Option(
        None, "--item", help="the follow-up item visited (default: your earliest open one)"
    ),
    expect_version: int = expect_version_option(),
    request_id: str = request_id_option(),
) -> None:
    """Record a follow-up visit; it records its follow-up item done."""
    command = cmd.RecordVisit(
        case_ref,
        parse_day(on, "--on"),
        mode,
        _text("attended", attended, attended_file),
        safety_concern,
        _text("safety-note", safety_note, safety_note_file),
        progress,
        _text("progress-note", progress_note, progress_note_file),
        _answers(answers, answer),
        item,
        expect_version,
    )
    done = run(command, credential(), key=request_id, clock=state.clock)
    what = f"; item #{done.item_id} {done.item_code} done" if done.item_id else ""
    console.print(f"visit {done.visit_id} recorded on case {done.case_ref}{what}")
    if done.composite is not None:
        verdict = "sustainable" if done.sustainable else "not yet sustainable"
        console.print(f"sustainability score {done.composite} ({verdict})")
    if done.safety_concern:
        console.print(
            "SAFETY CONCERN reported: consider suspending the case: "
            f"homeward case advance {done.case_ref} suspend --set reason=safety_incident",
            style="bold red",
        )


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


@visit_app.command("list")
def visit_list(case_ref: str) -> None:
    """A case's follow-up visits, latest first, with their scores (for readers of its notes)."""
    view = run(cmd.ListVisits(case_ref), credential(), clock=state.clock)
    table = Table(
        "#", "day", "mode", "by", "item", "safety", "progress", "econ", "social", "psy", "score"
    )
    for v in view.visits:
        table.add_row(
            str(v.visit_id),
            v.visited_on.isoformat(),
            v.mode,
            v.org,
            v.item_code or "",
            "CONCERN" if v.safety_concern else "",
            v.progress or "",
            *(_score(s) for s in (v.economic, v.social, v.psychosocial, v.composite)),
        )
    console.print(table)
    if view.safety_concern:
        console.print("the latest visit reported a safety concern: consider suspending the case")
    for f in view.follow_ups:
        console.print(f"open: item #{f.item_id} {f.code} ({f.owner}), due {local_day(f.due_at)}")


@visit_app.command("show")
def visit_show(visit_id: int) -> None:
    """One visit with who attended, its notes and answers (each read audited)."""
    visit = run(cmd.ShowVisit(visit_id), credential(), clock=state.clock)
    line = visit.line
    table = Table(show_header=False, title=f"visit {line.visit_id}")
    rows = [
        ("case", visit.case_ref),
        ("day", line.visited_on.isoformat()),
        ("mode", line.mode),
        ("by", line.org),
        ("item", line.item_code or ""),
        ("safety concern", "YES" if line.safety_concern else "no"),
        ("progress", line.progress or ""),
        ("scores", " / ".join(_score(s) or "-" for s in _scores(line)) if line.readable else ""),
    ]
    for key, value in rows:
        if value:
            table.add_row(key, value)
    for text in visit.texts:
        table.add_row(text.label, shown(text))
    for a in visit.answers or []:
        table.add_row(for_terminal(a.question), a.answer)
    console.print(table, markup=False)


def _scores(line: cmd.VisitLine) -> tuple[float | None, ...]:
    return (line.economic, line.social, line.psychosocial, line.composite)


@visit_app.command("questions")
def visit_questions() -> None:
    """The monitoring form: each question's key, dimension, weight and allowed answers."""
    for q in QUESTIONS:
        console.print(f"{q.key} ({q.dimension}, weight {q.weight}): {q.text}")
        for c in q.choices:
            console.print(f"  {c.code} = {c.label} (score {c.score:g})")
        console.print(f"  {DECLINED} = no answer (not scored)")
