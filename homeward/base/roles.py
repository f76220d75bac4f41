"""The PostgreSQL logins Homeward runs under, and the grants that make them (``homeward db
roles``, run as the tables' owner).

- the **app login** (staff commands, the web workspace): a member of ``homeward_app`` only. It
  owns nothing and may not act for the system or name an organisation; each transaction acts
  for the organisation of the person whose session token it presents (migration 0015).
- the **system login** (the scheduler, sweeps, reports across organisations, operator
  commands): a member of ``homeward_app`` and ``homeward_system_scope``. It owns nothing either.

- the **register login** (optional; ``homeward deploy`` in a container of its own): reads the
  ``organisation`` table (the forms' dropdowns) and the schema's version, nothing else; no
  group, so no case table, no outbox, no scope.

None is the tables' owner, so neither can turn row security off, and ``RESET ROLE`` leaves
each where it logged in. Passwords are not set here: ``ALTER ROLE ... PASSWORD`` them, or use
the server's own authentication (peer, certificates).

The app and system logins bind secrets as statement parameters: a session token
(``homeward_act``), a queued sign-in email's code (``homeward_queue_login_code``), the keys of
the sign-in emails being sent (``homeward.mail_keys``). A server logging statements
(``log_statement``, ``log_min_duration_statement``, the statement of an error) would write
them to its log; ``QUIET_LOGS`` keeps both logins' statements and their parameters out of it.
These are superuser settings (``ALTER ROLE ... SET`` of them needs a superuser, or on
PostgreSQL 15 ``GRANT SET ON PARAMETER``): ``homeward db roles --apply`` issues them when it
may and otherwise says so.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

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


def _create(login: str) -> str:
    """The login made if missing; one found (an earlier run's, a crashed one's) that became a
    superuser, or may bypass row security or make roles, is made plain again (only a superuser
    may: anyone else is refused, rather than the logins run with such rights)."""
    return (  # a login name _checked allows (letters, digits and _): nothing else goes into it
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{login}') "  # noqa: S608
        f"THEN CREATE ROLE {login} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE; "
        f"ELSIF EXISTS (SELECT FROM pg_roles WHERE rolname = '{login}' "
        "AND (rolsuper OR rolbypassrls OR rolcreaterole)) "
        f"THEN ALTER ROLE {login} NOSUPERUSER NOBYPASSRLS NOCREATEROLE; END IF; END $$"
    )


def role_statements(
    *, app_login: str, system_login: str, register_login: str | None = None
) -> list[str]:
    """The SQL that creates (if missing) both logins and grants each its groups; with
    ``register_login``, a third that reads the organisations only."""
    logins = {
        "app": _checked("app-login", app_login),
        "system": _checked("system-login", system_login),
    }
    if app_login == system_login:
        raise InvalidInput("system-login: must differ from the app login")
    statements = _group_statements(logins) + quiet_log_statements(*logins.values())
    if register_login is not None:
        login = _checked("register-login", register_login)
        if login in logins.values():
            raise InvalidInput("register-login: must differ from the app and system logins")
        statements += [
            _create(login),
            f"REVOKE homeward_app, homeward_system_scope FROM {login}",
            f"GRANT USAGE ON SCHEMA public TO {login}",
            f"GRANT SELECT ON organisation, alembic_version TO {login}",
        ]
    return statements


def apply_roles(
    conn: Connection, *, app_login: str, system_login: str, register_login: str | None = None
) -> bool:
    """Issue ``role_statements`` on ``conn`` (the tables' owner, on the migrated database), as
    ``homeward db roles --apply`` does; the log settings (``QUIET_LOGS``) only if this login
    may set them. Whether it did. Every statement may be issued again: nothing to add then."""
    statements = role_statements(
        app_login=app_login, system_login=system_login, register_login=register_login
    )
    quiet = quiet_log_statements(app_login, system_login)
    for statement in statements:
        if statement not in quiet:
            conn.execute(text(statement))
    logs_quiet = may_set_logs(conn)
    if logs_quiet:
        for statement in quiet:
            conn.execute(text(statement))
    return logs_quiet


def may_set_logs(conn: Connection) -> bool:
    """Whether this login may set the logins' log settings: a superuser, or on PostgreSQL 15
    and later one granted SET on each of them."""
    query = "SELECT rolsuper, current_setting('server_version_num')::int FROM pg_roles "
    superuser, version = conn.execute(text(query + "WHERE rolname = current_user")).one()
    if superuser or version < 150000:  # (before 15: a superuser's alone)
        return bool(superuser)
    granted = text(
        "SELECT bool_and(has_parameter_privilege(n, 'SET')) FROM unnest(CAST(:n AS text[])) n"
    )
    return bool(conn.execute(granted, {"n": list(QUIET_LOGS)}).scalar())


# Per login: no statement logged for its own sake, no bound value in any statement logged (a
# slow one, or an error's), whatever the server's own settings.
QUIET_LOGS = {
    "log_statement": "none",
    "log_parameter_max_length": "0",
    "log_parameter_max_length_on_error": "0",
}


def quiet_log_statements(*logins: str) -> list[str]:
    """``ALTER ROLE ... SET`` of ``QUIET_LOGS`` for each of ``logins`` (a superuser's to
    issue)."""
    return [
        f"ALTER ROLE {login} SET {name} = '{value}'"
        for login in logins
        for name, value in QUIET_LOGS.items()
    ]


def _group_statements(logins: dict[str, str]) -> list[str]:
    statements: list[str] = []
    for kind, login in logins.items():
        statements.append(_create(login))
        statements.append(f"GRANT {', '.join(_GROUPS[kind])} TO {login}")
    statements.append(f"REVOKE homeward_system_scope FROM {logins['app']}")
    statements.append(EXECUTE_GRANTS.strip())  # a login made later gets them through its groups
    return statements


# Who may call each definer function (migration 0025): no one else, PUBLIC least of all (the
# register login, or any role on the cluster, asking whether a case_ref exists). Policies call
# theirs as the querying role, so every login reading case tables (a member of homeward_app)
# needs them; a definer function calling another does so as homeward_definer, its owner.
# ``homeward_set_scope`` and ``homeward_scope_row`` are the definer's alone.
APP_GROUP, SYSTEM_GROUP = "homeward_app", "homeward_system_scope"
FUNCTION_GRANTS: dict[str, str | None] = {
    "homeward_case_visible(bigint)": APP_GROUP,  # 0047: ids 64-bit
    "homeward_case_touched(bigint)": APP_GROUP,
    "homeward_scope_row()": None,
    "homeward_current_org()": APP_GROUP,
    "homeward_current_staff()": APP_GROUP,
    "homeward_is_system()": APP_GROUP,
    "homeward_set_scope(integer, integer)": None,
    "homeward_act(text)": APP_GROUP,
    "homeward_act_run(text, text)": None,  # 0036: its two ids are printed in every history
    "homeward_act_for(integer, integer)": SYSTEM_GROUP,
    "homeward_system(boolean)": SYSTEM_GROUP,
    "homeward_case_refs_taken(text[])": APP_GROUP,
    "homeward_programme_code_taken(text)": APP_GROUP,
    "homeward_item_offered(bigint)": APP_GROUP,
    "homeward_case_version(bigint)": APP_GROUP,
    "homeward_case_ref_visible(text)": APP_GROUP,
    "homeward_queue_login_code(json)": None,  # 0032: the challenge's function queues its email
    "homeward_drop_case_mail(text, integer, text, timestamp with time zone, text[])": APP_GROUP,
    # trigger functions (0029): a trigger calls them, no login does
    "homeward_case_keeps_owner()": None,
    "homeward_handoff_kept()": None,
    "homeward_participant_kept()": None,
    "homeward_item_keeps_owner()": None,
    "homeward_outbox_message_kept()": None,  # 0030's triggers: nobody calls them
    "homeward_outbox_recipient_named()": None,
    "homeward_organisation_kept()": None,  # 0031's triggers: the directory is the system's
    "homeward_staff_kept()": None,
    # 0032's: sign-in codes, sessions and run grants, made by the database
    "homeward_random_hex(integer)": None,
    "homeward_sign_in_hash(text, text)": None,
    "homeward_open_challenge(text, text, timestamp with time zone, integer, text)": APP_GROUP,
    "homeward_redeem_code(text, text, text, timestamp with time zone, integer)": APP_GROUP,
    "homeward_session_of(text)": APP_GROUP,
    "homeward_end_sessions(integer, text, timestamp with time zone)": APP_GROUP,
    "homeward_issue_run_grant(text, timestamp with time zone, integer)": APP_GROUP,
    "homeward_run_grant(text)": APP_GROUP,
    "homeward_bind_run_grant(text, text, timestamp with time zone)": APP_GROUP,
    "homeward_item_kept()": None,  # 0035's triggers: nobody calls them
    "homeward_consent_kept()": None,
    "homeward_system_changes()": None,
    "homeward_owner_writes()": None,
    # 0036's: a run acts with its grant's id; the times given are the database's
    "homeward_act_run_grant(text, text)": APP_GROUP,
    "homeward_checked_at(timestamp with time zone)": None,
    # 0038's triggers: nobody calls them (an item taken keeps its handoff accepted; a seal's
    # deletion is the system's or the case owner's; a partner adds ad-hoc items only)
    "homeward_item_taken()": None,
    "homeward_seal_kept()": None,
    "homeward_item_added()": None,
    # 0041's: a case is taken only with its transfer accepted (the seal's guard is 0038's name);
    # the seal's guard asks, as the login writing the seal, whether its transaction wrote the row
    "homeward_case_taken()": None,
    "homeward_seal_row_written(text, bigint, bigint)": APP_GROUP,
    # 0042's triggers: nobody calls them (a partner's case keeps its columns; ids drawn)
    "homeward_case_kept()": None,
    "homeward_id_drawn()": None,
    # 0045's: a partner's item completed as its commands complete it (a trigger's); the
    # database's time, asked by that trigger as the login writing the item
    "homeward_item_worked()": None,
    "homeward_time_is_now(timestamp with time zone)": APP_GROUP,
    # 0046's: those INSERT guards once a statement (a new row's case owned; ids drawn)
    "homeward_participants_added()": None,
    "homeward_items_added()": None,
    "homeward_ids_drawn()": None,
    # 0043's triggers: nobody calls them (a case's seal is its owner's; a casework row is
    # changed by its owner, a partner changing only what its commands do)
    "homeward_case_seal_owned()": None,
    "homeward_case_note_kept()": None,
    "homeward_case_document_kept()": None,
    "homeward_visit_kept()": None,
    "homeward_assessment_kept()": None,
    "homeward_item_change_kept()": None,
    "homeward_nrm_referral_kept()": None,
    "homeward_plan_service_kept()": None,
    "homeward_reintegration_plan_kept()": None,
    "homeward_plan_goal_kept()": None,
    "homeward_case_person_kept()": None,
    # 0044's triggers: nobody calls them (a plan's, goal's or family member's seal is the
    # owner's; a plan's review date, a partner's own visit's day; new casework rows as the
    # commands write them; ids kept)
    "homeward_owners_seal()": None,
    "homeward_plan_review_kept()": None,
    "homeward_id_kept()": None,
    "homeward_case_note_added()": None,
    "homeward_case_document_added()": None,
    "homeward_visit_added()": None,
    "homeward_assessment_added()": None,
    "homeward_item_change_added()": None,
    "homeward_nrm_referral_added()": None,
    "homeward_plan_service_added()": None,
    "homeward_reintegration_plan_added()": None,
    "homeward_plan_goal_added()": None,
    "homeward_case_person_added()": None,
}


# The signatures 0047 changed (an id 64-bit), as a database older than it has them (a backup
# restored before its upgrade): granted as their successors are.
BEFORE_0047 = {
    "homeward_case_visible(integer)": "homeward_case_visible(bigint)",
    "homeward_case_touched(integer)": "homeward_case_touched(bigint)",
    "homeward_item_offered(integer)": "homeward_item_offered(bigint)",
    "homeward_case_version(integer)": "homeward_case_version(bigint)",
    "homeward_seal_row_written(text, integer, integer)": (
        "homeward_seal_row_written(text, bigint, bigint)"
    ),
}


def _execute_grants() -> str:
    lines = []
    earlier = {old: FUNCTION_GRANTS[new] for old, new in BEFORE_0047.items()}
    for function, group in (FUNCTION_GRANTS | earlier).items():
        grant = f" GRANT EXECUTE ON FUNCTION {function} TO {group};" if group else ""
        lines.append(
            f"    IF to_regprocedure('{function}') IS NOT NULL THEN "
            f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC, {APP_GROUP}, {SYSTEM_GROUP};"
            f"{grant} END IF;"
        )
    roles = (  # the groups exist from 0005 and 0015; a database older has no such function
        "    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'homeward_app') "
        "AND EXISTS (SELECT FROM pg_roles WHERE rolname = 'homeward_system_scope') THEN"
    )
    return "DO $$ BEGIN\n" + roles + "\n" + "\n".join(lines) + "\n    END IF;\nEND $$"


EXECUTE_GRANTS = _execute_grants()


# What migration 0015 sets up for the scope, given back after a restore that skipped the
# archive's owners and grants (``GRANT ... ON ALL TABLES`` to ``homeward_app`` would otherwise
# let the app's login write its own scope, and the definer functions would run as whoever
# restored). Nothing happens on a database older than 0015: its upgrade makes all this.
SCOPE_FUNCTIONS = (
    "homeward_scope_row()",
    "homeward_current_org()",
    "homeward_current_staff()",
    "homeward_is_system()",
    "homeward_set_scope(integer, integer)",
    "homeward_act(text)",
    "homeward_act_run(text, text)",
    "homeward_act_for(integer, integer)",
    "homeward_system(boolean)",
    "homeward_case_refs_taken(text[])",
    "homeward_programme_code_taken(text)",
    "homeward_item_offered(integer)",
    "homeward_case_version(integer)",
    *BEFORE_0047.values(),  # 0047's: the ids 64-bit
    # 0026's: the outbox's policy, and the app's two steps across organisations' mail
    "homeward_case_ref_visible(text)",
    "homeward_queue_login_code(json)",
    "homeward_drop_case_mail(text, integer, text, timestamp with time zone, text[])",
    "homeward_outbox_recipient_named()",  # 0030's check of a recipient's address
    # 0032's: sign-in codes, sessions and run grants
    "homeward_random_hex(integer)",
    "homeward_sign_in_hash(text, text)",
    "homeward_open_challenge(text, text, timestamp with time zone, integer, text)",
    "homeward_redeem_code(text, text, text, timestamp with time zone, integer)",
    "homeward_session_of(text)",
    "homeward_end_sessions(integer, text, timestamp with time zone)",
    "homeward_issue_run_grant(text, timestamp with time zone, integer)",
    "homeward_run_grant(text)",
    "homeward_bind_run_grant(text, text, timestamp with time zone)",
    "homeward_act_run_grant(text, text)",  # 0036's
    "homeward_checked_at(timestamp with time zone)",
    "homeward_seal_row_written(text, integer, integer)",  # 0041's: reads past row security
    "homeward_time_is_now(timestamp with time zone)",  # 0045's: reads the clock's shift
)
_OWNED = "\n".join(  # each one its migration made (a database may be older than 0026)
    f"        IF to_regprocedure('{f}') IS NOT NULL THEN "
    f"ALTER FUNCTION {f} OWNER TO homeward_definer; END IF;"
    for f in SCOPE_FUNCTIONS
)
_SECURE = """
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'homeward_system_scope') THEN
        CREATE ROLE homeward_system_scope NOLOGIN;
    END IF;
    IF to_regclass('public.homeward_scope') IS NOT NULL THEN
        REVOKE ALL ON public.homeward_scope, public.homeward_db_clock FROM PUBLIC, homeward_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON public.homeward_scope TO homeward_definer;
        GRANT SELECT ON public.homeward_db_clock TO homeward_definer;
