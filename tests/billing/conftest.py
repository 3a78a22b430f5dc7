"""Fixtures for monthly fees: a location with desks, the Flex tier paid monthly and the
fee-less Tagespass, a member without a membership, the simulated gateway."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schiller40.billing.service import CheckoutUrls
from schiller40.extensions import db
from schiller40.models import ResourceKind, Role

# Thursday 17 December 2026, 10:00 in Berlin: the 17th of a 31-day month.
DEC_17 = datetime(2026, 12, 17, 9, 0, tzinfo=UTC)


def urls(subscription_id: int) -> CheckoutUrls:
    return CheckoutUrls(
        success=f"http://localhost/back/{subscription_id}?session_id={{CHECKOUT_SESSION_ID}}",
        cancel=f"http://localhost/back/{subscription_id}?cancelled=1",
    )


@pytest.fixture
def billing_place(factory, clock):
    clock.set(DEC_17)
    location = factory.location()
    desks = [
        factory.resource(location=location, kind=ResourceKind.DESK, slug=f"desk-{n}",
                         zone="Open Space", position=n)
        for n in (1, 2)
    ]
    day_pass = factory.tier(slug="day-pass", name="Tagespass", monthly_price_cents=0,
                            included_desk_days=0, included_studio_hours=0, position=0,
                            prices={ResourceKind.DESK: (None, 900, 1500)})
    flex = factory.tier(slug="flex", name="Flex", monthly_price_cents=8900,
                        included_desk_days=8, included_studio_hours=0, position=1,
                        booking_horizon_days=60,
                        prices={ResourceKind.DESK: (None, 700, 1200)})
    member = factory.user(email="mia@example.org", name="Mia Berger")
    staff = factory.user(role=Role.STAFF, email="staff@example.org")
    db.session.commit()
    return type("BillingPlace", (), dict(location=location, desks=desks, day_pass=day_pass,
                                         flex=flex, member=member, staff=staff))
