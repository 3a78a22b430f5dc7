"""Turning a message into a MIME e-mail: plain text and HTML in the recipient's language,
with calendar files attached.

Composed by the worker at delivery time from the database as it is then, inside a request
context whose root is the site's public address, so ``url_for(..., _external=True)`` gives
links a member can click.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale

from ..accounts.models import User

# Where links point when PUBLIC_URL is unset (the embedded default on its usual port).
DEFAULT_BASE = "http://127.0.0.1:5000"


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    maintype: str = "text"
    subtype: str = "calendar"
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Mail:
    """A composed message, before addressing: what the catalogue's builders return."""

    to_name: str
    to_address: str
    locale: str
    subject: str
    text: str
    html: str
    attachments: Sequence[Attachment] = ()


@dataclass(frozen=True)
class Recipient:
    """An address that is not a member's account (the staff address): what ``render``
    needs of a ``User``."""

    name: str
    email: str
    locale: str


def staff_recipient() -> Recipient | None:
    """``STAFF_EMAIL`` (``"Studio-Team <studio@example.org>"`` or a bare address) in the
    site's default language; None when no staff address is configured."""
    name, address = parseaddr(str(current_app.config.get("STAFF_EMAIL") or ""))
    if "@" not in address:
        return None
    return Recipient(name=name or "Schiller40", email=address,
                     locale=str(current_app.config.get("BABEL_DEFAULT_LOCALE") or "de"))


def can_receive(user: User | None) -> bool:
    """Deleted (anonymised) and deactivated accounts get no mail."""
    return user is not None and not user.is_deleted and user.is_active_account


def render(
    template: str,
    *,
    to: User | Recipient,
    subject: Callable[[], str],
    attachments: Callable[[], Sequence[Attachment]] = lambda: (),
    **context: Any,
) -> Mail:
    """Render ``templates/mail/<template>.txt`` and ``.html`` in the member's language.

    ``subject`` and ``attachments`` are called inside that language too, so their gettext
    calls translate for the reader, not for whoever caused the message.
    """
    locale = to.locale if to.locale in current_app.config["LANGUAGES"] else "de"
    with force_locale(locale):
        context = {"user": to, "locale": locale, **context}
        return Mail(
            to_name=to.name,
            to_address=to.email,
            locale=locale,
            subject=subject(),
            text=render_template(f"mail/{template}.txt", **context),
            html=render_template(f"mail/{template}.html", **context),
            attachments=tuple(attachments()),
        )


@contextmanager
def site_context() -> Iterator[None]:
    """A request context at the site's public address, for rendering outside a request."""
    base = str(current_app.config.get("PUBLIC_URL") or DEFAULT_BASE)
    with current_app.test_request_context("/", base_url=base):
        yield


def _one_line(text: str) -> str:
    """Header text on one line: the email package refuses a header value with any line
    break (also U+2028 and friends), and a name or a space's title from before that rule
    was checked must not make a member's mail undeliverable."""
    return "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text
    )


def to_email(mail: Mail, *, sender: str, message_id: int, created: datetime,
             now: datetime) -> EmailMessage:
    """The MIME message. Its Message-ID is derived from the outbox entry, so a message that
    had to be sent twice (a worker died before recording the first) is one message to the
    recipient's mail program."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((_one_line(mail.to_name), mail.to_address))
    message["Subject"] = _one_line(mail.subject)
    message["Date"] = format_datetime(now)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "schiller40.invalid"
    message["Message-ID"] = f"<outbox-{message_id}.{int(created.timestamp())}@{domain}>"
    # RFC 3834: an automatic message. Out-of-office replies are not sent back to it.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Schiller40-Outbox-Id"] = str(message_id)
    message["X-Schiller40-Sent"] = now.strftime("%Y%m%dT%H%M%S")
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    for attachment in mail.attachments:
        message.add_attachment(
            attachment.data, maintype=attachment.maintype, subtype=attachment.subtype,
            filename=attachment.filename, params=attachment.params,
        )
    # Last: set_content() and the multipart conversions drop or move Content-* headers.
    message["Content-Language"] = mail.locale
    return message
