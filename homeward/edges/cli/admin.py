"""``homeward db``, ``homeward org`` and ``homeward staff``."""

from __future__ import annotations

import typer
from rich.table import Table

from homeward.base.db import get_engine
from homeward.base.migrate import current_revision, head_revision, upgrade
from homeward.edges.cli.common import console, now, reading, writing
from homeward.protection.identity import revoke_all
from homeward.protection.permissions import markdown_table
from homeward.records.auditlog import audit
from homeward.records.directory import (
    OrganisationIn,
    StaffIn,
    add_org,
    add_staff,
    get_staff,
    list_orgs,
    list_staff,
    orgs_by_id,
    validate,
)

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations taking part in returns.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff members of the organisations.", no_args_is_help=True)


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


@org_app.command("add")
def org_add(
    slug: str = typer.Option(..., help="short code, e.g. iom-ro"),
    name: str = typer.Option(...),
    kind: str = typer.Option(..., help="iom_mission, consulate, ngo, dgaspc, anitp or police"),
    country: str = typer.Option(..., help="ISO country code, e.g. RO"),
    email: str = typer.Option(None, help="the organisation's functional mailbox"),
) -> None:
    """Register an organisation."""
    org_in = validate(OrganisationIn, slug=slug, name=name, kind=kind, country=country, email=email)
    with writing() as session:
        org = add_org(session=session, org_in=org_in)
        console.print(f"organisation {org.slug} added ({org.kind}, {org.country})")


@org_app.command("list")
def org_list(kind: str = typer.Option(None, help="only this kind")) -> None:
    """List organisations."""
    with reading() as session:
        table = Table("slug", "name", "kind", "country", "email")
        for org in list_orgs(session=session, kind=kind):
            table.add_row(org.slug, org.name, org.kind, org.country, org.email or "")
        console.print(table)


@staff_app.command("add")
def staff_add(
    org: str = typer.Option(..., help="the organisation's slug"),
    name: str = typer.Option(...),
    email: str = typer.Option(...),
    role: str = typer.Option(
        ...,
        help="coordinator, caseworker, supervisor or manager (see `homeward staff permissions`)",
    ),
    language: str = typer.Option("en", help="language of their reminders: en or ro"),
) -> None:
    """Register a staff member of an organisation."""
    staff_in = validate(StaffIn, org=org, name=name, email=email, role=role, language=language)
    with writing() as session:
        staff = add_staff(session=session, staff_in=staff_in)
        console.print(f"staff member {staff.email} added to {org} as {staff.role}")


@staff_app.command("deactivate")
def staff_deactivate(email: str = typer.Argument(..., help="the staff member's email")) -> None:
    """Cut a staff member off (they left, or their mailbox was taken over): they can no longer
    sign in, and every session they have ends now, with the run assertions issued in it."""
    with writing() as session:
        staff = get_staff(session=session, email=email)
        staff.active = False
        session.add(staff)
        assert staff.id is not None  # noqa: S101 (a stored row)
        ended = revoke_all(session, staff_id=staff.id, now=now())
        audit(session, actor=None, action="staff:deactivated", at=now(), fields=["active"])
        console.print(f"staff member {staff.email} deactivated; {ended} session(s) ended")


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
