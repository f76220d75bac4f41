"""``orgs_by_id`` reads the directory once per transaction (a case page asks for it from its
items, its facts and its consents), and still sees an organisation added in that transaction."""

from __future__ import annotations

from sqlalchemy import event

from homeward.base.db import get_engine, write_session
from homeward.records.directory import OrganisationIn, add_org, orgs_by_id, validate
from tests import factories as f


def test_the_directory_is_read_once_and_a_new_organisation_is_seen(db_url: str) -> None:
    f.seed()
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if "FROM organisation" in statement:
            statements.append(statement)

    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        with write_session() as s:
            first = orgs_by_id(s)
            again = orgs_by_id(s)
            assert again == first and len(statements) == 1
            again.clear()  # a caller's copy: the next caller still gets every organisation
            assert orgs_by_id(s) == first
            org_in = validate(
                OrganisationIn, slug="ngo-new", name="New NGO", kind="ngo", country="RO"
            )
            add_org(session=s, org_in=org_in)
            assert "ngo-new" in {o.slug for o in orgs_by_id(s).values()}
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)
