"""Homeward core: what the card packages share.

Owns settings, the database (engine, sessions, migrations), the SQLModel tables, typed user
errors, the clock, the case history and the tamper-evident audit log, access control, the
encrypted store (crypto, keys, vault), consent, retention, reporting and the command line.

Import direction: ``workflows`` -> (``notifications``, ``tasks``, ``statemachines``) ->
``homeward``. Only the edge modules ``homeward.cli``, ``homeward.demo``, ``homeward.demo_mail``
and ``homeward.intake`` (importing existing caseloads) reach back into the card packages, and
they are never imported by them.
"""

__version__ = "0.1.0"
