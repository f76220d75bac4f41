"""Flow ``audit-checkpoint`` (daily): the audit log and the row seals verified, then the chain's
head signed and appended to the checkpoint file outside the database.

Thin over ``homeward.records.anchor.checkpoint``. A broken log writes no checkpoint and fails
the run (its one line names what broke, never personal data). The run acts as the service
``scheduler``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from homeward.commands.scheduled import CheckpointAudit
from workflows.crash_loops import ends_crash_loops
from workflows.forms import checks_first
from workflows.runtime import SCHEDULER, command, dated_run_name


@ends_crash_loops
@checks_first
@flow(
    name="audit-checkpoint",
    flow_run_name=dated_run_name("audit-checkpoint"),
    persist_result=False,
)
async def audit_checkpoint() -> dict[str, Any]:
    """Verify the audit log, then anchor its head outside the database.

    Returns:
        The checkpoint: audit entries and sealed rows it anchors, and when.
    """
    made = await command(CheckpointAudit(), SCHEDULER)
    get_run_logger().info(
        "audit checkpoint: %s entries, %s sealed rows", made.entries, made.sealed_rows
    )
    return {"entries": made.entries, "sealed_rows": made.sealed_rows, "at": made.at.isoformat()}
