"""The dashboard's reads moved to ``homeward.reporting.caseload`` (the scheduled report reads
them through a command); the flows that still import them from here get the same functions."""

from homeward.reporting.caseload import Row, timeline, timeline_rows

__all__ = ["Row", "timeline", "timeline_rows"]
