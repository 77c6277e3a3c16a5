"""Notifications: an in-app inbox for every user, an email outbox sent over SMTP, expiry reminders."""
