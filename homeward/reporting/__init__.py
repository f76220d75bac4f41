"""Reporting: programmes and their targets, indicators computed from case events, aggregate
reports with small-cell suppression, and the case-level HTCDS export.

Personal attributes (sex, age band, form of exploitation) are decrypted server-side through
``homeward.protection.vault.statistical_attributes``, counted, and suppressed before anything is
returned:
every function here that returns report data returns it already safe to publish.
"""
