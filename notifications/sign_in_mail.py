"""Sign-in emails sent the moment they are queued, by the system login (PostgreSQL).

On PostgreSQL the database makes each sign-in code and queues its email itself
(``homeward_open_challenge``, migration 0032), and only the system login reads an unsent one
(0033): the app's login (``homeward login`` at a prompt, ``homeward web``) cannot send it. The
function says ``NOTIFY homeward_sign_in``; ``send_sign_in_mail`` listens on that channel under
the system login and sends every queued sign-in email at once, and looks again every
``poll_seconds`` (a notice lost while it reconnected). ``homeward up`` and ``homeward health
--watch`` run it. A process that holds the system login itself sends its own code at once
(``homeward.commands.signin.deliver``); on SQLite every process does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from sqlalchemy import Engine
from sqlmodel import col, select

from homeward.base.clock import Clock
from homeward.base.db import get_engine, may_act_for_system, read_session
from homeward.base.models import OutboxMessage, OutboxStatus
from homeward.base.settings import get_settings
from notifications.sender import drain

log = logging.getLogger(__name__)

CHANNEL = "homeward_sign_in"
SIGN_IN = "login_code"


def queued_sign_in_keys(engine: Engine) -> list[str]:
    """The outbox keys of the sign-in emails waiting to be sent (the system login reads them)."""
    with read_session(engine) as session:
        query = select(OutboxMessage.key).where(
            col(OutboxMessage.template) == SIGN_IN,
            col(OutboxMessage.status) == OutboxStatus.QUEUED,
        )
        return list(session.exec(query))


def sends_sign_in_mail(engine: Engine) -> bool:
    """Whether this process should listen: PostgreSQL, under a login that reads sign-in mail."""
    if engine.dialect.name != "postgresql":
        return False
    with read_session(engine) as session:
        return may_act_for_system(session)


async def send_queued(engine: Engine, clock: Clock | None = None) -> int:
    """Send the sign-in emails waiting now; how many were sent."""
    keys = await asyncio.to_thread(queued_sign_in_keys, engine)
    if not keys:
        return 0
    return (await drain(keys=keys, engine=engine, clock=clock)).sent


async def send_sign_in_mail(
    *, engine: Engine | None = None, poll_seconds: float = 30.0, clock: Clock | None = None
) -> None:
    """Until cancelled: send each sign-in email as soon as the database queues it. Nothing to
    do on SQLite, under the app's login, or without SMTP settings (said once in the log).
    ``clock``: what "now" is when judging a code's expiry (default: the wall clock)."""
    engine = engine or get_engine()
    if not await asyncio.to_thread(sends_sign_in_mail, engine):
        return
    if "smtp_host" not in get_settings().model_fields_set:  # the default is only a guess
        log.warning("sign-in mail: HOMEWARD_SMTP_HOST is not set; sign-in codes stay queued")
        return
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                while True:
                    await send_queued(engine, clock)
                    with contextlib.suppress(TimeoutError):
                        async for _ in conn.notifies(timeout=poll_seconds, stop_after=1):
                            pass
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a lost connection, a mail server down: go on
            log.warning("sign-in mail: sending failed; trying again shortly", exc_info=True)
            await asyncio.sleep(min(poll_seconds, 5.0))
