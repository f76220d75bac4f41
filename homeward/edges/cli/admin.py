"""``homeward db``, ``homeward org``, ``homeward staff`` and ``homeward admin``.

``db`` is the operator's (the key file). Directory changes (``org add``, ``org mailbox``,
``staff add|change|deactivate``) run ``homeward.commands.directory`` as the signed-in
administrator; ``admin init`` is the operator's one bootstrap of the first platform_admin.
Listing the directory and the permission table needs the key file only."""

from __future__ import annotations

import typer
from rich.table import Table

from homeward.base.db import get_engine
from homeward.base.errors import InvalidInput, NotSignedIn
from homeward.base.migrate import current_revision, head_revision, upgrade
from homeward.commands import directory
from homeward.commands.runner import run
from homeward.edges.cli.common import console, credential, operator_proof, reading, state
from homeward.protection.identity import SessionToken
from homeward.protection.permissions import markdown_table
from homeward.records.directory import (
    GenitiveIn,
    MailboxIn,
    OrganisationIn,
    StaffChangeIn,
    StaffIn,
    list_orgs,
    list_staff,
    orgs_by_id,
    validate,
)

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations taking part in returns.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff members of the organisations.", no_args_is_help=True)
admin_app = typer.Typer(help="The first platform administrator.", no_args_is_help=True)


def _where() -> str:
    return get_engine().url.render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to this version's schema."""
    revision = upgrade(get_engine())
    console.print(f"database at schema {revision} ({_where()})")


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and the one this version needs."""
    console.print(
        f"database at schema {current_revision(get_engine()) or 'empty'}; "
        f"this Homeward needs {head_revision()} ({_where()})"
    )


def _as_admin() -> SessionToken:
    """The signed-in administrator's session; a directory change is never the key file's."""
    try:
        return credential()
    except NotSignedIn:
        raise NotSignedIn(
            "session: directory changes are an administrator's; sign in with `homeward login` "
            "(on a new database, `homeward admin init` makes the first platform_admin)"
        ) from None


GENITIVE_HELP = "the name in the Romanian genitive, e.g. 'Asociației ADPARE'"


@org_app.command("add")
def org_add(
    slug: str = typer.Option(..., help="short code, e.g. iom-ro"),
    name: str = typer.Option(...),
    kind: str = typer.Option(..., help="iom_mission, consulate, ngo, dgaspc, anitp or police"),
    country: str = typer.Option(..., help="ISO country code, e.g. RO"),
    email: str = typer.Option(None, help="the organisation's functional mailbox"),
    name_genitive: str = typer.Option(None, help=GENITIVE_HELP),
) -> None:
    """Register an organisation (a signed-in platform_admin)."""
    org_in = validate(
        OrganisationIn,
        slug=slug,
        name=name,
        kind=kind,
        country=country,
        email=email,
        name_genitive=name_genitive,
    )
    org = run(directory.AddOrganisation(org_in), _as_admin(), clock=state.clock)
    console.print(f"organisation {org.slug} added ({org.kind}, {org.country})")


@org_app.command("mailbox")
def org_mailbox(
    slug: str = typer.Argument(..., help="the organisation's slug"),
    email: str = typer.Option(..., help="its functional mailbox"),
) -> None:
    """Set an organisation's functional mailbox (its admin, or a platform_admin)."""
    mailbox = validate(MailboxIn, email=email)
    done = run(directory.SetMailbox(slug, mailbox), _as_admin(), clock=state.clock)
    console.print(f"organisation {done.slug}: mailbox {done.email}")


@org_app.command("genitive")
def org_genitive(
    slug: str = typer.Argument(..., help="the organisation's slug"),
    form: str = typer.Argument(None, help=GENITIVE_HELP + "; leave out to clear it"),
) -> None:
    """Set the Romanian genitive of an organisation's name, used in Romanian emails ("punctele
    Asociației ADPARE"); without it they say "ale organizației ADPARE" (its admin, or a
    platform_admin)."""
    genitive = validate(GenitiveIn, name_genitive=form)
    done = run(directory.SetGenitive(slug, genitive), _as_admin(), clock=state.clock)
    shown = done.name_genitive or f"none: Romanian emails say „organizației {done.name}”"
    console.print(f"organisation {done.slug}: genitive {shown}", markup=False, highlight=False)


