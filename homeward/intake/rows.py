"""Reading and validating an import file: every bad row reported, nothing personal in reasons.

Row numbers are the spreadsheet's (the header is row 1). A reason names the column and what it
needs, never the value found there: the file holds personal data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from homeward.base.bulk import collection_paused
from homeward.base.countries import check_country
from homeward.base.errors import InvalidInput
from homeward.intake.reading import MAX_CELL_CHARS, read_table
from homeward.protection.vault import PersonIn
from homeward.reporting.dimensions import age_on

PERSON_COLUMNS = (
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "phone",
    "home_address",
    "exploitation_form",
)
CASE_COLUMNS = ("external_id", "is_minor", "host_country", "opened_on", "ngo", "dgaspc")
COLUMNS = (*CASE_COLUMNS, *PERSON_COLUMNS)
REQUIRED = ("external_id", "given_name", "family_name")


class CaseRow(BaseModel):
    """One row: the case facts and the person (``PersonIn`` rules apply to its columns)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._/-]+$")
    is_minor: bool = False
    host_country: str | None = Field(default=None, description="ISO 3166-1 alpha-2 code")
    opened_on: date | None = None
    ngo: str | None = None
    dgaspc: str | None = None
    person: PersonIn

    @field_validator("host_country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return check_country(value) if value else None


@dataclass(frozen=True)
class BadRow:
    """A problem in one row: its number in the file, the column, and why."""

    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.reason}"


@dataclass(frozen=True)
class GoodRow:
    row: int
    case: CaseRow


def read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    """The checked header and the numbered data rows of a .csv or .xlsx file."""
    lines = read_table(path)
    if not lines:
        raise InvalidInput("FILE: the file is empty; the first row must name the columns")
    header = [str(h or "").strip().lower() for h in lines[0]]
    check_header(header)
    return header, ((n, r) for n, r in enumerate(lines[1:], start=2) if any(_cell(v) for v in r))


def check_header(header: list[str]) -> None:
    """Refuse unknown or missing columns before looking at any row."""
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in REQUIRED if c not in header]
    if unknown or missing:
        problems = [f"unknown column {h[:40]!r}" for h in unknown[:5]]  # never a whole row 1
        problems += [f"missing {c}" for c in missing]
        raise InvalidInput(f"row 1: {'; '.join(problems)}; columns are {', '.join(COLUMNS)}")


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip() or None
    if hasattr(value, "date") and callable(value.date):  # xlsx datetimes: keep the day
        return value.date()
    return value


def parse_row(
    number: int, header: list[str], values: list[Any], *, today: date
) -> GoodRow | list[BadRow]:
    """Validate one row (``today``: the local day of the import); problems name columns only."""
    raw = {h: _cell(v) for h, v in zip(header, values, strict=False) if _cell(v) is not None}
    unsafe = [BadRow(number, c, why) for c, v in raw.items() if (why := _unsafe(v))]
    if unsafe:
        return unsafe
    person = {c: raw.pop(c) for c in PERSON_COLUMNS if c in raw}
    try:
        row = CaseRow.model_validate({**raw, "person": person})
    except ValidationError as exc:
        return [_bad(number, error) for error in exc.errors()]
    problem = _row_problem(row, today)
    return [BadRow(number, *problem)] if problem else GoodRow(number, row)


_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# One search a cell instead of a lookup a character: the control characters (Unicode's
# category Cc, which the standard keeps as it is: U+0000-U+001F and U+007F-U+009F) and the
# text-direction overrides (``_BIDI``).
_CONTROL_OR_BIDI = re.compile("[\x00-\x1f\x7f-\x9f" + "".join(sorted(_BIDI)) + "]")


def _unsafe(value: Any) -> str | None:
    """Why a cell cannot be taken as it is: control characters, or longer than any column."""
    if not isinstance(value, str):
        return None
    if len(value) > MAX_CELL_CHARS:
        return f"longer than {MAX_CELL_CHARS:,} characters"
    if _CONTROL_OR_BIDI.search(value):
        return "holds control characters or text-direction overrides; retype the cell"
    return None


def _bad(number: int, error: Any) -> BadRow:
    column = str(error["loc"][-1]) if error["loc"] else "row"
    return BadRow(number, column, str(error["msg"]).removeprefix("Value error, "))


def _row_problem(row: CaseRow, today: date) -> tuple[str, str] | None:
    """Problems across columns: dates in the future, a minor not marked as one."""
    if row.opened_on and row.opened_on > today:
        return "opened_on", "the date is in the future"
    birth, day = row.person.birth_date, row.opened_on or today
    if birth is None:
        return None
    if birth > day:
        return "birth_date", "the birth date is after the date the case was opened"
    if age_on(birth, day) < 18 and not row.is_minor:
        return "is_minor", "the birth date makes the person a minor; set is_minor to yes"
    return None


def validate_file(
    path: Path, *, today: date, on_row: Callable[[], None] | None = None
) -> tuple[list[GoodRow], list[BadRow]]:
    """Every row validated: the good ones, and every problem of the bad ones (in row order).

    ``today`` is the local day (``homeward.base.clock.local_date``) no date may come after.
    """
    with collection_paused():  # the file's cells too: they live on to the import
        header, numbered = read_rows(path)
        return validate_rows(header, numbered, today=today, on_row=on_row)


def validate_rows(
    header: list[str],
    numbered: Iterator[tuple[int, list[Any]]],
    *,
    today: date,
    on_row: Callable[[], None] | None = None,
) -> tuple[list[GoodRow], list[BadRow]]:
    """``validate_file`` for rows already read (``read_rows``), Python's garbage collector
    waiting meanwhile (the rows live on to the import: ``bulk.collection_paused``)."""
    with collection_paused():
        return _validate_rows(header, numbered, today=today, on_row=on_row)


def _validate_rows(
    header: list[str],
    numbered: Iterator[tuple[int, list[Any]]],
    *,
    today: date,
    on_row: Callable[[], None] | None,
) -> tuple[list[GoodRow], list[BadRow]]:
    check_header(header)
    good: list[GoodRow] = []
    bad: list[BadRow] = []
    seen: dict[str, int] = {}
    for number, values in numbered:
        parsed = parse_row(number, header, values, today=today)
        if isinstance(parsed, list):
            bad.extend(parsed)
        elif parsed.case.external_id in seen:
            first = seen[parsed.case.external_id]
            bad.append(BadRow(number, "external_id", f"the same external_id as row {first}"))
        else:
            seen[parsed.case.external_id] = number
            good.append(parsed)
        if on_row is not None:
            on_row()
    return good, bad
