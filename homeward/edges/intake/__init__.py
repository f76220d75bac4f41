"""Importing an organisation's existing caseload from a spreadsheet (CSV or XLSX).

``rows`` reads and validates every row first (all problems, with row number and column);
``load`` writes the good rows in one transaction with bulk inserts, idempotently by the
organisation's own ``external_id``. Personal columns go straight into the encrypted store.
"""
