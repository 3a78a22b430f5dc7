"""The hot endpoints cost a fixed number of SQL statements, however many resources and
bookings there are (issue 9): availability, the booking list and the calendar feed (full body
and 304), on both databases.

Each test counts the statements of one request on a small place, adds many resources,
bookings (with payments and refunds where the endpoint shows them), blocks and waitlist
offers, and counts again: the two counts must be equal. A warm-up request goes first, so
one-off work (the token's "last used" write, first-request setup) is not counted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from schiller40.booking.models import BookingStatus, WaitlistEntry, WaitlistStatus
from schiller40.extensions import db
from schiller40.feeds import service as feed_service
from schiller40.feeds import tokens as feed_tokens
from schiller40.feeds.models import FeedKind
from schiller40.models import ResourceKind
from schiller40.payments.models import (
    CaptureMethod,
    Payment,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
)
from tests.helpers import TUE, iso
from tests.statements import statements

pytestmark = pytest.mark.usefixtures("backend")


def counted(call: Callable[[], object], expected_status: int = 200) -> list[str]:
    call()  # warm-up: the token's first use is written once, not on every request
    with statements() as seen:
        response = call()
    assert response.status_code == expected_status, response.data[:500]
    return list(seen)


def paid(factory, booking, *, refunded: int = 0) -> None:
    """Attach a payment (and a refund) to ``booking``, as a paid studio or room booking has."""
    now = factory.clock()
    payment = Payment(
        user_id=booking.user_id, provider="simulated", status=PaymentStatus.PAID,
        capture_method=CaptureMethod.AUTOMATIC, amount_cents=3500, net_cents=2941,
        tax_cents=559, received_cents=3500, refunded_cents=refunded, created_at=now,
        updated_at=now,
    )
    db.session.add(payment)
    db.session.flush()
    booking.payment_id = payment.id
    booking.price_gross_cents, booking.price_net_cents, booking.price_tax_cents = 3500, 2941, 559
    if refunded:
        db.session.add(Refund(
            payment_id=payment.id, booking_id=booking.id, amount_cents=refunded,
            status=RefundStatus.SUCCEEDED, reason=RefundReason.CANCELLATION, created_at=now,
            updated_at=now,
        ))
    db.session.flush()


def grow(factory, place, *, user, resources: int = 12, per_resource: int = 4) -> None:
    """Many more resources of every kind, each booked several times in the coming days (by
    ``user`` and by others, some paid and refunded, some held, some cancelled), with blocks
    and running waitlist offers."""
    kinds = [ResourceKind.DESK, ResourceKind.STUDIO, ResourceKind.ROOM]
    other = factory.user(email="other@example.org")
    for n in range(resources):
        kind = kinds[n % len(kinds)]
        resource = factory.resource(location=place.location, kind=kind, slug=f"grown-{n}",
                                    zone=f"Zone {n % 4}", position=n)
        for k in range(per_resource):
            starts = factory.clock() + timedelta(days=1 + k % 3, hours=2 * (k // 3) + n % 2)
            booking = factory.booking(
                resource=resource, user=user if k % 2 == 0 else other, starts_at=starts,
                duration=timedelta(hours=1),
                status=[BookingStatus.CONFIRMED, BookingStatus.HELD,
                        BookingStatus.CANCELLED][k % 3],
            )
            if k % 2 == 0:
                paid(factory, booking, refunded=500 if k % 4 == 0 else 0)
        factory.block(resource=resource, starts_at=factory.clock() + timedelta(days=2))
        now = factory.clock()
        db.session.add(WaitlistEntry(
            resource_id=resource.id, user_id=other.id, starts_at=now + timedelta(days=4),
            ends_at=now + timedelta(days=4, hours=1), status=WaitlistStatus.OFFERED,
            offered_at=now, offer_expires_at=now + timedelta(minutes=20), created_at=now,
            updated_at=now,
        ))
    db.session.commit()


def a_few_bookings(factory, place, user) -> None:
    """The small place's starting point: one booking of each kind, one of them paid, and a
    block (so the few and the many load the same kinds of rows)."""
    for resource in (place.desks[0], place.studio, place.room):
        booking = factory.booking(resource=resource, user=user,
                                  starts_at=factory.clock() + timedelta(days=1, hours=1),
                                  duration=timedelta(hours=1))
    paid(factory, booking, refunded=500)
    factory.block(resource=place.room, starts_at=factory.clock() + timedelta(days=3))
    db.session.commit()


# --- availability ----------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "&days=7", "&kind=desk"])
def test_availability_statements_do_not_grow(place, api, factory, query):
    a_few_bookings(factory, place, place.member)
    url = f"/api/v1/availability?date={TUE}{query}"
    few = counted(lambda: api.get(url))
    grow(factory, place, user=place.member)
    many = counted(lambda: api.get(url))
    assert len(many) == len(few), "\n\n".join(many)
    assert len(few) <= 12, "\n\n".join(few)


# --- the booking list ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["member", "staff"])
def test_booking_list_statements_do_not_grow(place, api, staff_api, factory, who):
    caller = api if who == "member" else staff_api
    a_few_bookings(factory, place, place.member)
    url = "/api/v1/bookings?limit=500"
    few = counted(lambda: caller.get(url))
    assert len(caller.get(url).get_json()["bookings"]) == 3
    grow(factory, place, user=place.member)
    many = counted(lambda: caller.get(url))
    assert len(caller.get(url).get_json()["bookings"]) > 20
    assert len(many) == len(few), "\n\n".join(many)


def test_booking_list_in_a_range_statements_do_not_grow(place, api, factory):
    a_few_bookings(factory, place, place.member)
    url = f"/api/v1/bookings?from={iso(TUE, 0)}&to={iso(TUE + timedelta(days=7), 0)}".replace(
        "+", "%2B")
    few = counted(lambda: api.get(url))
    grow(factory, place, user=place.member)
    many = counted(lambda: api.get(url))
    assert len(many) == len(few), "\n\n".join(many)


# --- the calendar feed -----------------------------------------------------------------------


def feed_path(app, user, kind: FeedKind = FeedKind.MEMBER, clock=None) -> str:
    feeds = feed_service.feeds_for(db.session, user=user, now=clock())
    feed = next(f for f in feeds if f.kind is kind)
    return f"/feeds/{feed_tokens.token_for(feed, app.config['SECRET_KEY'])}.ics"


@pytest.mark.parametrize("owner", ["member", "staff"])
def test_feed_statements_do_not_grow(app, client, place, factory, clock, owner):
    user = place.member if owner == "member" else place.staff
    kind = FeedKind.MEMBER if owner == "member" else FeedKind.LOCATION
    a_few_bookings(factory, place, place.member)
    path = feed_path(app, user, kind, clock)
    few = counted(lambda: client.get(path))
    first = client.get(path)
    few_304 = counted(lambda: client.get(path, headers={"If-None-Match": first.headers["ETag"]}),
                      expected_status=304)
    grow(factory, place, user=place.member)
    many = counted(lambda: client.get(path))
    assert client.get(path).data.count(b"BEGIN:VEVENT") > 20
    second = client.get(path)
    assert second.headers["ETag"] != first.headers["ETag"]
    many_304 = counted(
        lambda: client.get(path, headers={"If-None-Match": second.headers["ETag"]}),
        expected_status=304)
    assert len(many) == len(few), "\n\n".join(many)
    assert len(many_304) == len(few_304), "\n\n".join(many_304)
    assert len(few_304) < len(few)
