"""Fault injection for the crash tests: named points where a process may be told to die.

Production code calls ``crash_point("name")`` at the boundaries where a crash is interesting
(a change committed but its email not yet sent; an email accepted by the server but not yet
marked sent; the middle of the reminder sweep). Normally the call costs one dictionary lookup.
When the environment variable ``HOMEWARD_CRASH_AT`` names the point, the process kills itself
with ``SIGKILL`` there: no ``finally`` blocks, no atexit handlers, no flushing, exactly like a
power cut or the OOM killer.

``HOMEWARD_CRASH_AT`` holds one or more comma-separated entries:

- ``name``: die the first time the point ``name`` is reached;
- ``name:N``: die the Nth time it is reached in this process (N >= 1).

The variable is read once per process (the first time any point is reached) and cached.
Named points in the code base:

- ``after-commit-before-mail``: ``homeward mail send`` and the ``sweep-due-items`` flow, after
  today's reminders were committed to the outbox and before the outbox is drained;
- ``smtp-accepted-before-mark``: ``notifications.sender.drain``, after the SMTP server accepted
  a batch and before the rows are recorded as sent (the resend carries the same Message-ID);
- ``sweep-mid``: ``notifications.reminders.queue_reminders``, as each open item is considered
  (the page's transaction is rolled back whole; pages committed before stay, and a later run
  takes the day over once the lease ran out; a small day is one page, rolled back whole);
- ``flow-after-keyed-command``: ``workflows.runtime.command``, after a flow's command that
  carries a request key committed (a retry or re-run of the run must change nothing again).

``HOMEWARD_HOLD_AT`` takes the same entries, and the process hangs there instead (sleeps for
good, still alive): a machine that stopped answering, for the scale-out test to kill its worker
while a run is in the middle (``tests/scaleout.py``).
"""

from __future__ import annotations

import os
import signal
import time

ENV, HOLD_ENV = "HOMEWARD_CRASH_AT", "HOMEWARD_HOLD_AT"

_targets: dict[str, int] | None = None  # point -> the visit that kills (1-based)
_holds: dict[str, int] = {}  # point -> the visit that hangs (1-based)
_visits: dict[str, int] = {}


def parse(spec: str) -> dict[str, int]:
    """``"a,b:3"`` -> ``{"a": 1, "b": 3}``; malformed entries raise ``ValueError``."""
    targets: dict[str, int] = {}
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        name, sep, count = entry.partition(":")
        nth = int(count) if sep else 1
        if not name.strip() or nth < 1:
            raise ValueError(f"{ENV}: {entry!r} is not NAME or NAME:N with N >= 1")
        targets[name.strip()] = nth
    return targets


def _load() -> dict[str, int]:
    global _targets, _holds  # noqa: PLW0603 (read the environment once per process)
    if _targets is None:
        _holds = parse(os.environ.get(HOLD_ENV, ""))
        _targets = parse(os.environ.get(ENV, ""))
    return _targets


def crash_point(name: str) -> None:
    """Die here (``SIGKILL``) if ``HOMEWARD_CRASH_AT`` names this point and visit, hang here for
    good if ``HOMEWARD_HOLD_AT`` does; else nothing."""
    targets = _targets if _targets is not None else _load()
    kill, hold = targets.get(name), _holds.get(name)
    if kill is None and hold is None:
        return
    seen = _visits.get(name, 0) + 1
    _visits[name] = seen
    if seen == kill:
        os.kill(os.getpid(), signal.SIGKILL)
    while seen == hold:  # pragma: no cover (only the scale-out test's killed worker gets here)
        time.sleep(1)


def reset() -> None:
    """Forget the cached setting and the visit counts (tests change the environment)."""
    global _targets  # noqa: PLW0603
    _targets = None
    _holds.clear()
    _visits.clear()
