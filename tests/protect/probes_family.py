"""Probes of the family-case commands for the principal matrix (issue 16, points 5 and 9).

Each request leaves the world as it is for whoever comes next: the added child has no birth
date (refused after the permission check), the removed member does not exist, the searched
name matches nobody."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeward.commands import family
from homeward.protection.vault import DependantIn

Register = Callable[..., Callable[[Callable[[Any], Any]], Any]]


def register(probe: Register) -> None:
    """Add one probe per command to the matrix's table."""
    table: dict[str, Callable[[Any], Any]] = {
        "AddPerson": lambda w: family.AddPerson(
            w.adult, DependantIn(relation="child", given_name="Matrix", family_name="Child")
        ),
        "ListPeople": lambda w: family.ListPeople(w.adult),
        "RemovePerson": lambda w: family.RemovePerson(w.adult, 999_999, "other"),
        "FindCaseByName": lambda _w: family.FindCaseByName("Matrix Nobody"),
    }
    for name, make in table.items():
        probe(name)(make)
