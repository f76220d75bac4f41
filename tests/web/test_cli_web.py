"""``homeward web`` as a user runs it: a subprocess serving the workspace on the port asked
for, until Ctrl-C; an address others can reach is refused without an https proxy."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from homeward.crypt.keys import init_keyring

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(tmp: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("HOMEWARD_", "PREFECT_"))}
    return {
        **keep,
        "HOMEWARD_DATABASE_URL": f"sqlite:///{tmp / 'homeward.db'}",
        "HOMEWARD_KEY_FILE": str(init_keyring(tmp / "keys.json")),
        "PYTHONUNBUFFERED": "1",
    }


def test_homeward_web_serves_the_workspace_until_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [str(BIN / "homeward"), "web", "--port", str(port)],
        env=_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = ""
        while "Homeward workspace at" not in ready and process.poll() is None:
            ready += process.stdout.readline()
        assert f"Homeward workspace at http://127.0.0.1:{port}. Ctrl-C stops." in ready
        deadline, page = time.monotonic() + 30, None
        while page is None and time.monotonic() < deadline:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/signin", timeout=10)
            except httpx.ConnectError:
                time.sleep(0.1)
        assert page is not None and page.status_code == 200
        assert "Sign in to Homeward" in page.text
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    stderr = process.stderr.read() if process.stderr else ""
    assert code == 0 and "Traceback" not in stderr
    assert "/signin" not in stderr  # no access log: a sign-in link's code never reaches it


def test_an_address_others_can_reach_needs_an_https_proxy(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "homeward"), "web", "--host", "0.0.0.0", "--port", str(_free_port())],  # noqa: S104
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: --host: 0.0.0.0 can be reached from other machines;")
    assert done.stderr.count("\n") == 1
