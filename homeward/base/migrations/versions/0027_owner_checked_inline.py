"""row security: a row of a case its organisation owns passes WITH CHECK by one index lookup

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 06:00:00

Issue 19 point 1. Every row written to a case's table was checked by calling
``homeward_case_visible`` (or ``homeward_case_touched``) for it: a PL/pgSQL call that reads the
transaction's scope and then the case, about 8 us a row. A bulk import writes ten rows a case
(items, participants, key, person, event, seals ...), so these calls were a third of the
server's time. Most writes are the owner's, and the first thing the function asks is whether
the case is owned by the organisation acting.

Here each such WITH CHECK first asks that in the policy itself: ``EXISTS`` the case with this
``case_id`` and ``owner_org_id`` = the scope's organisation (an ``InitPlan``, read once a
statement), one primary-key lookup, no function call; only when that is false is the function
called as before. The owner test is written ``(owner_org_id = org) IS TRUE`` so that no index
can serve it: the planner, on an import's stale statistics, otherwise reads the case through
``ix_return_case_owner_org_id`` and filters by id, a walk over all the organisation's cases a
row (0023's trap, measured: 0.1 ms a row at 1,000 cases). The test still leaks nothing, so it
runs before ``return_case``'s own policy, whose function a partner's row would otherwise call.

The rule is the same: the new test is exactly the function's first one
(``owned``), so ``x OR f(x)`` is ``f(x)``. The lookup reads ``return_case`` under row security
as the caller, which lets the caller see every case its organisation owns, so it hides none
the test would find. No scope (no organisation): the owner test is false and the function
raises as before; the system scope passes first, as before. USING (what may be read) is
unchanged. SQLite has no row security: nothing to do.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYSTEM = "(SELECT homeward_is_system())"
ORG = "(SELECT homeward_current_org())"
VISIBLE = ("homeward_case_visible", "case_id")
TOUCHED = ("homeward_case_touched", "case_id")
# Each case table's WITH CHECK function, as 0015 and 0017 left it.
CHECKS = {
    "assessment": VISIBLE,
    "beneficiary": VISIBLE,
    "case_document": VISIBLE,
    "case_note": VISIBLE,
    "case_participant": VISIBLE,
    "case_person": VISIBLE,
    "checklist_item": VISIBLE,
    "consent": VISIBLE,
    "enrolment": VISIBLE,
    "item_change": VISIBLE,
    "nrm_referral": VISIBLE,
    "plan_goal": VISIBLE,
    "plan_service": VISIBLE,
    "reintegration_plan": VISIBLE,
    "visit": VISIBLE,
    "case_event": TOUCHED,
    "case_key": TOUCHED,
    "handoff": TOUCHED,
    "row_seal": TOUCHED,
}


def owned(table: str, column: str) -> str:
    """The row's case is owned by the organisation acting: one lookup by primary key."""
    return (
        f"EXISTS (SELECT FROM public.return_case c WHERE c.id = {table}.{column} "
        f"AND (c.owner_org_id = {ORG}) IS TRUE)"
    )


def new_check(table: str) -> str:
    function, column = CHECKS[table]
    return f"{SYSTEM} OR {owned(table, column)} OR {function}({column})"


def old_check(table: str) -> str:
    function, column = CHECKS[table]
    return f"{SYSTEM} OR {function}({column})"


IMPORTED_NEW = f"{SYSTEM} OR (org_id = {ORG} AND ({owned('imported_case', 'case_id')} OR homeward_case_visible(case_id)))"  # noqa: E501
IMPORTED_OLD = f"{SYSTEM} OR (org_id = {ORG} AND homeward_case_visible(case_id))"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in CHECKS:
        op.execute(f"ALTER POLICY homeward_scope ON {table} WITH CHECK ({new_check(table)})")
    op.execute(f"ALTER POLICY homeward_scope ON imported_case WITH CHECK ({IMPORTED_NEW})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in CHECKS:
        op.execute(f"ALTER POLICY homeward_scope ON {table} WITH CHECK ({old_check(table)})")
    op.execute(f"ALTER POLICY homeward_scope ON imported_case WITH CHECK ({IMPORTED_OLD})")
