"""Mail commands: retry a recipient the mail server refused, or redirect the message to another
address of the same organisation (``notifications.redelivery`` holds the rules: who may, and
which addresses). Reading the outbox and sending are the operator's (``homeward mail``)."""

from __future__ import annotations

from dataclasses import dataclass

from homeward.commands.runner import Command, Context
from notifications import redelivery


@dataclass(frozen=True)
class Retried:
    message_id: int | None  # None: every refused recipient the actor may act on
    addresses: tuple[str, ...]
    count: int


@dataclass(frozen=True)
class RetryMail(Command[Retried]):
    """Queue refused recipients again: of one message (one of them, with ``address``), or,
    without ``message_id``, every one the actor may act on."""

    message_id: int | None = None
    address: str | None = None
    name = "mail retry"

    def execute(self, ctx: Context) -> Retried:
        if self.message_id is None:
            count = redelivery.retry_all(ctx.session, actor=ctx.staff, now=ctx.now)
            return Retried(None, (), count)
        addresses = redelivery.retry(
            ctx.session,
            actor=ctx.staff,
            message_id=self.message_id,
            address=self.address,
            now=ctx.now,
        )
        return Retried(self.message_id, tuple(addresses), len(addresses))


@dataclass(frozen=True)
class Redirected:
    message_id: int
    address: str
    to: str


@dataclass(frozen=True)
class RedirectMail(Command[Redirected]):
    """Send a message refused for ``address`` to ``to`` instead (same organisation)."""

    message_id: int
    address: str
    to: str
    name = "mail redirect"

    def execute(self, ctx: Context) -> Redirected:
        added = redelivery.redirect(
            ctx.session,
            actor=ctx.staff,
            message_id=self.message_id,
            address=self.address,
            to=self.to,
            now=ctx.now,
        )
        return Redirected(self.message_id, self.address, added.address)
