"""Homeward: what the card packages share, and the edges above them. Read it top down:

- edges (``homeward.edges``: the CLI, the demo, the import, the local Prefect server; and the
  top-level ``workflows`` package) parse, call a command and print;
- ``homeward.commands``: one typed request per action and one runner that owns the transaction,
  the proven principal, permissions, the request key and the audit line;
- the card packages ``notifications``, ``statemachines``, ``tasks`` and ``homeward.reporting``:
  the procedure itself; beside ``notifications``, ``homeward.intake`` reads an existing
  caseload from a spreadsheet and opens its cases in bulk;
- ``homeward.protection`` (crypto, keys, vault, access, permissions, consent, retention, backups,
  identity) and ``homeward.records`` (audit, history, idempotency, locking, directory);
- ``homeward.base``: tables, database and migrations, settings, errors, clock.

A layer imports only the layers below it; ``.importlinter`` states the contract and CI checks it.
"""

__version__ = "0.1.0"
