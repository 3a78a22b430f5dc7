"""A real SMTP server for the tests (aiosmtpd), and the messages it received.

One server per test process; each test starts with an empty inbox (the ``inbox`` fixture).
Faults are injected by answering with an SMTP error (``inbox.refuse``).
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    # SMTP replies to give instead of accepting, one per incoming message, e.g. "451 busy".
    refusals: list[str] = field(default_factory=list)
    # The reply to MAIL FROM instead of accepting it (our sender refused), e.g. "553 ...".
    refuse_sender: str | None = None
    # Seconds the server takes to accept each message (a slow server, for crash tests).
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.envelopes.clear()
            self.refusals.clear()
            self.delay = 0.0
            self.refuse_sender = None

    def refuse(self, *replies: str) -> None:
        with self.lock:
            self.refusals.extend(replies)

    def wait_for(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]

    def only(self) -> EmailMessage:
        with self.lock:
            assert len(self.messages) == 1, [m["Subject"] for m in self.messages]
            return self.messages[0]


class _Handler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str],
    ) -> str:
        if self.inbox.refuse_sender:
            return self.inbox.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.inbox.delay:
            await asyncio.sleep(self.inbox.delay)
        with self.inbox.lock:
            if self.inbox.refusals:
                return self.inbox.refusals.pop(0)
            message = email.message_from_bytes(envelope.content, policy=default_policy)
            assert isinstance(message, EmailMessage)
            self.inbox.messages.append(message)
            self.inbox.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: Inbox
    controller: Controller

    def config(self) -> dict[str, Any]:
        """App settings that send to this server."""
        return {
            "MAIL_BACKEND": "smtp", "SMTP_HOST": self.host, "SMTP_PORT": self.port,
            "SMTP_SECURITY": "none", "SMTP_TIMEOUT_SECONDS": 5,
        }

    def stop(self) -> None:
        self.controller.stop()


def start() -> SmtpServer:
    inbox = Inbox()
    port = free_port()
    controller = Controller(_Handler(inbox), hostname="127.0.0.1", port=port)
    controller.start()
    return SmtpServer("127.0.0.1", port, inbox, controller)


def attachments(message: EmailMessage, subtype: str = "calendar") -> list[tuple[bytes, Any]]:
    """(bytes, part) of each attachment of the given text/* subtype."""
    found = []
    for part in message.iter_attachments():
        if part.get_content_type() == f"text/{subtype}":
            found.append((part.get_payload(decode=True), part))
    return found


def body(message: EmailMessage, kind: str = "plain") -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None, f"no text/{kind} part"
    return str(part.get_content())
