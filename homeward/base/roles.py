"""The PostgreSQL logins Homeward runs under, and the grants that make them (``homeward db
roles``, run as the tables' owner).

- the **app login** (staff commands, the web workspace): a member of ``homeward_app`` only. It
  owns nothing and may not act for the system or name an organisation; each transaction acts
  for the organisation of the person whose session token it presents (migration 0015).
- the **system login** (the scheduler, sweeps, reports across organisations, operator
  commands): a member of ``homeward_app`` and ``homeward_system_scope``. It owns nothing either.

Neither is the tables' owner, so neither can turn row security off, and ``RESET ROLE`` leaves
each where it logged in. Passwords are not set here: ``ALTER ROLE ... PASSWORD`` them, or use
the server's own authentication (peer, certificates).
"""

from __future__ import annotations

import re

from homeward.base.errors import InvalidInput

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_GROUPS = {"app": ("homeward_app",), "system": ("homeward_app", "homeward_system_scope")}
_RESERVED = {"homeward_app", "homeward_definer", "homeward_system_scope", "postgres"}


def _checked(field: str, name: str) -> str:
    if not _NAME.fullmatch(name) or name in _RESERVED:
        raise InvalidInput(
            f"{field}: give a new login name of lower-case letters, digits and _ "
            f"(not {', '.join(sorted(_RESERVED))})"
        )
    return name


def role_statements(*, app_login: str, system_login: str) -> list[str]:
    """The SQL that creates (if missing) both logins and grants each its groups."""
    logins = {
        "app": _checked("app-login", app_login),
        "system": _checked("system-login", system_login),
    }
    if app_login == system_login:
        raise InvalidInput("system-login: must differ from the app login")
    statements: list[str] = []
    for kind, login in logins.items():
        statements.append(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{login}') "
            f"THEN CREATE ROLE {login} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE; END IF; END $$"
        )
        statements.append(f"GRANT {', '.join(_GROUPS[kind])} TO {login}")
    statements.append(f"REVOKE homeward_system_scope FROM {logins['app']}")
    return statements
