"""The workspace's gettext catalogs: every string the pages mark is in them, and every one has a
Romanian translation with the same placeholders."""

from __future__ import annotations

import re

from babel.messages.extract import extract_from_dir

from homeward.edges.web import i18n
from homeward.edges.web.deps import translate_error

WEB = i18n.LOCALE_DIR.parent
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\d+\}")


def _marked() -> set[str]:
    """Every string marked in the code and templates (as ``pybabel extract -k N_`` finds)."""
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB), METHODS, OPTIONS, keywords=keywords
    ):
        found.update([message] if isinstance(message, str) else message)
    return found


def _ids(language: str) -> set[str]:
    found: set[str] = set()
    for message in i18n.read_catalog(language):
        if message.id:
            found.update([message.id] if isinstance(message.id, str) else message.id)
    return found


def test_every_marked_string_is_in_both_catalogs() -> None:
    marked = _marked()
    assert len(marked) > 50
    for language in ("en", "ro"):
        missing = sorted(marked - _ids(language))
        assert not missing, f"{language}: not in the catalog (run pybabel update): {missing}"


def test_every_message_has_a_romanian_translation_with_its_placeholders() -> None:
    untranslated, fuzzy, mismatched = [], [], []
    for message in i18n.read_catalog("ro"):
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        forms = [message.string] if isinstance(message.string, str) else list(message.string)
        if not all(forms):
            untranslated.append(ids[0])
        if message.fuzzy:
            fuzzy.append(ids[0])
        wanted = set(PLACEHOLDER.findall(ids[-1]))  # a plural's: its last (plural) form's
        for form in forms:
            used = set(PLACEHOLDER.findall(form))
            if used != wanted and not (len(ids) > 1 and used < wanted):
                mismatched.append(ids[0])
    assert untranslated == [] and fuzzy == [] and mismatched == []


def test_an_engine_message_is_translated_with_its_values() -> None:
    text = "case RT-2026-0042 not found; see `homeward case list`"
    assert translate_error("ro", text) == (
        "dosarul RT-2026-0042 nu a fost găsit; vedeți `homeward case list`"
    )
    assert translate_error("en", text) == text
    unknown = "stage: something the catalog does not hold"
    assert translate_error("ro", unknown) == unknown


def test_each_catalog_file_is_well_formed() -> None:
    """Every entry has its msgstr and no msgid is defined twice: a text merge of two branches'
    additions once interleaved entries, which a lenient reader then paired wrongly."""
    from pathlib import Path

    from babel.messages.pofile import read_po

    for path in sorted(Path(i18n.__file__).parent.glob("locale/*/LC_MESSAGES/homeward.po")):
        text = path.read_text(encoding="utf-8")
        read_po(path.open("rb"), abort_invalid=True)  # PoFileError on an entry without msgstr
        ids = re.findall(r'^msgid ((?:".*"\n)+)', text, flags=re.M)
        repeated = {i for i in ids if ids.count(i) > 1}
        assert repeated == set(), f"{path}: defined twice: {sorted(repeated)[:3]}"
