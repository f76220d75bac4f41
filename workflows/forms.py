"""The forms the Prefect UI shows for Homeward's deployments, and the check each run makes again.

The UI draws a deployment's form from its parameter schema, which Prefect derives from the
flow's signature; with schema enforcement on (Prefect's default for deployments) the server
refuses a run whose parameters do not fit, so nothing outside the form's lists ever creates a
run. The fields here give that schema its shapes: a case_ref, an assertion and a request key
by pattern (a name typed into one does not fit), dates as dates, codes as dropdowns. ``shape``
then gives each field its human title, says what each code means, and turns countries,
counties, item outcomes and organisations into dropdowns (organisations read from the
directory at deploy time, per role by kind).

A run checks its parameters against the same shapes first (``checked``): a call that did not
pass the server's check (a Python call, a run created without enforcement) is refused in one
line naming the field, never its value, and the refused values are scrubbed from the run.
Form flows therefore turn Prefect's own validation off (``FORM``): it would echo the value.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Coroutine, Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any, ParamSpec, TypeVar, cast, get_args, get_type_hints
from uuid import UUID

from prefect import Flow, get_client
from prefect.context import FlowRunContext
from prefect.runtime import flow_run
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools.validation import validate
from pydantic import Field

from homeward.base.choices import LABELLED, choice, code_of, offered, options
from homeward.base.countries import COUNTIES, COUNTY_NAMES, ISO_3166_ALPHA2, country_name
from homeward.base.errors import InvalidInput
from homeward.base.models import PARTICIPANT_KINDS, ParticipantRole
from statemachines.step_fields import FIELD_LABELS, label_of
from tasks.catalog import available_versions, load_catalog
from workflows.refusals import refusal
from workflows.signatures import with_signature_of
from workflows.timing import timed

P = ParamSpec("P")
R = TypeVar("R")

FORM: dict[str, Any] = {"persist_result": False, "validate_parameters": False}
"""What every form flow passes to ``@flow`` besides its name: see the module."""

CaseRef = Annotated[str, Field(pattern=r"^\s*[Rr][Tt]-[A-Za-z0-9]{4}-[A-Za-z0-9]{2}\s*$")]
# A signed token (``payload.time.signature``, URL-safe base64): a word or a sentence does not fit.
ASSERTION_PATTERN = r"^\s*(\.?[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)+)?\s*$"
Assertion = Annotated[str, Field(max_length=400, pattern=ASSERTION_PATTERN)]
# A request key as programs make them (``web:...``, ``ui-open-000001``, a run id): a separator
# after letters or digits; a word or a sentence does not fit.
REQUEST_KEY_PATTERN = r"^[A-Za-z0-9]+[._:-][A-Za-z0-9._:-]*$"
RequestId = Annotated[str, Field(min_length=8, max_length=100, pattern=REQUEST_KEY_PATTERN)]
ItemId = Annotated[int, Field(ge=1)]
# Filled in as dropdowns by ``shape``; the patterns hold where no list is known.
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
County = Annotated[str, Field(pattern=r"^RO-[A-Z]{1,2}$")]
OrgSlug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")]
Outcome = Annotated[str, Field(pattern=r"^[a-z_]{2,40}$")]
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"  # Prefect's server checks no formats: the pattern does


class Language(StrEnum):
    """Languages consent is given in (ISO 639-1; Romani has only the ISO 639-2 ``rom``)."""

    RO = "ro"
    EN = "en"
    IT = "it"
    ES = "es"
    FR = "fr"
    DE = "de"
    NL = "nl"
    PT = "pt"
    EL = "el"
    HU = "hu"
    BG = "bg"
    PL = "pl"
    CS = "cs"
    SK = "sk"
    HR = "hr"
    SR = "sr"
    SQ = "sq"
    MK = "mk"
    UK = "uk"
    RU = "ru"
    TR = "tr"
    AR = "ar"
    ROM = "rom"


LANGUAGE_NAMES = {
    "ro": "Romanian", "en": "English", "it": "Italian", "es": "Spanish", "fr": "French",
    "de": "German", "nl": "Dutch", "pt": "Portuguese", "el": "Greek", "hu": "Hungarian",
    "bg": "Bulgarian", "pl": "Polish", "cs": "Czech", "sk": "Slovak", "hr": "Croatian",
    "sr": "Serbian", "sq": "Albanian", "mk": "Macedonian", "uk": "Ukrainian", "ru": "Russian",
    "tr": "Turkish", "ar": "Arabic", "rom": "Romani",
}  # fmt: skip

ROLE_TITLES: dict[str, str] = {
    "s_iom": "IOM mission where the person was identified (S-IOM)",
    "cons": "Romanian embassy or consulate there (CONS)",
    "r_iom": "IOM Romania, receiving (R-IOM)",
    "ngo": "Partner NGO at home (NGO)",
    "dgaspc": "County child-protection directorate, for a minor (DGASPC)",
    "anitp": "National anti-trafficking agency (ANITP)",
    "le": "Police or prosecutors (LE)",
}

TITLES: dict[str, str] = {
    **FIELD_LABELS,
    **ROLE_TITLES,
    "case_ref": "Case (its reference, e.g. RT-7KQ2-M9)",
    "assertion": "Who acts, proven (your run assertion)",
    "request_id": "Request key (leave empty)",
    "language": "Language of the consent",
    "item_id": "Checklist item (its # number)",
    "result": "Done or skipped",
    "outcome": "Outcome (items that have one)",
    "skip_reason": "Why it is skipped",
    "action": "Hand off, accept or reject",
    "to_org": "Hand it to (organisation)",
    "rejection": "Why it is rejected",
    "trigger": "What happens",
    "again": "Travel was arranged before (new document or dates)",
    "is_minor": "The person is a minor",
    "route": "Route",
    "host_country": "Country where the person was identified",
    "destination_country": "Country of return",
    "destination_county": "County in Romania where the person lives or goes",
    "closure_request": "Closure request (its number)",
}

# Fields given a list at deploy or run time, by what they hold.
COUNTRY_FIELDS = frozenset({"host_country", "destination_country"})
COUNTY_FIELDS = frozenset({"destination_county"})
OUTCOME_FIELDS = frozenset({"outcome"})
ANY_ORG_FIELDS = frozenset({"to_org"})
ORG_FIELDS = ANY_ORG_FIELDS | frozenset(ROLE_TITLES)

# Shapes given by name in every deployment's form, the scheduled flows' included.
SHAPES: dict[str, dict[str, Any]] = {
    "assertion": {"pattern": ASSERTION_PATTERN, "maxLength": 400},
    "request_id": {"pattern": REQUEST_KEY_PATTERN, "minLength": 8, "maxLength": 100},
    "programmes": {"items": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$"}},
}

HINTS: dict[str, str] = {
    "case_ref": "give a case reference like RT-7KQ2-M9",
    "assertion": "paste the run assertion `homeward assertion --flow NAME` printed, as it is",
    "request_id": "8-100 of letters, digits and . _ : - (or leave it empty)",
}

Directory = Mapping[str, Iterable[tuple[str, str, str]]]
"""Organisations by kind: (slug, name, country) each."""


def shape(
    schema: dict[str, Any], directory: Directory | None = None, *, labelled: bool = True
) -> dict[str, Any]:
    """``schema`` (a flow's parameter schema) as its form: titles, dropdowns, codes explained.

    Args:
        schema: what ``prefect.utilities.callables.parameter_schema`` made of the flow.
        directory: the organisations by kind, for the organisation dropdowns (None: slugs
            are checked by their shape only, and by the engine).
        labelled: offer each code as its human label (``IOM Romania (iom-ro)``,
            ``homeward.base.choices``), as the Prefect UI shows it; False: the codes themselves
            (the run's own check, after ``codes_of``).

    Returns:
        A new schema; the given one is left as it was.
    """
    shaped = copy.deepcopy(schema)
    for name, prop in shaped.get("properties", {}).items():
        _unwrap_optional(prop)
        prop["title"] = TITLES.get(name, name.replace("_", " ").capitalize())
        names = _lists(name, prop, directory)
        _set_shape(prop, SHAPES.get(name, {}))
        if prop.get("format") == "date":
            prop["pattern"] = DATE_PATTERN
        if labelled and prop.get("enum"):
            codes = [str(c) for c in prop["enum"]]
            prop["enum"] = [choice(names.get(c) or _meaning(name, c), c) for c in codes]
    return labelled_lists(shaped) if labelled else shaped


def labelled_lists(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with each list of codes its definitions hold offered as labels, and each
    default that is one of them as its label (in place; returned)."""
    for definition in schema.get("definitions", schema.get("$defs", {})).values():
        if definition.get("enum"):
            codes = [str(c) for c in definition["enum"]]
            definition["enum"] = [choice(_meaning("", c), c) for c in codes]
    definitions = {"definitions": schema.get("definitions", schema.get("$defs", {}))}
    for prop in schema.get("properties", {}).values():
        if isinstance(prop.get("default"), str):
            prop["default"] = offered(definitions, {"x": prop["default"]}, {"x": prop})["x"]
    return schema


def _meaning(name: str, code: str) -> str:
    """What a code of field ``name`` means, in words."""
    if name in COUNTRY_FIELDS:
        return country_name(code)
    if name in COUNTY_FIELDS:
        return COUNTY_NAMES.get(code, code)
    return LANGUAGE_NAMES.get(code) or label_of(code)


def _set_shape(prop: dict[str, Any], given: dict[str, Any]) -> None:
    """Give the field ``given`` (its string, or its list's items, where it is one)."""
    for option in prop.get("anyOf", [prop]):
        if option.get("type") in ("string", "array"):
            option.update(
                {k: v for k, v in given.items() if (k == "items") == (option["type"] == "array")}
            )


def _unwrap_optional(prop: dict[str, Any]) -> None:
    """``X | None = None`` as a plain X field left empty: the UI shows no "null" toggle."""
    options = prop.get("anyOf")
    if not options or prop.get("default", ...) is not None:
        return
    kept = [o for o in options if o.get("type") != "null"]
    if len(kept) == 1:
        del prop["anyOf"], prop["default"]
        prop.update(kept[0])


def _lists(name: str, prop: dict[str, Any], directory: Directory | None) -> dict[str, str]:
    """Give field ``name`` its list, if it has one; the names of the organisations listed."""
    names: dict[str, str] = {}
    if name in COUNTRY_FIELDS:
        prop["enum"] = sorted(ISO_3166_ALPHA2, key=country_name)
    elif name in COUNTY_FIELDS:
        prop["enum"] = sorted(COUNTIES, key=lambda code: COUNTY_NAMES.get(code, code))
    elif name in OUTCOME_FIELDS:
        prop["enum"] = outcome_codes()
    elif directory is not None and name in ORG_FIELDS:
        kinds = [str(PARTICIPANT_KINDS[ParticipantRole(name)])] if name in ROLE_TITLES else None
        orgs = sorted((org, slug) for kind, found in directory.items() if not kinds or kind in kinds
                      for slug, org, _ in found)  # fmt: skip
        if orgs:
            prop["enum"] = [slug for _, slug in orgs]
            names = {slug: org for org, slug in orgs}
    if "enum" in prop:
        prop.pop("pattern", None)
    return names


def _enum_of(prop: dict[str, Any], definitions: dict[str, Any]) -> list[str]:
    codes = options(prop, {"definitions": definitions})
    return [str(c) for c in codes] if len(codes) <= 30 else []


def outcome_codes() -> list[str]:
    """Every outcome a checklist item of any process version records."""
    found = {
        outcome
        for version in available_versions()
        for specs in load_catalog(version).stages.values()
        for spec in specs
        for outcome in spec.outcomes
    }
    return sorted(found)


def form_schema(
    fn: Any, directory: Directory | None = None, *, labelled: bool = True
) -> dict[str, Any]:
    """The form of flow function ``fn``, as its deployment publishes it (``labelled``) or as
    its run checks it (codes)."""
    return shape(parameter_schema(fn).model_dump(), directory, labelled=labelled)


def choice_fields(schema: dict[str, Any]) -> frozenset[str]:
    """The fields of a form (shaped with codes) whose values are codes from a list."""
    lists = COUNTRY_FIELDS | COUNTY_FIELDS | OUTCOME_FIELDS | ORG_FIELDS
    return frozenset(
        name
        for name, prop in schema.get("properties", {}).items()
        if name in lists or options(prop, schema)
    )


def codes_of(parameters: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """``parameters`` with the labels chosen in ``fields`` turned back into their codes."""
    chosen = frozenset(fields)
    return {k: (code_of(v) if k in chosen else v) for k, v in parameters.items()}


def takes_codes(made: Flow[P, R]) -> Flow[P, R]:
    """Put over ``@flow`` (under ``@refusals_end_runs``): the form offers labels, the flow's
    code gets the codes they carry (as the field's enum where it is one).

    Prefect stores and shows the run's parameters as chosen (``IOM Romania (iom-ro)``); the
    flow's body reads ``iom-ro``."""
    fn: Callable[..., Any] = made.fn
    hints = get_type_hints(fn, include_extras=True)
    fields = choice_fields(form_schema(fn, labelled=False))
    enums = {name: kind for name in fields if (kind := _enum_type(hints.get(name)))}

    signature = inspect.signature(fn, eval_str=True)

    @functools.wraps(fn)
    def coded(*args: Any, **kwargs: Any) -> Any:
        # Prefect passes a run's parameters by position: each is bound to its name first
        given = codes_of(signature.bind_partial(*args, **kwargs).arguments, fields)
        for name, kind in enums.items():
            if isinstance(given.get(name), str):
                try:
                    given[name] = kind(given[name])
                except ValueError:
                    pass  # not one of its codes: the run's check refuses it
        return fn(**given)

    coded.__signature__ = signature  # type: ignore[attr-defined]
    coded.__annotations__ = hints
    made.fn = coded
    return made


def _enum_type(hint: Any) -> type[StrEnum] | None:
    """The StrEnum a field is annotated with (``X`` or ``X | None``), if one."""
    for kind in (hint, *get_args(hint)):
        if isinstance(kind, type) and issubclass(kind, StrEnum):
            return kind
    return None


# --- the run's own check ----------------------------------------------------------------------


async def checked() -> None:
    """Refuse this run's parameters unless they fit its form, scrubbing what did not fit.

    The message names the first field that does not fit and what it takes, never the value."""
    context = FlowRunContext.get()
    if context is None or context.flow is None:
        return
    with timed("checked"):
        await _checked(context.flow.fn)


async def _checked(fn: Callable[..., Any], stored: bool = False) -> None:
    context = FlowRunContext.get()
    run = context.flow_run if context else None
    given = run.parameters if stored and run is not None else flow_run.get_parameters()
    parameters = dict(given)
    schema = form_schema(fn, labelled=False)
    fields = choice_fields(schema)
    refused = _refused(codes_of(parameters, fields), schema)
    if any(isinstance(v := parameters.get(n), str) and LABELLED.match(v) for n in fields):
        offered_form = await _offered_form() or form_schema(fn, labelled=True)
        refused += [n for n in _not_offered(parameters, fields, offered_form) if n not in refused]
    if not refused:
        return
    await _scrub({k: ("(refused)" if k in refused else v) for k, v in parameters.items()})
    raise InvalidInput(_message(refused[0], schema))


def checks_first(made: Flow[P, Coroutine[Any, Any, R]]) -> Flow[P, Coroutine[Any, Any, R]]:
    """Put over ``@flow`` of a scheduled flow (under ``@ends_crash_loops`` or
    ``@refusals_end_runs``): a run whose parameters do not fit the flow's form (a parameter it
    does not take, a value of another type) ends ``Refused`` naming the field, its values
    scrubbed, before the flow does anything, as a form flow's (``checked``).

    The scheduler creates a schedule's runs with the schedule's parameters and never checks
    them against the deployment's schema (the gate gives no schedule parameters, but a run may
    come from elsewhere). Prefect would bind them first, failing the run on a parameter the
    flow does not take: here they bind as none (the flow's defaults) when they do not fit, and
    the check, the call's first step, refuses the run from the parameters Prefect stored."""
    fn = made.fn
    schema = form_schema(fn, labelled=False)
    fields = choice_fields(schema)
    prefect_validates = made.validate_parameters

    def validated(parameters: dict[str, Any]) -> dict[str, Any]:
        if _refused(codes_of(parameters, fields), schema):
            return {}  # none of them reach the call: its check refuses the run
        return prefect_validates(parameters)

    made.validate_parameters = validated  # type: ignore[method-assign]

    @functools.wraps(fn)
    async def checked_first(*args: P.args, **kwargs: P.kwargs) -> R:
        if FlowRunContext.get() is not None:
            try:
                with timed("checked"):
                    await _checked(fn, stored=True)
            except InvalidInput as exc:
                return cast(R, refusal(exc))  # Prefect makes a returned state the run's final
        return await fn(*args, **kwargs)

    with_signature_of(checked_first, fn)
    made.fn = checked_first
    return made


async def _offered_form() -> dict[str, Any] | None:
    """The form this run's deployment offers (its stored schema: the labels it lists), if the
    run has a deployment."""
    context = FlowRunContext.get()
    run = context.flow_run if context else None
    if run is None or run.deployment_id is None:
        return None
    async with get_client() as client:
        found = await client.read_deployment(run.deployment_id)
    return dict(found.parameter_openapi_schema or {}) or None


def _not_offered(
    parameters: Mapping[str, Any], fields: Iterable[str], form: Mapping[str, Any]
) -> list[str]:
    """The list fields holding a label the form never offered: any text ending in ``(code)``
    would otherwise pass as its code and stay in Prefect as typed (a name, an address)."""
    properties = form.get("properties", {})
    return [
        name
        for name in fields
        if isinstance(value := parameters.get(name), str)
        and LABELLED.match(value)
        and value not in options(properties.get(name, {}), form)
    ]


def _refused(parameters: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Names of the parameters that do not fit (in form order), unknown ones included."""
    properties = schema.get("properties", {})
    bad = [name for name in parameters if name not in properties]
    for name in properties:
        if name not in parameters:
            if name in schema.get("required", []):
                bad.append(name)
            continue
        one = {**schema, "properties": {name: properties[name]}, "required": []}
        if parameters[name] is not None and validate({name: parameters[name]}, one):
            bad.append(name)
        elif parameters[name] is None and name in schema.get("required", []):
            bad.append(name)
    return bad


def _message(name: str, schema: dict[str, Any]) -> str:
    prop = schema.get("properties", {}).get(name)
    if prop is None:
        return f"{name}: not a field of this form; leave it out"
    if name in HINTS:
        return f"{name}: {HINTS[name]}"
    if prop.get("format") == "date":
        return f"{name}: give a date as YYYY-MM-DD"
    codes = _enum_of(prop, schema.get("definitions", {})) or prop.get("enum", [])
    if codes:
        shown = ", ".join(codes) if len(codes) <= 30 else "one from the list"
        return f"{name}: choose one of {shown}"
    return f"{name}: fill it in as the form asks ({prop.get('title', name)})"


async def scrub(*names: str) -> None:
    """Replace parameters ``names`` of this run by a mark (a refused run's free input)."""
    parameters = dict(flow_run.get_parameters())
    if any(parameters.get(name) is not None for name in names):
        await _scrub({k: ("(refused)" if k in names and v is not None else v)
                      for k, v in parameters.items()})  # fmt: skip


async def _scrub(parameters: dict[str, Any]) -> None:
    """Replace the run's stored parameters (Prefect keeps them as given: a name typed into a
    field would stay there for the run's whole retention)."""
    run_id = flow_run.get_id()
    if run_id is None:
        return
    async with get_client() as client:
        await client.update_flow_run(UUID(run_id), parameters=parameters)


def step_data(**fields: Any) -> dict[str, Any]:
    """A form's step fields as step data: the ones left empty are left out (defaults apply)."""
    return {name: value for name, value in fields.items() if value is not None}
