"""What the mailbox received: the newest messages, in memory, shared by the SMTP and the web side."""

import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from itertools import count


@dataclass(frozen=True)
class Mail:
    id: int
    received_at: str
    sender: str
    recipients: list[str]
    subject: str
    text: str

    def to_json(self) -> dict:
        return asdict(self)


def _text_of(raw: bytes) -> tuple[str, str]:
    msg = message_from_bytes(raw, policy=policy.default)
    part = msg.get_body(preferencelist=("plain", "html"))
    try:
        text = part.get_content() if part is not None else ""
    except (LookupError, ValueError):  # an unknown charset: show the bytes as well as we can
        text = part.get_payload(decode=True).decode("utf-8", "replace")
    return str(msg.get("Subject", "")), text


class Store:
    """Bounded: past `keep` messages the oldest is dropped."""

    def __init__(self, keep: int = 500):
        self._mails: deque[Mail] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._ids = count(1)

    def add(self, sender: str, recipients: list[str], raw: bytes) -> Mail:
        subject, text = _text_of(raw)
        with self._lock:
            mail = Mail(next(self._ids), datetime.now(UTC).isoformat(timespec="seconds"), sender,
                        list(recipients), subject, text)
            self._mails.append(mail)
        return mail

    def newest_first(self, to: str | None = None) -> list[Mail]:
        with self._lock:
            mails = list(reversed(self._mails))
        if to:
            mails = [m for m in mails if any(r.lower() == to.lower() for r in m.recipients)]
        return mails

    def clear(self) -> None:
        with self._lock:
            self._mails.clear()


class Handler:
    """aiosmtpd handler: every message is accepted and kept."""

    def __init__(self, store: Store):
        self.store = store

    async def handle_DATA(self, server, session, envelope):
        self.store.add(envelope.mail_from, envelope.rcpt_tos, envelope.original_content or envelope.content)
        return "250 OK"
