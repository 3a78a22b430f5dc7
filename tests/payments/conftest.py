"""Fixtures for payment tests: the local Stripe-compatible server, an app that talks to it
through the official SDK, and webhook delivery signed exactly as Stripe signs.

Modules that test Stripe set ``pytestmark = pytest.mark.usefixtures("stripe_app")``-style
config by overriding ``app_config`` with ``stripe_config``; everything else in this folder
runs on the simulated gateway (the embedded default).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.api.conftest import Api, anonymous_api, api, api_as, staff_api  # noqa: F401

from .stripe_server import StripeServer, signed_headers

WEBHOOK_SECRET = "whsec_test_schiller40"
WEBHOOK = "/webhooks/stripe"


class _ClockHolder:
    """The server lives for the whole worker; each test points it at its own frozen clock."""

    def __init__(self) -> None:
        self.clock: Callable[[], datetime] | None = None

    def __call__(self) -> datetime:
        assert self.clock is not None, "stripe_server used without the clock fixture"
        return self.clock()


@pytest.fixture(scope="session")
def _stripe_server_process() -> Iterator[tuple[StripeServer, _ClockHolder]]:
    holder = _ClockHolder()
    server = StripeServer(clock=holder).start()
    try:
        yield server, holder
    finally:
        server.stop()


@pytest.fixture
def stripe_server(_stripe_server_process, clock) -> StripeServer:
    server, holder = _stripe_server_process
    server.reset()
    holder.clock = clock
    return server


@pytest.fixture
def stripe_config(stripe_server: StripeServer) -> dict[str, Any]:
    return {
        "STRIPE_SECRET_KEY": stripe_server.api_key,
        "STRIPE_PUBLISHABLE_KEY": "pk_test_schiller40",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe_server.base_url,
        "STRIPE_TIMEOUT_SECONDS": 2,
        "STRIPE_MAX_RETRIES": 0,
    }


def deliver(client, event: dict[str, Any], *, secret: str = WEBHOOK_SECRET,
            timestamp: int | None = None, body: str | None = None):
    """POST an event to the webhook as Stripe would: raw JSON body, signed header."""
    payload = body if body is not None else json.dumps(event)
    return client.post(WEBHOOK, data=payload,
                       headers=signed_headers(payload, secret, timestamp))


def deliver_all(client, server: StripeServer, *types: str) -> list[Any]:
    """Deliver the server's recorded events (of the given types, else all) in order."""
    chosen = [e for e in server.events if not types or e["type"] in types]
    return [deliver(client, e) for e in chosen]


@pytest.fixture
def other_member(factory, place):
    """A second member with Mia's tier (no induction)."""
    from schiller40.extensions import db

    user = factory.user(tier=place.tier, email="jonas@example.org")
    db.session.commit()
    return user


@pytest.fixture
def approval_studio(place):
    """The place, with a studio whose bookings staff approve (card authorised, captured on
    approval, for bookings that start within seven days)."""
    from schiller40.extensions import db

    place.studio.requires_approval = True
    db.session.commit()
    return place


__all__ = ["Api", "deliver", "deliver_all"]
