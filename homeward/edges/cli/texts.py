"""Notes and reasons typed by staff: from a file, standard input or ``$EDITOR``, capped.

A note given inline (``--note "..."``) is visible to every user of the machine in ``ps`` and
stays in the shell's history, so each free-text option has a private way in beside it:
``--note-file PATH`` (``-`` reads standard input) or ``--edit`` (opens ``$EDITOR``). The inline
form still works, for scripts and old habits; at a terminal it prints a one-line warning.
Every text is capped at ``MAX_CHARS``: the refusal names the option, never quotes the text.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from homeward.base.errors import InvalidInput
from homeward.edges.cli.common import err_console

MAX_CHARS = 2_000


def file_option(name: str) -> Any:
    """``--NAME-file PATH``: the text from a file, or ``-`` for standard input."""
    return typer.Option(
        None,
        f"--{name}-file",
        help=f"read the {name} from this file (`-`: standard input), kept out of `ps` and history",
    )


def edit_option(name: str) -> Any:
    """``--edit``: write the text in ``$EDITOR``."""
    return typer.Option(False, "--edit", help=f"write the {name} in $EDITOR")


@dataclass(frozen=True)
class FreeText:
    """Where one free-text option's value may come from, as the user gave them."""

    name: str  # "note" or "reason"
    inline: str | None
    file: str | None
    edit: bool

    def required(self) -> str:
        """The text, stripped and within ``MAX_CHARS``; refused if not given."""
        text = self.read(required=True)
        assert text is not None  # noqa: S101 (read refuses a missing required text)
        return text

    def read(self, *, required: bool = False) -> str | None:
        """The text, stripped and within ``MAX_CHARS``; ``None`` if optional and not given."""
        given = [self.inline is not None, self.file is not None, self.edit]
        if sum(given) > 1:
            raise InvalidInput(
                f"--{self.name}: give it one way: --{self.name}, --{self.name}-file or --edit"
            )
        if not any(given):
            if required:
                raise InvalidInput(
                    f"--{self.name}: required; use --{self.name}-file PATH, "
                    f"--{self.name}-file - (standard input) or --edit"
                )
            return None
        return self._checked(self._raw())

    def _raw(self) -> str:
        if self.inline is not None:
            self._warn_inline()
            return self.inline
        if self.file is not None:
            return self._from_file(self.file)
        import click  # the editor only: a command that reads no text never loads click itself

        edited = click.edit("", require_save=True)
        if edited is None:
            raise InvalidInput(f"--{self.name}: the editor was closed without saving; nothing done")
        return edited

    def _from_file(self, file: str) -> str:
        option = f"--{self.name}-file"
        try:
            if file == "-":
                return sys.stdin.read(MAX_CHARS * 4 + 1)
            with Path(file).open(encoding="utf-8") as source:
                return source.read(MAX_CHARS * 4 + 1)
        except UnicodeDecodeError:
            raise InvalidInput(f"{option}: not UTF-8 text; save it as UTF-8") from None
        except OSError as exc:
            raise InvalidInput(f"{option}: cannot read {file} ({exc.strerror})") from None

    def _checked(self, text: str) -> str:
        text = text.strip()
        if not text:
            raise InvalidInput(f"--{self.name}: empty; write a few words (no personal details)")
        if len(text) > MAX_CHARS:
            raise InvalidInput(
                f"--{self.name}: longer than {MAX_CHARS:,} characters; shorten it "
                "(the case's documents belong in the case file, not here)"
            )
        return text

    def _warn_inline(self) -> None:
        if err_console.is_terminal:
            err_console.print(
                f"warning: --{self.name} is visible in `ps` and kept in your shell history; "
                f"prefer --{self.name}-file PATH, --{self.name}-file - or --edit",
                markup=False,
                highlight=False,
            )
