"""Importing an organisation's existing caseload from a spreadsheet (CSV or XLSX).

``rows`` reads and validates every row first (all problems, with row number and column);
``load`` writes the good rows in one transaction with bulk inserts, idempotently by the
organisation's own ``external_id``. Personal columns go straight into the encrypted store.
``homeward.commands.imports`` runs ``load`` as the signed-in person; reading the file (``rows``)
is the edge's parsing, done before the transaction opens.
"""
