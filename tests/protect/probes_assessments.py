"""Probes of the assessment and service-directory commands (issue 16, points 7 and 8) for the
principal matrix (tests/protect/test_principal_matrix.py): one ordinary request per command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeward.commands import assessments, providers

Register = Callable[..., Callable[[Callable[[Any], Any]], Any]]

RISK = {
    "trafficker_knows_home": "yes",
    "trafficker_contacts_family": "no",
    "network_in_destination": "no",
    "family_involved": "no",
    "threats_received": "no",
    "debt": "no",
    "no_income": "no",
    "prior_trafficking": "no",
    "substance_use": "no",
    "health": "none",
}


def register(probe: Register) -> None:
    """Add one probe per command to the matrix's table."""
    table: dict[str, Callable[[Any], Any]] = {
        "Questions": lambda _w: assessments.Questions("risk"),
        "RecordAssessment": lambda w: assessments.RecordAssessment(w.adult, "risk", RISK),
        "ListAssessments": lambda w: assessments.ListAssessments(w.adult),
        "ShowAssessment": lambda _w: assessments.ShowAssessment(1),
        "ReviewAssessment": lambda _w: assessments.ReviewAssessment(1),
        "ProposeServices": lambda w: assessments.ProposeServices(w.adult),
        "AddService": lambda _w: providers.AddService("housing", "RO-CJ", 4),
        "RemoveService": lambda _w: providers.RemoveService("housing", "RO-CJ"),
        "ListServices": lambda _w: providers.ListServices(),
        "SetDestinationCounty": lambda w: providers.SetDestinationCounty(w.adult, "RO-BV"),
    }
    for name, make in table.items():
        probe(name)(make)
