"""Probes of the reintegration plan's commands (issue 16) for the principal matrix
(tests/protect/test_principal_matrix.py): one ordinary request per command, against its world
(the adult's case is not yet received, so the plan's writes are refused there, leaving no
trace; a service number that names nothing answers "not found")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from homeward.base.clock import local_date
from homeward.commands import plan

Register = Callable[..., Callable[[Callable[[Any], Any]], Any]]


def register(probe: Register) -> None:
    """Add one probe per command to the matrix's table."""
    table: dict[str, Callable[[Any], Any]] = {
        "ShowPlan": lambda w: plan.ShowPlan(w.adult),
        "DraftPlan": lambda w: plan.DraftPlan(w.adult, "a summary"),
        "AddGoal": lambda w: plan.AddGoal(w.adult, "economic", "a job"),
        "AddService": lambda w: plan.AddService(
            w.adult,
            "medical",
            "adpare",
            local_date(w.clock.now()) + timedelta(days=7),
            None,
            10000,
            "EUR",
            None,
        ),
        "SubmitPlan": lambda w: plan.SubmitPlan(w.adult),
        "ApprovePlan": lambda w: plan.ApprovePlan(w.adult),
        "RejectPlan": lambda w: plan.RejectPlan(w.adult, "not yet complete"),
        "ServiceStarted": lambda _w: plan.ServiceStarted(1),
        "ServiceDelivered": lambda _w: plan.ServiceDelivered(1, None, 100, "EUR"),
        "ServiceCancelled": lambda _w: plan.ServiceCancelled(1, "no longer needed"),
    }
    for name, make in table.items():
        probe(name)(make)
