"""Building the MIME message: checked headers, a stable Message-ID, text + HTML + calendar.

Every header value is checked for line breaks (``UnsafeHeader``) before it is set, so no value
can smuggle in a header of its own; addresses are parsed and must be single, plain mailboxes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from email_validator import EmailNotValidError, validate_email

from homeward.errors import InvalidInput
from homeward.settings import LINE_BREAKS

_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}")


class UnsafeHeader(InvalidInput):
    """A header value would carry a line break (a header injection); nothing is sent."""


@dataclass(frozen=True)
class Attachment:
    """A file sent with the message, e.g. a calendar invitation."""

    filename: str
    content: bytes
    maintype: str
    subtype: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    """A template rendered for one language: what the reader sees."""

    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()


def check_header(name: str, value: str) -> str:
    """``value`` if it is safe as the value of header ``name``; ``UnsafeHeader`` otherwise.

    The message names the header only: the value could be anything.
    """
    if any(c in LINE_BREAKS or c == "\x00" for c in value):
        raise UnsafeHeader(f"{name}: header value contains a line break; not sent")
    return value


def valid_address(value: str, *, field_name: str = "to") -> str:
    """One plain ASCII email address (``name@example.org``), lower-cased; else ``InvalidInput``.

    The message never repeats the value: it may be anything, including a header injection.
    """
    check_header(field_name, value)
    if not _PLAIN_ADDRESS.fullmatch(value):
        raise InvalidInput(f"{field_name}: give one plain address, e.g. name@example.org")
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise InvalidInput(f"{field_name}: not a valid email address") from None
    return str(checked.normalized).lower()


def sender_parts(mail_from: str) -> tuple[str, str]:
    """(display name, address) of the configured sender."""
    display, address = parseaddr(mail_from)
    return display, address


def message_id_for(key: str, mail_from: str) -> str:
    """A Message-ID derived from the outbox key: a resend carries the same one."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    domain = sender_parts(mail_from)[1].rpartition("@")[2] or "homeward.invalid"
    return f"<{digest}.homeward@{domain}>"


def _set_subject(message: EmailMessage, subject: str) -> None:
    # Python 3.11's modern header folder mishandles subjects three ways that the classic
    # encoder does not: it splits "în curând" into adjacent encoded words, whose space readers
    # drop (RFC 2047); it folds right after "Subject:", leaving a leading space; and it
    # decodes an encoded word someone typed into a name ("=?utf-8?q?=0D=0ABcc:...?=") and
    # re-emits its line break as a real one. So the classic encoder folds every subject
    # (encoding it whole when it is not plain ASCII) and the result is stored as it is.
    plain = subject.isascii() and "=?" not in subject
    header = Header(subject, "us-ascii" if plain else "utf-8", header_name="Subject")
    message.set_raw("Subject", header.encode(linesep="\r\n"))


def build_message(
    rendered: Rendered,
    *,
    to: Sequence[str],
    mail_from: str,
    message_id: str,
    date: datetime,
    language: str,
) -> EmailMessage:
    """The multipart message: text and HTML alternatives, then any attachments."""
    message = EmailMessage(policy=SMTP)
    display, address = sender_parts(mail_from)
    message["From"] = Address(display_name=check_header("From", display), addr_spec=address)
    message["To"] = ", ".join(check_header("To", addr) for addr in to)
    _set_subject(message, check_header("Subject", rendered.subject))
    message["Date"] = format_datetime(date)
    message["Message-ID"] = check_header("Message-ID", message_id)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    message.set_content(rendered.text, cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    for item in rendered.attachments:
        message.add_attachment(
            item.content,
            maintype=item.maintype,
            subtype=item.subtype,
            filename=item.filename,
            params=item.params,
        )
    message["Content-Language"] = check_header("Content-Language", language)  # after set_content
    return message
