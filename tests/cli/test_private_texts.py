"""Notes and reasons come from a file, standard input or $EDITOR (kept out of ``ps`` and the
shell's history), capped at 2,000 characters; the inline options still work, with a warning
at a terminal."""

from __future__ import annotations

import stat

import pytest

from homeward.edges.cli import common
from homeward.edges.cli.common import state
from tests import factories as f
from tests.cli.runner import run_cli

NOTE, REASON = "bed at the Casa Ana shelter", "the family asked to wait a week"


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    f.seed()
    monkeypatch.setattr(state, "clock", clock)

    def run(*args: str, stdin: str = "", who: str = f.COORD):
        return run_cli(capsys, monkeypatch, "--as", who, *args, stdin=stdin)

    return run


@pytest.fixture
def item(cli, clock) -> str:
    return str(f.items(f.open_case(clock))[0].id)


def shown(cli, item: str) -> str:
    result = cli("items", "show", item)
    assert result.code == 0, result.err
    return result.out


def one_line(result, code: int = 2) -> str:
    assert result.code == code, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    return lines[0]


def test_a_note_from_a_file(cli, item, tmp_path):
    source = tmp_path / "note.txt"
    source.write_text(NOTE + "\n", encoding="utf-8")
    done = cli("items", "done", item, "--note-file", str(source))
    assert done.code == 0, done.err
    assert NOTE in shown(cli, item)


def test_a_reason_from_standard_input(cli, item):
    skipped = cli("items", "skip", item, "--reason-file", "-", stdin=REASON + "\n")
    assert skipped.code == 0, skipped.err
    assert REASON in shown(cli, item)


def test_a_reason_written_in_the_editor(cli, item, tmp_path, monkeypatch):
    editor = tmp_path / "editor.sh"
    editor.write_text(f'#!/bin/sh\nprintf "%s\\n" "{REASON}" > "$1"\n')
    editor.chmod(editor.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("VISUAL", raising=False)
    skipped = cli("items", "skip", item, "--edit")
    assert skipped.code == 0, skipped.err
    assert REASON in shown(cli, item)


def test_an_editor_closed_without_saving_does_nothing(cli, item, tmp_path, monkeypatch):
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nexit 0\n")
    editor.chmod(0o700)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("VISUAL", raising=False)
    assert "without saving" in one_line(cli("items", "skip", item, "--edit"))
    assert "open" in cli("items", "list").out


@pytest.mark.parametrize(
    "command",
    [
        ("items", "done", "{item}", "--note-file", "-"),
        ("items", "skip", "{item}", "--reason-file", "-"),
        ("items", "reopen", "{item}", "--reason-file", "-"),
        ("items", "due", "{item}", "--on", "2030-01-01", "--reason-file", "-"),
        ("items", "handoff", "{item}", "--to", "adpare", "--reason-file", "-"),
        ("items", "reject", "{item}", "--reason-file", "-"),
        ("case", "handoff", "{ref}", "--to", "adpare", "--reason-file", "-"),
        ("case", "reject", "{ref}", "--reason-file", "-"),
    ],
)
def test_every_text_is_capped_at_2000_characters_naming_the_option(cli, clock, command):
    ref = f.open_case(clock)
    item = str(f.items(ref)[0].id)
    args = [a.format(item=item, ref=ref) for a in command]
    refused = one_line(cli(*args, stdin="x" * 2001))
    option = "--note" if "--note-file" in args else "--reason"
    assert f"error: {option}: longer than 2,000 characters" in refused
    assert "xxx" not in refused


def test_2000_characters_are_accepted(cli, item):
    assert cli("items", "skip", item, "--reason-file", "-", stdin="y" * 2000).code == 0


def test_inline_and_file_at_once_empty_missing_and_unreadable_are_one_line(cli, item, tmp_path):
    both = cli("items", "skip", item, "--reason", REASON, "--reason-file", "-", stdin=REASON)
    assert "give it one way" in one_line(both)
    assert "empty" in one_line(cli("items", "skip", item, "--reason-file", "-", stdin=" \n"))
    assert "--reason-file - (standard input)" in one_line(cli("items", "skip", item))
    missing = one_line(cli("items", "skip", item, "--reason-file", str(tmp_path / "none.txt")))
    assert missing.startswith("error: --reason-file: cannot read")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Jos\xe9".encode("latin-1"))
    assert "not UTF-8" in one_line(cli("items", "skip", item, "--reason-file", str(latin)))


def test_the_inline_option_still_works_and_warns_at_a_terminal(cli, item, monkeypatch):
    quiet = cli("items", "skip", item, "--reason", REASON)  # piped: scripts see no warning
    assert quiet.code == 0 and quiet.err == ""
    assert cli("items", "reopen", item, "--reason-file", "-", stdin=REASON).code == 0
    monkeypatch.setattr(common.err_console, "_force_terminal", True)
    warned = cli("items", "skip", item, "--reason", REASON)
    assert warned.code == 0, warned.err
    assert warned.err.count("\n") == 1 and "visible in `ps`" in warned.err
    assert "--reason-file" in warned.err and REASON not in warned.err
    long = cli("items", "reopen", item, "--reason", "z" * 2001)
    assert long.code == 2 and "longer than 2,000 characters" in long.err
