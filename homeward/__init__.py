"""Homeward core: what the card packages share.

Owns settings, the database (engine, sessions, migrations), the SQLModel tables, typed user
errors, the clock, the append-only case history (audit) and the command-line interface.

Import direction: ``workflows`` -> (``notifications``, ``tasks``, ``statemachines``) ->
``homeward``. Only the edge modules ``homeward.cli`` and ``homeward.demo`` reach back into the
card packages, and they are never imported by them.
"""

__version__ = "0.1.0"
