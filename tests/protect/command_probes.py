"""Probes of the item, handoff, report, import, scheduled and directory commands for the
principal matrix (tests/protect/test_principal_matrix.py): one ordinary request per command,
against its world.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from homeward.base.clock import local_date
from homeward.commands import directory, handoffs, imports, items, reports, scheduled
from homeward.records.directory import (
    GenitiveIn,
    MailboxIn,
    OrganisationIn,
    StaffChangeIn,
    StaffIn,
)
from homeward.reporting.programmes import ProgrammeIn

Register = Callable[..., Callable[[Callable[[Any], Any]], Any]]


def _due(world: Any) -> date:
    return local_date(world.clock.now()) + timedelta(days=14)


def register(probe: Register) -> None:
    """Add one probe per command to the matrix's table."""
    table: dict[str, Callable[[Any], Any]] = {
        "ListItems": lambda w: items.ListItems(ref=w.adult),
        "ShowItem": lambda w: items.ShowItem(w.item()),
        "DoneItem": lambda w: items.DoneItem(w.item(), None, None, None),
        "SkipItem": lambda w: items.SkipItem(w.item(), "not needed here", None),
        "AssignItem": lambda w: items.AssignItem(w.item(), "coord@iom-it.example.org", None),
        "ReopenItem": lambda w: items.ReopenItem(w.item(), "needed after all", None),
        "ChangeDue": lambda w: items.ChangeDue(w.item(), _due(w), "court date set", None),
        "ProposeHandoff": lambda w: handoffs.ProposeHandoff(w.item(), "adpare", None, None),
        "AcceptHandoff": lambda w: handoffs.AcceptHandoff(w.item(), None),
        "RejectHandoff": lambda w: handoffs.RejectHandoff(w.item(), "not ours", None),
        "ImportCases": lambda _w: imports.ImportCases([], [], False, None),
        "AddProgramme": lambda w: reports.AddProgramme(
            ProgrammeIn(
                code="matrix-1",
                name="Matrix programme",
                donor="A donor",
                starts_on=local_date(w.clock.now()) - timedelta(days=30),
                ends_on=local_date(w.clock.now()) + timedelta(days=300),
            )
        ),
        "ListProgrammes": lambda _w: reports.ListProgrammes(),
        "EnrolCases": lambda w: reports.EnrolCases("matrix-1", (w.adult,)),
        "RunReport": lambda _w: reports.RunReport("stages"),
        "RunAllReports": lambda _w: reports.RunAllReports(None),
        "ExportHtcds": lambda _w: reports.ExportHtcds(),
        "ReadCaseload": lambda _w: reports.ReadCaseload(),
        "QueueReminders": lambda _w: scheduled.QueueReminders(),
        "ScheduleFollowUps": lambda _w: scheduled.ScheduleFollowUps(),
        "AddOrganisation": lambda _w: directory.AddOrganisation(
            OrganisationIn(slug="matrix-org", name="Matrix", kind="ngo", country="RO")
        ),
        "SetMailbox": lambda _w: directory.SetMailbox(
            "fmb", MailboxIn(email="office@fmb.example.org")
        ),
        "SetGenitive": lambda _w: directory.SetGenitive(
            "fmb", GenitiveIn(name_genitive="Fundației Micu Bogdan")
        ),
        "AddStaff": lambda _w: directory.AddStaff(
            StaffIn(org="fmb", name="Matrix", email="probe@fmb.example.org", role="caseworker")
        ),
        "ChangeStaff": lambda _w: directory.ChangeStaff(
            "cw@fmb.example.org", StaffChangeIn(role="coordinator", language="ro")
        ),
        "DeactivateStaff": lambda _w: directory.DeactivateStaff("cw@dgaspc-bv.example.org"),
        "CheckpointAudit": lambda _w: scheduled.CheckpointAudit(),
    }
    for name, make in table.items():
        probe(name)(make)
