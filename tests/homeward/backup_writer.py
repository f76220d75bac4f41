"""A writer process for the backup tests: opens cases and suspends them until stdin closes.

Run as ``python -m tests.homeward.backup_writer`` with the test's ``HOMEWARD_*`` environment;
prints ``open REF`` / ``suspend REF`` after each commit (the acknowledgement), flushed.
"""

from __future__ import annotations

import sys
import threading

from homeward.base.clock import SimulatedClock
from tests import factories as f


def main() -> None:
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    clock = SimulatedClock()
    print("ready", flush=True)  # noqa: T201 - the protocol with the test
    while not stop.is_set():
        ref = f.open_case(clock, share=False)
        print(f"open {ref}", flush=True)  # noqa: T201
        f.advance(ref, "suspend", clock)
        print(f"suspend {ref}", flush=True)  # noqa: T201
        stop.wait(PAUSE)


# Between its transactions a writer leaves the write lock free a moment, as people's commands
# do: two writers looping back to back can starve each other past SQLite's busy timeout on a
# loaded machine ("database is locked" after 15 s), which is not what the backup tests test.
PAUSE = 0.05


if __name__ == "__main__":
    main()
