"""A code offered in a form as a human label that still carries it: ``IOM Romania (iom-ro)``.

Prefect's UI (both its pages, 3.8) draws a field with an ``enum`` as a dropdown whose options
are the enum's values as they are: it has no separate label for a value (no ``enumNames``; an
``anyOf`` of titled ``const`` options becomes a row of tabs, not a dropdown). So a form that
should show people names rather than codes offers labels as its values, each ending in its code
in brackets, and whoever reads the value takes the code back out (``code_of``). The labels are
names of organisations, countries, counties and fixed lists: never a person's data.

``offered`` turns codes into the labels a form's schema offers, for a program that creates a
run from a deployment (the web workspace, tests): a code the form does not offer stays as it was,
and the server refuses it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

LABELLED = re.compile(r"^.+ \((?P<code>[^()\s]+)\)$")


def choice(meaning: str, code: str) -> str:
    """``code`` as a form offers it: ``choice("IOM Romania", "iom-ro")`` is
    ``IOM Romania (iom-ro)`` (the code alone when its meaning is the code)."""
    return code if meaning == code else f"{meaning} ({code})"


def code_of(value: Any) -> Any:
    """The code a chosen label carries (``IOM Romania (iom-ro)`` -> ``iom-ro``); anything
    else as it is (a code given as one, a number, None)."""
    if isinstance(value, str):
        found = LABELLED.match(value)
        if found:
            return found["code"]
    return value


def options(prop: Mapping[str, Any], schema: Mapping[str, Any]) -> list[Any]:
    """The values a form's field offers (its own ``enum`` or its ``$ref``'s), or none."""
    ref = str(prop.get("$ref", "")).rsplit("/", 1)[-1]
    found = prop.get("enum") or schema.get("definitions", {}).get(ref, {}).get("enum") or []
    return list(found)


def offered(
    schema: Mapping[str, Any],
    parameters: Mapping[str, Any],
    properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``parameters`` with each code replaced by the label the form ``schema`` offers for it
    (its fields: ``properties``, default the schema's own)."""
    if properties is None:
        properties = schema.get("properties", {})
    result = dict(parameters)
    for name, value in parameters.items():
        labels = options(properties.get(name, {}), schema)
        if not isinstance(value, str) or value in labels:
            continue
        matches = [label for label in labels if isinstance(label, str) and code_of(label) == value]
        if len(matches) == 1:
            result[name] = matches[0]
    return result
