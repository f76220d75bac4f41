"""Fault tests: crashes (SIGKILL at random moments and at ``homeward.base.faults`` named points),
races on one case, and a mail server that goes away.

By default a small chaos run goes with the suite; the full one is marked slow::

    HOMEWARD_CHAOS_CASES=1000 HOMEWARD_CHAOS_DRIVERS=4 .venv/bin/pytest -m slow tests/faults \\
        -o log_cli=true --log-cli-level=INFO

(``HOMEWARD_TEST_DB=postgres`` for PostgreSQL; ``HOMEWARD_CHAOS_KILLS`` and
``HOMEWARD_CHAOS_SEED`` too). The figures of a run are logged as ``chaos: ...``.
"""
