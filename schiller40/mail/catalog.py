"""The catalogue of messages: topic -> the function that composes it.

A builder receives the session, the outbox payload and the time of delivery, and returns
the composed ``Mail`` or None when there is nothing (any more) to say: the booking is gone,
the account was deleted, a reminder's booking was cancelled meanwhile. Modules register
their builders with ``@message("mail.topic")``; ``load()`` imports them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from .compose import Mail

Builder = Callable[[Session, dict[str, Any], datetime], Mail | None]
BUILDERS: dict[str, Builder] = {}

# Every module that registers messages. A topic queued but not registered is a bug that the
# tests catch (tests/mail/test_catalog.py).
MODULES = (
    "schiller40.mail.booking_messages",
    "schiller40.mail.payment_messages",
    "schiller40.mail.membership_messages",
    "schiller40.mail.account_messages",
    "schiller40.mail.checkin_messages",
    "schiller40.mail.billing_messages",
)


def message(topic: str) -> Callable[[Builder], Builder]:
    if not topic.startswith("mail."):
        raise ValueError(f"mail topics start with 'mail.': {topic!r}")

    def register(builder: Builder) -> Builder:
        if topic in BUILDERS and BUILDERS[topic] is not builder:
            raise ValueError(f"two builders for {topic!r}")
        BUILDERS[topic] = builder
        return builder

    return register


def load() -> dict[str, Builder]:
    for name in MODULES:
        importlib.import_module(name)
    return BUILDERS
