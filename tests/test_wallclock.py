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


def _python_time(show: str = SHOW, **env: str) -> float:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", show],
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


def test_a_subprocess_that_imports_the_clock_module_again_travels_once():
    """``tests.signin`` imports ``tests.conftest``, which imports this module under its package
    name: a subprocess doing so (test_up's assertions) ran ``2 * offset`` away, and every
    assertion it signed was refused as signed ahead of the run's clock."""
    offset = 10 * 86400.0
    shifted = os.pathsep.join([str(SITE), str(SITE.parents[1]), os.environ.get("PYTHONPATH", "")])
    again = "import tests.wallclock.sitecustomize; " + SHOW
    before = time.time()
    seen = _python_time(
        again,
        **{wallclock.OFFSET_ENV: repr(float(os.environ.get(wallclock.OFFSET_ENV, 0)) + offset)},
        PYTHONPATH=shifted,
    )
    after = time.time()
    assert before + offset <= seen <= after + offset
