"""The checklist catalog: per process version, per stage, the items with owner, due and blocking.

A catalog is data (``tasks/catalog/<version>.json``); a case is pinned to the version it started
with, so editing the procedure never rewrites the obligations of cases already under way.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from homeward.base.clock import add_months
from homeward.base.errors import InvalidInput

CURRENT_VERSION = "v1"
CASE_OWNER = "case_owner"
_OFFSET = re.compile(r"^(?P<sign>-?)P(?P<n>\d+)(?P<unit>[DM])$")
ADHOC_PREFIX = "adhoc_"
ADHOC_KINDS: dict[str, str] = {
    "court_hearing": "Court hearing",
    "medical_appointment": "Medical appointment",
    "flight": "Flight",
    "legal_consultation": "Legal consultation",
    "document_appointment": "Document appointment",
    "other": "Other task",
}
"""Items outside the catalog (``tasks.adhoc``): their kind, and the generic English title that
emails and lists show (``item.adhoc_<kind>.title``); any free title stays encrypted."""


class DueAnchor(StrEnum):
    """What an item's due date counts from."""

    STAGE_ENTERED = "stage_entered"
    ARRIVAL = "arrival"
    DEPARTURE = "departure"


class Due(BaseModel):
    """``offset``: an ISO-8601 duration in days or months, maybe negative: P14D, -P1D, P6M."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    anchor: DueAnchor = Field(alias="from")
    offset: str

    @field_validator("offset")
    @classmethod
    def _parse_check(cls, value: str) -> str:
        if not _OFFSET.match(value):
            raise ValueError("offset must look like P14D, -P1D or P6M")
        return value

    def apply(self, anchor_time: datetime) -> datetime:
        """The due moment for an anchor at ``anchor_time``."""
        match = _OFFSET.match(self.offset)
        assert match is not None  # noqa: S101 (validated above)
        amount = int(match["n"]) * (-1 if match["sign"] else 1)
        if match["unit"] == "M":
            return add_months(anchor_time, amount)
        return anchor_time + timedelta(days=amount)


class ItemSpec(BaseModel):
    """One checklist item as the catalog declares it."""

    model_config = ConfigDict(frozen=True)

    code: str
    title: str
    owner: str
    owner_if_minor: str | None = None
    due: Due
    blocking: bool = True
    applies: Literal["all", "minors", "adults"] = "all"
    outcomes: tuple[str, ...] = ()
    renew_on_new_departure: bool = False  # done for the old dates: owed again (rearrange_travel)
    # Which routes get the item: ``return`` (identified abroad) and/or ``internal`` (identified
    # in Romania, no travel); and who owns it on the internal route when no sending mission or
    # consulate takes part (``owner_if_minor`` still wins for a child).
    routes: tuple[Literal["return", "internal"], ...] = ("return", "internal")
    owner_internal: str | None = None

    @property
    def title_key(self) -> str:
        """The translation key for the item's title (used by notification templates)."""
        return f"item.{self.code}.title"

    def applies_to(self, *, is_minor: bool, route: str = "return") -> bool:
        """Whether the item belongs on a case of this kind."""
        if route not in self.routes:
            return False
        return self.applies == "all" or (self.applies == "minors") == is_minor

    def owner_role(self, *, is_minor: bool, route: str = "return") -> str:
        """The participant role that owns the item on such a case."""
        if is_minor and self.owner_if_minor:
            return self.owner_if_minor
        if route == "internal" and self.owner_internal:
            return self.owner_internal
        return self.owner


class RegainedContact(BaseModel):
    """Which items move when contact returns, and when the first of them falls due again."""

    model_config = ConfigDict(frozen=True)

    description: str = ""
    reschedule: tuple[str, ...] = ()
    first_due: Due


class Catalog(BaseModel):
    """A whole process version."""

    model_config = ConfigDict(frozen=True)

    version: str
    description: str = ""
    stages: dict[str, tuple[ItemSpec, ...]]
    regained_contact: RegainedContact | None = None

    def items_for(self, stage: str, *, is_minor: bool, route: str = "return") -> list[ItemSpec]:
        """The items a case of this kind (and route) gets on entering ``stage``."""
        return [
            spec
            for spec in self.stages.get(stage, ())
            if spec.applies_to(is_minor=is_minor, route=route)
        ]

    def spec(self, code: str) -> ItemSpec:
        """The item declared under ``code`` in any stage, or an ad-hoc item's (``adhoc_<kind>``:
        owned by whom added it, due when they said, never blocking)."""
        if code.startswith(ADHOC_PREFIX) and code.removeprefix(ADHOC_PREFIX) in ADHOC_KINDS:
            return adhoc_spec(code.removeprefix(ADHOC_PREFIX))
        for specs in self.stages.values():
            for spec in specs:
                if spec.code == code:
                    return spec
        if code.startswith(SERVICE_PREFIX) and code.removeprefix(SERVICE_PREFIX) in SERVICE_TITLES:
            return service_spec(code)  # a plan's service item (issue 16, ``tasks.plans``)
        raise InvalidInput(f"checklist item code {code!r} is not in catalog {self.version}")


@cache
def adhoc_spec(kind: str) -> ItemSpec:
    """The spec of an ad-hoc item of ``kind`` (one of ``ADHOC_KINDS``), the same in every
    process version."""
    return ItemSpec(
        code=f"{ADHOC_PREFIX}{kind}",
        title=ADHOC_KINDS[kind],
        owner=CASE_OWNER,
        due=Due.model_validate({"from": DueAnchor.STAGE_ENTERED, "offset": "P0D"}),
        blocking=False,
    )


# A reintegration plan's services (issue 16, ``tasks.plans``) become items of their providers,
# outside every stage's list: code ``service_<type>``, a generic title per type (never the
# plan's free text), not blocking, due on the service's planned start.
SERVICE_PREFIX = "service_"
SERVICE_TITLES = {
    "medical": "Plan service: medical care",
    "psychological": "Plan service: psychological counselling",
    "legal": "Plan service: legal assistance",
    "housing": "Plan service: housing",
    "child_care": "Plan service: child care",
    "education": "Plan service: education",
    "vocational_training": "Plan service: vocational training",
    "job_placement": "Plan service: job placement",
    "income_generation": "Plan service: income-generating activity",
    "family_mediation": "Plan service: family mediation",
    "other": "Plan service: other assistance",
}


def service_spec(code: str) -> ItemSpec:
    """The item a plan's service of type ``code[len(SERVICE_PREFIX):]`` becomes."""
    return ItemSpec(
        code=code,
        title=SERVICE_TITLES[code.removeprefix(SERVICE_PREFIX)],
        owner=CASE_OWNER,  # issued to the provider by ``tasks.plans``; back to the owner if not
        due=Due.model_validate({"from": "stage_entered", "offset": "P0D"}),
        blocking=False,
    )


def available_versions() -> list[str]:
    """Every process version shipped in ``tasks/catalog``."""
    folder = resources.files("tasks") / "catalog"
    names = (p.name for p in folder.iterdir())
    return sorted(n.removesuffix(".json") for n in names if n.endswith(".json"))


@cache
def load_catalog(version: str = CURRENT_VERSION) -> Catalog:
    """Load and validate one process version."""
    if version not in available_versions():
        raise InvalidInput(
            f"process version {version!r} is unknown; available: {', '.join(available_versions())}"
        )
    text = (resources.files("tasks") / "catalog" / f"{version}.json").read_text(encoding="utf-8")
    return Catalog.model_validate_json(text)
