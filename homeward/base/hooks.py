"""Listeners on the case history: code outside the engine reacting to a change, in its transaction.

``homeward.records.audit.record_event`` calls ``emit`` right after each ``CaseEvent`` is flushed,
so a
listener writes its rows (a queued email, say) in the same transaction as the change: both are
committed together, or neither is. The engine stays unaware of who listens; card packages such
as ``notifications`` subscribe when they are imported, and the edge modules (CLI, demo, flows)
import them. A listener that raises rolls the whole change back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlmodel import Session

from homeward.base.db import widest_scope

if TYPE_CHECKING:  # named, not defined: a process that records no event never defines them
    from homeward.base.models import Case, CaseEvent

CaseEventListener = Callable[[Session, "Case", "CaseEvent"], None]

_listeners: list[CaseEventListener] = []


def subscribe(listener: CaseEventListener) -> CaseEventListener:
    """Call ``listener(session, case, event)`` after every recorded case event (once per
    listener, however often it subscribes). Returns it, so it can be used as a decorator."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def unsubscribe(listener: CaseEventListener) -> None:
    """Stop calling ``listener``; unknown listeners are ignored."""
    if listener in _listeners:
        _listeners.remove(listener)


def emit(session: Session, case: Case, event: CaseEvent) -> None:
    """Hand a just-recorded event to every listener, in subscription order.

    Under the system login listeners act for the system (PostgreSQL row security); under the
    app's login, which may not, they act for the person's organisation, which the policies let
    read what a notice needs (an organisation still sees the handoffs it was offered, and
    their items, after it rejected them).
    """
    if not _listeners:
        return
    with widest_scope(session):
        for listener in tuple(_listeners):
            listener(session, case, event)
