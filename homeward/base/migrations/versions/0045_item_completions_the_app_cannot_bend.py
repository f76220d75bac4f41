"""a partner's item is completed in the name of the staff member acting, at the database's time,
after the item existed; a completion is never reassigned nor emptied; an item's outcome and
note are written with its completion only (review of 0042, F5)

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-07 19:00:00

0041's guard of a partner's own item (``homeward_item_kept``) asked a signature only of a
change of a done or skipped item's status, outcome, time or note. Through plain SQL as the
app's login under its own session, a partner (ADPARE, a live participant) could still:

- empty a skipped item's ``completed_by_id`` (no column of those changed: no signature asked);
- claim another staff member's completion: set ``completed_by_id`` to itself on an item the
  owner's coordinator completed, or turn that done item into a skipped one in its own name;
- write an outcome or a note on an OPEN item (or one it cancels), signed by no one;
- backdate a completion: ``completed_at`` years ago, before the item existed, or ahead.

What a partner's commands write (``tasks.checklist.mark_done`` / ``mark_skipped``, and through
them a visit, an assessment, an NRM referral, a plan; ``checklist_changes.reopen_item``;
``adhoc.cancel``; the cancellations of ``checklist``, ``moves``, ``plans``): an open item is
done, skipped or cancelled, a done or skipped one reopened, nothing else; the completion
(``completed_by_id``, ``completed_at``) is written with that status change, at the command's
``now``; the outcome and note with a done or skipped item (0041: signed), cleared by a reopen.

Here, on PostgreSQL, outside the system scope and for every role row security holds, an UPDATE
of ``checklist_item`` by its organisation that is not the case's owner (the owner's commands
complete any item, move stages, cancel: ``WORK_ANY_ITEM``, ``FIRE_TRIGGER``):

- a status changes only from open (to done, skipped or cancelled) or to open (a reopen);
- ``completed_by_id`` and ``completed_at`` change only with the status; a done or skipped item
  names who and when;
- an item neither done nor skipped keeps its note, and gets no outcome;
- a completion time written is not before the item's ``created_at`` and is the database's
  time, as 0036 reads the app's times: within ``SKEW`` of ``now()`` (widened by
  ``homeward_db_clock``'s shift, which only a test database has), through
  ``homeward_time_is_now``, a definer function (the shift is the definer's to read).

Its own trigger and function (``homeward_item_worked``), after 0035's ``homeward_item_kept``
(triggers fire by name), which keeps refusing an item that is not the organisation's first; the
INSERT triggers of ``checklist_item`` are untouched. Cost: the trigger's ``UPDATE OF`` columns
and ``WHEN`` (the status, the completion, the outcome, the note changed) call it only for a
completion, a reopen, a cancellation: comparisons of the old and new row, one call of
``homeward_time_is_now`` when a completion time is written, and the case's lookup (0027's, by
primary key) only for a change refused to a partner. SQLite: nothing.
"""

from collections.abc import Sequence

from alembic import op

from homeward.base.migrations.earlier import earlier

revision: str = "0045"
down_revision: str | Sequence[str] | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_0038 = "0038_partner_handoffs_and_items_the_app_cannot_bend.py"
_before = earlier(_0038)
PINNED, EXEMPT, DENIED, OWNS = _before.PINNED, _before.EXEMPT, _before.DENIED, _before.OWNS
# 0036's five minutes, and as much again for a scheduled run acting before its start
# (``workflows.runtime.EARLY_START_LIMIT``).
SKEW = "10 minutes"

