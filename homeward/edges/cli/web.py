"""``homeward web``: the staff web workspace (sign in by email, my work, case pages) on its own.

``homeward up`` serves the same workspace beside the Prefect UI (``--web-port``).
"""

from __future__ import annotations

import typer

from homeward.base.settings import get_settings
from homeward.edges.cli.common import console
from homeward.edges.cli.up import prepare_database
from homeward.edges.web.serve import DEFAULT_WEB_PORT, check_web_host, check_web_port, web_url


def web(
    host: str = typer.Option("127.0.0.1", help="address the workspace listens on"),
    port: int = typer.Option(DEFAULT_WEB_PORT, min=1, max=65535, help="port of the workspace"),
) -> None:
    """Serve the staff web workspace (sign in, my work, cases) until Ctrl-C."""
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
    console.print("Homeward workspace stopped", markup=False, highlight=False)
