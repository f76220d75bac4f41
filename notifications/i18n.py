"""Words in the reader's language: stage names, checklist item titles and dates (en, ro).

English item titles are the catalog's own (``tasks/catalog``, per process version); other
languages translate the catalog's ``title_key`` in ``locale/<language>.json``, falling back
to English for a key they lack (a test keeps Romanian complete).
"""

from __future__ import annotations

from datetime import date
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

from homeward.base.errors import InvalidInput
from homeward.base.settings import SUPPORTED_LANGUAGES
from tasks.catalog import CURRENT_VERSION, load_catalog


class Locale(BaseModel):
    """One language's words."""

    model_config = ConfigDict(frozen=True)

    language: str
    months: tuple[str, ...] = Field(min_length=12, max_length=12)
    stages: dict[str, str]
    items: dict[str, str]


def check_language(language: str) -> str:
    """``language`` if Homeward writes emails in it, else ``InvalidInput``."""
    if language not in SUPPORTED_LANGUAGES:
        raise InvalidInput(f"language: use one of {', '.join(SUPPORTED_LANGUAGES)}")
    return language


@cache
def locale(language: str) -> Locale:
    """The words of a supported language."""
    check_language(language)
    text = (resources.files("notifications") / "locale" / f"{language}.json").read_text("utf-8")
    return Locale.model_validate_json(text)


def stage_label(stage: str, language: str) -> str:
    """A stage's name, e.g. ``consent_obtained`` -> "Informed consent"."""
    return locale(language).stages.get(stage, stage)


def item_title(code: str, language: str, *, process_version: str = CURRENT_VERSION) -> str:
    """A checklist item's title in ``language`` (the catalog's English when untranslated)."""
    spec = load_catalog(process_version).spec(code)
    return locale(language).items.get(spec.title_key, spec.title)


def long_day(day: date, language: str) -> str:
    """A date as people write it, e.g. "8 January 2026" or "8 ianuarie 2026"."""
    return f"{day.day} {locale(language).months[day.month - 1]} {day.year}"