OWNED
        REVOKE EXECUTE ON FUNCTION homeward_set_scope(integer, integer) FROM PUBLIC;
    END IF;
    IF to_regprocedure('homeward_queue_login_code(json)') IS NOT NULL THEN  -- 0026's
        GRANT INSERT, UPDATE ON public.outbox_message, public.outbox_recipient
            TO homeward_definer;
        GRANT USAGE ON SEQUENCE public.outbox_message_id_seq, public.outbox_recipient_id_seq
            TO homeward_definer;
    END IF;
    IF to_regclass('public.homeward_code_mail') IS NOT NULL THEN  -- 0028's
        REVOKE ALL ON public.homeward_code_mail FROM PUBLIC, homeward_app;
        GRANT SELECT, INSERT, DELETE ON public.homeward_code_mail TO homeward_definer;
    END IF;
    IF to_regclass('public.homeward_sign_in_pepper') IS NOT NULL THEN  -- 0032's
        REVOKE ALL ON public.homeward_sign_in_pepper FROM PUBLIC, homeward_app;
        GRANT SELECT ON public.homeward_sign_in_pepper TO homeward_definer;
        REVOKE ALL ON public.login_challenge, public.staff_session, public.run_grant
            FROM PUBLIC, homeward_app;
        GRANT SELECT ON public.staff_session TO homeward_app;
        GRANT SELECT, INSERT, UPDATE ON public.login_challenge, public.staff_session,
            public.run_grant TO homeward_definer;
        GRANT SELECT ON public.login_challenge, public.staff_session, public.run_grant
            TO homeward_system_scope;
    END IF;
    IF to_regclass('public.homeward_code_try') IS NOT NULL THEN  -- 0036's
        REVOKE ALL ON public.homeward_code_try FROM PUBLIC, homeward_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON public.homeward_code_try TO homeward_definer;
    END IF;
END $$;
"""
# then who may call each definer function (a restore without the archive's grants gave
# PUBLIC every one of them again)
SECURE_SCOPE = _SECURE.replace("OWNED", _OWNED) + EXECUTE_GRANTS
