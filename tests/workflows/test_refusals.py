"""Issue 18 point 2: a business refusal ends a run in a state of its own (Completed, named
``Refused``, the one line as message, one warning in the log, no traceback); a fault still
fails it, with its traceback. On a real Prefect server (the session's harness)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.schemas.objects import StateType
from prefect.utilities.hashing import file_hash

from homeward.base.clock import SimulatedClock
from homeward.base.errors import AuditBroken, SetupRefused, TooMany
from tests import conftest as root
from tests import factories
from tests.factories import COORD
from tests.signin import assertion_for
from tests.workflows.helpers import log_of, run, run_named
from workflows import advance_case as advance_case_module
from workflows.advance_case import advance_case
from workflows.refusals import LONGEST, reason_line, refusals_end_runs


def test_a_refusal_s_line_is_one_printable_line_of_bounded_length() -> None:
    assert reason_line("case RT-1: cannot\n  suspend\t here") == "case RT-1: cannot suspend here"
    assert reason_line("data.note: \x1b[31mred\u202e") == "data.note: \ufffd[31mred\ufffd"
    long = reason_line("x" * 1000)
    assert len(long) == LONGEST and long.endswith("…")


@refusals_end_runs
@flow(name="refusal-probe", persist_result=False)
async def _probe(fault: bool, count: int = 1) -> dict[str, Any]:
    """Refuses (TooMany, with a message to be made one line), or fails on a fault."""
    if fault:
        raise AuditBroken("audit: entry 7 does not verify")
    raise TooMany(f"sign-in codes: {count} asked for\nwait 15 minutes")


def test_the_decorator_ends_refusals_refused_and_lets_faults_fail() -> None:
    refused = asyncio.run(_probe(fault=False, count=3, return_state=True))
    failed = asyncio.run(_probe(fault=True, return_state=True))

    assert refused.name == "Refused" and refused.type == StateType.COMPLETED
    assert refused.message == "sign-in codes: 3 asked for wait 15 minutes"
    assert failed.type == StateType.FAILED and "entry 7 does not verify" in (failed.message or "")
    refused_log = asyncio.run(log_of(refused.state_details.flow_run_id))  # type: ignore[arg-type]
    failed_log = asyncio.run(log_of(failed.state_details.flow_run_id))  # type: ignore[arg-type]
    assert (logging.WARNING, f"Refused: {refused.message}") in refused_log
    assert not any("Traceback" in m or lv >= logging.ERROR for lv, m in refused_log)
    assert any("Traceback" in m and lv >= logging.ERROR for lv, m in failed_log)  # a fault's


@pytest.mark.usefixtures("homeward")
def test_a_setup_fault_still_fails_the_run_with_its_traceback(
    clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A database that is not Homeward's (here: empty, no schema) is the operator's to fix, no
    refusal of what was asked: the run is Failed, red, traced (the CLI says the same line)."""
    ref = factories.open_case(clock)
    token = assertion_for(COORD, "advance-case")
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    root._reset_caches()

    with pytest.raises(SetupRefused, match="^the database is at schema empty, this Homeward"):
        run(advance_case(case_ref=ref, trigger="suspend", assertion=token, data={}))

    failed = asyncio.run(run_named(f"case-{ref}/advance"))
    assert failed.state_name == "Failed" and failed.state_type == StateType.FAILED
    logs = asyncio.run(log_of(failed.id))
    assert any("Traceback" in m and lv >= logging.ERROR for lv, m in logs)
    assert not any(m.startswith("Refused") for _, m in logs)


def test_a_guarded_flow_keeps_its_own_version_and_form() -> None:
    """The guard sits over ``@flow``: Prefect read the flow's own file (its version) and
    signature (the form's fields) before it."""
    assert advance_case.version == file_hash(inspect.getsourcefile(advance_case_module) or "")
    own = inspect.unwrap(advance_case.fn)
    assert inspect.signature(advance_case.fn) == inspect.signature(own, eval_str=True)
