"""Page languages: gettext catalogs (``locale/<lang>/LC_MESSAGES/homeward.po``) read by Babel.

Only the ``.po`` files are kept in the repository: each is compiled in memory the first time a
page needs it (``babel.messages.mofile.write_mo``), so a catalog edited and a compiled file can
never disagree and no build step is needed. To refresh the catalogs after changing the strings:

    pybabel extract -F homeward/edges/web/babel.cfg -k N_ --no-location -o /tmp/homeward.pot \
        homeward/edges/web
    pybabel update -i /tmp/homeward.pot -d homeward/edges/web/locale -D homeward --no-fuzzy-matching

then translate the new Romanian entries (tests/web/test_i18n.py fails until every one is).
"""

from __future__ import annotations

import io
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from homeward.base.clock import utc
from homeward.base.settings import SUPPORTED_LANGUAGES

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "homeward"


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(language: str) -> Catalog:
    """The ``.po`` catalog of ``language`` as Babel reads it."""
    with catalog_path(language).open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


@lru_cache(maxsize=len(SUPPORTED_LANGUAGES))
def translations(language: str) -> Translations:
    """The compiled translations of ``language`` (English, the source language, as a fallback)."""
    if language not in SUPPORTED_LANGUAGES:
        language = "en"
    buffer = io.BytesIO()
    write_mo(buffer, read_catalog(language), use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def N_(message: str) -> str:  # noqa: N802 (the gettext convention)
    """Mark ``message`` for the catalog (``pybabel extract -k N_``), to be translated later."""
    return message


def gettext(language: str, message: str) -> str:
    return translations(language).gettext(message)


# English as written in Europe (day first, 24-hour clock), as Homeward's emails write it.
_LOCALES = {"en": "en_GB", "ro": "ro_RO"}


def _locale(language: str) -> Locale:
    return Locale.parse(_LOCALES.get(language, "en_GB"))


def short_date(value: date | datetime, language: str, tz: ZoneInfo) -> str:
    """A day as people of ``language`` write it ("6 December 2026", "6 decembrie 2026"): for
    a moment, the day it is in ``tz``."""
    day = utc(value).astimezone(tz).date() if isinstance(value, datetime) else value
    return format_date(day, format="long", locale=_locale(language))


def moment(value: datetime, language: str, tz: ZoneInfo) -> str:
    """A moment in ``tz`` ("6 December 2026, 14:05")."""
    local = utc(value).astimezone(tz)
    day = format_date(local.date(), format="long", locale=_locale(language))
    return f"{day}, {format_datetime(local, format='HH:mm', tzinfo=tz, locale=_locale(language))}"
