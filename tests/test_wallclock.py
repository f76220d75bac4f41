"""The suite's chosen wall clock (``HOMEWARD_TEST_WALL_CLOCK``) reaches the processes it starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.wallclock import sitecustomize as wallclock

SITE = Path(wallclock.__file__).parent
SHOW = "import time; print(time.time())"


def _python_time(**env: str) -> float:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", SHOW],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout)


def test_a_python_subprocess_runs_on_the_offset_clock_and_keeps_ticking():
    offset = 10 * 86400.0  # ten days ahead of whatever clock this process runs on
    shifted = os.pathsep.join([str(SITE), os.environ.get("PYTHONPATH", "")])
    before = time.time()
    seen = _python_time(
        **{wallclock.OFFSET_ENV: repr(float(os.environ.get(wallclock.OFFSET_ENV, 0)) + offset)},
        PYTHONPATH=shifted,
    )
    after = time.time()
    assert before + offset <= seen <= after + offset
