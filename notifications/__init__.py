"""Notifications: reminder rules, email templates (en/ro), the outbox and the SMTP sender."""