# The database's time, as 0036's ``homeward_checked_at`` reads the app's (a test database's
# clock shift widens it), as a yes or no: called by the item's guard, as the login writing.
TIME_IS_NOW_FN = "homeward_time_is_now(timestamp with time zone)"
TIME_IS_NOW = f"""
CREATE OR REPLACE FUNCTION homeward_time_is_now(p_at timestamptz) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER {PINNED} AS $$
DECLARE
    shift interval := coalesce((SELECT c.shift FROM public.homeward_db_clock c), '0s');
    spread interval;
BEGIN
    spread := CASE WHEN shift < interval '0s' THEN -shift ELSE shift END + interval '{SKEW}';
    RETURN coalesce(p_at >= now() - spread AND p_at <= clock_timestamp() + spread, false);
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

COMPLETED = "('done', 'skipped')"
# What a partner's commands never write on its item; each a comparison of the old and new row.
BENT = " OR ".join(
    (
        # a status: open to done, skipped or cancelled; done or skipped to open
        "(NEW.status IS DISTINCT FROM OLD.status AND NOT coalesce((OLD.status = 'open' AND "
        f"NEW.status IN ('done', 'skipped', 'cancelled')) OR (OLD.status IN {COMPLETED} "
        "AND NEW.status = 'open'), false))",
        # the completion: with its status only; a done or skipped item says who and when
        "(NEW.status IS NOT DISTINCT FROM OLD.status AND (NEW.completed_by_id, "
        "NEW.completed_at) IS DISTINCT FROM (OLD.completed_by_id, OLD.completed_at))",
        f"(NEW.status IN {COMPLETED} AND (NEW.completed_by_id IS NULL "
        "OR NEW.completed_at IS NULL))",
        # an outcome and a note: a done or skipped item's (0041: signed)
        f"(NEW.status NOT IN {COMPLETED} AND (NEW.note IS DISTINCT FROM OLD.note "
        "OR (NEW.outcome IS NOT NULL AND NEW.outcome IS DISTINCT FROM OLD.outcome)))",
        # a completion time: after the item existed (the database's time: below)
        "coalesce(NEW.completed_at < OLD.created_at AND NEW.completed_at IS DISTINCT FROM "
        "OLD.completed_at, false)",
    )
)
WRITTEN_AT = "NEW.completed_at IS NOT NULL AND NEW.completed_at IS DISTINCT FROM OLD.completed_at"

ITEM_WORKED = f"""
CREATE OR REPLACE FUNCTION homeward_item_worked() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    org integer;
BEGIN
    IF NOT ({BENT}) AND NOT ({WRITTEN_AT}
            AND NOT public.homeward_time_is_now(NEW.completed_at)) THEN
        RETURN NEW;
    END IF;
    org := public.homeward_current_org();
    IF {OWNS.format(cid="OLD.case_id")} OR {EXEMPT} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'homeward: item %''s organisation completes, skips or cancels it while open, '
        'or reopens it, in the name of the staff member acting, at the database''s time and '
        'not before the item existed; a completion is never reassigned, emptied or moved, and '
        'an outcome or note is written only with one', OLD.id {DENIED};
END $$
"""  # noqa: S608 (our own SQL: no input goes into it)

WATCHED = ("status", "outcome", "completed_by_id", "completed_at", "note")
TRIGGER = (
    f"CREATE TRIGGER homeward_item_worked BEFORE UPDATE OF {', '.join(WATCHED)} "
    "ON checklist_item FOR EACH ROW WHEN (("
    + ", ".join(f"NEW.{c}" for c in WATCHED)
    + ") IS DISTINCT FROM ("
    + ", ".join(f"OLD.{c}" for c in WATCHED)
    + ")) EXECUTE FUNCTION homeward_item_worked()"
)
FUNCTIONS = ("homeward_item_worked()", TIME_IS_NOW_FN)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TIME_IS_NOW)  # before the guard that calls it
    op.execute(f"ALTER FUNCTION {TIME_IS_NOW_FN} OWNER TO homeward_definer")  # reads the shift
    op.execute(ITEM_WORKED)
    for name in FUNCTIONS:  # 0025: a trigger calls the first; the second, the guard's caller
        op.execute(f"REVOKE EXECUTE ON FUNCTION {name} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {TIME_IS_NOW_FN} TO homeward_app")
    op.execute(TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS homeward_item_worked ON checklist_item")
    for name in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {name}")
