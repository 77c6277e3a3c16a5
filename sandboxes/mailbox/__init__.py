"""Sandbox mailbox: an SMTP server that keeps what it receives, and a web page to read it.

Run: `python -m sandboxes.mailbox --smtp-port 2525 --port 5003`. The embedded default (`quanyi up`) sends its
email here when SMTP_HOST is not configured, so a sign-up link or a reminder can be read in the browser.
Messages live in memory (the newest MAILBOX_KEEP); `GET /api/messages` lists them as JSON for tests.
"""
