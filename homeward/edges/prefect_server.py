"""A local Prefect server as a child process of ``homeward up``: its own home, database and log.

The server keeps only what Prefect records (flow runs named by case_ref, their logs and
events); analytics are off and old runs and events are deleted after
``HOMEWARD_PREFECT_RETENTION_DAYS``. Any ``PREFECT_SERVER_*`` retention, logging or UI API URL
variable already in the environment wins over these defaults; home, database and analytics do
not.
Given an auth string (``homeward up`` on a non-loopback address), the server requires it on its
API and its UI (``PREFECT_SERVER_API_AUTH_STRING``). It runs behind ``prefect_gate``, which
gives no run a name typed in the UI's form and keeps each deployment's form and code as
``homeward up`` registered them: only requests carrying ``registration_key`` (a new one each
start, known to this process and the server's only) may change them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from homeward.base.errors import Conflict, InvalidInput, Unavailable
from homeward.edges.prefect_gate import REGISTRATION_KEY

STARTUP_TIMEOUT_SECONDS = 120.0  # a first start migrates the server's database: slow on 2 cores
STOP_TIMEOUT_SECONDS = 20.0
LOG_TAIL_LINES = 3


@dataclass
class LocalServer:
    """One Prefect server started by us, listening on ``host:port``, living under ``home``."""

    host: str
    port: int
    home: Path
    retention_days: int
    auth_string: str | None = field(default=None, repr=False)
    registration_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def environment(self) -> dict[str, str]:
        """The server's environment: ours, plus its own home and database, analytics off."""
        period = f"P{self.retention_days}D"  # ISO 8601, as pydantic reads a timedelta
        tunable = {
            "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
            "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": period,
            "PREFECT_SERVER_EVENTS_RETENTION_PERIOD": period,
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",  # no access log line per request
            # where browsers reach the API: another machine's browser cannot use 0.0.0.0
            "PREFECT_SERVER_UI_API_URL": self.api_url,
        }
        fixed = {
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{self.home}/prefect.db",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_UI_ENABLED": "true",
            "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        }
        if self.auth_string is not None:
            fixed["PREFECT_SERVER_API_AUTH_STRING"] = self.auth_string
        fixed[REGISTRATION_KEY] = self.registration_key
        env = {**tunable, **os.environ, **fixed}
        env.pop("PREFECT_API_URL", None)  # the server is not a client of another server
        return env

    def start(self) -> None:
        """Spawn ``prefect server start`` in its own session (Ctrl-C reaches only us)."""
        ensure_port_free(self.host, self.port)
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Prefect's server behind the gate that keeps no typed run name (``prefect_gate``)
        command = [sys.executable, "-m", "homeward.edges.prefect_gate"]
        command += ["--host", self.host, "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
                command,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_healthy(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        """Return once ``/api/health`` answers; raise `Unavailable` if it dies or is too slow."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise Unavailable(f"the Prefect server stopped while starting: {self.log_tail()}")
            if await is_healthy(self.api_url):
                return
            await asyncio.sleep(0.5)
        raise Unavailable(
            f"the Prefect server did not answer within {timeout:.0f} s: {self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM to the server's process group, then SIGKILL if it lingers; reap it."""
        if self.process is None or self.process.poll() is not None:
            return
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self) -> str:
        """The last lines of the server's log on one line (Prefect's own messages, no case data)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "no server log"
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        tail = " / ".join(lines[-LOG_TAIL_LINES:]) or "the server log is empty"
        return f"{tail[-400:]} (log: {self.log_path})"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def ensure_port_free(
    host: str,
    port: int,
    *,
    option: str = "--port",
    hint: str = "choose another port, or use the server already there with --api-url",
) -> None:
    """Refuse early, in one line, when something already listens on ``host:port``."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        raise InvalidInput(f"--host: {host!r} is not a known host name or address") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise Conflict(f"{option}: {host}:{port} is in use ({exc.strerror}); {hint}") from None


async def is_healthy(api_url: str) -> bool:
    """Whether a Prefect API answers its health check at ``api_url``."""
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(f"{api_url.rstrip('/')}/health")
    except httpx.HTTPError:
        return False
    return response.status_code == 200
