"""Typed errors a user can cause. The CLI turns each into one line and a non-zero exit.

Messages never carry personal data: they name fields, case_refs, codes and states only.
"""

from __future__ import annotations


class HomewardError(Exception):
    """Base of every error a user can cause; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class InvalidInput(HomewardError):
    """A value given by the user is malformed or missing."""

    exit_code = 2


class NotFound(HomewardError):
    """The thing named does not exist (or the actor may not see it)."""

    exit_code = 3


class Refused(HomewardError):
    """The procedure forbids this step now (wrong stage, a guard, an open blocking item)."""

    exit_code = 4


class Conflict(HomewardError):
    """Someone else changed the record first, or it already exists."""

    exit_code = 5


class SetupFault(HomewardError):
    """Mixed into an error of Homeward's own setup (a database schema behind this version, a
    database URL or login that cannot work): nothing a user asked is at fault, the operator
    fixes it. The CLI says it in one line like any error; a Prefect run fails on it as on any
    fault (``workflows.refusals``), where a refusal of what someone asked does not."""


class SetupRefused(SetupFault, Refused):
    """Homeward is not set up to do this step (exit code as ``Refused``)."""


class SetupInvalid(SetupFault, InvalidInput):
    """A setting is malformed (exit code as ``InvalidInput``)."""


class AuditBroken(HomewardError):
    """The audit chain does not verify (an entry was altered, removed or reordered, or the
    keyring is not the one the entries were written with)."""

    exit_code = 9


class DeliveryFailed(HomewardError):
    """The mail server could not be reached, or refused the message (nothing was lost:
    queued emails stay queued)."""

    exit_code = 10


class Unavailable(HomewardError):
    """A service Homeward needs (the Prefect server) did not start in time or cannot be
    reached."""

    exit_code = 11


class NotSignedIn(HomewardError):
    """No proven principal: signed out, a session expired or revoked, a wrong or used sign-in
    code, an assertion forged, expired or presented by another run."""

    exit_code = 12


class TooMany(HomewardError):
    """Too many sign-in codes asked for, or too many wrong codes tried: wait, then ask again."""

    exit_code = 13
