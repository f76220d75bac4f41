"""Opening an import file someone else made: whatever it holds, one clear line or its cells.

The file comes from outside (another system's export, a spreadsheet mailed around), so nothing
in it is trusted: a file of the wrong kind, in another encoding, with NUL bytes, a field past
the CSV limit, a damaged or oversized workbook (a zip bomb) are each refused as ``FILE: ...``
(exit 2), never as an unexpected failure. Reasons never quote the file: it holds personal data.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from homeward.base.errors import InvalidInput

MAX_FILE_BYTES = 50 * 1024 * 1024  # far above any caseload: 10,000 rows are about 1 MB
MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # an XLSX is a zip: what it unpacks to, all members
MAX_CELL_CHARS = 5_000  # the longest column (notes) holds 5,000 characters
SAVE_AS = "save it from your spreadsheet as CSV UTF-8 (.csv) or Excel workbook (.xlsx)"
# What openpyxl and zipfile raise on a damaged workbook (none of them is a Homeward bug).
_DAMAGED = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    InvalidFileException,
    ParseError,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    AttributeError,
    EOFError,
    OSError,
    NotImplementedError,
)


def read_table(path: Path) -> list[list[Any]]:
    """The rows of a .csv or .xlsx file (header first), or ``InvalidInput`` saying why not."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InvalidInput(f"FILE: {path} does not exist")
    if suffix not in (".csv", ".xlsx"):
        raise InvalidInput("FILE: use a .csv or .xlsx file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InvalidInput(f"FILE: larger than {MAX_FILE_BYTES // 2**20} MB; split it")
    return _csv(path.read_bytes()) if suffix == ".csv" else _xlsx(path)


def _csv(data: bytes) -> list[list[Any]]:
    if b"\x00" in data:
        raise InvalidInput(f"FILE: holds NUL bytes (binary, or UTF-16), not CSV text; {SAVE_AS}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"FILE: not UTF-8 text; {SAVE_AS}") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error:
        raise InvalidInput(
            f"FILE: not a well-formed CSV (line {reader.line_num}: a quote or a field "
            f"past {csv.field_size_limit():,} characters); {SAVE_AS}"
        ) from None
    return rows


def _xlsx(path: Path) -> list[list[Any]]:
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:
            raise InvalidInput(
                f"FILE: the workbook unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MB; "
                "split it"
            )
        book = load_workbook(path, read_only=True, data_only=True)
        try:
            if not book.worksheets:
                raise InvalidInput("FILE: the workbook has no sheet; put the cases on the first")
            return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
        finally:
            book.close()
    except _DAMAGED:
        raise InvalidInput(f"FILE: not a readable Excel workbook; {SAVE_AS}") from None
