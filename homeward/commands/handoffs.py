"""An item's handoffs as commands: hand it to another organisation, accept or reject one.

The engine (``tasks.handoffs``) checks the sharing consent, who may hand off and who may
answer; the notices to the organisations are queued in the same transaction. A reason is free
text, stored encrypted and kept out of request fingerprints.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeward.commands.items import ItemChanged, ItemCommand, changed
from homeward.commands.runner import Context
from tasks import handoffs


@dataclass(frozen=True)
class ProposeHandoff(ItemCommand):
    """Hand an item to the organisation ``to`` (slug); it stays ours until they accept."""

    item_id: int
    to: str
    reason: str | None = None
    expected_version: int | None = None
    name = "items handoff"
    private = ("reason", "expected_version")

    def execute(self, ctx: Context) -> ItemChanged:
        handoffs.propose(
            ctx.session,
            item_id=self.item_id,
            to_org_slug=self.to,
            actor=ctx.staff,
            now=ctx.now,
            reason=self.reason,
            expected_version=self.expected_version,
        )
        return changed(ctx.session, self.item_id)


@dataclass(frozen=True)
class AcceptHandoff(ItemCommand):
    """Accept the handoff of an item to the actor's organisation."""

    item_id: int
    expected_version: int | None = None
    name = "items accept"

    def execute(self, ctx: Context) -> ItemChanged:
        handoffs.accept(
            ctx.session,
            item_id=self.item_id,
            actor=ctx.staff,
            now=ctx.now,
            expected_version=self.expected_version,
        )
        return changed(ctx.session, self.item_id)


@dataclass(frozen=True)
class RejectHandoff(ItemCommand):
    """Reject the handoff of an item to the actor's organisation, with a reason."""

    item_id: int
    reason: str
    expected_version: int | None = None
    name = "items reject"
    private = ("reason",)

    def execute(self, ctx: Context) -> ItemChanged:
        handoffs.reject(
            ctx.session,
            item_id=self.item_id,
            actor=ctx.staff,
            now=ctx.now,
            reason=self.reason,
            expected_version=self.expected_version,
        )
        return changed(ctx.session, self.item_id)
