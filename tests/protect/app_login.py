"""PostgreSQL as the app's own login with a SQL prompt: the insider the guards are tried by."""

from __future__ import annotations

import psycopg


def run_steps(conn: psycopg.Connection, steps: list[str], values: dict) -> str | None:
    """Run the steps (formatted with ``values``) acting for ``values["token"]``'s session, in
    one committed transaction; the error's first line, None if none."""
    try:
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(b"SELECT homeward_act(%s)", [values["token"]])
            for step in steps:
                cursor.execute(step.format(**values).encode())
    except psycopg.Error as exc:
        return str(exc).splitlines()[0]
    return None
