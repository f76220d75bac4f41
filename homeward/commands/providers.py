"""The service directory as commands: add, remove and list offers; set a case's destination
county. The rules (who keeps which organisation's offers, county codes) are
``tasks.providers``'.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeward.base.models import Organisation
from homeward.commands.runner import Command, Context
from homeward.records.directory import get_org
from statemachines.cases import get_case
from tasks import providers


@dataclass(frozen=True)
class OfferLine:
    """One offer of the directory."""

    org: str
    org_name: str
    service: str
    county: str
    capacity: int | None


def _org(ctx: Context, slug: str | None) -> Organisation:
    if slug:
        return get_org(session=ctx.session, slug=slug)
    org = ctx.session.get(Organisation, ctx.staff.org_id)
    assert org is not None  # noqa: S101 (a foreign key)
    return org


@dataclass(frozen=True)
class AddService(Command[OfferLine]):
    """Declare that an organisation (default: yours) offers a service in a county."""

    service: str
    county: str
    capacity: int | None = None
    org: str | None = None
    name = "providers add"
    view = OfferLine

    def case_ref(self) -> str | None:
        return None

    def execute(self, ctx: Context) -> OfferLine:
        org = _org(ctx, self.org)
        row = providers.add_offer(
            ctx.session,
            actor=ctx.staff,
            org=org,
            service=self.service,
            county=self.county,
            capacity=self.capacity,
        )
        return OfferLine(org.slug, org.name, row.service_type, row.county, row.capacity)


@dataclass(frozen=True)
class OfferRemoved:
    org: str
    service: str
    county: str


@dataclass(frozen=True)
class RemoveService(Command[OfferRemoved]):
    """Withdraw an organisation's (default: yours) offer of a service in a county."""

    service: str
    county: str
    org: str | None = None
    name = "providers remove"
    view = OfferRemoved

    def case_ref(self) -> str | None:
        return None

    def execute(self, ctx: Context) -> OfferRemoved:
        org = _org(ctx, self.org)
        providers.remove_offer(
            ctx.session, actor=ctx.staff, org=org, service=self.service, county=self.county
        )
        return OfferRemoved(
            org.slug, providers.check_service(self.service), providers.check_county(self.county)
        )


@dataclass(frozen=True)
class ListServices(Command[list[OfferLine]]):
    """The directory's offers, by county and service (every signed-in staff member)."""

    service: str | None = None
    county: str | None = None
    name = "providers list"
    writes = False

    def case_ref(self) -> str | None:
        return None

    def execute(self, ctx: Context) -> list[OfferLine]:
        ctx.staff  # noqa: B018 (signed-in staff only)
        return [
            OfferLine(org.slug, org.name, row.service_type, row.county, row.capacity)
            for row, org in providers.offers(ctx.session, service=self.service, county=self.county)
        ]


@dataclass(frozen=True)
class CountySet:
    case_ref: str
    county: str | None


@dataclass(frozen=True)
class SetDestinationCounty(Command[CountySet]):
    """Set (``county`` None: clear) the county where the person will live (ISO 3166-2:RO)."""

    ref: str
    county: str | None
    name = "case set-county"
    view = CountySet

    def execute(self, ctx: Context) -> CountySet:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff, for_update=True)
        case = providers.set_county(
            ctx.session, case=case, actor=ctx.staff, county=self.county, now=ctx.now
        )
        return CountySet(case.case_ref, case.destination_county)
