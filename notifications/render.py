"""Rendering emails: one sandboxed jinja2 Environment, autoescaping HTML, StrictUndefined.

Templates live in ``templates/<name>/<language>/{subject.txt,body.txt,body.html}``. Each is
rendered from its context model's ``model_dump()`` (plain values), so a template can use the
allow-listed fields and nothing else: a name it does not know fails loudly (StrictUndefined).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import datetime
from functools import cache, cached_property
from typing import Any

from jinja2 import PackageLoader, StrictUndefined, Template, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import ValidationError

from homeward.base.errors import InvalidInput
from homeward.records.directory import first_error
from notifications.calendar import invitation, method_of
from notifications.contexts import TEMPLATES, AppointmentContext, Context
from notifications.i18n import check_language, long_day
from notifications.message import Attachment, Rendered, check_header

PARTS = ("subject.txt", "body.txt", "body.html")


def counted(count: int, language: str, one: str, many: str) -> str:
    """``count`` and a noun in the right number: "1 case", "3 cases"; in Romanian "1 caz",
    "3 cazuri", "20 de cazuri" (from 20 on, "de" before the noun, unless the last two digits
    are 01-19)."""
    if count == 1:
        return f"1 {one}"
    of = " de" if language == "ro" and count >= 20 and count % 100 not in range(1, 20) else ""
    return f"{count}{of} {many}"


def days(count: int, language: str) -> str:
    """``count`` days in words: "1 day", "3 days"; "1 zi", "3 zile", "20 de zile"."""
    return counted(count, language, *(("zi", "zile") if language == "ro" else ("day", "days")))


def genitive(name: str, forms: Mapping[str, str]) -> str:
    """An organisation's name in the Romanian genitive-dative: the form it stored ("Asociației
    ADPARE"), else phrased around it after a declined noun ("organizației ADPARE"), which reads
    right whatever the name's gender and ending."""
    return forms.get(name) or f"organizației {name}"


class _Environment(ImmutableSandboxedEnvironment):
    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as a plain dict, not jinja's ChainMap over the environment's:
        every render (and every include or layout it pulls in) copies them into a new dict,
        which from a ChainMap costs a few microseconds each, several times per email. Jinja
        asks that globals not change once a template is loaded; ours are set in
        ``_environment`` and never change."""
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``obj.attribute`` in a template: for a context's plain dict and a key that is no
        attribute of dicts, straight its value, as jinja would find it anyway (the attribute
        lookup fails, then the item is returned); one failed attribute lookup (an exception)
        less, some 25 times per email. Anything else goes through the sandbox's checks."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def get_template(
        self,
        name: str | Template,
        parent: str | None = None,
        globals: MutableMapping[str, Any] | None = None,  # noqa: A002 (jinja's name)
    ) -> Template:
        """A layout, include or import a template pulls in, at every render: remembered by
        name, as jinja's own cache does (templates never reload: ``auto_reload=False``), but
        without its lock and bookkeeping."""
        if globals is not None or not isinstance(name, str):
            return super().get_template(name, parent, globals)
        key = (name, parent)
        found = self._loaded.get(key)
        if found is None:
            found = self._loaded[key] = super().get_template(name, parent)
        return found

    @cached_property
    def _loaded(self) -> dict[tuple[str, str | None], Template]:
        return {}


_DICT_ATTRIBUTES = frozenset(dir(dict))


def _environment() -> ImmutableSandboxedEnvironment:
    env = _Environment(
        loader=PackageLoader("notifications", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the package: no stat() per render
    )
    env.filters["long_day"] = long_day
    env.filters["days"] = days
    env.filters["genitive"] = genitive
    env.filters["counted"] = counted
    return env


ENVIRONMENT = _environment()


def template_names() -> list[str]:
    """Every template Homeward can send."""
    return sorted(TEMPLATES)


def check_template(template: str) -> str:
    """``template`` if it exists, else ``InvalidInput`` listing the templates."""
    if template not in TEMPLATES:
        raise InvalidInput(f"template: {template!r} is unknown; use one of {', '.join(TEMPLATES)}")
    return template


def validate_context(template: str, context: Context | Mapping[str, Any]) -> Context:
    """The template's typed context, built from a model or a mapping (e.g. a stored row)."""
    model = TEMPLATES[check_template(template)]
    if isinstance(context, model):
        return context
    if isinstance(context, Context):
        raise InvalidInput(f"context: template {template} takes a {model.__name__}")
    try:
        return model.model_validate(context)
    except ValidationError as exc:
        raise first_error(exc) from None


def render(
    template: str,
    language: str,
    context: Context | Mapping[str, Any],
    *,
    stamp: datetime,
    domain: str = "homeward.invalid",
) -> Rendered:
    """Subject, text and HTML of ``template`` in ``language``, plus calendar invitations.

    ``stamp`` dates the invitations (use the message's creation time, so a resend is identical);
    ``domain`` qualifies their UIDs (the sender's domain).
    """
    model = validate_context(template, context)
    values = model.model_dump()
    check_language(language)
    subject, text, html = (part.render(values) for part in _compiled(template, language))
    return Rendered(
        subject=check_header("Subject", " ".join(subject.split())),
        text=text.strip() + "\n",
        html=html,
        attachments=_invitations(model, language, stamp, domain),
    )


@cache
def _compiled(template: str, language: str) -> tuple[Template, ...]:
    """The compiled parts of ``template`` in ``language``, looked up once (both are checked
    before, so the cache holds at most one entry per template and language)."""
    return tuple(ENVIRONMENT.get_template(f"{template}/{language}/{part}") for part in PARTS)


def _invitations(
    model: Context, language: str, stamp: datetime, domain: str
) -> tuple[Attachment, ...]:
    """The calendar invitation of an appointment or visit email (no other email has one: a
    digest lists visits, it does not invite to them). ``charset`` says the object is UTF-8,
    so Romanian titles arrive intact; ``method`` repeats the object's, as iMIP requires."""
    if not isinstance(model, AppointmentContext):
        return ()
    return (
        Attachment(
            filename=f"{model.case_ref}-item-{model.item_number}.ics",
            content=invitation(model, language=language, stamp=stamp, domain=domain),
            maintype="text",
            subtype="calendar",
            params={"charset": "utf-8", "method": method_of(model)},
        ),
    )
