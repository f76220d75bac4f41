"""Notifications: reminder rules, email templates (en/ro), the outbox and the SMTP sender.

Owns ``rules`` (reminder rules as data) and ``reminders`` (the daily run), ``notices`` (handoff
and consent-withdrawn notices, queued in the transaction of the change by listening to the case
history), ``invitations`` (each visit's and appointment's one calendar event, kept true to its
item by the same listening: updated when it moves, cancelled when it ends), ``contexts`` /
``render`` / ``templates`` (allow-listed, typed template contexts;
multipart text + HTML + calendar invitations), ``outbox`` (every email is first a row) and
``sender`` / ``smtp`` (draining the outbox through a pool of aiosmtplib connections),
``workdays`` / ``urgency`` (each organisation's working days, hours and time zone, and the table
of which emails are urgent: the rest wait for their readers' next working morning).

Importing this package subscribes the notices and invitations to the case history; the edge
modules (CLI, demo, Prefect flows) import it. ``tasks`` and ``statemachines`` never import it.
"""

from notifications import invitations as _invitations  # noqa: F401  (subscribes on import)
from notifications import notices as _notices  # noqa: F401  (subscribes on import)
