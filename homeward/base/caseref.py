"""Case references (``RT-7KQ2-M9``): the only name of a case outside the encrypted store."""

from __future__ import annotations

import re
import secrets

from homeward.base.errors import InvalidInput

_REF_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read out over a phone
_REF_SHAPE = re.compile(r"RT-[A-Z0-9]{4}-[A-Z0-9]{2}")  # what a typed reference may look like


def new_case_ref() -> str:
    """A random, non-identifying reference like ``RT-7KQ2-M9`` (31^6, about 887 million)."""
    # one draw below 31^6 read as six base-31 digits: as six independent choices, one call
    # to the system's random source instead of six (a bulk import draws thousands)
    drawn, size, chars = secrets.randbelow(len(_REF_ALPHABET) ** 6), len(_REF_ALPHABET), []
    for _ in range(6):
        drawn, digit = divmod(drawn, size)
        chars.append(_REF_ALPHABET[digit])
    return f"RT-{''.join(chars[:4])}-{''.join(chars[4:])}"


def looks_like_ref(value: str) -> bool:
    """Whether ``value`` (any case, surrounding spaces allowed) has a case_ref's shape."""
    return _REF_SHAPE.fullmatch(value.strip().upper()) is not None


def checked_ref(case_ref: str) -> str:
    """``case_ref`` normalised, or a refusal that does not repeat what was typed.

    Whatever was typed where a case_ref belongs is never echoed back: it could be a person's
    name, pasted into the wrong field, and error messages end up in Prefect and in terminals.
    """
    ref = case_ref.strip().upper()
    if not _REF_SHAPE.fullmatch(ref):
        raise InvalidInput(
            "case_ref: give a case reference like RT-7KQ2-M9 (`homeward case list` shows them)"
        )
    return ref
