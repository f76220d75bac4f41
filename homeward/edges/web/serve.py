"""Serving the workspace with uvicorn: in the foreground (``homeward web``) or in a thread beside
the Prefect server (``homeward up``, and tests, on port 0).

uvicorn's access log is off: the sign-in link's address carries a one-time code, and no request
line is worth a log that could hold one. Errors still go to the log, without request data.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from homeward.base.errors import InvalidInput, Unavailable
from homeward.base.settings import get_settings
from homeward.edges.prefect_auth import is_loopback
from homeward.edges.prefect_server import ensure_port_free

if TYPE_CHECKING:
    import uvicorn

STARTUP_SECONDS = 15.0
DEFAULT_WEB_PORT = 4300  # where `homeward web` and `homeward up` serve the workspace


def check_web_host(host: str, option: str = "--host") -> None:
    """The workspace's sessions travel in cookies: on an address others can reach, only behind
    an https proxy (``HOMEWARD_MAIL_BASE_URL=https://...``, its public address)."""
    public = get_settings().mail_base_url or ""
    if not is_loopback(host) and not public.startswith("https://"):
        raise InvalidInput(
            f"{option}: {host} can be reached from other machines; serve the workspace there "
            "only behind an https proxy, and set HOMEWARD_MAIL_BASE_URL=https://<its address>"
        )


def check_web_port(host: str, port: int, option: str = "--port") -> None:
    ensure_port_free(host, port, option=option, hint=f"choose another with {option}")


def web_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def config(app: Any, host: str, port: int) -> uvicorn.Config:
    import uvicorn  # only when serving: the rest of the CLI starts without it

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


def settle() -> None:
    """What a process serving the workspace for long does once, before its first request:
    every table class defined and the ORM's mappers configured (the first request would),
    then everything loaded by now moved out of the garbage collector's reach (``gc.freeze``;
    as ``workflows.warm`` does for ``homeward up``'s runs). Otherwise each full collection
    walks all of it, once in about 500 stage moves: 60-80 ms added to that one request on an
    idle machine, 200-600 ms on a busy one (``bench/stage_move_ab.py --tail``, issue 19).
    These objects live as long as the process anyway. And SQLite's write-ahead log is
    checkpointed by a thread from now on, not by one commit in about 30 (``checkpoints``)."""
    from sqlalchemy.orm import configure_mappers

    from homeward.base import checkpoints
    from homeward.base.models import load_all_tables

    checkpoints.in_background()

    load_all_tables()
    configure_mappers()
    gc.collect()  # what is garbage already is not frozen with the rest
    gc.freeze()


def serve_forever(app: Any, host: str, port: int) -> None:
    """Serve until Ctrl-C or SIGTERM: uvicorn stops gracefully, then passes the signal on
    (Ctrl-C as KeyboardInterrupt), which is the way this ends, not a failure."""
    import uvicorn

    settle()
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config(app, host, port)).run()


class Served:
    """The app served by uvicorn in a thread of this process; ``url`` once entered (port 0: a
    free port the system picks)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

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
