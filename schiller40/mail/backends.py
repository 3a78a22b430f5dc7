"""Where composed mail goes: an SMTP server, or a folder on the embedded default."""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol


class DeliveryError(Exception):
    """A message could not be handed over.

    ``permanent``: trying this message again will not help (the server refused its recipient
    or its content for good, a 5xx reply to RCPT or DATA).
    ``server``: the server itself could not be used (unreachable, TLS, log-in or sender
    refused): no message can go out now, and it is no fault of this one. The worker stops the
    batch and tries again on its next pass without counting a try against the message.
    """

    def __init__(self, message: str, *, permanent: bool = False, server: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.server = server


class MailBackend(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


class SmtpBackend:
    """One connection per delivery batch, opened on first use and reused for the batch.

    ``security``: "starttls" (submission, port 587), "tls" (implicit TLS, port 465) or
    "none" (a relay on the same host). Certificates are verified against the system's CAs.
    """

    def __init__(
        self, *, host: str, port: int, security: str, user: str = "", password: str = "",
        timeout: float = 20, ca_file: str = "",
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.user, self.password, self.timeout = user, password, timeout
        self.ca_file = ca_file
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        # Verified against the system's CAs, or the operator's own CA file; never unverified.
        context = ssl.create_default_context(cafile=self.ca_file or None)
        conn: smtplib.SMTP
        if self.security == "tls":
            conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                conn.starttls(context=context)
        try:
            if self.user:
                conn.login(self.user, self.password)
        except (OSError, smtplib.SMTPException):
            conn.close()
            raise
        return conn

    def send(self, message: EmailMessage) -> None:
        if self._conn is None:
            try:
                self._conn = self._connect()
            except (OSError, smtplib.SMTPException) as exc:
                # Unreachable, TLS trouble, a rotated password (535), a 554 greeting.
                self.close()
                raise DeliveryError(_describe(exc), server=True) from exc
        try:
            refused = self._conn.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _text in exc.recipients.values()]
            raise DeliveryError(
                f"recipient refused: {exc.recipients}",
                permanent=all(500 <= c < 600 for c in codes),
            ) from exc
        except smtplib.SMTPSenderRefused as exc:
            # Our own From address refused: a configuration matter, not this message's.
            self.close()
            raise DeliveryError(_describe(exc), server=True) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise DeliveryError(
                _describe(exc), permanent=500 <= exc.smtp_code < 600 and exc.smtp_code != 530,
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            # The connection dropped mid-message, or a timeout: the server may be back soon.
            self.close()
            raise DeliveryError(_describe(exc), server=True) from exc
        if refused:
            raise DeliveryError(f"recipient refused: {refused}", permanent=True)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error
        if isinstance(reply, bytes):
            reply = reply.decode("utf-8", "replace")
        return f"SMTP {exc.smtp_code} {reply}"
    return f"{type(exc).__name__}: {exc}"


class FolderBackend:
    """Each message as an ``.eml`` file (openable by any mail program), written atomically:
    a reader never sees half a file. The embedded default's /dev/mail page lists them."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = message["X-Schiller40-Outbox-Id"] or str(os.getpid())
        stamp = message["X-Schiller40-Sent"] or ""
        final = self.folder / f"{stamp}-{name}.eml"
        tmp = self.folder / f".{final.name}.{os.getpid()}.tmp"
        tmp.write_bytes(message.as_bytes())
        os.replace(tmp, final)

    def close(self) -> None:
        return None


def from_config(config: Mapping[str, Any]) -> MailBackend:
    if config["MAIL_PROVIDER"] == "smtp":
        return SmtpBackend(
            host=str(config["SMTP_HOST"]),
            port=int(config["SMTP_PORT"]),
            security=str(config["SMTP_SECURITY"]),
            user=str(config.get("SMTP_USER") or ""),
            password=str(config.get("SMTP_PASSWORD") or ""),
            timeout=float(config["SMTP_TIMEOUT_SECONDS"]),
            ca_file=str(config.get("SMTP_CA_FILE") or ""),
        )
    return FolderBackend(config["MAIL_FOLDER"])
