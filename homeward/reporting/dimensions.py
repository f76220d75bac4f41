"""How reports break counts down: sex, age band, form of exploitation and country."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from homeward.protection.vault import EXPLOITATION_FORMS, SEXES

UNKNOWN = "unknown"
# The Counter-Trafficking Data Collaborative's broad age bands (lower bound, label).
AGE_BANDS: list[tuple[int, str]] = [
    (0, "0-8"),
    (9, "9-17"),
    (18, "18-20"),
    (21, "21-23"),
    (24, "24-26"),
    (27, "27-29"),
    (30, "30-38"),
    (39, "39-47"),
    (48, "48+"),
]


@dataclass(frozen=True)
class Profile:
    """One case's attributes, as counted: bands and codes, never a birth date."""

    sex: str
    age_band: str
    exploitation_form: str
    country: str
    is_minor: bool


def age_on(birth: date, day: date) -> int:
    """Completed years of age on ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def age_band(birth_date: str | None, on: date) -> str:
    """The CTDC band of a person born on ``birth_date`` (ISO), on ``on``."""
    if not birth_date:
        return UNKNOWN
    age = age_on(date.fromisoformat(birth_date), on)
    return [label for lower, label in AGE_BANDS if age >= lower][-1] if age >= 0 else UNKNOWN


def profile(attrs: dict[str, str | None], *, country: str, on: date, is_minor: bool) -> Profile:
    """A case's profile from its decrypted attributes (``vault.statistical_attributes``)."""
    return Profile(
        sex=attrs.get("sex") or UNKNOWN,
        age_band=age_band(attrs.get("birth_date"), on),
        exploitation_form=attrs.get("exploitation_form") or UNKNOWN,
        country=country,
        is_minor=is_minor,
    )


@dataclass(frozen=True)
class Dimension:
    """A breakdown: its title, how to read a profile, and its categories (fixed or observed)."""

    code: str
    title: str
    of: Callable[[Profile], str]
    fixed: tuple[str, ...] = ()

    def categories(self, profiles: list[Profile]) -> list[str]:
        if self.fixed:
            return list(self.fixed)
        observed = sorted({self.of(p) for p in profiles} - {UNKNOWN})
        return [*observed, UNKNOWN]


DIMENSIONS: list[Dimension] = [
    Dimension("sex", "Sex", lambda p: p.sex, SEXES),
    Dimension("age_band", "Age band", lambda p: p.age_band, (*(b for _, b in AGE_BANDS), UNKNOWN)),
    Dimension(
        "exploitation_form",
        "Form of exploitation",
        lambda p: p.exploitation_form,
        (*EXPLOITATION_FORMS, UNKNOWN),
    ),
    Dimension("country", "Country of exploitation", lambda p: p.country),
]
