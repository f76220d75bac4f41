"""Hostile import files: each refused with one line and exit 2, never an unexpected failure."""

from __future__ import annotations

import io
import sys
import unicodedata
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from homeward.intake.rows import _BIDI, _unsafe
from tests import factories as f
from tests.cli.runner import run_cli

HEADER = "external_id,given_name,family_name\n"
FIXED = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _workbook_with_a_broken_sheet() -> bytes:
    buffer = io.BytesIO()
    Workbook().save(buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source:
        members = {name: source.read(name) for name in source.namelist()}
    members["xl/worksheets/sheet1.xml"] = b"<worksheet><sheetData><row><c r='A1"
    return _zip(members)


HOSTILE = {
    "empty.csv": b"",
    "empty.xlsx": b"",
    "latin-1.csv": (HEADER + "A1,Jos\xe9,X\n").encode("latin-1"),
    "utf-16.csv": (HEADER + "A1,Jo,X\n").encode("utf-16"),
    "nul.csv": (HEADER + "A1,Jo\x00e,X\n").encode(),
    "huge-field.csv": (HEADER + "A1," + "x" * 200_000 + ",X\n").encode(),
    "open-quote.csv": (HEADER + 'A1,"Jo,X\n').encode(),
    "text.xlsx": HEADER.encode(),
    "csv-named.txt": HEADER.encode(),
    "no-suffix": HEADER.encode(),
    "junk-zip.xlsx": _zip({"[Content_Types].xml": b"junk"}),
    "empty-zip.xlsx": _zip({}),
    "bomb.xlsx": _zip({"xl/worksheets/sheet1.xml": b"<" * (210 * 1024 * 1024)}),
    "broken-sheet.xlsx": _workbook_with_a_broken_sheet(),
    "truncated.xlsx": _workbook_with_a_broken_sheet()[:400],
}


def _import(capsys, monkeypatch, path: Path):
    return run_cli(capsys, monkeypatch, "--as", f.COORD, "import", "cases", str(path))


def _one_clear_line(result) -> None:
    assert result.code == 2, result.err
    assert result.err.startswith("error: FILE: ") or result.err.startswith("error: row 1: ")
    assert result.err.count("\n") == 1 and "unexpected" not in result.err


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_malformed_file_is_one_line_and_exit_2(db_url, tmp_path, capsys, monkeypatch, name):
    f.seed()
    path = tmp_path / name
    path.write_bytes(HOSTILE[name])
    _one_clear_line(_import(capsys, monkeypatch, path))


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_random_bytes_are_refused_in_one_line(db_url, tmp_path, capsys, monkeypatch, suffix):
    f.seed()
    tried = []

    @FIXED
    @given(data=st.binary(max_size=2048))
    def check(data: bytes) -> None:
        path = tmp_path / f"random{suffix}"
        path.write_bytes(data)
        tried.append(data)
        _one_clear_line(_import(capsys, monkeypatch, path))

    check()
    assert len(tried) >= 100


@pytest.mark.parametrize("junk", ["\x1b[31m", "\u202e", "\x07", "\x0b"])
def test_control_characters_in_a_cell_are_a_bad_row(db_url, tmp_path, capsys, monkeypatch, junk):
    f.seed()
    path = tmp_path / "cases.csv"
    path.write_text(HEADER + f"A1,Jo{junk}hn,Smith\nA2,Ana,Pop\n", encoding="utf-8")
    refused = _import(capsys, monkeypatch, path)
    assert refused.code == 2
    assert "row 2, column given_name: holds control characters" in refused.err
    assert junk not in refused.err


def test_the_cells_control_check_is_unicodes_control_category():
    """The one search a cell finds exactly Unicode's control characters (category Cc) and the
    text-direction overrides, as a check character by character would."""
    refused = {c for c in range(sys.maxunicode + 1) if _unsafe(chr(c))}
    expected = {c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cc"}
    assert refused == expected | {ord(ch) for ch in _BIDI}
