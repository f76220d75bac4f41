"""How a run ends when the engine says no: a state of its own, never a failure.

A business refusal is the engine doing its job: a step the rules forbid now (``Refused``), a
value to correct (``InvalidInput``), a case or item not there (``NotFound``), someone else first
(``Conflict``), an assertion that proves nobody (``NotSignedIn``), too many tries
(``TooMany``). A flow under ``@refusals_end_runs`` ends such a run ``Completed`` under the
name ``Refused``, the engine's one line as the state's message, logged once as a warning and
never with a traceback. ``Failed`` (red on the dashboard, what automations watch) stays for
faults: the database or the mail server gone, a broken audit chain, a bug, and Homeward's own
setup (``SetupFault``: a schema behind this version, a database login that cannot work), which
the CLI reports as one line like a refusal but which no user's request caused.

Why Completed and not Cancelled: a refused run ran to its end and left everything as the rules
want it; nothing is broken, nothing should be retried, nobody should be paged. Prefect logs a
run's end at ERROR for every state but Completed, and Cancelled is a run someone stopped (a
paused closure run is cancelled when ``homeward up`` stops): a refusal would be mixed with
those, and its end logged as an error. Its name, ``Refused``, is what the dashboard's badge and
the run list show, so it never reads as the step having been done.

A state a flow returns is Prefect's final state for the run. Called in-process, a refused flow
returns the state's data (``{"outcome": "refused", "reason": ...}``), or the state itself with
``return_state=True``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast

from prefect import Flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Completed

from homeward.base.errors import (
    Conflict,
    HomewardError,
    InvalidInput,
    NotFound,
    NotSignedIn,
    Refused,
    SetupFault,
    TooMany,
)
from homeward.base.text import printable
from workflows.crash_loops import bounded
from workflows.signatures import with_signature_of
from workflows.timing import mark

P = ParamSpec("P")
T = TypeVar("T")

REFUSED = "Refused"
# What a person can cause and correct; every other error (AuditBroken, DeliveryFailed,
# Unavailable, a SetupFault, anything not ours) is a fault and fails the run with its traceback.
REFUSALS: tuple[type[HomewardError], ...] = (
    InvalidInput,
    NotFound,
    Refused,
    Conflict,
    NotSignedIn,
    TooMany,
)
LONGEST = 300  # a state message is a badge's tooltip and a page's one line, not a report


def reason_line(text: str) -> str:
    """``text`` as one printable line of at most ``LONGEST`` characters: what a state message
    and a log line may carry (the engine's messages name fields, codes and case_refs only)."""
    line = " ".join(printable(text).split())
    return line if len(line) <= LONGEST else line[: LONGEST - 1] + "…"


def ended(name: str, why: str, data: T, *, level: int = logging.INFO) -> State[T]:
    """The run's final state: ``Completed`` named ``name`` with ``why`` as its message, said
    once in the run's log at ``level``."""
    line = reason_line(why)
    get_run_logger().log(level, "%s: %s", name, line)
    return Completed(name=name, message=line, data=data)


def refusal(exc: HomewardError) -> State[dict[str, Any]]:
    """The state a refused run ends in: named ``Refused``, the engine's one line as message."""
    line = reason_line(str(exc))
    return ended(REFUSED, line, {"outcome": "refused", "reason": line}, level=logging.WARNING)


def refusals_end_runs(made: Flow[P, Coroutine[Any, Any, T]]) -> Flow[P, Coroutine[Any, Any, T]]:
    """Put over ``@flow``: a refusal raised by the flow ends its run in ``refusal``'s state
    (no traceback); any other exception fails the run as Prefect does. A run that has crashed
    too often ends Failed first (``workflows.crash_loops``).

    Over, not under: Prefect has read the flow's own function by then (its version is the hash
    of the flow's file, its parameters its signature); only the call goes through the guard."""
    made.fn = bounded(_guarded(made.fn))
    return made


def _guarded(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    @functools.wraps(fn)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        mark("body-starts")
        try:
            return await fn(*args, **kwargs)
        except REFUSALS as exc:
            if isinstance(exc, SetupFault):
                raise
            # Prefect makes a returned state the run's final state; a caller gets its data
            return cast(T, refusal(exc))
        finally:
            mark("body-ends")

    with_signature_of(guarded, fn)
    return guarded
