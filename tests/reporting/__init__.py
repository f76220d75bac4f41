"""Tests of reports, suppression, the HTCDS export and importing cases."""
