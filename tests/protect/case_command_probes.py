"""Probes of the case, closure and consent commands for the principal matrix
(tests/protect/test_principal_matrix.py, ``_load_probes``): one ordinary request per command,
against its world (``w.adult``: an adult's case in ``identified_abroad`` shared with iom-ro and
adpare; ``w.minor``; ``w.clock``). The requests are chosen so that the world stays as it is for
the principals that come after: those that go through change nothing anyone else would see.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeward.commands import case_page, case_views, cases, closure_runs, closures, consent
from homeward.protection.consent import ConsentIn
from homeward.protection.vault import PersonIn
from statemachines.cases import CaseIn
from statemachines.steps import ClosureReason, ClosureRejection

Register = Callable[..., Callable[[Callable[[Any], Any]], Any]]
SHARING_IOM_RO = ConsentIn(purpose="sharing", org="iom-ro", method="signed", language="ro")


def register(probe: Register) -> None:
    """Add one probe per command to the matrix's table."""
    table: dict[str, Callable[[Any], Any]] = {
        "StartCase": lambda _w: cases.StartCase(CaseIn(participants={"ngo": "adpare"})),
        "ShowCase": lambda w: case_views.ShowCase(w.adult),
        "ShowCasePersonal": lambda w: case_views.ShowCasePersonal(w.adult),
        "CaseItems": lambda w: case_views.CaseItems(w.adult),
        "ListCases": lambda _w: case_views.ListCases(),
        "CaseHistory": lambda w: case_views.CaseHistory(w.adult),
        "CasePage": lambda w: case_page.CasePage(w.adult),
        "FindItem": lambda w: case_page.FindItem(w.item()),
        "StartedCase": lambda _w: case_page.StartedCase("web:matrix-probe-1"),
        "StartForm": lambda _w: case_page.StartForm(),
        # blocking items are open: refused for those who may move it, as for the others
        "AdvanceCase": lambda w: cases.AdvanceCase(
            w.adult, "record_consent", {"method": "signed", "language": "ro"}
        ),
        "EnterPerson": lambda w: cases.EnterPerson(
            w.adult, PersonIn(given_name="Matrix", family_name="Person")
        ),
        "TransferCase": lambda w: cases.TransferCase(w.adult, "fmb"),  # no sharing consent
        "AcceptTransfer": lambda w: cases.AcceptTransfer(w.adult),  # none offered
        "RejectTransfer": lambda w: cases.RejectTransfer(w.adult, "not ours"),
        "LegalHold": lambda w: cases.LegalHold(w.adult, True),
        "GiveConsent": lambda w: consent.GiveConsent(w.adult, SHARING_IOM_RO),  # given already
        "WithdrawConsent": lambda w: consent.WithdrawConsent(w.adult, "data_processing"),
        "ListConsents": lambda w: consent.ListConsents(w.adult),
        # identified_abroad may not close: every closure command is refused or finds nothing
        "RequestClosure": lambda w: closures.RequestClosure(
            w.adult, ClosureReason.SUPPORT_PERIOD_ENDED
        ),
        "ClosureStatus": lambda w: closures.ClosureStatus(w.adult),
        "ApproveClosure": lambda w: closures.ApproveClosure(w.adult),
        "RejectClosure": lambda w: closures.RejectClosure(
            w.adult, ClosureRejection.WORK_OUTSTANDING
        ),
        "ClosureOutcome": lambda w: closure_runs.ClosureOutcome(w.adult, 1),
        "ExpireClosure": lambda w: closure_runs.ExpireClosure(w.adult, 1, 60),
        "RenewedClosure": lambda w: closure_runs.RenewedClosure(w.adult, 1, "run-1"),
        "PendingClosures": lambda _w: closure_runs.PendingClosures(),
        "RenewClosure": lambda w: closure_runs.RenewClosure(w.adult, 1, "run-1"),
    }
    for name, make in table.items():
        probe(name)(make)
