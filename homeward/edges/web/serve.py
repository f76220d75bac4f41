"""Serving the workspace with uvicorn: in the foreground (``homeward web``) or in a thread beside
the Prefect server (``homeward up``, and tests, on port 0).

uvicorn's access log is off: the sign-in link's address carries a one-time code, and no request
line is worth a log that could hold one. Errors still go to the log, without request data.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from homeward.base.errors import Unavailable

STARTUP_SECONDS = 15.0


def config(app: Any, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
        lifespan="off",
        server_header=False,
        proxy_headers=False,  # behind a proxy, set forwarded_allow_ips deliberately, not by default
    )


def serve_forever(app: Any, host: str, port: int) -> None:
    """Serve until Ctrl-C (uvicorn handles the signals)."""
    uvicorn.Server(config(app, host, port)).run()


class Served:
    """The app served by uvicorn in a thread of this process; ``url`` once entered (port 0: a
    free port the system picks)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = uvicorn.Server(config(app, host, port))
        self.host = host
        self.port = port
        self.thread = threading.Thread(target=self.server.run, name="homeward-web", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise Unavailable(
                    f"web workspace: could not listen on {self.host}:{self.port} "
                    "(in use? choose another with --web-port)"
                )
            time.sleep(0.02)
        sockets = self.server.servers[0].sockets if self.server.servers else []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