@org_app.command("list")
def org_list(kind: str = typer.Option(None, help="only this kind")) -> None:
    """List organisations."""
    with reading() as session:
        table = Table("slug", "name", "genitive (ro)", "kind", "country", "email")
        for org in list_orgs(session=session, kind=kind):
            genitive = org.name_genitive or ""
            table.add_row(org.slug, org.name, genitive, org.kind, org.country, org.email or "")
        console.print(table)


ROLE_HELP = (
    "coordinator, caseworker, supervisor, manager, admin or platform_admin "
    "(see `homeward staff permissions`)"
)


@staff_app.command("add")
def staff_add(
    org: str = typer.Option(..., help="the organisation's slug"),
    name: str = typer.Option(...),
    email: str = typer.Option(...),
    role: str = typer.Option(..., help=ROLE_HELP),
    language: str = typer.Option("en", help="language of their reminders: en or ro"),
) -> None:
    """Register a staff member of an organisation (its admin, or a platform_admin)."""
    staff_in = validate(StaffIn, org=org, name=name, email=email, role=role, language=language)
    added = run(directory.AddStaff(staff_in), _as_admin(), clock=state.clock)
    console.print(f"staff member {added.email} added to {added.org} as {added.role}")


@staff_app.command("change")
def staff_change(
    email: str = typer.Argument(..., help="the staff member's email"),
    role: str = typer.Option(None, help=ROLE_HELP),
    language: str = typer.Option(None, help="language of their reminders: en or ro"),
) -> None:
    """Change a staff member's role or reminder language (their organisation's admin, or a
    platform_admin)."""
    if role is None and language is None:
        raise InvalidInput("--role: give --role, --language or both")
    change = validate(StaffChangeIn, role=role, language=language)
    done = run(directory.ChangeStaff(email, change), _as_admin(), clock=state.clock)
    what = ", ".join(done.changed) or "nothing"
    console.print(f"staff member {done.email}: {done.role}, {done.language} ({what} changed)")


@staff_app.command("deactivate")
def staff_deactivate(email: str = typer.Argument(..., help="the staff member's email")) -> None:
    """Cut a staff member off (they left, or their mailbox was taken over): they can no longer
    sign in, and every session they have ends now, with the run assertions issued in it
    (their organisation's admin, or a platform_admin)."""
    done = run(directory.DeactivateStaff(email), _as_admin(), clock=state.clock)
    console.print(f"staff member {done.email} deactivated; {done.sessions_ended} session(s) ended")


@staff_app.command("list")
def staff_list(org: str = typer.Option(None, help="only this organisation's slug")) -> None:
    """List staff members."""
    with reading() as session:
        orgs = orgs_by_id(session)
        table = Table("email", "name", "organisation", "role", "language", "active")
        for staff in list_staff(session=session, org_slug=org):
            table.add_row(
                staff.email,
                staff.name,
                orgs[staff.org_id].slug,
                staff.role,
                staff.language,
                "yes" if staff.active else "no",
            )
        console.print(table)


@staff_app.command("permissions")
def staff_permissions() -> None:
    """Print who may do what: action x organisation kind x role (the table README shows)."""
    console.print(markdown_table(), markup=False, highlight=False, soft_wrap=True)


@admin_app.command("init")
def admin_init(
    org: str = typer.Option(..., help="the administrator's organisation (slug), e.g. iom-ro"),
    name: str = typer.Option(..., help="the administrator's name"),
    email: str = typer.Option(..., help="the administrator's staff email (sign-in codes go there)"),
    org_name: str = typer.Option(None, help="a new organisation's name"),
    kind: str = typer.Option(None, help="a new organisation's kind, e.g. iom_mission"),
    country: str = typer.Option(None, help="a new organisation's country, e.g. RO"),
    language: str = typer.Option("en", help="language of their emails: en or ro"),
) -> None:
    """Make the first platform_admin, once (the key file, no session): on a new database, or
    one without an active platform_admin. Their organisation is created with it if new."""
    staff_in = validate(
        StaffIn, org=org, name=name, email=email, role="platform_admin", language=language
    )
    org_in = None
    if org_name or kind or country:
        if not (org_name and kind and country):
            raise InvalidInput(
                "--org-name: a new organisation needs --org-name, --kind and --country"
            )
        org_in = validate(
            OrganisationIn, slug=org, name=org_name, kind=kind, country=country, email=None
        )
    added = directory.first_admin(staff_in, org_in, proof=operator_proof(), clock=state.clock)
    console.print(
        f"platform_admin {added.email} added to {added.org}; sign in as them "
        f"(`homeward login {added.email}`) to add organisations and staff"
    )
