"""The wire form's encodings, remembered piecewise by ``notifications.message`` (a drain builds
thousands of messages), are byte for byte what encoding each whole value makes."""

from __future__ import annotations

import binascii
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from notifications.message import _date_header, _qp

# what makes quoted-printable lines differ: spaces and tabs (at a line's end too), "=", a lone
# ".", control and non-ASCII characters, and lines long enough for soft breaks
PIECES = st.sampled_from(
    [" ", "\t", "=", ".", "a", "Z", "\n", "\r", "\r\n", "·", "ă", "\x01", "\x0c"]
)
TEXTS = st.lists(st.one_of(PIECES, st.text(max_size=90)), max_size=60).map("".join)


def whole(text: str) -> bytes:
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(normalised, istext=True).replace(b"\n", b"\r\n")


@settings(max_examples=3000, deadline=None)
@given(TEXTS)
def test_quoted_printable_line_by_line_is_that_of_the_whole_text(text: str) -> None:
    assert _qp(text) == whole(text)
    assert _qp(text) == whole(text)  # remembered lines too


def test_quoted_printable_at_the_line_length_limit() -> None:
    for length in range(70, 80):
        for end in (" ", "\t", "=", ".", "·", "a"):
            for text in ("x" * length + end, "x" * length + end + "\n", "x" * length + end + "\ny"):
                assert _qp(text) == whole(text), (length, end, text)
    assert _qp(".\n.") == whole(".\n.")


def test_the_date_of_one_instant_in_two_zones_reads_as_each() -> None:
    utc = datetime(2026, 1, 5, 9, tzinfo=UTC)
    bucharest = utc.astimezone(timezone(timedelta(hours=2)))
    assert utc == bucharest
    for when in (utc, bucharest, utc, bucharest, utc.replace(tzinfo=None)):
        assert _date_header(when, when.utcoffset()) == format_datetime(when)
