"""ISO 3166-1 alpha-2 country codes: the official list of the 249 assigned codes (as of
ISO/TC 46 N1108, 2023-04-05; the same list tzdata ships as ``iso3166.tab``).

Host and destination countries, organisations' countries and imported rows are checked against
it, so a typo such as ``XX`` or ``UK`` (the United Kingdom is ``GB``) is refused at the door.

Also Romania's counties (ISO 3166-2:RO): a case's destination county and the service directory's
(``tasks.providers``) are checked against them.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

ISO_3166_ALPHA2: frozenset[str] = frozenset(
    """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split()
)
"""Every officially assigned ISO 3166-1 alpha-2 code."""

# ISO 3166-2:RO: the 41 counties and Bucharest (RO-B).
COUNTY_CODES = (
    "AB AG AR BC BH BN BR BT BV BZ CJ CL CS CT CV DB DJ GJ GL GR HD HR IF IL IS MH MM MS NT OT "
    "PH SB SJ SM SV TL TM TR VL VN VS"
).split()
COUNTIES = frozenset({f"RO-{code}" for code in COUNTY_CODES} | {"RO-B"})
COUNTY_NAMES: dict[str, str] = {
    "RO-AB": "Alba", "RO-AG": "Argeș", "RO-AR": "Arad", "RO-B": "Bucharest", "RO-BC": "Bacău",
    "RO-BH": "Bihor", "RO-BN": "Bistrița-Năsăud", "RO-BR": "Brăila", "RO-BT": "Botoșani",
    "RO-BV": "Brașov", "RO-BZ": "Buzău", "RO-CJ": "Cluj", "RO-CL": "Călărași",
    "RO-CS": "Caraș-Severin", "RO-CT": "Constanța", "RO-CV": "Covasna", "RO-DB": "Dâmbovița",
    "RO-DJ": "Dolj", "RO-GJ": "Gorj", "RO-GL": "Galați", "RO-GR": "Giurgiu", "RO-HD": "Hunedoara",
    "RO-HR": "Harghita", "RO-IF": "Ilfov", "RO-IL": "Ialomița", "RO-IS": "Iași",
    "RO-MH": "Mehedinți", "RO-MM": "Maramureș", "RO-MS": "Mureș", "RO-NT": "Neamț", "RO-OT": "Olt",
    "RO-PH": "Prahova", "RO-SB": "Sibiu", "RO-SJ": "Sălaj", "RO-SM": "Satu Mare",
    "RO-SV": "Suceava", "RO-TL": "Tulcea", "RO-TM": "Timiș", "RO-TR": "Teleorman",
    "RO-VL": "Vâlcea", "RO-VN": "Vrancea", "RO-VS": "Vaslui",
}  # fmt: skip
"""Each county's name (ISO 3166-2:RO), for the forms' dropdowns."""


def check_country(value: str) -> str:
    """``value`` upper-cased if it is an assigned ISO 3166-1 alpha-2 code; ``ValueError`` if not.

    The message names the fix, never echoes more than the two letters given.
    """
    code = value.strip().upper()
    if code not in ISO_3166_ALPHA2:
        shown = code if len(code) == 2 and code.isalpha() else "it"
        raise ValueError(
            f"{shown} is not an ISO 3166-1 alpha-2 country code; use one such as RO, IT, ES or GB"
        )
    return code


ZONE_CHOICES: dict[str, str] = {
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
    "US": "America/New_York",
    "CA": "America/Toronto",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
}
"""Countries with several time zones: the one their offices are most likely in (elsewhere the
first zone tzdata's ``zone.tab`` lists for the country, which is the only one in Europe)."""


@cache
def _zone_tab() -> dict[str, str]:
    """The first zone of each country in tzdata's ``zone.tab`` (country code -> zone name)."""
    try:
        text = (resources.files("tzdata") / "zoneinfo" / "zone.tab").read_text(encoding="utf-8")
    except ModuleNotFoundError:  # no tzdata package: the system's copy
        text = Path("/usr/share/zoneinfo/zone.tab").read_text(encoding="utf-8")
    zones: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, _where, zone, *_ = line.split("\t")
            zones.setdefault(code, zone)
    return zones


def country_zone(code: str) -> ZoneInfo | None:
    """The time zone of an organisation in country ``code`` (``RO`` -> Europe/Bucharest), or
    None for a code tzdata has no zone for (the caller falls back to the home zone)."""
    name = ZONE_CHOICES.get(code) or _zone_tab().get(code)
    return ZoneInfo(name) if name else None


@cache
def country_names() -> dict[str, str]:
    """Each code's English short name, as tzdata's ``iso3166.tab`` gives it (``IT`` -> Italy)."""
    try:
        tab = resources.files("tzdata") / "zoneinfo" / "iso3166.tab"
        text = tab.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # no tzdata package: the system's copy
        text = Path("/usr/share/zoneinfo/iso3166.tab").read_text(encoding="utf-8")
    names: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, name = line.split("\t", 1)
            names[code] = name.strip()
    return names


def country_name(code: str) -> str:
    """A country's name (``RO`` -> Romania), or its code when tzdata names no such country."""
    return country_names().get(code, code)
