"""``homeward web``: the staff web workspace (sign in by email, my work, case pages) on its own.

``homeward up`` serves the same workspace beside the Prefect UI (``--web-port``).
"""

from __future__ import annotations

import typer

from homeward.base.errors import InvalidInput
from homeward.base.settings import get_settings
from homeward.edges.cli.common import console
from homeward.edges.prefect_auth import is_loopback
from homeward.edges.prefect_server import ensure_port_free

DEFAULT_WEB_PORT = 4300  # as homeward.edges.web.serve (kept here: the CLI imports it lazily)


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


def web(
    host: str = typer.Option("127.0.0.1", help="address the workspace listens on"),
    port: int = typer.Option(DEFAULT_WEB_PORT, min=1, max=65535, help="port of the workspace"),
) -> None:
    """Serve the staff web workspace (sign in, my work, cases) until Ctrl-C."""
    from homeward.edges.cli.up import prepare_database
    from homeward.edges.web.app import create_app
    from homeward.edges.web.serve import serve_forever

    check_web_host(host)
    check_web_port(host, port)
    prepare_database()
    public = get_settings().mail_base_url
    console.print(
        f"Homeward workspace at {web_url(host, port)}"
        + (f" (public address {public})" if public else "")
        + ". Ctrl-C stops.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.file.flush()
    serve_forever(create_app(), host, port)
