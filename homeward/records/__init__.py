"""Records: the audit log and case history, idempotency keys, locks, the staff directory."""
